"""Shared fixtures: every test gets its own MLflow store, never the repo's mlruns/."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test`'s two workers on two cores: a thread each, not two each contending for a core
    for _var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_var, "1")

import models  # noqa: F401  (sets TensorFlow's environment before any test imports Keras)

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


SLOWEST_FIRST = (
    "test_own_data",
    "test_spark",
    "test_spark_features",
    "test_runner",
    "test_runner_faults",
    "test_suite",
    "test_export",
    "test_gan",
    "test_oversampler",
    "test_serve",
)
"""The slowest test files, slowest first (their seconds in `pytest --durations`). `make test` runs
the files on two workers, each taking the next file when it runs out (`--dist loadfile
--no-loadscope-reorder`): longest first, no long file is left for the end with one worker idle."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: files stay whole


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory) -> Path:
    """An empty MLflow database at the current schema, made once per worker: creating one runs
    every migration (3-5 s), which each test's own store would otherwise repeat."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("migrated")
    db = folder / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(folder / "artifacts"))
    store.engine.dispose()
    # MLflow makes the default experiment again in each copy, with that store's artifact folder
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM experiments WHERE experiment_id = 0")
    con.close()
    return db


@pytest.fixture(autouse=True)
def _temporary_mlflow_store(tmp_path_factory, monkeypatch, _migrated_store):
    # beside the test's tmp_path, which some tests need empty
    db = tmp_path_factory.mktemp("store") / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(_migrated_store, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(autouse=True)
def _unwrapped_cli_errors(monkeypatch):
    """CLI messages on one line: rich folds a word longer than the console (a long temporary
    path) across lines, which no test can undo."""
    from pipeline.console import err_console

    monkeypatch.setattr(err_console, "width", 10_000)


@pytest.fixture
def interrupted_launch() -> Callable[[Any, int], str]:
    """`interrupted_launch(cfg, at)`: launch `cfg`, Ctrl-C at its `at`-th child; the parent run id."""
    from pipeline import runner, tracking

    def launch(cfg: Any, at: int) -> str:
        original = runner.FoldRunner.run
        calls = {"n": 0}

        def interrupted(self: Any, name: str, params: dict[str, Any]) -> Any:
            calls["n"] += 1
            if calls["n"] == at:
                raise KeyboardInterrupt
            return original(self, name, params)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(runner.FoldRunner, "run", interrupted)
            with pytest.raises(KeyboardInterrupt):
                runner.run_experiment(cfg)
        return tracking.latest_parent_run(cfg.name)

    return launch
