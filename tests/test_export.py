"""Exporting the champion: registry, alias, threshold, round trip, and the side files."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from typer.testing import CliRunner

from models.errors import ConfigError, DataError, FraudganError
from models.scorer import PROBABILITY
from pipeline import evaluate, tracking
from pipeline.cli import app
from pipeline.config import load_config
from pipeline.console import library_log
from pipeline.data.simulate import simulate
from pipeline.export import (
    BOOSTER_FILE,
    FEATURES_FILE,
    _calibrate,
    crossfit_brier,
    export_champion,
    pick_champion,
    platt_parameters,
    retraining_runner,
)
from pipeline.fold import IMPORTANCE_FILE
from pipeline.runner import load_comparison, preflight, prepare, run_experiment

MODEL = "fraud-detector"
TARGET_FPR = 0.02
TINY = ["data.rows=3000", "data.fraud_rate=0.03", "classifier.n_estimators=10"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One quick experiment (none vs smote, FPR threshold policy) and its first export."""
    root = tmp_path_factory.mktemp("export")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        cfg = load_config(
            "experiments/quick.yaml",
            [
                "strategies=[none, smote]",
                "validation.threshold_policy=fpr",
                f"validation.target_fpr={TARGET_FPR}",
            ],
        )
        experiment = run_experiment(cfg)
        first = export_champion(experiment.parent_run_id)
    return SimpleNamespace(uri=uri, cfg=cfg, experiment=experiment, first=first)


@pytest.fixture
def store(exported: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", exported.uri)
    mlflow.set_tracking_uri(exported.uri)
    return exported


def test_export_registers_the_champion_with_alias_and_artifacts(store):
    r = store.first
    comparison, _, _ = load_comparison(store.experiment.parent_run_id)
    assert r.strategy == pick_champion(comparison, store.cfg)
    best = comparison.table.sort_values("average_precision_mean", ascending=False).iloc[0]
    assert r.strategy == best["strategy"]
    assert (r.model_name, r.version, r.alias, r.previous_version) == (MODEL, "1", "champion", None)

    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    run = client.get_run(r.run_id)
    assert run.data.tags[tracking.TAG_RUN_TYPE] == tracking.RUN_EXPORT
    assert run.data.tags[tracking.TAG_SOURCE_RUN] == store.experiment.parent_run_id
    assert "mlflow.parentRunId" not in run.data.tags
    assert run.data.metrics["val_average_precision"] == pytest.approx(
        r.metrics["average_precision"]
    )
    artifacts = {a.path for a in client.list_artifacts(r.run_id)}
    artifacts |= {a.path for a in client.list_artifacts(r.run_id, "scoring")}
    assert {f"scoring/{BOOSTER_FILE}", f"scoring/{FEATURES_FILE}"} <= artifacts
    assert "mlflow.models.evaluate" in r.evaluation
    assert {"pr_curve.png", "roc_curve.png"} <= artifacts
    assert IMPORTANCE_FILE in artifacts  # what the exported model leans on
    importance = pd.read_csv(client.download_artifacts(r.run_id, IMPORTANCE_FILE))
    spec = json.loads(
        Path(client.download_artifacts(r.run_id, f"scoring/{FEATURES_FILE}")).read_text()
    )
    assert sorted(importance["feature"]) == sorted(spec["categorical"] + spec["numeric"])
    assert importance["mean_contribution_fraud"].notna().all()  # over the slice's fraud rows
    assert importance["share"].sum() == pytest.approx(1.0)

    info = mlflow.models.get_model_info(r.alias_uri)
    assert info.signature is not None and info.saved_input_example_info is not None
    inputs = info.signature.inputs
    assert all(not spec.required for spec in inputs.inputs)  # the scorer names missing columns
    assert info.signature.params.to_dict()[0]["name"] == "explain"


def test_round_trip_scores_equal_the_pipeline(store):
    r = store.first
    prepared = prepare(store.cfg)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    for rows in (r.validation_index, np.arange(0, len(prepared.frame), 7)):
        X = prepared.X.iloc[rows]
        frame = prepared.frame.iloc[rows][["transaction_id", *X.columns]]
        scorer = model.unwrap_python_model()
        out = model.predict(scorer.signature_frame(frame))
        np.testing.assert_array_equal(out["transaction_id"], frame["transaction_id"])
        own = r.pipeline.predict_proba(X)[:, 1]
        np.testing.assert_allclose(out[PROBABILITY], scorer.calibrated(own), rtol=0, atol=1e-7)


def test_threshold_policy_is_honoured_on_validation_data(store):
    r = store.first
    prepared = prepare(store.cfg)
    y = prepared.y[r.validation_index]
    # the probabilities of the model fitted before the validation slice (the exported model is
    # then refitted on every row)
    p = r.validation_scores
    assert r.n_fit == len(prepared.frame)
    assert not np.array_equal(
        p, r.pipeline.predict_proba(prepared.X.iloc[r.validation_index])[:, 1]
    )
    assert r.threshold_policy == "fpr"
    assert r.threshold == pytest.approx(
        evaluate.choose_threshold(y, p, policy="fpr", target_fpr=TARGET_FPR)
    )
    alert = p >= r.threshold
    fpr = (alert & (y == 0)).sum() / (y == 0).sum()
    assert fpr <= TARGET_FPR
    # the lowest threshold within the budget: one more alerted score would exceed it
    below = p[p < r.threshold]
    if below.size:
        more = p >= below.max()
        assert (more & (y == 0)).sum() / (y == 0).sum() > TARGET_FPR
    scorer = mlflow.pyfunc.load_model(r.alias_uri).unwrap_python_model()
    assert scorer.threshold == r.threshold


def test_booster_json_and_feature_list_score_outside_python(store):
    """The side files alone rebuild the model matrix and the probabilities."""
    r = store.first
    client = mlflow.MlflowClient()
    booster_path = client.download_artifacts(r.run_id, f"scoring/{BOOSTER_FILE}")
    spec = json.loads(
        Path(client.download_artifacts(r.run_id, f"scoring/{FEATURES_FILE}")).read_text()
    )
    booster = xgb.Booster()
    booster.load_model(booster_path)
    assert booster.num_features() == len(spec["booster_features"]) == len(spec["preprocessing"])

    prepared = prepare(store.cfg)
    rows = prepared.frame.iloc[r.validation_index[:300]]
    m = np.zeros((len(rows), len(spec["preprocessing"])), dtype=np.float64)
    for entry in spec["preprocessing"]:
        values = rows[entry["column"]]
        if entry["kind"] == "onehot" and "value" in entry:
            hit = values.isna() if entry["value"] is None else values == entry["value"]
            m[:, entry["index"]] = hit.to_numpy(dtype=float)
        elif entry["kind"] == "onehot":
            continue  # a category never seen in training: always 0
        elif entry["kind"] == "numeric":
            x = values.to_numpy(dtype=float, na_value=np.nan)
            x = np.where(np.isnan(x), entry["fill_missing"], x)
            m[:, entry["index"]] = (x - entry["mean"]) / entry["scale"]
        else:
            x = values.isna().to_numpy(dtype=float)
            m[:, entry["index"]] = (x - entry["mean"]) / entry["scale"]
    p = booster.inplace_predict(m.astype(np.float32))
    own = r.pipeline.predict_proba(prepared.X.iloc[r.validation_index[:300]])[:, 1]
    np.testing.assert_allclose(p, own, rtol=0, atol=1e-6)
    # fraud_probability as the side files say to compute it
    cal = spec["calibration"]
    assert cal["method"] == "platt" and "slope" in spec["probability"]
    z = cal["slope"] * np.log(p / (1 - p)) + cal["intercept"]
    scorer = mlflow.pyfunc.load_model(r.alias_uri).unwrap_python_model()
    np.testing.assert_allclose(
        1 / (1 + np.exp(-z)), scorer.predict_proba(rows), rtol=1e-5, atol=1e-9
    )


def test_second_export_moves_the_alias_and_keeps_the_old_version(store):
    other = "none" if store.first.strategy != "none" else "smote"
    args = ["export", "--latest", "--strategy", other, "--calibration", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"exported '{other}'" in text
    assert "alias 'champion' moved from version 1" in text
    # MLflow's lines go to the library log, the summary says it once
    assert "Created version" not in text and "CloudPickle" not in text, text
    assert "Created version '2' of model" in library_log().read_text()
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert client.get_model_version(MODEL, "1").tags[tracking.TAG_STRATEGY] == store.first.strategy
    assert client.get_model_version(MODEL, "2").tags[tracking.TAG_STRATEGY] == other
    described = client.get_model_version(MODEL, "2").description
    assert f"**Strategy `{other}`**" in described
    # --calibration none: the classifier's own probabilities, said so; the first is calibrated
    assert "is the classifier's own probability (not calibrated)" in described
    runs = {v: client.get_run(client.get_model_version(MODEL, v).run_id) for v in ("1", "2")}
    assert runs["2"].data.params["calibration"] == "none"
    assert "val_calibration_slope" not in runs["2"].data.metrics
    assert runs["1"].data.params["calibration"] == "platt"
    assert runs["1"].data.metrics["val_calibration_slope"] > 0
    scorer = mlflow.pyfunc.load_model(f"models:/{MODEL}/2").unwrap_python_model()
    assert scorer.calibrated_by() is None


def test_model_version_says_what_it_is_and_where_it_came_from(store):
    r = store.first
    version = mlflow.MlflowClient().get_model_version(MODEL, r.version)
    text = version.description
    assert f"**Strategy `{r.strategy}`**" in text
    assert f"validation slice {r.n_validation:,} rows" in text
    assert f"AUPRC {r.metrics['average_precision']:.4f}" in text
    assert f"a false-positive rate of at most {TARGET_FPR:g}" in text  # the threshold policy
    assert f"{r.threshold:.6g}" in text
    assert "`fraud_probability` is calibrated on that slice (Platt: slope " in text
    view = "?workflowType=machine_learning)"
    assert f"/runs/{store.experiment.parent_run_id}{view}" in text  # links the source launch
    assert f"/runs/{r.run_id}{view}" in text  # and the export run
    assert version.tags[tracking.TAG_THRESHOLD_POLICY] == "fpr"


def test_export_reports_each_step_once_without_model_type_warnings(store, caplog):
    other = "none" if store.first.strategy != "none" else "smote"
    steps: list[str] = []
    mlflow_log = logging.getLogger("mlflow")  # does not propagate to the root logger
    mlflow_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            export_champion(store.experiment.parent_run_id, strategy=other, progress=steps.append)
    finally:
        mlflow_log.removeHandler(caplog.handler)
    assert any(s.startswith("champion:") for s in steps)
    leans = [s for s in steps if s.startswith("the model leans most on: ")]
    assert len(leans) == 1 and "%" in leans[0]
    logged = [rec.getMessage() for rec in caplog.records]
    assert not set(steps) & set(logged)  # shown by the progress display only, not logged too
    assert not [m for m in logged if "model type" in m]


def test_export_errors_are_clear(store):
    with pytest.raises(ConfigError, match="not a strategy of this experiment"):
        export_champion(store.experiment.parent_run_id, strategy="cgan")
    with pytest.raises(FraudganError, match="does not exist"):
        export_champion("0123456789abcdef")
    with pytest.raises(
        FraudganError,
        match=r"run 'quick' does not exist .*: 'quick' is an MLflow experiment's name; its newest "
        r"launch is [0-9a-f]{32} \(or --latest",
    ):
        export_champion(store.cfg.name)
    result = CliRunner().invoke(app, ["export"])
    assert result.exit_code == 2
    assert "--latest" in result.output
    result = CliRunner().invoke(app, ["export", "experiments/quick.yaml"])  # a YAML, not an id
    assert result.exit_code == 2
    assert "is a file, not a run id" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["export", "--latest", "--calibration", "isotonic"])
    assert result.exit_code == 2
    assert "calibration must be one of platt, none, got 'isotonic'" in result.output


def test_platt_calibration_recovers_a_known_distortion_and_stays_finite_on_separated_scores():
    rng = np.random.default_rng(0)
    margin = rng.normal(-4, 2, 50_000)
    y = rng.random(margin.size) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))
    p = 1 / (1 + np.exp(-margin))  # scores whose log-odds are twice the truth's, plus 2
    slope, intercept = platt_parameters(y, p)
    assert slope == pytest.approx(0.5, abs=0.03) and intercept == pytest.approx(-1.0, abs=0.1)
    assert crossfit_brier(y, p, seed=0) < evaluate.brier(y, p)
    # a slice with too few fraud rows is left as it is, and says so
    few = np.r_[np.zeros(500), np.ones(9)]
    said = _calibrate(None, few, np.linspace(0.01, 0.9, few.size), 0, {})
    assert said.startswith("fraud_probability is not calibrated: the validation slice holds 9")
    separated = np.r_[np.full(100, 0.1), np.full(10, 0.9)]
    slope, intercept = platt_parameters(np.r_[np.zeros(100), np.ones(10)], separated)
    assert np.isfinite(slope) and np.isfinite(intercept) and slope > 0


def test_retraining_whose_latest_window_has_no_fraud_falls_back_to_stratified_windows(
    tmp_path: Path,
) -> None:
    """Stratified folds passed, but the retraining's most recent window holds no fraud: the export
    validates as the folds were cut and says so; a temporal experiment stops, naming the step."""
    tx = simulate(8000, n_days=30, seed=4, fraud_rate=0.02)
    late = tx["timestamp"] >= tx["timestamp"].max() - pd.Timedelta(days=6)
    tx.loc[late, "is_fraud"] = 0
    path = tmp_path / "early_fraud.parquet"
    tx.to_parquet(path, index=False)
    schema = (
        "data.schema={label: is_fraud, time: timestamp, id: transaction_id, amount: amount, "
        "entity: customer_id, merchant: merchant_id, categorical: [merchant_category, channel, "
        "country, customer_country], drop: [fraud_pattern]}"
    )
    data = ["data.kind=parquet", f"data.path={path}", schema]
    cfg = load_config("experiments/quick.yaml", data)
    warnings: list[str] = []
    runner = retraining_runner(cfg, prepare(cfg), warnings)
    assert runner.windows.how.startswith("3 stratified")
    assert len(warnings) == 1 and warnings[0].startswith("the retraining on every row: ")
    assert "no positive row" in warnings[0] and "stratified windows instead" in warnings[0]
    temporal = load_config(
        "experiments/quick.yaml",
        [
            *data,
            "split.kind=temporal",
            "split.train_days=14",
            "split.test_days=7",
            "split.n_folds=1",
        ],
    )
    with pytest.raises(DataError, match="the retraining on every row: .*no positive row"):
        retraining_runner(temporal, prepare(temporal))
    # `check` and the launch say so before any work
    (note,) = preflight(cfg).warnings
    assert note == f"after the launch, fraudgan export: {warnings[0]}"
    (note,) = [w for w in preflight(temporal).warnings if w.startswith("after the launch")]
    assert note.endswith(
        "no positive row. Change validation.windows, validation.fraction or "
        "validation.gap_days, or use longer training periods. `fraudgan export` "
        "of this launch will stop there"
    )


def test_export_of_a_tuned_experiment_reuses_the_tuned_search() -> None:
    """The autouse fixture gives this test its own store: a tuned launch, then its export."""
    grid = "tuning.classifier_space={max_depth: [2, 5]}"
    overrides = ["strategies=[none]", "tuning.enabled=true", "tuning.method=grid", grid]
    experiment = run_experiment(load_config("experiments/quick.yaml", overrides))
    result = export_champion(experiment.parent_run_id)
    assert result.strategy == "none"
    depth = result.pipeline.named_steps["classifier"].get_params()["max_depth"]
    # a trial's depth, or quick.yaml's untuned 4 when no trial beats it beyond the windows' noise
    assert depth in (2, 4, 5)


def test_latest_exports_the_newest_complete_experiment_and_refuses_incomplete_ones(
    interrupted_launch,
):
    """The autouse fixture gives this test its own store: complete, interrupted, failed launches."""
    cfg = load_config("experiments/quick.yaml", ["strategies=[none]", *TINY])
    complete = run_experiment(cfg).parent_run_id
    killed = interrupted_launch(cfg, 2)
    assert killed != complete
    client = mlflow.MlflowClient()
    failed = client.create_run(
        client.get_run(complete).info.experiment_id,
        tags={tracking.TAG_RUN_TYPE: tracking.RUN_EXPERIMENT},
    ).info.run_id
    client.set_terminated(failed, "FAILED")

    result = CliRunner().invoke(app, ["export", "--latest"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"newest complete experiment: run {complete}" in text
    assert f"skipped {failed}" in text and "FAILED" in text
    assert f"skipped {killed}" in text and "KILLED" in text
    assert f"from run {complete}" in text

    result = CliRunner().invoke(app, ["export", killed])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert killed in text and "1 of its 2 children finished" in text
    assert "--allow-incomplete" in text
    exported = export_champion(killed, allow_incomplete=True)
    assert exported.source_run_id == killed
    assert any("1 of its 2 children finished" in w for w in exported.warnings)


# --------------------------------------------------------------------------------------------
# what the MLflow UI shows first


def links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)]*)\)", markdown)


def test_every_link_fraudgan_writes_keeps_the_model_training_view(store):
    client = mlflow.MlflowClient()
    parent = client.get_run(store.experiment.parent_run_id)
    texts = [parent.data.tags[tracking.TAG_DESCRIPTION]]
    texts += [
        r.data.tags[tracking.TAG_DESCRIPTION]
        for r in tracking.child_runs(parent.info.run_id, tracking.RUN_SUMMARY)
    ]
    texts.append(client.get_model_version(MODEL, store.first.version).description)
    for text in texts:
        assert links(text), text
        for link in links(text):
            assert link.startswith("/#/experiments/"), link
            assert "?workflowType=machine_learning" in link, link
    experiment = parent.info.experiment_id
    assert tracking.run_url("http://h", experiment, "r1") == (
        f"http://h/#/experiments/{experiment}/runs/r1?workflowType=machine_learning"
    )
    assert tracking.artifact_url("", "1", "r1", "comparison/figures/metrics.png") == (
        "/#/experiments/1/runs/r1/artifacts/comparison/figures/metrics.png"
        "?workflowType=machine_learning"
    )


def test_the_parent_description_opens_on_the_verdict_a_padded_table_and_error_bars(store):
    parent_id = store.experiment.parent_run_id
    text = mlflow.MlflowClient().get_run(parent_id).data.tags[tracking.TAG_DESCRIPTION]
    lines = text.splitlines()
    assert lines[0].startswith("**Best: ") and lines[0].endswith("**")
    assert "metrics with their 95% intervals" in lines[2] and "side by side" in lines[2]
    for path in ("comparison/figures/metrics.png", "comparison/figures/paired_differences.png"):
        assert f"/runs/{parent_id}/artifacts/{path}?" in lines[2]
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + len(store.cfg.strategies)
    assert len({len(line) for line in table}) == 1  # columns line up in the raw text
    assert all("\u00a0" in cell for cell in table[0].strip("|").split("|"))  # padded cells


def test_summary_runs_open_on_the_headline_metric_and_link_the_error_bars(store):
    parent_id = store.experiment.parent_run_id
    summaries = tracking.child_runs(parent_id, tracking.RUN_SUMMARY)
    assert len(summaries) == len(store.cfg.strategies)
    for run in summaries:
        m = run.data.metrics
        # MLflow's "Model metrics" tab lists sections by prefix in ASCII order
        sections = sorted({key.split("/")[0] for key in m if "/" in key})
        assert sections[0] == "AUPRC", sections
        assert m["AUPRC/Mean"] == m["average_precision"]
        assert m["AUPRC/Mean_CI_lower"] == m["ci_low/average_precision"]
        assert m["AUPRC/Mean_CI_upper"] == m["ci_high/average_precision"]
        charts = sorted(k.split("/", 1)[1] for k in m if k.startswith("AUPRC/"))
        assert charts[:3] == ["Mean", "Mean_CI_lower", "Mean_CI_upper"]
        text = run.data.tags[tracking.TAG_DESCRIPTION]
        strategy = run.data.tags[tracking.TAG_STRATEGY]
        assert text.startswith(f"**{strategy} AUPRC ")
        assert f"/runs/{parent_id}/artifacts/comparison/figures/metrics.png?" in text
    smote = [r for r in summaries if r.data.tags[tracking.TAG_STRATEGY] == "smote"][0]
    assert "AUPRC/diff_vs_baseline" in smote.data.metrics


def test_the_registered_model_is_described_and_its_versions_start_in_plain_text(store):
    client = mlflow.MlflowClient()
    model = client.get_registered_model(MODEL)
    assert f"fraudgan score --model models:/{MODEL}@champion" in model.description
    first = client.get_model_version(MODEL, store.first.version).description.splitlines()[0]
    assert first.startswith(f"{store.first.strategy}: AUPRC ")
    assert "validation slice" in first and "policy" in first
    assert not re.search(r"[*`\[\]]", first)  # shown as written in the versions list


def test_export_of_a_launch_over_draws_refits_on_the_first_draw() -> None:
    """The autouse fixture gives this test its own store: a launch over 2 simulator draws."""
    overrides = ["strategies=[none]", *TINY, "data.fraud_rate=0.05"]
    experiment = run_experiment(load_config("experiments/quick.yaml", [*overrides, "data.draws=2"]))
    steps: list[str] = []
    result = export_champion(experiment.parent_run_id, progress=steps.append)
    assert any(
        "over 2 simulator draws: the champion is refit on the first (data.seed=1)" in s
        for s in steps
    )
    assert not result.warnings  # the launch's digest covers both draws: no "data changed" warning
    one = prepare(load_config("experiments/quick.yaml", overrides))
    assert result.n_fit == len(one.frame) and result.n_validation < len(one.frame)  # one draw
