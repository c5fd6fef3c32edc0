"""MLflow tracking: the store, experiments, parent and child runs, and reading them back."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlparse

import mlflow
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from models.errors import FraudganError
from pipeline.config import (
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_TRACKING_URI,
    PROJECT_ROOT,
    check_tracking_uri,
    tracking_uri,
)
from pipeline.data.sources import Dataset

log = logging.getLogger(__name__)
T = TypeVar("T")

# Every tag fraudgan sets on a run is `fraudgan.<name>`; readers use these constants.
TAG_RUN_TYPE = "fraudgan.run_type"  # one of the RUN_* values below
TAG_STRATEGY = "fraudgan.strategy"  # the strategy's name in the YAML
TAG_STRATEGY_KIND = "fraudgan.strategy_kind"  # its registry kind (`smote_0.5` -> `smote`)
TAG_FOLD = "fraudgan.fold"
TAG_SEED = "fraudgan.seed"
TAG_LAUNCH = "fraudgan.launch"  # the parent run id, on the parent and its summary runs
TAG_VS_BASELINE = "fraudgan.vs_baseline"  # a summary run's paired test against the baseline
TAG_VS_REFERENCE = "fraudgan.vs_reference"  # ... and against the reference resampler
TAG_ERROR = "fraudgan.error"
TAG_CONFIG_HASH = "fraudgan.config_hash"
TAG_GIT_COMMIT = "fraudgan.git_commit"
TAG_DATA_DIGEST = "fraudgan.data_digest"
TAG_DATA_NAME = "fraudgan.data_name"
TAG_SOURCE_RUN = "fraudgan.source_run"  # an export run's (and model version's) parent run
TAG_EXPORT_RUN = "fraudgan.export_run"  # a model version's export run
TAG_THRESHOLD = "fraudgan.threshold"
TAG_THRESHOLD_POLICY = "fraudgan.threshold_policy"
TAG_DESCRIPTION = "mlflow.note.content"  # MLflow shows it as the run's description

RUN_EXPERIMENT = "experiment"  # the parent run of one launch
RUN_FOLD = "fold"  # one (strategy, fold, seed) child
RUN_SUMMARY = "summary"  # one strategy's mean and interval over its fold children
RUN_EXPORT = "export"

# Metric-name prefixes: MLflow draws the charts of each prefix (before `/`) in their own section.
GAN_PREFIX = "gan/"  # a GAN child's training: losses per epoch, best epoch, time
QUALITY_PREFIX = "quality/"  # a GAN child's synthetic-data quality report
CI_LOW_PREFIX = "ci_low/"  # a summary run's interval bounds of a metric
CI_HIGH_PREFIX = "ci_high/"
DELTA_PREFIX = "delta/"  # a summary run's paired difference against a reference
P_HOLM_PREFIX = "p_holm/"  # ... and its Holm-adjusted p-value
MDE_PREFIX = "mde/"  # ... and the smallest difference its test could detect (80 % power)
_LEGACY_PREFIXES = {"gan_": GAN_PREFIX, "quality_": QUALITY_PREFIX}
SHARED_VIEW_TAG = "mlflow.sharedViewState."
"""The experiment-tag prefix under which the MLflow UI looks up a shared view of the run list."""


def setup(uri: str | None = None) -> str:
    """Point MLflow at the store (default: the project's SQLite store) and return its URI.

    A `sqlite:///` file or an `http(s)://` MLflow server; anything else is a `ConfigError`
    (`pipeline.config.check_tracking_uri`)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = check_tracking_uri(uri or tracking_uri())
    mlflow.set_tracking_uri(uri)
    db = sqlite_path(uri)
    if db is not None:
        _check_sqlite_file(db, uri)
        db.parent.mkdir(parents=True, exist_ok=True)
        # MLflow creates the SQLite schema on first use; two processes doing it at once collide
        # in alembic's migrations. Serialize the first touch of the store across processes.
        with open(db.with_name(db.name + ".lock"), "w") as lock:
            _lock_file(lock)
            try:
                retry(
                    lambda: MlflowClient().search_experiments(max_results=1),
                    what="opening the store",
                )
            except Exception as exc:  # SQLAlchemy and alembic errors: name the store instead
                raise FraudganError(
                    f"tracking URI {uri}: cannot open {db} as an MLflow store "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:300]})"
                ) from None
    return uri


_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_sqlite_file(db: Path, uri: str) -> None:
    """A `sqlite:///` store must be an SQLite file (or not exist yet: MLflow creates it)."""
    if db.is_dir():
        raise FraudganError(f"tracking URI {uri}: {db} is a folder, not an SQLite database file")
    if not db.exists() or db.stat().st_size == 0:
        return
    try:
        with db.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise FraudganError(f"tracking URI {uri}: cannot read {db} ({exc})") from None
    if header != _SQLITE_HEADER:
        raise FraudganError(
            f"tracking URI {uri}: {db} is not an SQLite database; point MLFLOW_TRACKING_URI at "
            "an MLflow store (sqlite:///path/to/mlflow.db) or at a file that does not exist yet"
        )


def _lock_file(handle: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent first launches may collide
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    if not uri.startswith("sqlite:"):
        return None
    return Path(unquote(urlparse(uri).path)).resolve()


def artifact_root(uri: str) -> Path | None:
    """Where artifacts of a local SQLite store go: `<db folder>/artifacts` (the project's `mlruns/`)."""
    if uri == DEFAULT_TRACKING_URI:
        return DEFAULT_ARTIFACT_ROOT
    db = sqlite_path(uri)
    return None if db is None else db.parent / "artifacts"


@contextmanager
def resume_lock(parent_run_id: str) -> Iterator[None]:
    """Hold the right to resume `parent_run_id`: one resume of a parent at a time.

    A file lock (released by the system when the process ends, however it ends) next to a
    SQLite store; for other stores in the temporary folder, which covers only the fraudgan
    processes of this machine (a warning says so). Raises `FraudganError` when another process
    holds it.
    """
    uri = mlflow.get_tracking_uri()
    db = sqlite_path(uri)
    if db is not None:
        folder = db.parent / ".resume-locks"
    else:
        folder = Path(tempfile.gettempdir()) / "fraudgan-resume-locks"
        log.warning(
            "store %s is not a local SQLite file: the resume lock covers only fraudgan processes "
            "on this machine; resume a run from one machine at a time",
            uri,
        )
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{hashlib.sha256(uri.encode()).hexdigest()[:12]}-{parent_run_id}.lock"
    with open(folder / name, "a+") as handle:
        if not _try_lock_file(handle):
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise FraudganError(
                f"run {parent_run_id} is being resumed by another fraudgan process ({holder}); "
                "wait for it to finish, or stop it, before resuming it again"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield


def _try_lock_file(handle: Any) -> bool:
    """Take an exclusive lock without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        log.warning("no file locks on this system: two resumes of one run are not prevented")
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def retry(fn: Callable[[], T], *, what: str, attempts: int = 8) -> T:
    """Run a store operation, retrying while SQLite is locked by another fraudgan process."""
    delay = 0.2
    for attempt in range(attempts):
        try:
            return fn()
        except MlflowException as exc:
            text = str(exc).lower()
            if "locked" not in text and "busy" not in text or attempt == attempts - 1:
                raise
            log.debug("store busy while %s (attempt %d); retrying", what, attempt + 1)
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
    raise AssertionError("unreachable")


def experiment_id(name: str) -> str:
    """The id of the named MLflow experiment, created (with a local artifact folder) if missing."""
    client = MlflowClient()
    existing = retry(lambda: client.get_experiment_by_name(name), what="reading the experiment")
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            raise FraudganError(
                f"MLflow experiment {name!r} is deleted; restore it in the MLflow UI "
                "or choose another `name:` in the YAML"
            )
        return existing.experiment_id
    root = artifact_root(mlflow.get_tracking_uri())
    location = None if root is None else (root / name).resolve().as_uri()
    try:
        return retry(
            lambda: client.create_experiment(name, artifact_location=location),
            what="creating the experiment",
        )
    except MlflowException:
        # Another process created it first.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def git_commit() -> str:
    """The project's current git commit, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class _LoggedDataset(MetaDataset):
    """Metadata of the data a run used: its source, digest, sampled schema and a profile."""

    def __init__(self, *, profile: dict[str, Any], **kwargs: Any) -> None:
        self._profile = profile
        super().__init__(**kwargs)

    @property
    def profile(self) -> dict[str, Any]:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def dataset_source(dataset: Dataset) -> DatasetSource:
    """The MLflow source of a loaded dataset: the file it was read from, or the simulator call."""
    if dataset.source_path is None:
        return CodeDatasetSource({"generator": dataset.name})
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    with warnings.catch_warnings():
        # Two registered local-file source types match a file:// URI; they are the same class.
        warnings.simplefilter("ignore", UserWarning)
        return resolve_dataset_source(Path(dataset.source_path).resolve().as_uri())


def dataset_input(dataset: Dataset, sample_rows: int = 1000) -> MetaDataset:
    """The MLflow dataset to log with `mlflow.log_input`: source, full-data digest, row counts,
    and a schema inferred from the first `sample_rows` rows (inferring it value by value on
    millions of rows takes minutes)."""
    schema = dataset.schema
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hint about integer columns
        sample = mlflow.data.from_pandas(dataset.frame.head(sample_rows), targets=schema.label)
    return _LoggedDataset(
        source=dataset_source(dataset),
        name=dataset.name,
        digest=dataset.digest[:32],
        schema=sample.schema,
        profile={
            "num_rows": dataset.n_rows,
            "num_positive": dataset.n_positive,
            "num_columns": int(dataset.frame.shape[1]),
            "duplicates_dropped": dataset.n_duplicates_dropped,
        },
    )


def log_metrics(run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    """Log finite metrics in one batch (NaN and inf are skipped: MLflow cannot plot them)."""
    now = int(time.time() * 1000)
    batch = [
        Metric(k, float(v), now, step)
        for k, v in metrics.items()
        if v is not None and math.isfinite(float(v))
    ]
    client = MlflowClient()
    for i in range(0, len(batch), 500):
        chunk = batch[i : i + 500]
        retry(lambda c=chunk: client.log_batch(run_id, metrics=c), what="logging metrics")


def log_series(run_id: str, series: dict[str, tuple[list[int], list[float]]]) -> None:
    """Log metric histories, {name: (steps, values)}, in batches (non-finite values skipped)."""
    now = int(time.time() * 1000)
    batch = [
        Metric(name, float(v), now, int(step))
        for name, (steps, values) in series.items()
        for step, v in zip(steps, values, strict=True)
        if v is not None and math.isfinite(float(v))
    ]
    client = MlflowClient()
    for i in range(0, len(batch), 1000):
        chunk = batch[i : i + 1000]
        retry(lambda c=chunk: client.log_batch(run_id, metrics=c), what="logging metric histories")


def log_params(run_id: str, params: dict[str, Any]) -> None:
    """Log parameters in one batch (values as strings, truncated to MLflow's limit)."""
    batch = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
    client = MlflowClient()
    for i in range(0, len(batch), 100):
        chunk = batch[i : i + 100]
        retry(lambda c=chunk: client.log_batch(run_id, params=c), what="logging params")


def set_tags(run_id: str, tags: dict[str, Any]) -> None:
    """Set several tags on a run."""
    client = MlflowClient()
    batch = [RunTag(str(k), str(v)[:5000]) for k, v in tags.items()]
    retry(lambda: client.log_batch(run_id, tags=batch), what="setting tags")


def metric_name(name: str) -> str:
    """The MLflow name of a metric: `gan_x` -> `gan/x`, `quality_x` -> `quality/x`, else as is."""
    for legacy, prefix in _LEGACY_PREFIXES.items():
        if name.startswith(legacy):
            return prefix + name[len(legacy) :]
    return name


def start_child(
    experiment: str,
    parent_run_id: str,
    run_name: str,
    tags: dict[str, Any],
    run_type: str = RUN_FOLD,
) -> mlflow.ActiveRun:
    """Start a nested child run under `parent_run_id` as the active run."""
    all_tags = {MLFLOW_PARENT_RUN_ID: parent_run_id, TAG_RUN_TYPE: run_type, **tags}
    return retry(
        lambda: mlflow.start_run(
            experiment_id=experiment,
            run_name=run_name,
            nested=True,
            parent_run_id=parent_run_id,
            tags={k: str(v) for k, v in all_tags.items()},
        ),
        what="starting a child run",
    )


def end_active(status: str) -> None:
    """End the active run with an MLflow status (FINISHED, FAILED, KILLED)."""
    retry(lambda: mlflow.end_run(status=status), what="ending a run")


def child_runs(parent_run_id: str, run_type: str = RUN_FOLD) -> list[mlflow.entities.Run]:
    """The child runs of one type (default: the fold runs) of a parent run, any status."""
    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=(
            f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' "
            f"and tags.`{TAG_RUN_TYPE}` = '{run_type}'"
        ),
        max_results=50_000,
    )


def inherit_inputs(run_id: str) -> None:
    """Log the dataset inputs of a child run's parent on the child as well."""
    client = MlflowClient()
    parent_id = client.get_run(run_id).data.tags.get(MLFLOW_PARENT_RUN_ID)
    if parent_id is None:
        return
    inputs = client.get_run(parent_id).inputs
    datasets = list(inputs.dataset_inputs) if inputs is not None else []
    if datasets:
        retry(lambda: client.log_inputs(run_id, datasets=datasets), what="logging inputs")


def share_view(experiment_id: str, key: str, state: dict[str, Any]) -> None:
    """Store a view of the run list (filter, sort, columns, charts) that `view_url` opens."""
    retry(
        lambda: MlflowClient().set_experiment_tag(
            experiment_id, SHARED_VIEW_TAG + key, json.dumps(state, separators=(",", ":"))
        ),
        what="sharing a view",
    )


def summary_view_key(parent_run_id: str) -> str:
    """The name of the shared view that shows one launch: its parent and summary runs."""
    return f"fraudgan-{parent_run_id}"


def launch_url(base: str, parent_run_id: str, charts: bool = False) -> str:
    """The UI address of one launch's comparison (its shared view when the launch stored one)."""
    client = MlflowClient()
    experiment = client.get_run(parent_run_id).info.experiment_id
    key = summary_view_key(parent_run_id)
    stored = SHARED_VIEW_TAG + key in client.get_experiment(experiment).tags
    return experiment_url(base, experiment, key if stored else None, charts=charts)


UI_VIEW = "workflowType=machine_learning"
"""MLflow 3's UI opens a page in its GenAI view unless the address asks for model training."""


def ui_url(base: str, route: str, **params: str) -> str:
    """The UI address of a route (`experiments/1/runs/abc`) in the model-training view: every
    link fraudgan prints or writes is built here. `params` are added to the address."""
    query = UI_VIEW + "".join(f"&{k}={quote(str(v))}" for k, v in params.items())
    return f"{base.rstrip('/')}/#/{route.strip('/')}?{query}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """The UI address of one run's page."""
    return ui_url(base, f"experiments/{experiment_id}/runs/{run_id}")


def artifact_url(base: str, experiment_id: str, run_id: str, path: str) -> str:
    """The UI address of one artifact of a run (its Artifacts tab, the file shown)."""
    route = f"experiments/{experiment_id}/runs/{run_id}/artifacts/{quote(path.strip('/'))}"
    return ui_url(base, route)


def experiment_url(
    base: str, experiment_id: str, view: str | None = None, charts: bool = False
) -> str:
    """The UI address of an experiment's run list, optionally a shared view, or its charts."""
    params = {} if view is None else {"viewStateShareKey": view}
    if charts:
        params["compareRunsMode"] = "CHART"
    return ui_url(base, f"experiments/{experiment_id}/runs", **params)


def latest_parent_run(experiment_name: str | None = None) -> str:
    """The most recent fraudgan parent run (in one experiment, or across all)."""
    return parent_runs(experiment_name, max_results=1)[0].info.run_id


def parent_runs(
    experiment_name: str | None = None, *, max_results: int = 1000
) -> list[mlflow.entities.Run]:
    """fraudgan parent runs, newest first (in one experiment, or across all); never empty."""
    client = MlflowClient()
    if experiment_name is not None:
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            raise FraudganError(f"no MLflow experiment named {experiment_name!r}")
        ids = [exp.experiment_id]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        ids,
        filter_string=f"tags.`{TAG_RUN_TYPE}` = '{RUN_EXPERIMENT}'",
        order_by=["attributes.start_time DESC"],
        max_results=max_results,
    )
    if not runs:
        raise FraudganError(
            f"no fraudgan experiment runs in the store {mlflow.get_tracking_uri()}; "
            "run `fraudgan run experiments/default.yaml` first"
        )
    return list(runs)


def refuse_a_file(run_id: str) -> None:
    """Raise FraudganError when `run_id` names a file (an experiment's YAML) instead of a run."""
    if run_id.lower().endswith((".yaml", ".yml")) or Path(run_id).is_file():
        raise FraudganError(
            f"{run_id!r} is a file, not a run id: pass the parent run id that `fraudgan run` "
            "printed (`parent run: ...`), or --latest for the newest launch"
        )


def get_run(run_id: str) -> mlflow.entities.Run:
    """A run of the store by id, or `FraudganError` saying it is missing (and, for an
    experiment's name given as an id, which launch is its newest)."""
    refuse_a_file(run_id)
    try:
        return MlflowClient().get_run(run_id)
    except MlflowException:
        hint = ""
        if MlflowClient().get_experiment_by_name(run_id) is not None:
            try:
                newest = latest_parent_run(run_id)
            except FraudganError:
                hint = f": {run_id!r} is an MLflow experiment's name, with no fraudgan launch"
            else:
                hint = (
                    f": {run_id!r} is an MLflow experiment's name; its newest launch is "
                    f"{newest} (or --latest for the newest launch of any experiment)"
                )
        raise FraudganError(
            f"run {run_id!r} does not exist in the store {mlflow.get_tracking_uri()}{hint}"
        ) from None


def get_parent_run(run_id: str) -> mlflow.entities.Run:
    """A fraudgan parent run by id, with a clear error when it is not one."""
    run = get_run(run_id)
    if run.data.tags.get(TAG_RUN_TYPE) != RUN_EXPERIMENT:
        raise FraudganError(
            f"run {run_id!r} is not a fraudgan experiment (parent) run; "
            "pass the id of the run that `fraudgan run` printed"
        )
    return run


FINISHED = RunStatus.to_string(RunStatus.FINISHED)
FAILED = RunStatus.to_string(RunStatus.FAILED)
KILLED = RunStatus.to_string(RunStatus.KILLED)


def incomplete_reason(parent: mlflow.entities.Run) -> str | None:
    """Why a parent run is not a complete experiment, or None when it is one.

    Complete: the parent FINISHED and every (strategy, fold, seed) child it planned (its
    `strategies` and `split.folds` params) has a FINISHED run, resumed launches included.
    """
    reasons = []
    if parent.info.status != FINISHED:
        reasons.append(f"its status is {parent.info.status}")
    params = parent.data.params
    try:
        strategies = [s for s in params["strategies"].split(",") if s]
        planned = len(strategies) * int(params["split.folds"])
    except (KeyError, ValueError):
        reasons.append("it has no record of the children it planned")
    else:
        finished = {
            (r.data.tags[TAG_STRATEGY], r.data.tags.get(TAG_FOLD), r.data.tags.get(TAG_SEED))
            for r in child_runs(parent.info.run_id)
            if r.info.status == FINISHED and TAG_STRATEGY in r.data.tags
        }
        if len(finished) < planned:
            reasons.append(f"{len(finished)} of its {planned} children finished")
    return "; ".join(reasons) or None


def latest_complete_parent_run(experiment_name: str | None = None) -> tuple[str, list[str]]:
    """The most recent complete fraudgan experiment, and a line per newer launch passed over."""
    runs = parent_runs(experiment_name)
    skipped: list[str] = []
    for run in runs:
        reason = incomplete_reason(run)
        if reason is None:
            return run.info.run_id, skipped
        skipped.append(f"{run.info.run_id} ({run.info.run_name}): {reason}")
    raise FraudganError(
        f"no complete fraudgan experiment in the store {mlflow.get_tracking_uri()}:\n  "
        + "\n  ".join(skipped)
        + "\nresume one with `fraudgan run CONFIG --resume RUN_ID`, or export one by its id "
        "with --allow-incomplete"
    )


def run_command(
    config: str = "CONFIG", overrides: Sequence[str] = (), resume: str | None = None
) -> str:
    """The command line of a launch: `fraudgan run CONFIG [--set ...] [--resume ID]`."""
    sets = "".join(f" --set {o!r}" if " " in o else f" --set {o}" for o in overrides)
    return f"fraudgan run {config}{sets}" + (f" --resume {resume}" if resume else "")


def resume_command(
    parent_run_id: str, config: str = "CONFIG", overrides: Sequence[str] = ()
) -> str:
    """The command that resumes a launch: `fraudgan run CONFIG [--set ...] --resume ID`."""
    return run_command(config, overrides, parent_run_id)


def launch_started_since(experiment_name: str, since_ms: int) -> str | None:
    """The newest parent run of an experiment started at or after `since_ms` (epoch ms), or None:
    the launch this process started, when it was interrupted before returning its id."""
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{TAG_RUN_TYPE}` = '{RUN_EXPERIMENT}' "
        f"and attributes.start_time >= {int(since_ms)}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def close_orphaned_children(parent_run_id: str) -> list[str]:
    """Mark KILLED the fold runs of a launch still RUNNING (left by a hard kill of the process
    that ran them), before a resume replaces them; their ids."""
    closed = []
    client = MlflowClient()
    for run in child_runs(parent_run_id):
        if run.info.status != RunStatus.to_string(RunStatus.RUNNING):
            continue
        run_id = run.info.run_id
        set_tags(run_id, {TAG_ERROR: "left running when its launch was killed; replaced on resume"})
        retry(lambda r=run_id: client.set_terminated(r, status=KILLED), what="closing a run")
        closed.append(run_id)
    if closed:
        log.info("marked %d child run(s) left running by the killed launch as KILLED", len(closed))
    return closed
