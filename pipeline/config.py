"""Project paths and the typed experiment configuration, validated before any work starts."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import ConfigError, did_you_mean
from pipeline.data.schema import FILE_PRESETS, FilePreset, TimeUnit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"
MLRUNS_DIR = PROJECT_ROOT / "mlruns"
DEFAULT_TRACKING_URI = f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"
DEFAULT_ARTIFACT_ROOT = MLRUNS_DIR / "artifacts"
BENCHMARK_RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"


def tracking_uri() -> str:
    """The MLflow tracking URI: `MLFLOW_TRACKING_URI` when set, else the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


SUPPORTED_STORES = (
    "sqlite:///path/to/mlflow.db (a local store) or http(s)://host:port (an MLflow tracking server)"
)


def check_tracking_uri(uri: str) -> str:
    """`uri` when fraudgan can track to it: `sqlite:///...` or an `http(s)://` MLflow server.

    Anything else (a plain path, `file:///` stores, database URIs such as `postgresql://`) is a
    one-line `ConfigError` saying what is supported.
    """
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme == "sqlite" and uri.startswith("sqlite:///"):
        return uri
    if scheme in ("http", "https") and uri.split("://", 1)[-1].strip("/"):
        return uri
    if scheme == "sqlite":
        why = "a SQLite URI needs three slashes and a file: sqlite:///relative.db or sqlite:////abs.db"
    elif scheme in ("", "file") or len(scheme) == 1:  # a path (or a Windows drive letter)
        why = "MLflow's file store (a folder of runs) is in maintenance mode and not supported"
    elif scheme in ("postgresql", "postgres", "mysql", "mssql") or "+" in scheme:
        why = (
            f"a {scheme} database is reached through an MLflow server: run `mlflow server "
            f"--backend-store-uri {scheme}://...` and point MLFLOW_TRACKING_URI at its http:// address"
        )
    else:
        why = f"fraudgan does not track to {scheme}:// stores"
    raise ConfigError(f"MLFLOW_TRACKING_URI={uri}: not supported ({why}); use {SUPPORTED_STORES}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SchemaConfig(_Strict):
    """Column roles of a CSV/Parquet source (see `pipeline.data.schema.Schema`)."""

    label: str | None = None
    time: str | None = None
    time_unit: TimeUnit | None = None
    id: str | None = None
    amount: str | None = None
    entity: str | list[str] | None = None  # a list: a card named by several columns
    merchant: str | None = None
    categorical: list[str] | None = None
    drop: list[str] | None = None
    dates: list[str] | None = None
    velocity: list[str] | None = None


class LabelsConfig(_Strict):
    """Labels from a file of their own (`pipeline.data.labels`): fraud reports joined to the
    transactions by id; `reported_at`, the reports' dates, measures the real label delay."""

    path: str
    id: str | None = None
    reported_at: str | None = None

    def label_file(self) -> Any:
        """The `pipeline.data.labels.LabelFile` that file sources read the labels by."""
        from pipeline.data.labels import LabelFile

        return LabelFile.of(self)


class DataConfig(_Strict):
    """Where the transactions come from: the built-in simulator or a file with a schema."""

    kind: Literal["simulator", "csv", "parquet"] = "simulator"
    rows: int = Field(300_000, ge=100)
    days: int = Field(120, ge=1)
    seed: int = 0
    fraud_rate: float = Field(0.003, gt=0, lt=0.5)
    # Independent simulator draws (seeds `seed`, `seed`+1, ...), each split into its own stratified
    # folds: the comparison then measures the strategies across samples of the simulated world, not
    # across resamples of one sample (`pipeline.split.draws_correction`).
    draws: int = Field(1, ge=1, le=1000)
    path: str | None = None
    preset: FilePreset | None = None
    schema_: SchemaConfig | None = Field(None, alias="schema")
    # Stop before any work when an input column separates fraud from legitimate rows perfectly on
    # its own, the label in another form (`pipeline.data.leaks`); false for data whose classes one
    # genuine column does separate.
    leak_check: bool = True
    labels: LabelsConfig | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    @model_validator(mode="after")
    def _file_needs_path(self) -> DataConfig:
        if self.kind != "simulator" and not self.path:
            raise ValueError(f"data.path is required when data.kind is {self.kind!r}")
        if self.kind != "simulator" and self.preset is None and self.schema_ is None:
            raise ValueError(
                f"a file source needs data.preset ({', '.join(FILE_PRESETS)}) or data.schema"
            )
        if self.kind == "simulator" and self.labels is not None:
            raise ValueError(
                "data.labels joins fraud reports to a file's transactions; the simulator labels "
                "its own rows: remove data.labels, or set data.kind to csv or parquet"
            )
        if self.kind != "simulator" and self.draws > 1:
            raise ValueError(
                f"data.draws is {self.draws} but a {self.kind} file is one sample that cannot be "
                "drawn again; remove data.draws (or use split.repeats for repeated k-fold)"
            )
        return self

    def resolved_path(self) -> Path | None:
        """The data file. `load_config` anchors a relative `data.path` of the YAML at the YAML
        file's folder and one given with `--set` at the current folder; a relative path left (a
        config built in Python) is read from the current folder."""
        if self.path is None:
            return None
        p = Path(os.path.expanduser(self.path))
        return p if p.is_absolute() else Path.cwd() / p


def anchored_path(path: str, folder: Path) -> str:
    """`path` (`~` expanded) as an absolute path, a relative one taken from `folder`."""
    p = Path(os.path.expanduser(path))
    return str(p) if p.is_absolute() else os.path.abspath(folder / p)


class FeaturesConfig(_Strict):
    """Causal window features (see `pipeline.features`)."""

    enabled: bool = True
    label_delay_days: float = Field(7.0, ge=0)
    windows_days: list[float] = Field(default_factory=lambda: [1.0, 7.0, 30.0], min_length=1)
    # each merchant's distinct cards per window (merchant_entities_<w>: card testing); needs the
    # schema's entity and merchant
    merchant_entities: bool = False

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, value: list[float]) -> list[float]:
        bad = [w for w in value if not 0 < w < float("inf")]
        if bad:
            raise ValueError(f"every window must be a number of days > 0, found {bad}")
        return value


_SPLIT_SETTINGS = {
    "stratified": frozenset({"n_splits"}),  # `repeats` is refused with temporal folds
    "temporal": frozenset(
        {
            "train_days",
            "gap_days",
            "test_days",
            "n_folds",
            "step_days",
            "exclude_known_compromised",
            "known_cards",
        }
    ),
}
"""The settings only one kind of outer folds reads."""


class SplitConfig(_Strict):
    """Outer folds: stratified k-fold repeated over seeds, or temporal (prequential) folds.

    Stratified: `n_splits` folds once per seed of `seeds` (repeated stratified k-fold); `repeats: N`
    is the shorthand for N seeds from the first one (s, s+1, ..., s+N-1; 0..N-1 by default). Temporal: `n_folds` folds of `train_days | gap_days |
    test_days`, each `step_days` earlier; with `exclude_known_compromised`, a card known compromised
    is not scored, `known_cards` saying which frauds make it known: `training` (its fold's training
    and delay periods, the literature's protocol) or `history` (any earlier fraud).
    """

    kind: Literal["stratified", "temporal"] = "stratified"
    n_splits: int = Field(3, ge=2)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    repeats: int | None = Field(None, ge=1)
    train_days: float = Field(28.0, gt=0)
    gap_days: float = Field(7.0, ge=0)
    test_days: float = Field(7.0, gt=0)
    n_folds: int = Field(3, ge=1)
    step_days: float | None = None
    exclude_known_compromised: bool = True
    known_cards: Literal["training", "history"] = "training"
    # At most this many positive rows in each training fold (a random subset; `split.
    # cap_train_positives`): the scarcity curve. Test folds are never touched.
    max_train_positives: int | None = Field(None, ge=2)

    @model_validator(mode="before")
    @classmethod
    def _repeats_are_seeds(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or raw.get("repeats") is None:
            return raw
        repeats = raw["repeats"]
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            return raw  # the field's own check names the problem
        if raw.get("kind", "stratified") != "stratified":
            raise ValueError(
                "split.repeats repeats stratified k-fold; temporal folds are fixed by their "
                "windows (remove split.repeats, or use split.kind: stratified)"
            )
        given = raw.get("seeds")
        if isinstance(given, list) and len(given) == repeats:
            return raw
        if isinstance(given, list) and len(given) > 1:
            raise ValueError(
                f"split.repeats is {repeats} but split.seeds lists {len(given)} seeds {given}; "
                "give one seed (the first repeat's) or as many seeds as repeats"
            )
        first = given[0] if isinstance(given, list) and given else 0
        if isinstance(first, bool) or not isinstance(first, int):
            return raw  # the field's own check names the problem
        return {**raw, "seeds": list(range(first, first + repeats))}

    def ignored_settings(self) -> str | None:
        """The settings given that the other kind of folds reads (`split.n_folds` with stratified
        folds, `split.n_splits` or seeds other than [0] with temporal ones ...), which these folds
        leave unused: a sentence naming them and the setting that counts, or None. Temporal folds
        given their own `n_folds` too (a stratified YAML switched with `--set split.kind=temporal
        ...`) leave `n_splits` unused without a word; their seeds are named in any case (the
        user may expect repeats that never run)."""
        other = "temporal" if self.kind == "stratified" else "stratified"
        count = "n_splits" if self.kind == "stratified" else "n_folds"
        given = sorted(self.model_fields_set & _SPLIT_SETTINGS[other])
        if self.kind == "temporal" and count in self.model_fields_set:
            given = []
        seeds = self.kind == "temporal" and self.seeds != [0]
        if not given and not seeds:
            return None
        values = {key: getattr(self, key) for key in given}
        if seeds:  # temporal folds are cut once: every fold's seed is 0
            values["seeds"] = self.seeds
        shown = ", ".join(
            f"split.{key} ({value:g})" if isinstance(value, float) else f"split.{key} ({value})"
            for key, value in values.items()
        )
        once = "; temporal folds are cut and trained once, with seed 0" if seeds else ""
        return (
            f"{shown} set for {other} folds, unused with split.kind: {self.kind} (the number of "
            f"folds is split.{count}: {getattr(self, count)}{once})"
        )

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"the seeds repeat ({value}); each seed is one repeat of the folds")
        return value


class ValidationConfig(_Strict):
    """The inner validation windows of each training fold (`pipeline.selection`): they choose
    the number of trees, the threshold, the tuning trial and the reference resampler.

    `windows` windows of `fraction` of the training rows each, cut as the outer folds are: in
    temporal folds (with a time column) the most recent ones, each fitted on the rows before it
    less `gap_days`; in stratified folds, disjoint stratified parts, each fitted on every other
    row (`gap_days` must then be 0). One window is the single validation
    slice of earlier versions. A tuned setting replaces the untuned one only when its gain
    passes a one-sided paired t-test over the windows at 10 % divided by the number of
    candidates it was the best of, and exceeds the validation rows' own sampling noise
    (`pipeline.selection.Gain`).

    In each window the number of boosting rounds is the one with the best moving average (over
    `smoothing_fraction` of `classifier.n_estimators` rounds) of the validation AUPRC, never
    fewer than `min_trees_fraction` of `n_estimators`; boosting stops after
    `patience_fraction` of `n_estimators` rounds (at least `classifier.early_stopping_rounds`)
    without a better choice. With `refit`, the model is then trained again on every row of the
    training fold with the windows' median number of trees, and the threshold is chosen on the
    windows' pooled predictions.
    """

    windows: int = Field(3, ge=1, le=20)
    fraction: float = Field(0.1, gt=0, lt=0.9)
    gap_days: float = Field(0.0, ge=0)
    threshold_policy: Literal["f1", "fpr", "budget"] = "f1"
    target_fpr: float = Field(0.01, gt=0, lt=1)
    alerts_per_day: int = Field(100, ge=1)
    min_trees_fraction: float = Field(0.25, ge=0, le=1)
    patience_fraction: float = Field(0.25, gt=0, le=1)
    smoothing_fraction: float = Field(0.05, ge=0, lt=1)
    refit: bool = True


class ClassifierConfig(_Strict):
    """XGBoost parameters, any of them searchable by `tuning.classifier_space`; and
    `max_categories`, the one-hot columns a categorical column may take."""

    n_estimators: int = Field(400, ge=1)
    max_depth: int = Field(6, ge=1)
    learning_rate: float = Field(0.1, gt=0, le=1)
    min_child_weight: float = Field(1.0, ge=0)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample_bytree: float = Field(1.0, gt=0, le=1)
    tree_method: Literal["hist", "exact", "approx"] = "hist"
    max_bin: int = Field(256, ge=2, le=4096)
    base_score: float | None = Field(None, gt=0, lt=1)  # a probability for the logistic loss
    # The least patience of the validation's choice of trees (see ValidationConfig); None keeps
    # every one of the n_estimators trees.
    early_stopping_rounds: int | None = Field(30, ge=1)
    n_jobs: int | None = None
    # None: a one-hot column per category of the training fold; an integer: its max_categories - 1
    # most frequent categories, the others (a fold's rare ones) sharing the last column
    max_categories: int | None = Field(None, ge=2)

    @field_validator("n_jobs")
    @classmethod
    def _threads(cls, value: int | None) -> int | None:
        if value is not None and value != -1 and value < 1:
            raise ValueError(f"must be a number of threads >= 1, or -1 for every core, got {value}")
        return value

    def xgb_params(self) -> dict[str, Any]:
        """Keyword arguments for `xgboost.XGBClassifier`."""
        return self.model_dump(exclude=set(NOT_XGBOOST))


NOT_XGBOOST = ("max_categories",)
"""`ClassifierConfig` settings of the preprocessing, not XGBoost's (and not searched)."""


class TuningConfig(_Strict):
    """Hyperparameter search inside the training fold; the same budget for every strategy."""

    enabled: bool = False
    method: Literal["tpe", "grid"] = "tpe"
    n_trials: int = Field(20, ge=1)
    classifier_space: dict[str, Any] = Field(default_factory=dict)
    sampler_space: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ReportConfig(_Strict):
    """What the comparison shows."""

    metric: str = "average_precision"
    k: int = Field(100, ge=1)
    include_untuned: bool = False
    quality: bool = True  # synthetic-data quality report for GAN strategies
    # The second reference of the paired tests (after `none`): a strategy fixed in advance, or
    # `auto`: the resampler with the best mean validation AUPRC (never the test folds).
    reference: str = "auto"

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        from pipeline.evaluate import METRIC_KEYS

        if value not in METRIC_KEYS:
            hint = did_you_mean(value, METRIC_KEYS)
            raise ValueError(f"unknown metric.{hint} Valid metrics: {', '.join(METRIC_KEYS)}")
        return value


class ExportConfig(_Strict):
    """How the champion is exported."""

    model_name: str = "fraud-detector"
    alias: str = "champion"


DEFAULT_MODEL_URI = f"models:/{ExportConfig().model_name}@{ExportConfig().alias}"
"""The model that `score` and `serve` use by default: the one `export` registers by default."""


class ExperimentConfig(_Strict):
    """One experiment: data, features, folds, strategies, classifier, tuning, report."""

    name: str = "fraudgan"
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    strategies: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"none": {}, "class_weight": {}, "smote": {}}
    )
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    # The engine that fits every pipeline (pipeline/engines.py): `local`, or `spark`, which boosts
    # with xgboost.spark on the Spark master `spark_master` (pipeline/spark.py). The GAN strategy trains its generator on the driver on at most
    # `spark_gan_sample_rows` fit rows (every fraud row first) and generates on the executors.
    engine: Literal["local", "spark"] = "local"
    spark_master: str = "local[*]"
    spark_gan_sample_rows: int = Field(default=200_000, ge=1_000)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        # the name becomes a folder of the artifact store: it must not reach outside it
        if not value.strip():
            raise ValueError("the experiment name must not be empty")
        if any(sep in value for sep in ("/", "\\")) or ".." in value or value.startswith("."):
            raise ValueError(
                "the experiment name becomes a folder of the store: no '/', '\\', '..' "
                "and no leading '.'"
            )
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("the experiment name must not contain control characters")
        return value

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategies_mapping(cls, value: Any) -> Any:
        if isinstance(value, list):
            # `strategies: [none, smote]` is shorthand for default parameters.
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {str(k): ({} if v is None else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _gap_needs_time_windows(self) -> ExperimentConfig:
        if self.split.kind == "stratified" and self.validation.gap_days > 0:
            raise ValueError(
                f"validation.gap_days is {self.validation.gap_days:g}, but the inner windows of "
                "stratified folds are stratified parts with no time gap; set validation.gap_days "
                "to 0, or use split.kind: temporal for time windows"
            )
        return self

    @model_validator(mode="after")
    def _draws_are_stratified(self) -> ExperimentConfig:
        if self.data.draws == 1:
            return self
        if self.split.kind != "stratified":
            raise ValueError(
                f"data.draws is {self.data.draws}: each draw is split into stratified folds, and "
                "temporal folds would mix the draws' time lines; use split.kind: stratified or "
                "remove data.draws"
            )
        if len(self.split.seeds) > 1:
            raise ValueError(
                f"data.draws is {self.data.draws} and split.seeds lists {self.split.seeds}: each "
                "draw already gets its own split seed (the first seed + the draw's number); give "
                "one seed, or use split.repeats without data.draws"
            )
        return self

    @model_validator(mode="after")
    def _reference_is_a_strategy(self) -> ExperimentConfig:
        ref = self.report.reference
        if ref != "auto" and ref not in self.strategies:
            raise ValueError(
                f"report.reference {ref!r} is not a strategy of this experiment; "
                f"use auto or one of: {', '.join(self.strategies)}"
            )
        return self

    def config_hash(self) -> str:
        """A short, stable hash of the resolved configuration."""
        payload = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


# Fields whose values are free-form mappings: `--set` may create new keys below them.
_OPEN_MAPPINGS = {
    ("strategies",),
    ("tuning", "classifier_space"),
    ("tuning", "sampler_space"),
}


def _model_fields(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    out: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        ann = info.annotation
        sub = None
        for cand in getattr(ann, "__args__", ()) or (ann,):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                sub = cand
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sub = ann
        out[key] = sub
    return out


def _check_keys(raw: Any, model: type[BaseModel], where: str, prefix: tuple[str, ...] = ()) -> None:
    """Reject unknown keys with the valid choices, before pydantic's generic message."""
    if not isinstance(raw, dict):
        return
    fields = _model_fields(model)
    for key, value in raw.items():
        path = (*prefix, str(key))
        if key not in fields:
            valid = sorted(fields)
            raise ConfigError(
                f"{where}: unknown key {'.'.join(path)!r}.{did_you_mean(str(key), valid)} "
                f"Valid keys{' under ' + '.'.join(prefix) if prefix else ''}: {', '.join(valid)}"
            )
        sub = fields[key]
        if sub is not None and path not in _OPEN_MAPPINGS:
            _check_keys(value, sub, where, path)


def _format_validation_error(err: ValidationError, where: str) -> str:
    lines = [f"{where}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
        if e["type"] == "string_type" and isinstance(got, bool | int | float):
            kind = "a boolean" if isinstance(got, bool) else "a number"
            got_text += (
                f": YAML reads the text as {kind} (on/off, yes/no and true/false are booleans, "
                "digits numbers); quote the name as written, e.g. 'on' or '2024'"
            )
        lines.append(f"  - {loc}: {e['msg']}{got_text}")
    return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key written twice in one mapping, which YAML would resolve
    by keeping the last value only: a second `strategies:` block would drop the first without a
    word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults`: its keys are meant to be overridden
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base constructor refuses it, with YAML's own message
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.YAMLError(
                    f"the key {key!r} is written twice in one mapping (lines {seen[key]} and "
                    f"{line}); YAML would keep only the second. Merge them into one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """YAML text parsed as `yaml.safe_load` does, refusing keys written twice in one mapping
    (`yaml.YAMLError`)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split a `key.path=value` override; the value is parsed as YAML (numbers, lists, booleans)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key.path=value, e.g. --set split.n_splits=5")
    key, _, value = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text!r}: the key is empty")
    try:
        parsed = load_yaml(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from None
    return parts, parsed


def _open_key(node: dict[str, Any], rest: list[str], value: Any) -> tuple[str, list[str]]:
    """Split `rest` into a key of a free-form mapping and the path below it.

    Strategy names may contain dots (`smote_0.5`): an existing key matches first (longest), else a
    mapping value takes the whole rest as its key, else the last part is a parameter below the key.
    """
    for j in range(len(rest), 0, -1):
        if ".".join(rest[:j]) in node:
            return ".".join(rest[:j]), rest[j:]
    if isinstance(value, dict) or len(rest) == 1:
        return ".".join(rest), []
    return ".".join(rest[:-1]), rest[-1:]


def apply_override(raw: dict[str, Any], parts: list[str], value: Any, text: str) -> None:
    """Set `raw[parts[0]][parts[1]]... = value`, naming the valid keys when a part is unknown."""
    model: type[BaseModel] | None = ExperimentConfig
    node = raw
    path: list[str] = []
    rest = list(parts)
    while rest:
        if tuple(path) in _OPEN_MAPPINGS:
            key, below = _open_key(node, rest, value)
            rest = [key, *below]
            model = None
        part = rest.pop(0)
        if model is not None:
            fields = _model_fields(model)
            if part not in fields:
                hint = did_you_mean(part, sorted(fields))
                raise ConfigError(
                    f"--set {text!r}: unknown key {'.'.join([*path, part])!r}.{hint} "
                    f"Valid keys: {', '.join(sorted(fields))}"
                )
            model = fields[part]
        path.append(part)
        if not rest:
            node[part] = value
            return
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if isinstance(child, list) and tuple(path) == ("strategies",):
            child = {str(name): {} for name in child}  # the list shorthand, expanded
            node[part] = child
        if not isinstance(child, dict):
            raise ConfigError(f"--set {text!r}: {'.'.join(path)} is not a mapping")
        node = child


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read, override and validate an experiment YAML; every problem is a `ConfigError`.

    A relative `data.path` is made absolute: in the YAML, against the YAML file's folder; given
    with `--set`, against the current folder.
    """
    path = Path(path)
    if not path.is_absolute() and not path.exists() and (PROJECT_ROOT / path).exists():
        path = PROJECT_ROOT / path
    if not path.exists():
        available = sorted(p.name for p in EXPERIMENTS_DIR.glob("*.yaml"))
        raise ConfigError(
            f"experiment file {str(path)!r} does not exist. Shipped experiments: {', '.join(available)}"
        )
    try:
        raw = load_yaml(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if raw is None:
        raise ConfigError(
            f"{path}: the file is empty (or only comments); an experiment needs at least its "
            f"strategies, e.g. copy {EXPERIMENTS_DIR / 'quick.yaml'}"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str) and data["path"]:
        # a path written in the YAML is relative to the YAML's folder, as in most tools
        data["path"] = anchored_path(data["path"], path.resolve().parent)
    labels = data.get("labels") if isinstance(data, dict) else None
    if isinstance(labels, dict) and isinstance(labels.get("path"), str) and labels["path"]:
        labels["path"] = anchored_path(labels["path"], path.resolve().parent)
    cfg = config_from_mapping(raw, where=str(path), overrides=overrides)
    if cfg.data.path:  # a relative path left came from --set: the current folder, as in a shell
        cfg.data.path = anchored_path(cfg.data.path, Path.cwd())
    if cfg.data.labels is not None:
        cfg.data.labels.path = anchored_path(cfg.data.labels.path, Path.cwd())
    return cfg


def config_from_mapping(
    raw: dict[str, Any], *, where: str = "config", overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentConfig:
    """Validate a raw mapping (after `--set` overrides) into an `ExperimentConfig`."""
    raw = json.loads(json.dumps(raw, default=str))
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(raw, parts, value, text)
    _check_keys(raw, ExperimentConfig, where)
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, where)) from None
    from models.samplers import validate_strategies  # the registry owns strategy names

    validate_strategies(cfg.strategies, where=where)
    from pipeline.augment import check_choices

    check_choices(cfg.strategies, where=where)
    _check_tuning(cfg, where)
    return cfg


def space_values(spec: Any) -> list[Any]:
    """The values a search-space entry reaches: its choices, or its low and high ends."""
    if isinstance(spec, list | tuple):
        return list(spec)
    if isinstance(spec, dict):
        return [spec[k] for k in ("low", "high") if k in spec]
    return [spec]


def _check_tuning(cfg: ExperimentConfig, where: str) -> None:
    """Values of the search spaces must be valid parameters too (their ends, for ranges)."""
    from models.samplers import strategy_kind, validate_strategies

    for key, spec in cfg.tuning.classifier_space.items():
        if key in NOT_XGBOOST:
            raise ConfigError(
                f"{where}: tuning.classifier_space.{key}: {key} belongs to the preprocessing "
                f"and is not searched; set classifier.{key} instead"
            )
        if key not in ClassifierConfig.model_fields:
            continue  # other XGBoost parameters reach XGBoost as they are
        for value in space_values(spec):
            try:
                ClassifierConfig.model_validate({key: value})
            except ValidationError as err:
                raise ConfigError(
                    f"{where}: tuning.classifier_space.{key}: {value!r} is not a valid value "
                    f"({err.errors()[0]['msg']})"
                ) from None
    for space_name, space in cfg.tuning.sampler_space.items():
        for name, params in cfg.strategies.items():
            if space_name not in (name, strategy_kind(name, params)) or not isinstance(space, dict):
                continue
            for key, spec in space.items():
                for value in space_values(spec):
                    validate_strategies(
                        {name: {**params, key: value}},
                        where=f"{where} (tuning.sampler_space.{space_name})",
                    )
