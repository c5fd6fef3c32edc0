"""The runner's fault handling: failed children, Ctrl-C and --resume, concurrent launches."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from models.errors import ConfigError, FraudganError
from pipeline import runner, tracking
from pipeline.cli import app
from pipeline.config import PROJECT_ROOT, load_config

QUICK = "experiments/quick.yaml"
TINY = ["data.rows=3000", "data.fraud_rate=0.03", "classifier.n_estimators=15"]


def _children(parent_id: str) -> list[mlflow.entities.Run]:
    return tracking.child_runs(parent_id)


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture
def failing_fit(monkeypatch) -> str:
    """Strategy `bad` fails inside its fit, on every fold (the launch's checks cannot see it)."""
    original = runner.FoldRunner.run

    def run(self, name, params):
        if name == "bad":
            raise RuntimeError("the sampler broke inside its fit")
        return original(self, name, params)

    monkeypatch.setattr(runner.FoldRunner, "run", run)
    return "strategies.bad={kind: smote}"


def test_a_failing_child_is_marked_failed_and_the_others_continue(failing_fit) -> None:
    cfg = load_config(QUICK, [*TINY, failing_fit])
    result = runner.run_experiment(cfg)
    assert len(result.failed) == cfg.split.n_splits
    assert "the sampler broke inside its fit" in result.failed[0]
    statuses = {}
    for child in _children(result.parent_run_id):
        statuses.setdefault(child.data.tags[tracking.TAG_STRATEGY], set()).add(child.info.status)
    assert statuses["bad"] == {"FAILED"}
    assert statuses["none"] == {"FINISHED"}
    children = _children(result.parent_run_id)
    bad = [c for c in children if c.data.tags[tracking.TAG_STRATEGY] == "bad"][0]
    assert "RuntimeError: the sampler broke" in bad.data.tags[tracking.TAG_ERROR]
    assert "bad" not in set(result.comparison.table["strategy"])


def test_a_feature_importance_that_cannot_be_measured_leaves_the_child_standing(
    monkeypatch, caplog
) -> None:
    from models.errors import DataError
    from models.scorer import FraudScorer

    def broken(self, model_input, fraud_rows=None):
        raise DataError("scorer: cannot map model feature 'x9' back to an input column")

    monkeypatch.setattr(FraudScorer, "importance", broken)
    cfg = load_config(QUICK, [*TINY, "strategies=[none]"])
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        result = runner.run_experiment(cfg)
    assert not result.failed
    assert [c.info.status for c in _children(result.parent_run_id)] == ["FINISHED"] * 2
    assert "no feature importance (scorer: cannot map model feature 'x9'" in caplog.text
    names = {
        a.path for a in mlflow.MlflowClient().list_artifacts(result.parent_run_id, "comparison")
    }
    assert f"comparison/{runner.IMPORTANCE_FILE}" not in names


def test_a_run_with_a_failed_child_exits_non_zero_after_the_comparison(failing_fit) -> None:
    args = ["run", QUICK, *_sets(["strategies=[none]", failing_fit, *TINY])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "none" in text and "AUPRC" in text  # the comparison of the finished children
    assert "2 child run(s) failed" in text and "bad fold=0 seed=0" in text
    assert text.index("AUPRC") < text.index("child run(s) failed")
    assert text.count("No resampler in the results") == 1  # the summary's line, not the log's too


def test_ctrl_c_kills_the_run_and_resume_reuses_finished_children(
    monkeypatch, interrupted_launch
) -> None:
    cfg = load_config(QUICK, TINY)
    parent_id = interrupted_launch(cfg, 3)
    client = mlflow.MlflowClient()
    assert client.get_run(parent_id).info.status == "KILLED"
    statuses = sorted(c.info.status for c in _children(parent_id))
    assert statuses == ["FINISHED", "FINISHED", "KILLED"]

    original = runner.FoldRunner.run
    ran = []
    monkeypatch.setattr(
        runner.FoldRunner,
        "run",
        lambda self, name, params: ran.append(name) or original(self, name, params),
    )
    result = runner.run_experiment(cfg, resume=parent_id)
    total = len(cfg.strategies) * cfg.split.n_splits
    assert len(ran) == total - 2
    assert len(result.results) == total
    assert client.get_run(parent_id).info.status == "FINISHED"
    summaries = tracking.child_runs(parent_id, tracking.RUN_SUMMARY)
    assert len(summaries) == len(cfg.strategies)

    # Resuming a finished launch reruns nothing: the summary runs are not fold results, and
    # they are replaced, not duplicated.
    again = runner.run_experiment(cfg, resume=parent_id)
    assert len(ran) == total - 2
    assert len(again.results) == total
    # the reused children's feature importance is read back from their runs
    reused = runner._resumed_results(parent_id).values()
    assert all(r.importance is not None and len(r.importance) for r in reused)
    assert len(runner._resumed_results(parent_id)) == total
    assert [c.info.status for c in _children(parent_id)].count("FINISHED") == total
    after = tracking.child_runs(parent_id, tracking.RUN_SUMMARY)
    assert len(after) == len(cfg.strategies)
    assert not {r.info.run_id for r in after} & {r.info.run_id for r in summaries}


def test_resume_refuses_a_different_configuration_before_any_work(monkeypatch) -> None:
    cfg = load_config(QUICK, [*TINY, "strategies=[none]"])
    result = runner.run_experiment(cfg)
    other = load_config(QUICK, [*TINY, "strategies=[none]", "seed=9"])
    touched: list[str] = []  # the data's checks (minutes on a big file), the old run's children
    monkeypatch.setattr(runner, "preflight", lambda cfg: touched.append("preflight"))
    monkeypatch.setattr(
        tracking, "close_orphaned_children", lambda run_id: touched.append("children")
    )
    with pytest.raises(ConfigError, match=f"--resume {result.parent_run_id}: .*different config"):
        runner.run_experiment(other, resume=result.parent_run_id)
    assert touched == []


def test_resume_works_whatever_experiment_the_caller_made_active() -> None:
    cfg = load_config(QUICK, [*TINY, "strategies=[none]"])
    first = runner.run_experiment(cfg)
    mlflow.set_experiment("somewhere-else")  # as a notebook or a benchmark script would
    again = runner.run_experiment(cfg, resume=first.parent_run_id)
    assert again.parent_run_id == first.parent_run_id
    assert len(again.results) == len(first.results)


def test_two_concurrent_launches_on_one_sqlite_store_both_finish(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    cmd = [sys.executable, "-m", "pipeline.cli", "run", QUICK, "--set", "strategies=[none, smote]"]
    for o in TINY:
        cmd += ["--set", o]
    procs = [
        subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("quick")
    parents = client.search_runs(
        [exp.experiment_id], f"tags.`{tracking.TAG_RUN_TYPE}` = '{tracking.RUN_EXPERIMENT}'"
    )
    assert len(parents) == 2
    for parent in parents:
        assert parent.info.status == "FINISHED"
        assert len(_children(parent.info.run_id)) == 2 * 2


def test_resume_of_an_unknown_run_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["run", QUICK, "--resume", "deadbeef", *_sets(TINY)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "deadbeef" in text and "does not exist" in text
    assert "Traceback" not in text


def test_a_tracking_uri_that_is_not_a_database_is_a_clear_error(tmp_path, monkeypatch) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("these are my notes, not an MLflow store\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{not_a_db}")
    for args in (["run", QUICK, *_sets(TINY)], ["compare", "--latest"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert str(not_a_db) in text and "not an SQLite database" in text
    assert not_a_db.read_text() == "these are my notes, not an MLflow store\n"


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("{tmp}/store", "file store"),
        ("file://{tmp}/mlruns", "file store"),
        ("postgresql://me@localhost/mlflow", "through an MLflow server"),
        ("mysql+pymysql://me@localhost/mlflow", "through an MLflow server"),
        ("sqlite:/{tmp}/x.db", "three slashes"),
        ("s3://bucket/mlruns", "does not track to s3"),
    ],
)
def test_an_unsupported_tracking_uri_is_one_line_saying_what_is_supported(
    tmp_path, monkeypatch, uri, why
) -> None:
    uri = uri.format(tmp=tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for args in (["compare", "--latest"], ["run", QUICK, *_sets(TINY)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        lines = [x for x in result.output.splitlines() if x.strip() and "INFO" not in x]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert f"MLFLOW_TRACKING_URI={uri}: not supported" in lines[0] and why in lines[0]
        assert "sqlite:///path/to/mlflow.db" in lines[0] and "http(s)://host:port" in lines[0]
    assert not (tmp_path / "store").exists() and not (tmp_path / "mlruns").exists()


def test_a_tracking_server_uri_is_accepted_without_contacting_it() -> None:
    for uri in ("http://127.0.0.1:5000", "https://mlflow.example.org/"):
        assert tracking.setup(uri) == uri
        assert mlflow.get_tracking_uri() == uri


def test_two_resumes_of_one_parent_do_not_both_rerun_its_children(
    monkeypatch, interrupted_launch
) -> None:
    cfg = load_config(QUICK, [*TINY, "strategies=[none, class_weight]"])
    parent_id = interrupted_launch(cfg, 2)
    original = runner.FoldRunner.run

    # the first resume holds its children until the second one has tried
    first_is_running, second_tried = threading.Event(), threading.Event()
    ran: list[str] = []

    def held(self, name, params):
        ran.append(name)
        first_is_running.set()
        second_tried.wait(timeout=60)
        return original(self, name, params)

    monkeypatch.setattr(runner.FoldRunner, "run", held)
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            outcome["first"] = runner.run_experiment(cfg, resume=parent_id)
        except BaseException as exc:  # reported by the assertions below
            outcome["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert first_is_running.wait(timeout=120)
    try:
        with pytest.raises(FraudganError, match=r"being resumed by another fraudgan process"):
            runner.run_experiment(cfg, resume=parent_id)
    finally:
        second_tried.set()
        thread.join(timeout=300)
    assert isinstance(outcome["first"], runner.ExperimentResult), outcome["first"]
    total = len(cfg.strategies) * cfg.split.n_splits
    assert len(ran) == total - 1  # the children the interrupted launch left, run once
    finished = [c for c in _children(parent_id) if c.info.status == "FINISHED"]
    assert len(finished) == total


def test_a_launch_with_few_frauds_per_test_fold_warns_that_its_figures_are_noise(caplog) -> None:
    from pipeline import report

    y = np.zeros(1000, dtype=np.int8)
    y[:50] = 1
    assert report.few_positives_warning(y, [np.arange(0, 500), np.arange(500, 1000)]) is not None
    assert report.few_positives_warning(y, [np.arange(0, 40), np.arange(20, 60)]) is None
    cfg = load_config(
        QUICK,
        [
            *TINY,
            "data.fraud_rate=0.005",
            "strategies=[none]",
            "validation.windows=1",
            "validation.fraction=0.4",
        ],
    )
    with caplog.at_level(logging.WARNING, logger="pipeline.runner"):
        runner.run_experiment(cfg)
    text = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "fraud rows each" in text and "mostly noise" in text


def test_a_child_left_running_by_a_hard_kill_is_marked_killed_when_a_resume_replaces_it(
    interrupted_launch,
) -> None:
    cfg = load_config(QUICK, [*TINY, "strategies=[none]"])
    parent_id = interrupted_launch(cfg, 2)
    client = mlflow.MlflowClient()
    # a hard kill (kill -9, a lost machine) ends nothing: the child and its parent stay RUNNING
    (left,) = [c for c in _children(parent_id) if c.info.status == "KILLED"]
    client.update_run(left.info.run_id, status="RUNNING")
    client.update_run(parent_id, status="RUNNING")
    runner.run_experiment(cfg, resume=parent_id)
    after = client.get_run(left.info.run_id)
    assert after.info.status == "KILLED"
    assert "replaced on resume" in after.data.tags[tracking.TAG_ERROR]
    assert after.info.end_time is not None
    statuses = sorted(c.info.status for c in _children(parent_id))
    assert statuses == ["FINISHED", "FINISHED", "KILLED"]


def test_ctrl_c_prints_the_resume_command_and_compare_says_the_launch_is_incomplete(
    monkeypatch,
) -> None:
    original = runner.FoldRunner.run
    calls = {"n": 0}

    def interrupted(self, name, params):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, name, params)

    monkeypatch.setattr(runner.FoldRunner, "run", interrupted)
    sets = [*TINY, "strategies=[none, class_weight]"]
    result = CliRunner().invoke(app, ["run", QUICK, *_sets(sets)])
    assert result.exit_code == 130, result.output
    parent_id = tracking.latest_parent_run("quick")
    text = " ".join(result.output.split())
    assert f"launch {parent_id} is incomplete" in text
    command = f"fraudgan run {QUICK} " + " ".join(f"--set {s}" for s in TINY)
    assert command in text and f"--resume {parent_id}" in text
    assert "--set 'strategies=[none, class_weight]'" in text

    result = CliRunner().invoke(app, ["compare", "--latest"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"launch {parent_id} is incomplete" in text
    assert "2 of its 4 children finished" in text and "status is KILLED" in text
    assert f"fraudgan run CONFIG --resume {parent_id}" in text


def _launches() -> int:
    return len(mlflow.search_runs(search_all_experiments=True, output_format="list"))


def test_check_shows_the_folds_and_their_windows_and_runs_nothing() -> None:
    before = _launches()
    res = CliRunner().invoke(app, ["check", QUICK, *_sets(TINY)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "3,000 rows" in text and "window fraud" in text
    assert "ready: fraudgan run experiments/quick.yaml --set data.rows=3000" in text
    assert _launches() == before  # nothing trained, nothing logged


def test_a_fold_whose_validation_windows_cannot_be_cut_stops_before_any_run() -> None:
    before = _launches()
    tiny_windows = [*TINY, "validation.fraction=0.002"]  # 3 rows a window: no fraud in them
    for command in ("check", "run"):
        res = CliRunner().invoke(app, [command, QUICK, *_sets(tiny_windows)])
        assert res.exit_code == 2, res.output
        text = " ".join(res.output.split())
        assert "error: outer fold 0 (seed 0): inner validation" in text
        assert "has no positive row" in text
    assert _launches() == before


def test_a_gan_conditioned_on_more_categories_than_its_slots_is_refused_before_any_fit() -> None:
    sets = [
        *TINY,
        "strategies=[none, cgan]",
        "strategies.cgan.condition_feature=merchant_category",
        "strategies.cgan.max_categories=5",
    ]
    with pytest.raises(ConfigError) as refused:
        runner.preflight(load_config(QUICK, sets))
    assert re.match(
        r"strategies\.cgan\.condition_feature: 'merchant_category' has \d+ categories in the rows "
        r"the GAN of outer fold 0 \(seed 0\) trains on, more than max_categories \(5\)",
        str(refused.value),
    )
    runner.preflight(load_config(QUICK, sets[:-1]))  # one slot each at the default cap
