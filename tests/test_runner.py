"""The experiment runner end to end on tiny simulated data, against a temporary MLflow store."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.scorer import FRAUD_CONTRIBUTION
from pipeline import runner, tracking
from pipeline.cli import app
from pipeline.config import load_config

QUICK = "experiments/quick.yaml"
TINY = ["data.rows=3000", "data.fraud_rate=0.03", "classifier.n_estimators=15"]


def _children(parent_id: str) -> list[mlflow.entities.Run]:
    return tracking.child_runs(parent_id)


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        cfg = load_config(QUICK, TINY)
        yield uri, runner.run_experiment(cfg)
    finally:
        if old is not None:
            os.environ["MLFLOW_TRACKING_URI"] = old


def test_one_child_per_strategy_fold_seed_with_tags_and_metrics(quick_result, monkeypatch) -> None:
    uri, result = quick_result
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.setup()
    children = _children(result.parent_run_id)
    cfg = load_config(QUICK, TINY)
    assert len(children) == len(cfg.strategies) * cfg.split.n_splits
    ids = (tracking.TAG_STRATEGY, tracking.TAG_FOLD, tracking.TAG_SEED)
    keys = {tuple(c.data.tags[t] for t in ids) for c in children}
    assert len(keys) == len(children)
    parent = mlflow.MlflowClient().get_run(result.parent_run_id)
    dataset = parent.inputs.dataset_inputs[0].dataset.digest
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags[tracking.TAG_RUN_TYPE] == tracking.RUN_FOLD
        assert 0 <= child.data.metrics["average_precision"] <= 1
        assert "recall_at_fpr_1pct" in child.data.metrics
        assert "fit_seconds" in child.data.metrics
        # one naming scheme: no bare `strategy`/`kind` tags, no `kind` param beside the tag
        assert not {"strategy", "kind", "fold", "seed"} & set(child.data.tags)
        assert "kind" not in child.data.params
        assert [d.dataset.digest for d in child.inputs.dataset_inputs] == [dataset]
    for tag in (tracking.TAG_CONFIG_HASH, tracking.TAG_GIT_COMMIT, tracking.TAG_DATA_DIGEST):
        assert parent.data.tags[tag]
    assert parent.data.tags[tracking.TAG_CONFIG_HASH] == cfg.config_hash()
    assert parent.data.tags[tracking.TAG_RUN_TYPE] == tracking.RUN_EXPERIMENT
    assert len(parent.inputs.dataset_inputs) == 1
    names = {
        a.path for a in mlflow.MlflowClient().list_artifacts(result.parent_run_id, "comparison")
    }
    assert {
        "comparison/comparison.csv",
        "comparison/comparison.md",
        "comparison/report.html",
        f"comparison/{runner.IMPORTANCE_FILE}",
    } <= names
    # each child's feature importance, and the launch's per strategy (shares of 1 each)
    client = mlflow.MlflowClient()
    features: set[str] | None = None
    for child in children:
        path = client.download_artifacts(child.info.run_id, runner.IMPORTANCE_FILE)
        own = pd.read_csv(path)
        assert own["share"].sum() == pytest.approx(1.0)
        assert own["mean_abs_contribution"].is_monotonic_decreasing
        assert own["mean_contribution_fraud"].notna().all()  # every test fold holds fraud
        features = features or set(own["feature"])
        assert set(own["feature"]) == features
    path = client.download_artifacts(result.parent_run_id, f"comparison/{runner.IMPORTANCE_FILE}")
    table = pd.read_csv(path, index_col="feature")
    assert list(table.columns) == result.comparison.strategies
    assert set(table.index) == features
    np.testing.assert_allclose(table.sum(axis=0), 1.0)
    # and what pushes the test folds' fraud up: each strategy's children's means, averaged
    path = client.download_artifacts(
        result.parent_run_id, f"comparison/{runner.IMPORTANCE_FRAUD_FILE}"
    )
    fraud = pd.read_csv(path, index_col="feature")
    assert list(fraud.columns) == result.comparison.strategies
    assert set(fraud.index) == features and fraud.notna().all().all()
    assert fraud.mean(axis=1).is_monotonic_decreasing
    own = [
        pd.read_csv(client.download_artifacts(c.info.run_id, runner.IMPORTANCE_FILE))
        for c in children
        if c.data.tags[tracking.TAG_STRATEGY] == "class_weight"
    ]
    expected = pd.concat([o.set_index("feature")["mean_contribution_fraud"] for o in own], axis=1)
    np.testing.assert_allclose(fraud["class_weight"], expected.mean(axis=1)[fraud.index])
    page = Path(client.download_artifacts(result.parent_run_id, "comparison/report.html"))
    assert "What each model leans on" in page.read_text()
    assert "What pushes real fraud&#39;s score up" in page.read_text()
    # the page shows the very figures logged as PNG files (drawn once for both)
    pngs = Path(client.download_artifacts(result.parent_run_id, "comparison/figures"))
    stems = sorted(p.stem for p in pngs.glob("*.png"))
    assert stems == sorted(["metrics", "paired_differences", "pr_curves", "timings"])
    for png in pngs.glob("*.png"):
        assert base64.b64encode(png.read_bytes()).decode("ascii") in page.read_text()


def test_summary_runs_carry_each_strategy_and_are_ignored_by_readers(
    quick_result, monkeypatch
) -> None:
    uri, result = quick_result
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.setup()
    parent_id, c = result.parent_run_id, result.comparison
    summaries = tracking.child_runs(parent_id, tracking.RUN_SUMMARY)
    assert sorted(r.data.tags[tracking.TAG_STRATEGY] for r in summaries) == sorted(c.strategies)
    for run in summaries:
        strategy = run.data.tags[tracking.TAG_STRATEGY]
        m, row = run.data.metrics, c.row(strategy)
        assert run.info.run_name == f"{strategy}{runner.SUMMARY_RUN_SUFFIX}"
        assert run.data.tags[tracking.TAG_LAUNCH] == parent_id
        assert m["average_precision"] == pytest.approx(row["average_precision_mean"], rel=1e-3)
        assert 0 <= m["ci_low/average_precision"] <= m["average_precision"]
        assert m["average_precision"] <= m["ci_high/average_precision"] <= 1  # clipped to [0, 1]
        assert m["n"] == row["n"]
        assert len(run.inputs.dataset_inputs) == 1
        if strategy == "none":
            assert run.data.tags[tracking.TAG_VS_BASELINE] == "reference"
        else:
            assert "delta/vs_baseline" in m and "p_holm/vs_baseline" in m
    # readers of fold results never see the summary runs
    children = tracking.child_runs(parent_id)
    assert len(children) == len(result.results)
    assert len(runner._resumed_results(parent_id)) == len(result.results)
    _, frame, _ = runner.load_comparison(parent_id)
    assert len(frame) == len(result.results)
    # the parent holds the verdict and no one-bar metrics; the launch's view opens it all
    parent = mlflow.MlflowClient().get_run(parent_id)
    assert parent.data.tags[tracking.TAG_DESCRIPTION].startswith("**Best: ")
    assert parent.data.metrics == {}
    url = tracking.launch_url("http://127.0.0.1:5000", parent_id)
    assert "workflowType=machine_learning" in url
    assert f"viewStateShareKey={tracking.summary_view_key(parent_id)}" in url
    exp = mlflow.MlflowClient().get_experiment(parent.info.experiment_id)
    view = json.loads(exp.tags[tracking.SHARED_VIEW_TAG + tracking.summary_view_key(parent_id)])
    assert view["searchFilter"] == f"tags.`{tracking.TAG_LAUNCH}` = '{parent_id}'"
    assert view["orderByKey"] == "metrics.`average_precision`"  # sorted: summaries not nested
    assert view["compareRunCharts"][0]["metricKey"] == "average_precision"


def test_comparison_is_sorted_and_reloads_from_mlflow(quick_result, monkeypatch) -> None:
    uri, result = quick_result
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.setup()
    means = result.comparison.table["average_precision_mean"].to_numpy()
    assert np.all(np.diff(means) <= 1e-12)
    again, frame, _ = runner.load_comparison(result.parent_run_id)
    assert len(frame) == len(result.results)
    np.testing.assert_allclose(
        again.table.set_index("strategy")["average_precision_mean"].sort_index(),
        result.comparison.table.set_index("strategy")["average_precision_mean"].sort_index(),
    )


def test_threshold_strategy_differs_from_none_only_in_its_decision(quick_result) -> None:
    _, result = quick_result
    r = result.results.set_index(["strategy", "fold"])
    none, thr = r.loc["none"], r.loc["threshold"]
    np.testing.assert_allclose(none["average_precision"], thr["average_precision"])
    np.testing.assert_allclose(thr["f1_at_decision"], thr["f1_tuned"])


def test_validation_slice_never_contains_test_rows() -> None:
    cfg = load_config(QUICK, TINY)
    prepared = runner.prepare(cfg)
    for fold in prepared.folds:
        fr = runner.FoldRunner(cfg, prepared, fold)
        assert not set(fr.val_idx) & set(fold.test)
        assert not set(fr.fit_idx) & set(fold.test)
        assert set(fr.fit_idx) | set(fr.val_idx) <= set(fold.train)


def test_one_point_grid_reproduces_the_untuned_run_exactly() -> None:
    base = [*TINY, "strategies=[none, smote]"]
    untuned = runner.run_experiment(load_config(QUICK, base)).results
    grid = [
        "tuning.enabled=true",
        "tuning.method=grid",
        "tuning.classifier_space={max_depth: [4]}",
        "tuning.sampler_space={smote: {sampling_strategy: [0.1]}}",
    ]
    tuned = runner.run_experiment(load_config(QUICK, base + grid)).results
    cols = ["average_precision", "roc_auc", "f1_tuned", "brier"]
    a = untuned.sort_values(["strategy", "fold"])[cols].to_numpy()
    b = tuned.sort_values(["strategy", "fold"])[cols].to_numpy()
    np.testing.assert_array_equal(a, b)


def test_tuned_search_is_deterministic_and_logs_its_history() -> None:
    overrides = [
        *TINY,
        "strategies=[none, smote]",
        "tuning.enabled=true",
        "tuning.n_trials=3",
        "tuning.classifier_space={max_depth: {low: 2, high: 5}, learning_rate: {low: 0.05, high: 0.5, log: true}}",
        "tuning.sampler_space={smote: {sampling_strategy: {low: 0.1, high: 0.5}}}",
        "report.include_untuned=true",
    ]
    a = runner.run_experiment(load_config(QUICK, overrides))
    b = runner.run_experiment(load_config(QUICK, overrides))
    cols = ["average_precision", "untuned_average_precision"]
    np.testing.assert_array_equal(
        a.results.sort_values(["strategy", "fold"])[cols].to_numpy(),
        b.results.sort_values(["strategy", "fold"])[cols].to_numpy(),
    )
    client = mlflow.MlflowClient()
    child = _children(a.parent_run_id)[0]
    history = client.get_metric_history(child.info.run_id, "tuning_best_so_far")
    assert len(history) == 3
    assert [h.step for h in sorted(history, key=lambda h: h.step)] == [0, 1, 2]
    assert "untuned_average_precision_mean" in a.comparison.table
    page = Path(client.download_artifacts(a.parent_run_id, "comparison/report.html")).read_text()
    assert "<h2>Effect of tuning (mean ± std over folds × seeds)</h2>" in page
    smote = a.results[a.results["strategy"] == "smote"]
    change = smote["average_precision"].mean() - smote["untuned_average_precision"].mean()
    assert f"<td>{change:+.4f}</td>" in page


def test_cli_run_prints_the_comparison_and_compare_reprints_it() -> None:
    cli = CliRunner()
    res = cli.invoke(app, ["run", QUICK, *sum((["--set", o] for o in TINY), [])])
    assert res.exit_code == 0, res.output
    assert "AUPRC" in res.output and "parent run:" in res.output
    text = " ".join(res.output.split())
    said = re.search(r"Best: (\w+) .*?\1 leans most on: ((?:\w+ \d+%, ){4}\w+ \d+%) \(", text)
    assert said, text
    res = cli.invoke(app, ["compare", "--latest"])
    assert res.exit_code == 0, res.output
    assert "class_weight" in res.output and "ROC-AUC" not in res.output
    assert f"{said.group(1)} leans most on: {said.group(2)}" in " ".join(res.output.split())
    assert "[corrected t, Holm]" in res.output  # the summary is printed as text, not markup
    res = cli.invoke(app, ["compare", "--latest", "--wide"])
    assert res.exit_code == 0, res.output
    assert "ROC-AUC" in res.output and "predict s" in res.output


def test_ui_starts_one_web_worker_without_job_execution() -> None:
    from pipeline.servers import mlflow_ui_command

    cmd, env = mlflow_ui_command("sqlite:///x.db", 5123)
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--port") + 1] == "5123" and "127.0.0.1" in cmd
    assert env == {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def test_cli_errors_are_one_clear_line_without_traceback() -> None:
    cli = CliRunner()
    res = cli.invoke(app, ["run", QUICK, "--set", "split.n_split=3"])
    assert res.exit_code == 2
    assert "n_splits" in res.output and "Traceback" not in res.output
    res = cli.invoke(app, ["run", QUICK, "--set", "strategies.smoot={}"])
    assert res.exit_code == 2 and "Valid kinds" in res.output
    res = cli.invoke(app, ["compare", "no-such-run"])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_gan_child_logs_losses_generator_and_quality_report() -> None:
    cfg = load_config(
        QUICK,
        [
            *TINY,
            "strategies=[none, cgan]",
            "split.n_splits=2",
            "strategies.cgan.epochs=2",
            "strategies.cgan.steps_per_epoch=5",
            "strategies.cgan.eval_every=0",
            "strategies.cgan.choose=false",  # a fixed share: the quality report needs rows
            "strategies.cgan.refit_gan=false",  # one GAN a fold (the refit's is tested apart)
        ],
    )
    result = runner.run_experiment(cfg)
    assert not result.failed
    client = mlflow.MlflowClient()
    children = _children(result.parent_run_id)
    gan = [c for c in children if c.data.tags[tracking.TAG_STRATEGY] == "cgan"]
    assert len(gan) == 2
    child = gan[0]
    metrics = child.data.metrics
    # grouped by prefix, so that MLflow draws them in sections of their own
    assert 0.0 <= metrics["quality/c2st_auc"] <= 1.0
    assert "quality/exact_copies" in metrics
    assert "gan/train_seconds" in metrics
    assert not [k for k in metrics if k.startswith(("quality_", "gan_"))]
    # the generated rows obey every rule of the engineered features
    assert metrics["quality/rule_violations"] == 0
    # every quality metric is explained in the child's quality report
    from pipeline.quality import METRIC_DESCRIPTIONS

    explained = {k.removeprefix("quality_") for k in METRIC_DESCRIPTIONS}
    assert {k.removeprefix("quality/") for k in metrics if k.startswith("quality/")} <= explained
    assert metrics["gan/generated"] == metrics["gan/kept"] == metrics["n_synthetic"]
    # the losses of the GAN behind the scored model (refitted on the whole training fold), once
    assert len(client.get_metric_history(child.info.run_id, "gan/d_loss")) == 2
    assert "gan/cond_loss" not in metrics  # no condition column: no condition loss
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert {"cgan", "quality", "pr_curve.json", runner.IMPORTANCE_FILE} <= artifacts
    for args in ([result.parent_run_id], ["--latest"], ["--latest", "--experiment", "quick"]):
        cli = CliRunner().invoke(app, ["quality", *args])
        assert cli.exit_code == 0, cli.output
        assert "C2ST" in cli.output
        assert f"{child.data.metrics['quality/c2st_auc']:.3f}" in cli.output
    for args, said in (
        ([], "give a parent RUN_ID or --latest"),
        ([result.parent_run_id, "--latest"], "give either a RUN_ID or --latest, not both"),
        ([result.parent_run_id, "--experiment", "quick"], "give --latest with it"),
        ([QUICK], "is a file, not a run id"),
        (["quick"], f"an MLflow experiment's name; its newest launch is {result.parent_run_id}"),
    ):
        cli = CliRunner().invoke(app, ["quality", *args])
        assert cli.exit_code != 0 and said in " ".join(cli.output.split()), cli.output
    html = client.download_artifacts(result.parent_run_id, "comparison/report.html")
    page = Path(html).read_text()
    assert "Synthetic-data quality" in page
    assert '<img alt="GAN training: critic and generator losses per epoch"' in page


def test_gan_child_logs_the_two_sample_tests_that_chose_its_epoch() -> None:
    cfg = load_config(
        QUICK,
        [
            "data.rows=3600",  # the GAN learns from the rows before the inner windows
            "data.fraud_rate=0.1",  # enough held-out fraud rows for the tests on 2 folds
            "classifier.n_estimators=15",
            "strategies=[cgan]",
            "split.n_splits=2",
            "strategies.cgan.epochs=4",
            "strategies.cgan.steps_per_epoch=5",
            "strategies.cgan.eval_every=2",
            "strategies.cgan.sampling_strategy=0.2",
            "strategies.cgan.choose=false",
            "strategies.cgan.refit_gan=false",  # one GAN a fold: the one whose tests it logs
        ],
    )
    result = runner.run_experiment(cfg)
    child = _children(result.parent_run_id)[0]
    tests = mlflow.MlflowClient().get_metric_history(child.info.run_id, "gan/c2st_auc")
    assert sorted(m.step for m in tests) == [2, 4]
    assert all(0.0 <= m.value <= 1.0 for m in tests)
    assert child.data.metrics["gan/best_epoch"] in (2.0, 4.0)


def test_importance_tables_average_each_strategys_children() -> None:
    def child(strategy: str, shares: list[float], fraud: list[float] | None) -> runner.ChildResult:
        importance = pd.DataFrame({"feature": ["amount", "hour"], "share": shares})
        if fraud is not None:
            importance["mean_contribution_fraud"] = fraud
        return runner.ChildResult(strategy, strategy, 0, 0, {}, importance=importance)

    results = [
        child("none", [0.8, 0.2], [1.0, 0.2]),
        child("none", [0.6, 0.4], [np.nan, np.nan]),  # a test fold without fraud rows
        child("smote", [0.3, 0.7], None),  # logged before the fraud rows' means were
        child("smote", [0.5, 0.5], [0.5, 1.5]),
    ]
    shares = runner.importance_table(results, ["smote", "none"])
    assert list(shares.columns) == ["smote", "none"] and list(shares.index) == ["amount", "hour"]
    np.testing.assert_allclose(shares.loc["amount"], [0.4, 0.7])
    fraud = runner.importance_table(results, ["smote", "none"], FRAUD_CONTRIBUTION)
    assert list(fraud.index) == ["hour", "amount"]  # by the mean over the strategies
    np.testing.assert_allclose(fraud.loc["hour"], [1.5, 0.2])
    np.testing.assert_allclose(fraud.loc["amount"], [0.5, 1.0])
    assert runner.importance_table(results[2:3], ["smote"], FRAUD_CONTRIBUTION) is None


def test_gan_loss_plot_has_whole_epochs_on_its_axis() -> None:
    history = {"epoch": [1, 2, 3], "d_loss": [0.5, 0.2, 0.1], "g_loss": [1.0, 0.8, 0.9]}
    child = runner.ChildResult("cgan", "cgan", 0, 0, {}, gan_history=history)
    fig = runner.gan_loss_figure([child])
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert runner.gan_loss_figure([runner.ChildResult("none", "none", 0, 0, {})]) is None


def test_independent_draws_run_from_the_cli_with_their_own_folds_and_correction() -> None:
    overrides = [*TINY, "data.fraud_rate=0.05", "data.draws=3", "strategies=[none, ros]"]
    prepared = runner.prepare(load_config(QUICK, overrides))
    one = runner.prepare(load_config(QUICK, [*TINY, "data.fraud_rate=0.05"]))
    n = len(one.frame)
    assert len(prepared.frame) == 3 * n and int(prepared.y[:n].sum()) == int(one.y.sum())
    ids = prepared.frame["customer_id"].to_numpy()
    draws = [set(ids[r * n : (r + 1) * n].tolist()) for r in range(3)]
    assert not (draws[0] & draws[1]) and not (draws[1] & draws[2])  # no card in two draws
    assert (
        not prepared.frame.iloc[n : 2 * n][["amount"]]
        .reset_index(drop=True)
        .equals(prepared.frame.iloc[:n][["amount"]].reset_index(drop=True))
    )  # a new sample, not a copy
    for fold in prepared.folds:
        r = fold.seed  # the draw's split seed: split.seeds[0] + r
        rows = np.concatenate([fold.train, fold.test])
        assert rows.min() >= r * n and rows.max() < (r + 1) * n
        assert len(rows) == n
    assert "3 independent draws" in prepared.folds.correction.reason
    assert 0 < prepared.folds.correction.term < one.folds.correction.term

    cli = CliRunner()
    res = cli.invoke(app, ["run", QUICK, *sum((["--set", o] for o in overrides), [])])
    assert res.exit_code == 0, res.output
    res = cli.invoke(app, ["compare", "--latest", "--wide"])
    assert res.exit_code == 0, res.output
    assert "3 independent draws of the data x stratified 2-fold" in " ".join(res.output.split())
    children = _children(tracking.latest_parent_run())
    assert len(children) == 3 * 2 * 2  # draws x folds x strategies
    assert {c.data.tags[tracking.TAG_SEED] for c in children} == {"0", "1", "2"}


def test_the_inner_windows_are_cut_as_the_outer_folds_are() -> None:
    stratified = load_config(QUICK, TINY)
    prepared = runner.prepare(stratified)
    fr = runner.FoldRunner(stratified, prepared, prepared.folds[0])
    assert fr.windows.how == "3 stratified windows"
    temporal = load_config("experiments/temporal.yaml", ["data.rows=20000", "data.days=60"])
    prepared = runner.prepare(temporal)
    fr = runner.FoldRunner(temporal, prepared, prepared.folds[0])
    assert "most recent windows" in fr.windows.how


def test_a_temporal_folds_privacy_holdout_is_the_gans_own_held_out_fraud() -> None:
    from types import SimpleNamespace

    from pipeline.fold import privacy_rows

    temporal = load_config("experiments/temporal.yaml", ["data.rows=20000", "data.days=60"])
    prepared = runner.prepare(temporal)
    fr = runner.FoldRunner(temporal, prepared, prepared.folds[0])
    fraud = np.flatnonzero(fr.y_fit == 1)
    gan = SimpleNamespace(holdout_rows_=fraud[:5], n_rows_=len(fr.X_fit))
    real, holdout = privacy_rows(fr, fr.X_train, fr.y_train, gan)
    assert holdout.index.equals(fr.X_fit.index[fraud[:5]])
    assert real.index.intersection(holdout.index).empty  # held out of the real rows too
    assert len(real) == fr.y_train.sum() - 5
    others = [
        SimpleNamespace(holdout_rows_=None, n_rows_=len(fr.X_fit)),  # it held none out
        SimpleNamespace(holdout_rows_=fraud[:4], n_rows_=len(fr.X_fit)),  # too few
        SimpleNamespace(holdout_rows_=fraud[:5], n_rows_=len(fr.X_fit) + 1),  # other rows
        None,
    ]
    for other in others:  # never the later test fold: the real rows, leave one out
        real, holdout = privacy_rows(fr, fr.X_train, fr.y_train, other)
        assert holdout is None and len(real) == fr.y_train.sum()
    stratified = load_config(QUICK, TINY)  # the test fold is of the same period: it stays
    prepared = runner.prepare(stratified)
    fr = runner.FoldRunner(stratified, prepared, prepared.folds[0])
    gan = SimpleNamespace(holdout_rows_=np.flatnonzero(fr.y_fit == 1)[:5], n_rows_=len(fr.X_fit))
    _, holdout = privacy_rows(fr, fr.X_train, fr.y_train, gan)
    assert holdout.index.equals(fr.X_test.index[fr.y_test == 1])
    few = fr.y_test.copy()
    few[np.flatnonzero(few == 1)[4:]] = 0  # a test fold of 4 fraud rows: too few to judge by
    fr.y_test = few
    assert privacy_rows(fr, fr.X_train, fr.y_train, gan)[1] is None
