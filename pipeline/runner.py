"""The experiment runner: every strategy on the same folds and seeds, tracked in MLflow.

A launch: prepare the data and folds, open (or resume) the parent run, run each (fold, strategy)
child through `pipeline.fold.FoldRunner`, then log the comparison, the report and the summary runs.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml

from models.errors import ConfigError, DataError, FraudganError
from models.gan.config import MIN_CLASS_ROWS, CGANConfig
from models.samplers import (
    DEFAULT_SAMPLING_STRATEGY,
    REGISTRY,
    check_neighbors,
    check_ratio,
    neighbors_option,
    no_rows,
    strategy_kind,
)
from pipeline import descriptions, report, tracking
from pipeline.augment import SHARE, grid_of
from pipeline.config import ExperimentConfig, space_values
from pipeline.data.labels import LATE_SHARE
from pipeline.data.leaks import (
    check_categorical_ids,
    check_label_leaks,
    check_long_numbers,
    check_row_ids,
    check_time_copies,
)
from pipeline.data.schema import SECONDS_PER_UNIT, Schema, numeric_units, yaml_list
from pipeline.data.sources import (
    SECONDS_PER_YEAR,
    Dataset,
    build_source,
    frame_digest,
    key_text,
)
from pipeline.engines import engine_for
from pipeline.features import (
    build_features,
    categories_as_scored,
    check_category_sizes,
    days_since_column,
    feature_columns,
    feature_rules,
    key_counts,
)
from pipeline.fold import (
    IMPORTANCE_FILE,
    IMPORTANCE_ROWS,
    UNTUNED_PREFIX,
    ChildResult,
    FoldRunner,
    Prepared,
    fold_windows,
    log_child,
    retraining_windows,
)
from pipeline.selection import Windows
from pipeline.split import (
    Fold,
    FoldPlan,
    VarianceCorrection,
    cap_train_positives,
    draws_correction,
    known_labels,
    stratified_folds,
    temporal_folds,
)

log = logging.getLogger(__name__)

# One fold's names, importable from here as before the launch and the fold were split.
__all__ = [
    "UNTUNED_PREFIX",
    "ChildResult",
    "ExperimentResult",
    "FoldRunner",
    "Preflight",
    "Prepared",
    "build_comparison",
    "check_strategies",
    "load_comparison",
    "preflight",
    "prepare",
    "results_frame",
    "run_experiment",
]


@dataclass
class ExperimentResult:
    """A finished launch: the parent run, the per-child results and the comparison."""

    parent_run_id: str
    experiment_name: str
    results: pd.DataFrame
    comparison: report.Comparison
    failed: list[str]


def _days(frame: pd.DataFrame, schema: Schema) -> np.ndarray | None:
    if schema.time is None or schema.time not in frame:
        return None
    t = frame[schema.time]
    if schema.numeric_time:
        return (pd.to_numeric(t).to_numpy() // 86_400).astype(np.int64)
    return t.dt.floor("D").astype("int64").to_numpy() // 86_400_000_000_000


def _featured(
    cfg: ExperimentConfig,
    frame: pd.DataFrame,
    schema: Schema,
    label_delays: np.ndarray | None = None,
) -> pd.DataFrame:
    if cfg.features.merchant_entities:
        lacking = [role for role in ("time", "entity", "merchant") if getattr(schema, role) is None]
        if lacking or not cfg.features.enabled:
            why = (
                f"data.schema declares no {' or '.join(lacking)}"
                if lacking
                else "features.enabled is false"
            )
            raise ConfigError(
                "features.merchant_entities counts each merchant's distinct cards (entity) in "
                f"each window before a transaction, but {why}"
            )
    if not cfg.features.enabled:
        for key, columns, become, what in (
            ("dates", schema.dates, "days_since", "dates"),
            ("velocity", schema.velocity, "history", "columns"),
        ):
            if columns:
                raise ConfigError(
                    f"data.schema.{key} ({', '.join(columns)}) become {become} features, built "
                    f"with the others: set features.enabled: true, or move the {what} to "
                    "data.schema.drop"
                )
        return frame
    try:
        return build_features(
            frame,
            schema,
            label_delay_days=cfg.features.label_delay_days,
            windows_days=tuple(cfg.features.windows_days),
            label_delays=label_delays,
            merchant_entities=cfg.features.merchant_entities,
        )
    except DataError as exc:
        where = _data_where(cfg)
        raise DataError(str(exc) if where in str(exc) else f"{where}: {exc}") from None


def _data_where(cfg: ExperimentConfig) -> str:
    """The experiment's data as messages name it."""
    d = cfg.data
    return "the simulator" if d.kind == "simulator" else f"data file {d.resolved_path()}"


def _outer_folds(
    cfg: ExperimentConfig,
    frame: pd.DataFrame,
    schema: Schema,
    y: np.ndarray,
    label_delays: np.ndarray | None = None,
) -> FoldPlan:
    """The outer folds the config asks for; `label_delays` (per row, days, from the reports'
    dates: `pipeline.data.labels.Reports.delays`) for temporal folds that know the labels as
    reported."""
    s = cfg.split
    if s.kind == "stratified":
        return stratified_folds(y, n_splits=s.n_splits, seeds=tuple(s.seeds))
    if schema.time is None:
        raise ConfigError("split.kind is 'temporal' but the data has no time column")
    return temporal_folds(
        frame[schema.time].to_numpy(),
        train_days=s.train_days,
        gap_days=s.gap_days,
        test_days=s.test_days,
        n_folds=s.n_folds,
        step_days=s.step_days,
        entity=None if schema.entity is None else frame[schema.entity].to_numpy(),
        y=y,
        exclude_known_compromised=s.exclude_known_compromised,
        known_cards=s.known_cards,
        label_delay_days=cfg.features.label_delay_days,
        label_delays=label_delays,
    )


def _simulator(cfg: ExperimentConfig, seed: int) -> Dataset:
    d = cfg.data
    source = build_source("simulator", rows=d.rows, days=d.days, seed=seed, fraud_rate=d.fraud_rate)
    return source.load()


def _draws(cfg: ExperimentConfig) -> tuple[Dataset, pd.DataFrame, FoldPlan]:
    """`data.draws` independent simulator draws, each with its features and stratified folds, as
    one table: ids offset so that no card, merchant or transaction is shared, fold indices offset
    to the draw's rows, and draw r's folds under split seed `split.seeds[0] + r`."""
    d, s = cfg.data, cfg.split
    raws: list[pd.DataFrame] = []
    frames: list[pd.DataFrame] = []
    folds: list[Fold] = []
    rows = 0
    schema: Schema | None = None
    duplicates = 0
    for r in range(d.draws):
        dataset = _simulator(cfg, d.seed + r)
        schema = dataset.schema
        raw = dataset.frame.copy()
        for column in (schema.id, schema.entity, schema.merchant):
            if column is not None and r > 0:
                raw[column] = raw[column] + int(raws[-1][column].max()) + 1
        frame = _featured(cfg, raw, schema)
        y = frame[schema.label].to_numpy().astype(np.int8)
        for f in stratified_folds(y, n_splits=s.n_splits, seeds=(s.seeds[0] + r,)):
            folds.append(Fold(f.fold, f.seed, f.train + rows, f.test + rows))
        raws.append(raw)
        frames.append(frame)
        rows += len(frame)
        duplicates += dataset.n_duplicates_dropped
    assert schema is not None
    raw = pd.concat(raws, ignore_index=True)
    last = d.seed + d.draws - 1
    dataset = Dataset(
        frame=raw,
        schema=schema,
        name=(
            f"simulator(rows={d.rows},days={d.days},seeds={d.seed}..{last},"
            f"fraud_rate={d.fraud_rate:g}): {d.draws} independent draws"
        ),
        digest=frame_digest(raw),
        n_duplicates_dropped=duplicates,
    )
    plan = FoldPlan(folds, draws_correction(folds))
    return dataset, pd.concat(frames, ignore_index=True), plan


def prepare(cfg: ExperimentConfig) -> Prepared:
    """Load and validate the data, build features and the outer folds (with `data.draws`, of
    every draw: `_draws`)."""
    d = cfg.data
    if d.kind == "simulator" and d.draws > 1:
        dataset, frame, folds = _draws(cfg)
        schema = dataset.schema
        y = frame[schema.label].to_numpy().astype(np.int8)
    else:
        if d.kind == "simulator":
            dataset = _simulator(cfg, d.seed)
        else:
            schema_spec = None
            if d.schema_ is not None:
                schema_spec = {k: v for k, v in d.schema_.model_dump().items() if v is not None}
            dataset = build_source(
                d.kind,
                path=str(d.resolved_path()),
                preset=d.preset,
                schema=schema_spec,
                labels=None if d.labels is None else d.labels.label_file(),
            ).load()
        schema = dataset.schema
        delays = None if dataset.reports is None else dataset.reports.delays
        frame = _featured(cfg, dataset.frame, schema, delays)
        y = frame[schema.label].to_numpy().astype(np.int8)
        folds = _outer_folds(cfg, frame, schema, y, delays)
    where = _data_where(cfg)
    numeric, categorical = feature_columns(frame, schema, where=where)
    check_category_sizes(
        frame, categorical, where=where, max_categories=cfg.classifier.max_categories
    )
    frame = categories_as_scored(frame, categorical)
    if d.leak_check:
        check_categorical_ids(frame, categorical, where=where)
        dated = {days_since_column(date): date for date in schema.dates}
        check_label_leaks(frame, numeric, categorical, y, where=where, dated=dated)
        raw = [c for c in numeric if c in dataset.frame.columns]  # the file's own
        if schema.time is not None:
            check_time_copies(frame, raw, schema.time, where=where)
        check_row_ids(frame, raw, where=where)
        check_long_numbers(frame, [c for c in raw if c != schema.amount], where=where)
    s = cfg.split
    if s.max_train_positives is not None:
        folds = cap_train_positives(folds, y, s.max_train_positives)
    return Prepared(
        dataset=dataset,
        frame=frame,
        numeric=numeric,
        categorical=categorical,
        y=y,
        days=_days(frame, schema),
        entity=None if schema.entity is None else frame[schema.entity].to_numpy(),
        amount=None if schema.amount is None else frame[schema.amount].to_numpy(dtype=float),
        folds=folds,
        rules=feature_rules(
            categorical + numeric,
            amount=schema.amount,
            windows_days=cfg.features.windows_days,
            velocity=schema.velocity,
        ),
    )


def check_strategies(cfg: ExperimentConfig, prepared: Prepared) -> None:
    """Fail before any work when a strategy cannot run on this data (e.g. SMOTENC, no categoricals)
    or on the experiment's engine (e.g. the SMOTE family on Spark), or the threshold policy (an
    alert budget per day without a time column)."""
    engine_for(cfg).check(cfg)
    if cfg.validation.threshold_policy == "budget" and prepared.days is None:
        raise ConfigError(
            "validation.threshold_policy: budget counts alerts per day and the data has no time "
            "column (data.schema.time); use threshold_policy: f1, or fpr with target_fpr"
        )
    for name, params in cfg.strategies.items():
        if REGISTRY[strategy_kind(name, params)].needs_categorical and not prepared.categorical:
            raise ConfigError(
                f"strategy {name!r} needs categorical columns and the data has none; "
                "remove it or declare categorical columns in data.schema"
            )


@dataclass
class Preflight:
    """What a launch checks before its first fit (`preflight`)."""

    prepared: Prepared
    windows: list[Windows]  # each outer fold's inner validation windows, in fold order
    warnings: list[str]  # e.g. test folds with too few fraud rows for figures that mean much


def preflight(cfg: ExperimentConfig) -> Preflight:
    """Load the data, build the features and the folds (`prepare`: the label-leak check
    included), check the strategies against the data and engine, and cut every outer fold's
    inner validation windows, so that any of them fails before the first fit, naming the fold."""
    prepared = prepare(cfg)
    check_strategies(cfg, prepared)
    windows = [fold_windows(cfg, prepared, fold) for fold in prepared.folds]
    _check_over_samplers(cfg, prepared, windows)
    tests = [fold.test for fold in prepared.folds]
    warnings = [
        w
        for w in (
            cfg.split.ignored_settings(),
            _time_unit_warning(cfg, prepared),
            report.few_positives_warning(prepared.y, tests),
            *_crowded_key_warnings(prepared),
            _unreported_warning(cfg, prepared),
            _folder_key_warning(prepared),
            _constant_columns_warning(prepared),
        )
        if w is not None
    ]
    return Preflight(prepared, windows, [*warnings, *_export_warnings(cfg, prepared)])


def _check_over_samplers(cfg: ExperimentConfig, prepared: Prepared, windows: list[Windows]) -> None:
    """Every over-sampler against the most positive part it will fit on (an outer fold's training
    rows or an inner window's fit rows: `models.samplers.check_ratio`) and the SMOTE family's
    neighbours against the least positive one (`check_neighbors`), and every GAN against the
    fewest fraud rows it will train on (each fold's rows shared by all its windows), and the
    column it conditions on against its `max_categories`, before any fit."""
    parts, gans = [], []
    for fold, cut in zip(prepared.folds, windows, strict=True):
        at = f"outer fold {fold.fold} (seed {fold.seed})"
        y = known_labels(prepared.y, fold)
        parts.append((int(y[fold.train].sum()), len(fold.train), f"the training rows of {at}"))
        parts += [
            (int(y[w.fit].sum()), len(w.fit), f"the fit rows of {at}, window {i}")
            for i, w in enumerate(cut)
        ]
        gans.append((int(y[cut.shared].sum()), fold))
    positive, n_rows, part = max(parts, key=lambda p: p[0] / max(p[1] - p[0], 1))
    fewest, _, few_part = min(parts, key=lambda p: p[0])
    gan_rows, gan_fold = min(gans, key=lambda pair: pair[0])
    for name, params in cfg.strategies.items():
        spec = REGISTRY[strategy_kind(name, params)]
        if spec.sampler_class is None or no_rows(params.get(SHARE)):
            continue
        grid = grid_of(name, params)
        fixed = grid is None or grid.share == (None,)
        value = params.get(SHARE, DEFAULT_SAMPLING_STRATEGY) if fixed else None
        check_ratio(name, value, positive, n_rows - positive, part=part)
        check_neighbors(name, params, fewest, few_part)
        option = neighbors_option(spec.kind)
        for space_name, space in cfg.tuning.sampler_space.items() if cfg.tuning.enabled else ():
            if space_name in (name, spec.kind) and option in space:
                setting = f"tuning.sampler_space.{space_name}.{option}"
                for k in space_values(space[option]):
                    check_neighbors(name, {**params, option: k}, fewest, few_part, setting)
        if spec.family != "gan":
            continue
        _check_condition_feature(name, params, prepared, windows)
        if gan_rows < MIN_CLASS_ROWS:
            raise ConfigError(
                f"strategy {name!r}: the GAN of outer fold {gan_fold.fold} (seed "
                f"{gan_fold.seed}) would train on {gan_rows} fraud row(s), those every validation "
                f"window of the fold fits on, and it needs at least {MIN_CLASS_ROWS}. Give it "
                "more fraud rows (more data; in stratified folds, more folds, each training on "
                "more rows), or fewer or smaller validation windows (validation.windows, "
                "validation.fraction), or remove the strategy"
            )


def _check_condition_feature(
    name: str, params: dict[str, Any], prepared: Prepared, windows: list[Windows]
) -> None:
    """A GAN's `condition_feature` needs a slot of its own for each of its categories in every
    fold's GAN: at most `max_categories` of them (beyond it the rare ones share one)."""
    column = params.get("condition_feature")
    if not isinstance(column, str) or column not in prepared.frame:
        return
    cap = params.get("max_categories", CGANConfig.max_categories)
    for fold, cut in zip(prepared.folds, windows, strict=True):
        n = int(prepared.frame[column].iloc[cut.shared].nunique())
        if n > cap:
            raise ConfigError(
                f"strategies.{name}.condition_feature: {column!r} has {n:,} categories in the "
                f"rows the GAN of outer fold {fold.fold} (seed {fold.seed}) trains on, more than "
                f"max_categories ({cap}), so its rare ones would share one slot and the GAN could "
                "not be conditioned on each: condition on a column with fewer categories, raise "
                f"strategies.{name}.max_categories, or leave condition_feature out"
            )


def _export_warnings(cfg: ExperimentConfig, prepared: Prepared) -> list[str]:
    """What `fraudgan export` of this launch will meet in its retraining's windows."""
    notes: list[str] = []
    try:
        retraining_windows(cfg, prepared, notes)
    except DataError as exc:
        notes.append(f"{exc}. `fraudgan export` of this launch will stop there")
    return [f"after the launch, fraudgan export: {text}" for text in notes]


def _unreported_warning(cfg: ExperimentConfig, prepared: Prepared) -> str | None:
    """Temporal folds many of whose training frauds were reported only after the fold's test
    period starts (`Fold.unreported`): they train as legitimate, as they would in production, and
    a longer gap leaves the time reports take out of training."""
    folds = prepared.folds
    later = sum(len(f.unreported) for f in folds)
    total = sum(int(prepared.y[f.train].sum()) for f in folds)
    if not later or later <= LATE_SHARE * total:
        return None
    text = (
        f"{later:,} of the folds' {total:,} training frauds ({later / total:.0%}) were reported "
        "after their fold's test period starts (data.labels.reported_at) and train as "
        "legitimate, as they would in production"
    )
    dated = prepared.dataset.reports.dated()
    within = float(np.quantile(dated, 0.9)) if len(dated) else 0.0
    if math.ceil(within) <= cfg.split.gap_days:
        return text
    return (
        f"{text}; 90 % of the reports come within {within:,.1f} days of the transaction: "
        f"split.gap_days: {math.ceil(within)} would leave the time they take out of training"
    )


CROWDED_KEY_SHARE = 0.2
"""A card, customer or device id whose most frequent value is on this share of the rows or more
names no single card (a card's index within its user) or is a placeholder ('unknown', 0)."""


def _constant_columns_warning(prepared: Prepared) -> str | None:
    """The file's feature columns that hold one value in every row (missing values aside): no
    strategy learns from them, and the GAN passes them through as constants."""
    raw = set(prepared.dataset.frame.columns)
    constant = [
        c
        for c in (*prepared.numeric, *prepared.categorical)
        if c in raw and prepared.frame[c].nunique(dropna=True) <= 1
    ]
    if not constant:
        return None
    shown = ", ".join(
        f"{c!r} ({key_text(prepared.frame[c].dropna().iloc[0])})" for c in constant[:5]
    )
    more = f" and {len(constant) - 5} more" if len(constant) > 5 else ""
    return (
        f"column(s) {shown}{more} hold one value in every row: no strategy can learn from "
        f"them; drop them (data.schema.drop: {yaml_list(constant)})"
    )


def _folder_key_warning(prepared: Prepared) -> str | None:
    """The features made from a folder's `key=value` folder names (`shard=3/`), which describe
    how the files were written more often than the transactions."""
    features = {*prepared.numeric, *prepared.categorical}
    keys = [k for k in prepared.dataset.folder_keys if k in features]
    if not keys:
        return None
    return (
        f"folder keys: {', '.join(keys)} (from the key=value folder names) are model features; "
        f"list them under data.schema.drop unless they describe the transactions (drop: "
        f"{yaml_list(keys)})"
    )


def _crowded_key_warnings(prepared: Prepared) -> list[str]:
    """The entity and velocity columns whose most frequent value is on `CROWDED_KEY_SHARE` of the
    rows or more: every such row shares one history."""
    schema, frame = prepared.dataset.schema, prepared.frame
    if len(frame) < 100:
        return []
    notes = []
    for key in (schema.entity, *schema.velocity):
        if key is None or key not in frame:
            continue
        counts = key_counts(frame[key])
        if not len(counts) or counts.iloc[0] < CROWDED_KEY_SHARE * len(frame):
            continue
        role = "entity" if key == schema.entity else "velocity"
        notes.append(
            f"{role} column {key!r}: its most frequent value, {key_text(counts.index[0])!r}, is "
            f"on {counts.iloc[0] / len(frame):.0%} of the rows ({len(counts):,} distinct "
            "values): all those rows share one history, which is rarely one card, device or "
            "address. A kind of thing (an e-mail domain, a browser) is better categorical; a "
            "card named by two columns (a user and the index of their card) is declared by both, "
            "entity: [User, Card]; a placeholder for an unknown value ('unknown', 0) is better "
            "left empty: a missing key has no history"
        )
    return notes


LONG_SPAN_YEARS = 20
"""A numeric time column spanning more years than this is likely in a smaller unit than the
declared one (milliseconds since the first transaction read as seconds: 20 years are 7 days)."""


def _time_unit_warning(cfg: ExperimentConfig, prepared: Prepared) -> str | None:
    """A numeric time column spanning less than the shortest feature window (its unit is likely
    larger than the declared one, hours read as seconds, and every window covers all history) or
    more than `LONG_SPAN_YEARS` (likely smaller: milliseconds since the start read as seconds,
    which the span check of loading, 100 years, lets through)."""
    schema = prepared.dataset.schema
    if not (schema.numeric_time and schema.time):
        return None
    seconds = prepared.frame[schema.time].to_numpy(dtype=np.float64)
    span = float(seconds.max() - seconds.min())
    unit = schema.time_unit
    value = span / SECONDS_PER_UNIT[unit]
    amount = f"{value:,.0f}" if value >= 1e6 else f"{value:,.6g}"  # no 1.72077e+09
    shown = f"time column {schema.time!r} spans {amount} {unit}"
    fix = f"If its numbers are not {unit}, set data.schema.time_unit ({numeric_units()})"
    years = span / SECONDS_PER_YEAR
    if years > LONG_SPAN_YEARS:
        return (
            f"{shown} ({years:,.3g} years), longer than transaction tables run: its numbers may "
            f"be in a smaller unit (milliseconds since the first transaction read as seconds). "
            f"{fix}"
        )
    windows = cfg.features.windows_days
    if not (cfg.features.enabled and windows) or span >= min(windows) * 86_400:
        return None
    return (
        f"{shown} ({span / 3600:,.3g} hours), less than the shortest feature window "
        f"({min(windows):g} day(s)): every window holds all of a card's history. {fix}"
    )


def _resumed_results(parent_run_id: str) -> dict[tuple[str, int, int], ChildResult]:
    """Finished children of an earlier launch, keyed by (strategy, fold, seed)."""
    done: dict[tuple[str, int, int], ChildResult] = {}
    client = mlflow.MlflowClient()
    for run in tracking.child_runs(parent_run_id):
        tags = run.data.tags
        if run.info.status != tracking.FINISHED or tracking.TAG_STRATEGY not in tags:
            continue
        key = (
            tags[tracking.TAG_STRATEGY],
            int(tags[tracking.TAG_FOLD]),
            int(tags[tracking.TAG_SEED]),
        )
        curve = None
        try:
            path = client.download_artifacts(run.info.run_id, "pr_curve.json")
            curve = np.asarray(yaml.safe_load(Path(path).read_text())["precision"])
        except Exception:  # a missing curve only drops it from the plot
            log.warning("run %s has no PR curve artifact", run.info.run_id)
        importance = None
        try:
            path = client.download_artifacts(run.info.run_id, IMPORTANCE_FILE)
            importance = pd.read_csv(path)
        except Exception:  # logged before fraudgan logged it: the table leaves it out
            log.info("run %s has no feature importance artifact", run.info.run_id)
        done[key] = ChildResult(
            strategy=key[0],
            kind=tags.get(tracking.TAG_STRATEGY_KIND, key[0]),
            fold=key[1],
            seed=key[2],
            metrics=dict(run.data.metrics),
            pr_curve=curve,
            run_id=run.info.run_id,
            importance=importance,
        )
    return done


def results_frame(results: list[ChildResult]) -> pd.DataFrame:
    """One row per finished child: strategy, kind, fold, seed and its metrics."""
    return pd.DataFrame([r.row() for r in results])


def build_comparison(
    frame: pd.DataFrame,
    cfg: ExperimentConfig,
    correction: VarianceCorrection | None,
    results: list[ChildResult] | None = None,
) -> report.Comparison:
    """The comparison table of finished children; `correction`: their folds' (`FoldPlan`);
    with `results`, their feature importance (`importance_table`) too."""
    comparison = report.compare(
        frame,
        baseline="none",
        reference=cfg.report.reference,
        metric=cfg.report.metric,
        correction=correction,
    )
    if results is None:
        return comparison
    return replace(comparison, importance=importance_table(results, comparison.strategies))


def mean_pr_curves(results: list[ChildResult]) -> dict[str, np.ndarray]:
    """Per strategy, the mean of its children's interpolated PR curves."""
    curves: dict[str, list[np.ndarray]] = {}
    for r in results:
        if r.pr_curve is not None:
            curves.setdefault(r.strategy, []).append(np.asarray(r.pr_curve))
    return {k: np.mean(np.vstack(v), axis=0) for k, v in curves.items()}


IMPORTANCE_SHOWN = 15
"""Features in the report's importance table (all of them in its CSV)."""


IMPORTANCE_FRAUD_FILE = "feature_importance_fraud.csv"
"""The launch's per-strategy mean contributions over the test folds' fraud rows."""


def importance_table(
    results: list[ChildResult], strategies: list[str], column: str = "share"
) -> pd.DataFrame | None:
    """A column of the children's feature importance (`FraudScorer.importance`) per strategy
    (columns, in `strategies`' order), averaged over its children, the features by their mean over
    the strategies, largest first; None when no child logged it. `share`: each feature's share of
    the model's mean absolute contribution (0 where a child lacks the feature);
    `models.scorer.FRAUD_CONTRIBUTION`: its mean signed contribution over the fraud rows (a child
    without fraud rows in its test fold is left out)."""
    values: dict[str, list[pd.Series]] = {}
    for r in results:
        if r.importance is not None and len(r.importance) and column in r.importance:
            values.setdefault(r.strategy, []).append(r.importance.set_index("feature")[column])

    def mean(series: list[pd.Series]) -> pd.Series:
        frame = pd.concat(series, axis=1)
        return (frame.fillna(0.0) if column == "share" else frame).mean(axis=1)

    table = pd.DataFrame({s: mean(values[s]) for s in strategies if s in values})
    table = table.fillna(0.0) if column == "share" else table.dropna(how="all")
    if table.empty:
        return None
    order = np.argsort(-table.mean(axis=1).to_numpy(), kind="stable")
    table = table.iloc[order]
    table.index.name = "feature"
    return table


def _importance_cells(
    table: pd.DataFrame, shown: str = "{:.1%}"
) -> tuple[list[str], list[list[str]]]:
    rows = [
        [str(feature), *("" if np.isnan(v) else shown.format(v) for v in values)]
        for feature, values in zip(table.index, table.to_numpy(), strict=True)
    ]
    return ["feature", *table.columns], rows[:IMPORTANCE_SHOWN]


def _tuning_table(frame: pd.DataFrame, metric: str) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows): each strategy's metric untuned and tuned, or None without tuning."""
    col = f"{UNTUNED_PREFIX}{metric}"
    if col not in frame:
        return None
    g = frame.groupby("strategy")[[metric, col]].agg(["mean", "std"])
    rows = []
    for strategy, r in g.iterrows():
        tuned_m, tuned_s = r[(metric, "mean")], r[(metric, "std")]
        base_m, base_s = r[(col, "mean")], r[(col, "std")]
        rows.append(
            [
                str(strategy),
                f"{base_m:.4f} ± {base_s:.4f}",
                f"{tuned_m:.4f} ± {tuned_s:.4f}",
                f"{tuned_m - base_m:+.4f}",
            ]
        )
    return ["strategy", f"untuned {metric}", f"tuned {metric}", "change"], rows


def gan_loss_figure(results: list[ChildResult]) -> Any:
    """Every GAN child's per-epoch critic and generator losses (a matplotlib Figure), or None."""
    runs = [r for r in results if r.gan_history.get("epoch")]
    if not runs:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 3.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for r in runs:
        label = f"{r.strategy} f{r.fold} s{r.seed}"
        h = r.gan_history
        for ax, key in zip(axes, ("d_loss", "g_loss"), strict=True):
            if key in h:
                ax.plot(h["epoch"], h[key], label=label, linewidth=1)
    for ax, title in zip(axes, ("critic loss", "generator loss"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _log_parent_report(
    run_id: str, cfg: ExperimentConfig, results: list[ChildResult], correction: VarianceCorrection
) -> report.Comparison:
    frame = results_frame(results)
    comparison = build_comparison(frame, cfg, correction, results)
    curves = mean_pr_curves(results)
    tables, figures = {}, {}
    tuning = _tuning_table(frame, cfg.report.metric)
    if tuning is not None:
        tables["Effect of tuning (mean ± std over folds × seeds)"] = tuning
    importance = comparison.importance
    if importance is not None:
        heading = (
            "What each model leans on: share of the mean |contribution| to the log-odds "
            f"(TreeSHAP, {IMPORTANCE_ROWS:,} test rows a fold at most, mean over the folds), "
            f"{min(IMPORTANCE_SHOWN, len(importance))} largest of {len(importance)}"
        )
        tables[heading] = _importance_cells(importance)
    from models.scorer import FRAUD_CONTRIBUTION  # mlflow.pyfunc: loaded by the children already

    fraud = importance_table(results, comparison.strategies, FRAUD_CONTRIBUTION)
    if fraud is not None:
        heading = (
            "What pushes real fraud's score up: each feature's mean contribution to the log-odds "
            "over the test folds' fraud rows (TreeSHAP, mean over the folds), "
            f"{min(IMPORTANCE_SHOWN, len(fraud))} largest of {len(fraud)}"
        )
        tables[heading] = _importance_cells(fraud, "{:+.2f}")
    losses = gan_loss_figure(results)
    if losses is not None:
        figures["GAN training: critic and generator losses per epoch"] = losses
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        frame.to_csv(out / "results.csv", index=False)
        if importance is not None:
            importance.to_csv(out / IMPORTANCE_FILE)
        if fraud is not None:
            fraud.to_csv(out / IMPORTANCE_FRAUD_FILE)
        comparison.to_csv(out / "comparison.csv")
        (out / "comparison.md").write_text(comparison.to_markdown() + "\n")
        rendered = report.rendered_figures(comparison, curves)
        report.write_html_report(
            comparison,
            out / "report.html",
            extra_tables=tables,
            extra_figures=figures,
            rendered=rendered,
        )
        report.save_figures(comparison, out / "figures", rendered=rendered)
        mlflow.log_artifacts(str(out), artifact_path="comparison")  # figures/ in it
    experiment = mlflow.get_run(run_id).info.experiment_id
    _log_summary_runs(experiment, run_id, comparison)
    view = _share_summary_view(experiment, run_id, comparison)
    description = descriptions.parent_description(comparison, experiment, run_id, view)
    tracking.set_tags(run_id, {tracking.TAG_DESCRIPTION: description})
    return comparison


SUMMARY_RUN_SUFFIX = "-summary"


def summary_metrics(comparison: report.Comparison, strategy: str) -> dict[str, float]:
    """A strategy's summary-run metrics: its means under the fold runs' names, the interval
    bounds of the shown metrics (clipped to the metric's range), the paired differences with
    their Holm-adjusted p-values."""
    c, row = comparison, comparison.row(strategy)
    out: dict[str, float] = {"n": float(row["n"])}
    for m in c.display_metrics():
        lo, hi = report.metric_range(m)
        out[m] = row[f"{m}_mean"]
        out[tracking.CI_LOW_PREFIX + m] = max(row[f"{m}_ci_low"], lo)
        out[tracking.CI_HIGH_PREFIX + m] = min(row[f"{m}_ci_high"], hi)
    extra = [report.TREES, report.SELECTION_METRIC, *c.timing_metrics(), *c.quality_metrics()]
    extra += [m for m in c.metrics() if m.startswith(tracking.GAN_PREFIX)]
    for m in extra:
        if f"{m}_mean" in row:
            out[m] = row[f"{m}_mean"]
    for vs in (report.VS_BASELINE, report.VS_REFERENCE):
        out[tracking.DELTA_PREFIX + vs] = row[f"{vs}_diff"]
        out[tracking.P_HOLM_PREFIX + vs] = row[f"{vs}_p"]
        out[tracking.MDE_PREFIX + vs] = row[f"{vs}_mde"]
    return {k: float(f"{float(v):.4g}") for k, v in out.items()}


def _log_summary_runs(experiment: str, parent_id: str, comparison: report.Comparison) -> None:
    """One child run per strategy carrying its summary, replacing those of an earlier attempt."""
    client = mlflow.MlflowClient()
    for old in tracking.child_runs(parent_id, tracking.RUN_SUMMARY):
        tracking.retry(lambda r=old: client.delete_run(r.info.run_id), what="deleting a run")
    for _, row in comparison.table.iterrows():
        strategy = str(row["strategy"])
        child = tracking.start_child(
            experiment,
            parent_id,
            strategy + SUMMARY_RUN_SUFFIX,
            {
                tracking.TAG_STRATEGY: strategy,
                tracking.TAG_STRATEGY_KIND: row["kind"],
                tracking.TAG_LAUNCH: parent_id,
                tracking.TAG_VS_BASELINE: comparison.pair_cell(row, report.VS_BASELINE),
                tracking.TAG_VS_REFERENCE: comparison.pair_cell(row, report.VS_REFERENCE),
                tracking.TAG_DESCRIPTION: descriptions.summary_description(
                    comparison, strategy, experiment, parent_id
                ),
            },
            run_type=tracking.RUN_SUMMARY,
        )
        try:
            metrics = summary_metrics(comparison, strategy)
            tracking.log_metrics(
                child.info.run_id, descriptions.headline_metrics(comparison, metrics)
            )
            tracking.inherit_inputs(child.info.run_id)
        finally:
            tracking.end_active(tracking.FINISHED)


def _share_summary_view(experiment: str, parent_id: str, comparison: report.Comparison) -> str:
    """Store the UI view of one launch (its parent and summary runs, best first) and name it."""
    c = comparison
    metric = c.metric
    headline = [
        metric,
        tracking.DELTA_PREFIX + report.VS_BASELINE,
        tracking.DELTA_PREFIX + report.VS_REFERENCE,
        *c.display_metrics()[1:],
        report.TREES,
        "resample_seconds",
    ]
    columns = [f"metrics.`{m}`" for m in (metric, tracking.CI_LOW_PREFIX + metric)]
    columns += [f"metrics.`{tracking.CI_HIGH_PREFIX}{metric}`"]
    columns += [f"tags.`{t}`" for t in (tracking.TAG_VS_BASELINE, tracking.TAG_VS_REFERENCE)]
    columns += [f"metrics.`{m}`" for m in (*c.display_metrics()[1:2], report.TREES)]
    columns += ["metrics.`resample_seconds`", "metrics.`n`"]
    section = "fraudgan-strategies"
    key = tracking.summary_view_key(parent_id)
    tracking.share_view(
        experiment,
        key,
        {
            "searchFilter": f"tags.`{tracking.TAG_LAUNCH}` = '{parent_id}'",
            "orderByKey": f"metrics.`{metric}`",
            "orderByAsc": report.lower_is_better(metric),
            "selectedColumns": columns,
            "columnOrder": columns,
            "columnWidths": {c: 190 if c.startswith("tags.") else 110 for c in columns},
            "runsHiddenMode": "SHOW_ALL",
            "compareRunSections": [
                {
                    "uuid": section,
                    "name": "Strategies: mean over folds × seeds",
                    "display": True,
                    "isReordered": False,
                }
            ],
            "compareRunCharts": [
                {
                    "uuid": f"fraudgan-{m}",
                    "type": "BAR",
                    "metricSectionId": section,
                    "isGenerated": False,
                    "deleted": False,
                    "metricKey": m,
                    "runsCountToCompare": 100,
                }
                for m in headline
            ],
            "isAccordionReordered": True,
        },
    )
    return key


@contextmanager
def _parent_run(
    cfg: ExperimentConfig, prepared: Prepared, resume: str | None
) -> Iterator[tuple[str, str]]:
    exp_id = tracking.experiment_id(cfg.name)
    if resume:
        parent = tracking.get_parent_run(resume)
        # a caller's active experiment (set_experiment, MLFLOW_EXPERIMENT_*) must not refuse it
        mlflow.set_experiment(experiment_id=parent.info.experiment_id)
        run = mlflow.start_run(run_id=resume)
    else:
        run = tracking.retry(
            lambda: mlflow.start_run(
                experiment_id=exp_id,
                run_name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                tags={tracking.TAG_RUN_TYPE: tracking.RUN_EXPERIMENT},
            ),
            what="starting the parent run",
        )
    run_id = run.info.run_id
    try:
        if not resume:
            _log_parent_setup(run_id, cfg, prepared)
        yield run_id, exp_id
    except KeyboardInterrupt:
        tracking.end_active(tracking.KILLED)
        raise
    except BaseException:
        tracking.end_active(tracking.FAILED)
        raise
    else:
        tracking.end_active(tracking.FINISHED)


def _log_parent_setup(run_id: str, cfg: ExperimentConfig, prepared: Prepared) -> None:
    ds = prepared.dataset
    tracking.set_tags(
        run_id,
        {
            tracking.TAG_CONFIG_HASH: cfg.config_hash(),
            tracking.TAG_GIT_COMMIT: tracking.git_commit(),
            tracking.TAG_DATA_DIGEST: ds.digest,
            tracking.TAG_DATA_NAME: ds.name,
            tracking.TAG_LAUNCH: run_id,
        },
    )
    tracking.log_params(
        run_id,
        {
            "data.rows": len(prepared.frame),
            "data.draws": cfg.data.draws,
            "data.positives": int(prepared.y.sum()),
            "data.duplicates_dropped": ds.n_duplicates_dropped,
            "features.numeric": len(prepared.numeric),
            "features.categorical": len(prepared.categorical),
            "classifier.max_categories": cfg.classifier.max_categories,
            "split.kind": cfg.split.kind,
            "split.folds": len(prepared.folds),
            "split.max_train_positives": cfg.split.max_train_positives,
            "split.train_positives": ",".join(
                str(int(known_labels(prepared.y, f)[f.train].sum())) for f in prepared.folds
            ),
            "strategies": ",".join(cfg.strategies),
            "tuning.enabled": cfg.tuning.enabled,
            "tuning.n_trials": cfg.tuning.n_trials if cfg.tuning.enabled else 0,
            **prepared.folds.correction.as_params(),
            **(ds.reports.params() if ds.reports is not None else {}),
        },
    )
    mlflow.log_dict(cfg.model_dump(mode="json", by_alias=True), "config.yaml")
    mlflow.log_input(tracking.dataset_input(ds), context="training")


ProgressFn = Callable[[str], None]


def run_experiment(
    cfg: ExperimentConfig,
    *,
    resume: str | None = None,
    on_child_done: ProgressFn | None = None,
    on_start: Callable[[int], None] | None = None,
    on_child_start: ProgressFn | None = None,
) -> ExperimentResult:
    """Run every strategy on every fold, log everything, and return the comparison.

    `resume`: the parent run id of an earlier launch; its finished children are reused. One
    resume of a parent at a time (`tracking.resume_lock`). `on_start(n_children)`,
    `on_child_start(label)` and `on_child_done(label)` report progress.
    """
    tracking.setup()
    if resume is None:
        return _run_experiment(cfg, None, on_child_done, on_start, on_child_start)
    # an unknown id or another configuration is a clear error before any work (the data's
    # checks can take minutes) and before the resumed run's orphaned children are closed
    parent = tracking.get_parent_run(resume)
    if parent.data.tags.get(tracking.TAG_CONFIG_HASH) != cfg.config_hash():
        raise ConfigError(
            f"--resume {resume}: that run used a different configuration "
            f"(hash {parent.data.tags.get(tracking.TAG_CONFIG_HASH)} vs {cfg.config_hash()}); "
            "resume with the same YAML and --set options"
        )
    with tracking.resume_lock(resume):
        return _run_experiment(cfg, resume, on_child_done, on_start, on_child_start)


def _run_experiment(
    cfg: ExperimentConfig,
    resume: str | None,
    on_child_done: ProgressFn | None,
    on_start: Callable[[int], None] | None,
    on_child_start: ProgressFn | None = None,
) -> ExperimentResult:
    checked = preflight(cfg)
    prepared = checked.prepared
    for text in checked.warnings:
        log.warning(text)
    done = _resumed_results(resume) if resume else {}
    if resume:
        tracking.close_orphaned_children(resume)
    jobs = [
        (fold, windows, name)
        for fold, windows in zip(prepared.folds, checked.windows, strict=True)
        for name in cfg.strategies
    ]
    if on_start is not None:
        on_start(len(jobs))
    results: list[ChildResult] = []
    failed: list[str] = []
    with _parent_run(cfg, prepared, resume) as (parent_id, exp_id):
        log.info("parent run %s (%d children)", parent_id, len(jobs))
        fold_runner: FoldRunner | None = None
        for fold, windows, name in jobs:
            label = f"{name} fold={fold.fold} seed={fold.seed}"
            key = (name, fold.fold, fold.seed)
            if key in done:
                results.append(done[key])
                log.info("%s: reused from the resumed run", label)
                if on_child_done:
                    on_child_done(label)
                continue
            if on_child_start:
                on_child_start(label)
            if fold_runner is None or fold_runner.fold is not fold:
                fold_runner = FoldRunner(cfg, prepared, fold, windows=windows)
            params = cfg.strategies[name]
            kind = strategy_kind(name, params)
            child = tracking.start_child(
                exp_id,
                parent_id,
                f"{name}-f{fold.fold}-s{fold.seed}",
                {
                    tracking.TAG_STRATEGY: name,
                    tracking.TAG_STRATEGY_KIND: kind,
                    tracking.TAG_FOLD: fold.fold,
                    tracking.TAG_SEED: fold.seed,
                },
            )
            try:
                start = time.perf_counter()
                result = fold_runner.run(name, params)
                if cfg.tuning.enabled:
                    result.metrics["tuning_seconds"] = time.perf_counter() - start
                result.run_id = child.info.run_id
                log_child(result, child.info.run_id)
                tracking.end_active(tracking.FINISHED)
                results.append(result)
            except KeyboardInterrupt:
                tracking.set_tags(child.info.run_id, {tracking.TAG_ERROR: "interrupted (Ctrl-C)"})
                tracking.end_active(tracking.KILLED)
                raise
            except (FraudganError, ValueError, RuntimeError, ArithmeticError, MemoryError) as exc:
                log.error("%s failed: %s", label, exc)
                log.debug("traceback", exc_info=True)
                tracking.set_tags(
                    child.info.run_id, {tracking.TAG_ERROR: f"{type(exc).__name__}: {exc}"}
                )
                tracking.end_active(tracking.FAILED)
                failed.append(f"{label}: {exc}")
            if on_child_done:
                on_child_done(label)
        if not results:
            raise FraudganError("every child run failed:\n  " + "\n  ".join(failed))
        comparison = _log_parent_report(parent_id, cfg, results, prepared.folds.correction)
    return ExperimentResult(
        parent_run_id=parent_id,
        experiment_name=cfg.name,
        results=results_frame(results),
        comparison=comparison,
        failed=failed,
    )


def load_comparison(parent_run_id: str) -> tuple[report.Comparison, pd.DataFrame, dict[str, Any]]:
    """Recompute a launch's comparison from its finished child runs in MLflow."""
    parent = tracking.get_parent_run(parent_run_id)
    client = mlflow.MlflowClient()
    path = client.download_artifacts(parent_run_id, "config.yaml")
    from pipeline.config import config_from_mapping

    cfg = config_from_mapping(yaml.safe_load(Path(path).read_text()), where="logged config")
    results = list(_resumed_results(parent_run_id).values())
    if not results:
        raise FraudganError(f"run {parent_run_id} has no finished child runs to compare")
    frame = results_frame(results).sort_values(["strategy", "fold", "seed"])
    correction = VarianceCorrection.from_params(parent.data.params)
    if correction is None:
        log.info("run %s predates the logged fold correction: rebuilding its folds", parent_run_id)
        correction = prepare(cfg).folds.correction
    return build_comparison(frame, cfg, correction, results), frame, dict(parent.data.tags)
