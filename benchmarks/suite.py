"""The benchmark suite: tables x generators x strategies, one results schema, runnable in slices.

    python benchmarks/suite.py                                   # every table, generator, strategy
    python benchmarks/suite.py --tables yeast3,satimage --generators smote,gmm,copies --resume
    python benchmarks/suite.py --tables stress --generators cgan --max-folds 2 --resume
    python benchmarks/suite.py --tables stress --generators cgan --gan epochs=600 --gan batch_size=100 \\
        --strategies '' --out benchmarks/results/suite_ablation.json      # a GAN ablation

Per table (`benchmarks/suite_tables.py`: read through the user's sources, features built) one
protocol: stratified `--folds`-fold (temporal tables: their experiment's temporal folds), the same
`--seeds` and folds for every generator and strategy; `--max-rows` keeps every minority row and a
random subset of the majority rows (fixed, recorded). Two tasks:

- realism (`--generators`): minority rows generated from the training fold's rows against the
  test fold's real minority rows, by the project's one classifier two-sample test
  (`models.two_sample.c2st_auc`, 0.5: indistinguishable), as many generated rows as held-out
  ones, averaged over `--c2st-draws` fresh draws of generated rows (the generator fitted once;
  one draw is noisy where a fold holds a few dozen minority rows). `cgan`: the project's GAN
  (`CGANOverSampler.fit_synthesizer` on the training fold's rows, every class, asked for
  minority rows; `--gan key=value` sets `CGANConfig` fields); `smote`: imblearn SMOTE's
  synthetic rows only (SMOTENC / SMOTEN with categorical columns), on standardised columns;
  `gmm`: a Gaussian mixture on the standardised minority rows (one-hot categories), up to 10
  components chosen by BIC; `copies`: bootstrap copies of the training minority rows (the
  memorizing floor); `real`: real training minority rows (the floor that holds only the sampling
  noise). Where the table has feature rules (the simulator), the share of generated rows
  breaking one is recorded; for `cgan`, training seconds and rows/s. Beside the C2ST, which
  cannot see a copied training row, the quality report's privacy measures
  (`pipeline.quality.privacy`) against the training fold's minority rows: the share of generated
  rows that copy one exactly (and of the held-out real rows, the natural rate), the share closer
  to one than the held-out rows' 5th-percentile distance, and whether its memorization rule
  fires.
- downstream (`--strategies`): the test folds' AUPRC (and each fold's validation AUPRC, over its
  validation windows) of each strategy through the real pipeline
  (`pipeline.runner.run_experiment` on the table's file, a temporary MLflow store, XGBoost with 2
  threads, the experiment's classifier and validation settings, no tuning), Δ vs `none` paired
  over (fold, seed). Resamplers append rows up to a minority/majority ratio of 0.1, or twice the
  table's own ratio when that is above 0.05 (at most 1); `cgan` runs at its defaults, choosing
  its share (0 included), weight and checkpoint on the validation windows (`pipeline.augment`);
  `smote_auto` (optional) is SMOTE choosing its share over the same grid by the same rule, and
  `cgan_fixed` (optional) the GAN at the SMOTE family's fixed share, choosing nothing, its
  refit drawing from the GAN of the fold's shared rows (`refit_gan: false`, what every refit
  did before the option), and the same with `match_scores` (`cgan_matched`: rows drawn to score
  as real fraud does for a classifier of the real rows), with the GAN trained again on the
  whole training fold for the refit (`cgan_fixed_refit`) or both (`cgan_matched_refit`);
  `cgan_matched_choose` (optional) chooses as `cgan` does, its rows drawn with `match_scores`.

Every cell (table, task, method, fold, seed) is kept as records `dataset, task, method, fold,
seed, metric, value, seconds, error` in `--out` (default benchmarks/results/suite.json), written
after each cell; a failure is a cell too (`error: ...`, or `timeout` for a realism cell past
`--timeout` seconds; a downstream launch is not interrupted, since MLflow's store must not be).
`--resume` keeps the file's cells and runs the missing ones (`--retry-failed`: the failed ones
too); each run appends its command and commit to `slices`, and the top-level `command`/`commit`
are the latest slice's. `--merge A.json B.json --out suite.json` joins files written in parallel
(their slices and cells; the same protocol per table; with `--replace` a later file's cells
replace an earlier one's, for cells rerun after a change); `--report` rebuilds `--out`'s summary
from its cells with the checkout's code, running none. The per-table summary (`tables`: C2ST and
AUPRC means, Δ vs `none`, and, paired over folds with a 95 % interval, the GAN's C2ST minus each
baseline's, each strategy's AUPRC minus `none`'s and `cgan`'s minus that of the fixed-share
resampler with the best test AUPRC and of the one with the best validation AUPRC; for `cgan` and
`smote_auto`, each fold's choice and how far its best share came against the noise rule's bar;
per generator its privacy measures and, where known, the labels of its rows) and `suite.md`
beside the file are rebuilt from every cell. Library messages go to `--out`'s `.log` beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, throwaway_store  # noqa: E402
from benchmarks.suite_tables import (  # noqa: E402
    GENERATED_TABLES,
    SuiteTable,
    load_table,
    table_names,
)
from models.errors import ConfigError  # noqa: E402

log = logging.getLogger("suite")

GENERATORS = ("cgan", "smote", "gmm", "copies", "real")
SUMMARY_GENERATORS = ("cgan", "smote", "gmm", "copies")  # the results' `c2st` keys
STRATEGIES = ("none", "ros", "smote", "borderline", "cgan")
FIXED_GANS: dict[str, dict[str, Any]] = {
    "cgan_fixed": {"refit_gan": False},
    "cgan_matched": {"match_scores": True, "refit_gan": False},
    "cgan_fixed_refit": {"refit_gan": True},
    "cgan_matched_refit": {"match_scores": True, "refit_gan": True},
}
"""The GAN at the SMOTE family's fixed share, choosing nothing: its options by strategy."""
CHOOSING_GANS: dict[str, dict[str, Any]] = {"cgan_matched_choose": {"match_scores": True}}
"""The GAN choosing as `cgan` does, with options `cgan`'s defaults leave off, by strategy."""
OPTIONAL_STRATEGIES = (
    "adasyn",
    "smotenc",
    "class_weight",
    "smote_auto",
    *FIXED_GANS,
    *CHOOSING_GANS,
)
FIXED_SHARE = ("ros", "smote", "borderline")  # the resamplers at a fixed share
CHOOSING = {"smote_auto": "smote"}
"""Strategies that choose their share (0 included) on the validation windows over the grid
`cgan` chooses over at its defaults (`pipeline.augment`), and the over-sampler each runs."""
REALISM, DOWNSTREAM = "realism", "downstream"
PRIMARY = {REALISM: "c2st_auc", DOWNSTREAM: "average_precision"}
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "suite.json"
GMM_COMPONENTS = (1, 2, 3, 5, 8, 10)
GMM_ROWS_PER_COMPONENT = 10
RATIO = 0.1
C2ST_DRAWS = 10
"""C2ST tests per realism cell: on tables with a few dozen held-out minority rows one test's AUC
varies widely from one draw of generated rows to the next (`c2st_auc_sd` in the cells)."""
PRIVACY_METRICS = (
    "exact_copy_share",
    "holdout_exact_copy_share",
    "dcr_share_below_holdout_p05",
    "dcr_median_ratio",
)
"""The quality report's privacy measures a realism cell keeps (without its `quality_` prefix)."""
KNOWN_LABEL_METRICS = ("minority_combination_share", "majority_combination_share")
DISCRETE_VALUES = 16
"""Most values of every column for the labels of generated rows to be looked up (as the GAN's
transformer's `max_discrete`)."""
XGB_THREADS = 2
LEVEL = 0.0005
"""A difference in AUPRC smaller than this (half the reports' last digit) counts as level."""


class CellTimeout(Exception):
    """A cell ran past `--timeout`."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `CellTimeout` in the main thread after `seconds` (None: no limit), and again every
    second until the block ends (an exception raised inside a finalizer is swallowed)."""
    if not seconds:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise CellTimeout(f"past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def error_text(exc: BaseException) -> str:
    if isinstance(exc, CellTimeout):
        return "timeout"
    text = " | ".join(line.strip() for line in str(exc).strip().splitlines())
    return f"error: {type(exc).__name__}: {text[:400]}"


# --------------------------------------------------------------------------------------------
# the protocol: rows used and folds


def subsample(table: SuiteTable, max_rows: int | None) -> SuiteTable:
    """Every minority row and a fixed random subset of the majority rows, `max_rows` in all."""
    if max_rows is None or len(table.frame) <= max_rows:
        return table
    y = table.y
    minority = np.flatnonzero(y == 1)
    majority = np.flatnonzero(y == 0)
    keep_major = max(0, max_rows - len(minority))
    if keep_major < len(minority):
        raise ConfigError(
            f"--max-rows {max_rows} leaves {table.name} fewer majority rows ({keep_major}) than "
            f"minority rows ({len(minority)}); use at least {2 * len(minority)}"
        )
    rng = np.random.default_rng(0)
    kept = np.sort(np.r_[minority, rng.choice(majority, keep_major, replace=False)])
    frame = table.frame.iloc[kept].reset_index(drop=True)
    info = {**table.info, "rows_used": len(frame), "minority_used": int(len(minority))}
    return dataclasses.replace(table, frame=frame, info=info)


def folds_of(table: SuiteTable, n_folds: int, seeds: Sequence[int]) -> list[Any]:
    """The table's outer folds: stratified `n_folds`-fold per seed, or its temporal folds."""
    from pipeline.split import stratified_folds, temporal_folds

    y = table.y
    if not table.temporal:
        return stratified_folds(y, n_splits=n_folds, seeds=tuple(seeds))
    s, schema = table.split, table.schema
    return temporal_folds(
        table.frame[schema.time].to_numpy(),
        train_days=s["train_days"],
        gap_days=s["gap_days"],
        test_days=s["test_days"],
        n_folds=s["n_folds"],
        step_days=s["step_days"],
        entity=None if schema.entity is None else table.frame[schema.entity].to_numpy(),
        y=y,
        exclude_known_compromised=s["exclude_known_compromised"],
        label_delay_days=table.features.get("label_delay_days", 7.0),
    )


def protocol(table: SuiteTable, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "split": "temporal" if table.temporal else "stratified",
        "folds": table.split["n_folds"] if table.temporal else args.folds,
        "max_rows": args.max_rows,
    }
    if args.rows is not None and table.name in GENERATED_TABLES:
        out["table_rows"] = args.rows
    return out


# --------------------------------------------------------------------------------------------
# generators: each returns `n` minority rows with the training frame's columns


class Standardized:
    """Numbers standardised (missing values as the training median), categories as one-hot or
    codes; and back."""

    def __init__(self, frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> None:
        self.numeric, self.categorical = numeric, categorical
        x = frame[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        self.median = np.nan_to_num(np.nanmedian(x, axis=0)) if numeric else np.zeros(0)
        x = np.where(np.isnan(x), self.median, x)
        self.mean = x.mean(axis=0) if numeric else np.zeros(0)
        std = x.std(axis=0) if numeric else np.zeros(0)
        self.std = np.where(std > 0, std, 1.0)
        self.categories = {
            c: pd.Index(sorted(frame[c].dropna().astype(str).unique())) for c in categorical
        }

    def numbers(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[self.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        x = np.where(np.isnan(x), self.median, x)
        return (x - self.mean) / self.std

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        cols = [
            np.maximum(self.categories[c].get_indexer(frame[c].astype(str)), 0)
            for c in self.categorical
        ]
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0), dtype=np.int64)

    def one_hot(self, frame: pd.DataFrame) -> np.ndarray:
        codes = self.codes(frame)
        parts = [
            np.eye(len(self.categories[c]))[codes[:, j]] for j, c in enumerate(self.categorical)
        ]
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))

    def frame(self, numbers: np.ndarray, codes: np.ndarray, columns: list[str]) -> pd.DataFrame:
        out = pd.DataFrame(numbers * self.std + self.mean, columns=self.numeric)
        for j, c in enumerate(self.categorical):
            out[c] = self.categories[c][codes[:, j].astype(int)].to_numpy(dtype=object)
        return out[columns]

    def from_one_hot(self, z: np.ndarray, columns: list[str]) -> pd.DataFrame:
        k = len(self.numeric)
        codes, start = [], k
        for c in self.categorical:
            width = len(self.categories[c])
            codes.append(z[:, start : start + width].argmax(axis=1))
            start += width
        codes_m = np.column_stack(codes) if codes else np.zeros((len(z), 0), dtype=int)
        return self.frame(z[:, :k], codes_m, columns)


def smote_rows(
    X: pd.DataFrame, y: np.ndarray, n: int, categorical: list[str], seed: int
) -> pd.DataFrame:
    """The synthetic rows only of SMOTE (SMOTENC with categories, SMOTEN without numbers)."""
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    numeric = [c for c in X.columns if c not in set(categorical)]
    enc = Standardized(X[y == 1], numeric, categorical)
    k = max(1, min(5, int((y == 1).sum()) - 1))
    strategy = {1: int((y == 1).sum()) + n}
    if not categorical:
        sampler: Any = SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
    elif not numeric:
        sampler = SMOTEN(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
    else:
        sampler = SMOTENC(
            categorical_features=list(range(len(numeric), len(numeric) + len(categorical))),
            sampling_strategy=strategy,
            k_neighbors=k,
            random_state=seed,
        )
    matrix = np.hstack([enc.numbers(X), enc.codes(X).astype(np.float64)])
    out, _ = sampler.fit_resample(matrix, y)
    new = out[len(X) :]
    return enc.frame(new[:, : len(numeric)], new[:, len(numeric) :], list(X.columns))


def gmm_rows(minority: pd.DataFrame, n: int, categorical: list[str], seed: int) -> pd.DataFrame:
    """A Gaussian mixture on the standardised minority rows (categories one-hot, each decoded
    to its largest coordinate), with the number of components (<= 10, at most one per
    `GMM_ROWS_PER_COMPONENT` rows) of the lowest BIC."""
    from sklearn.mixture import GaussianMixture

    numeric = [c for c in minority.columns if c not in set(categorical)]
    enc = Standardized(minority, numeric, categorical)
    z = np.hstack([enc.numbers(minority), enc.one_hot(minority)])
    cap = max(1, len(z) // GMM_ROWS_PER_COMPONENT)
    best, best_bic = None, math.inf
    for k in [c for c in GMM_COMPONENTS if c <= cap]:
        model = GaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=seed)
        model.fit(z)
        bic = model.bic(z)
        if bic < best_bic:
            best, best_bic = model, bic
    sample, _ = best.sample(n)
    rng = np.random.default_rng(seed)
    sample = sample[rng.permutation(n)]  # GaussianMixture.sample returns rows by component
    return enc.from_one_hot(sample, list(minority.columns))


def resampled_rows(minority: pd.DataFrame, n: int, seed: int, replace: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(minority), n if replace else min(n, len(minority)), replace=replace)
    return minority.iloc[idx].reset_index(drop=True)


def cgan_rows(
    table: SuiteTable,
    X: pd.DataFrame,
    y: np.ndarray,
    n: int,
    seed: int,
    gan: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The project's GAN, trained on every row of the training fold, asked for `n` minority rows."""
    from models.gan import CGANOverSampler

    sampler = CGANOverSampler(
        categorical_features=table.categorical, rules=table.rules, random_state=seed, **gan
    )
    synth = sampler.fit_synthesizer(X, y, {1: n})
    rows = sampler.sample_block(n, 1, seed)
    extra = {
        "gan_train_seconds": float(synth.train_seconds_),
        "gan_rows_per_second": float(synth.rows_per_second_),
        "gan_best_epoch": float(synth.best_epoch_),
        "gan_epochs_run": float(synth.epochs_run_),
    }
    if synth.c2st_auc_ is not None:
        extra["gan_selected_c2st_auc"] = float(synth.c2st_auc_)
    return rows[list(X.columns)], extra


def generate(
    method: str,
    table: SuiteTable,
    X: pd.DataFrame,
    y: np.ndarray,
    n: int,
    seed: int,
    gan: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, float]]:
    minority = X[y == 1].reset_index(drop=True)
    if method == "cgan":
        return cgan_rows(table, X, y, n, seed, gan)
    if method == "smote":
        return smote_rows(X, y, n, table.categorical, seed), {}
    if method == "gmm":
        return gmm_rows(minority, n, table.categorical, seed), {}
    if method == "copies":
        return resampled_rows(minority, n, seed, replace=True), {}
    if method == "real":
        return resampled_rows(minority, n, seed, replace=False), {}
    raise ConfigError(f"unknown generator {method!r}; generators: {', '.join(GENERATORS)}")


def realism_cell(
    method: str, table: SuiteTable, fold: Any, gan: dict[str, Any], draws: int = 1
) -> dict[str, float]:
    """C2ST AUC (and rule violations, GAN figures) of one generator on one fold: the mean over
    `draws` tests, each of as many generated rows (a fresh draw; the generator fitted once) as
    held-out ones."""
    from models.two_sample import c2st_auc

    X, y = table.X, table.y
    X_train = X.iloc[fold.train].reset_index(drop=True)
    y_train = y[fold.train]
    holdout = X.iloc[fold.test][y[fold.test] == 1].reset_index(drop=True)
    n = len(holdout)
    if n < 5:
        raise ConfigError(f"{n} held-out minority rows; the C2ST needs at least 5")
    if method == "real":  # each draw its own subset of the training minority rows
        parts = [
            generate(method, table, X_train, y_train, n, fold.seed + i, gan) for i in range(draws)
        ]
        rows, extra = pd.concat([p[0] for p in parts], ignore_index=True), parts[0][1]
    else:
        rows, extra = generate(method, table, X_train, y_train, n * draws, fold.seed, gan)
    aucs = [
        c2st_auc(
            holdout,
            rows.iloc[i * n : (i + 1) * n].reset_index(drop=True),
            categorical=table.categorical,
            random_state=fold.seed + i,
        )
        for i in range(draws)
    ]
    metrics = {
        "c2st_auc": float(np.mean(aucs)),
        "c2st_auc_sd": float(np.std(aucs, ddof=1)) if draws > 1 else 0.0,
        "c2st_draws": float(draws),
        "holdout_rows": float(n),
        "generated_rows": float(len(rows)),
        **extra,
    }
    if table.rules is not None:
        metrics["rule_violation_share"] = float(table.rules.broken_rows(rows).mean())
    metrics.update(privacy_metrics(table, X_train[y_train == 1], rows, holdout, fold.seed))
    return {**metrics, **known_labels(table, rows)}


def known_labels(table: SuiteTable, rows: pd.DataFrame) -> dict[str, float]:
    """Shares of generated `rows` whose combination of values the table labels minority
    (`minority_combination_share`) and majority (`majority_combination_share`); empty unless
    every column has at most `DISCRETE_VALUES` values and no combination carries both labels."""
    from models.two_sample import FrameEncoding

    X, y = table.X, table.y
    if X.nunique(dropna=False).max() > DISCRETE_VALUES:
        return {}
    columns = list(X.columns)
    enc = FrameEncoding.fit(X, [X, rows[columns]], [], columns)  # every column as categories
    labels: dict[bytes, set[int]] = {}
    for key, label in zip(enc.row_keys(X), y, strict=True):
        labels.setdefault(key, set()).add(int(label))
    if any(len(v) > 1 for v in labels.values()):
        return {}
    found = [labels.get(key, set()) for key in enc.row_keys(rows[columns])]
    return {
        "minority_combination_share": float(np.mean([v == {1} for v in found])),
        "majority_combination_share": float(np.mean([v == {0} for v in found])),
    }


def privacy_metrics(
    table: SuiteTable,
    train_minority: pd.DataFrame,
    rows: pd.DataFrame,
    holdout: pd.DataFrame,
    seed: int,
) -> dict[str, float]:
    """`PRIVACY_METRICS` and the memorization flag of generated `rows` against the training
    minority rows, with the held-out ones as the unseen reference (`pipeline.quality.privacy`)."""
    from pipeline.quality import privacy

    found = privacy(
        train_minority.reset_index(drop=True),
        rows,
        categorical=table.categorical,
        holdout=holdout,
        random_state=seed,
    )
    kept = {k: found.metrics[f"quality_{k}"] for k in PRIVACY_METRICS}
    return {**{k: float(v) for k, v in kept.items()}, "memorization_flag": float(found.flagged)}


# --------------------------------------------------------------------------------------------
# downstream through the pipeline


def fixed_ratio(table: SuiteTable) -> float:
    """The minority/majority ratio the fixed-share resamplers run at: `RATIO`, or twice the
    table's own ratio when that is above 0.05 (at most 1)."""
    y = table.y
    current = y.sum() / max(1, len(y) - y.sum())
    return round(float(RATIO if current <= 0.05 else min(1.0, 2 * current)), 4)


def fixed_share_rows(table: SuiteTable, y_train: np.ndarray) -> int:
    """The minority rows a fixed-share resampler adds to a training fold of labels `y_train`
    (at least 1)."""
    return max(1, int(fixed_ratio(table) * (y_train == 0).sum()) - int(y_train.sum()))


def strategy_params(name: str, table: SuiteTable, gan: dict[str, Any]) -> dict[str, Any]:
    if name in ("none", "class_weight"):
        return {}
    if name == "cgan":  # at its defaults: it chooses its share, weight and checkpoint
        return dict(gan)
    if name in CHOOSING_GANS:
        return {**gan, "kind": "cgan", **CHOOSING_GANS[name]}
    if name in CHOOSING:  # the same choice over the same grid, the fair match for cgan's
        return {"kind": CHOOSING[name], "choose": True}
    ratio = {"sampling_strategy": fixed_ratio(table)}
    if name in FIXED_GANS:
        return {**gan, "kind": "cgan", "choose": False, **FIXED_GANS[name], **ratio}
    return ratio


def experiment_of(table: SuiteTable) -> Any:
    """The experiment whose validation and classifier settings the table's launches take: the
    simulator's and the handbook's own (`SuiteTable.experiment`), `experiments/default.yaml` for
    the others."""
    from pipeline.config import load_config

    return load_config(ROOT / "experiments" / table.experiment)


def downstream_config(
    table: SuiteTable,
    path: Path,
    strategies: Sequence[str],
    args: argparse.Namespace,
    gan: dict[str, Any],
) -> Any:
    from pipeline.config import config_from_mapping

    base = experiment_of(table)
    schema = {
        k: v for k, v in table.schema.to_dict().items() if v is not None and v != [] and v != ()
    }
    split: dict[str, Any] = {"kind": "stratified", "n_splits": args.folds, "seeds": args.seeds}
    if table.temporal:
        split = {k: v for k, v in table.split.items() if v is not None}
    raw = {
        "name": f"suite-{table.name}",
        # public benchmark tables: in some (shuttle, kddcup) one column separates the classes
        # by design, which in fraud data would be a label leak (`pipeline.data.leaks`)
        "data": {"kind": "parquet", "path": str(path), "schema": schema, "leak_check": False},
        "features": {"enabled": False, **table.features},
        "split": split,
        "validation": base.validation.model_dump(),
        "classifier": {**base.classifier.model_dump(), "n_jobs": XGB_THREADS},
        "strategies": {s: strategy_params(s, table, gan) for s in strategies},
        "tuning": {"enabled": False},
        "report": {"metric": "average_precision", "quality": False},
    }
    return config_from_mapping(raw, where=f"suite table {table.name}")


def downstream_cells(
    table: SuiteTable,
    strategy: str,
    folds: list[Any],
    args: argparse.Namespace,
    gan: dict[str, Any],
    directory: Path,
) -> list[dict[str, Any]]:
    """One launch of `run_experiment` for one strategy: a cell per (fold, seed)."""
    from pipeline.report.choices import (
        CHOICE_BEST_GAIN,
        CHOICE_BEST_SAMPLING_BAR,
        CHOICE_BEST_SPREAD_BAR,
        CHOICE_GAIN,
        CHOICE_SHARE,
    )
    from pipeline.runner import run_experiment

    kept = (
        "average_precision",
        "roc_auc",
        "val_average_precision",  # over the fold's validation windows: a pick without the test
        "resample_seconds",
        "gan_train_seconds",
        *(CHOICE_SHARE, CHOICE_GAIN),  # each fold's choice and its evidence
        *(CHOICE_BEST_GAIN, CHOICE_BEST_SPREAD_BAR, CHOICE_BEST_SAMPLING_BAR),
    )

    # Not `{name}.parquet`: `load_table` leaves the raw file (no features) under that name.
    path = directory / f"{table.name}.model-input.parquet"
    if not path.exists():
        table.frame.to_parquet(path, index=False)
    cfg = downstream_config(table, path, [strategy], args, gan)
    keys = [(f.fold, f.seed) for f in folds]
    started = time.perf_counter()
    try:
        result = run_experiment(cfg)
    except Exception as exc:  # a failed launch is a failed cell per fold
        log.error("%s %s: %s", table.name, strategy, error_text(exc))
        seconds = time.perf_counter() - started
        return [
            failed(table.name, DOWNSTREAM, strategy, k, seconds / len(keys), error_text(exc))
            for k in keys
        ]
    frame = result.results
    cells = []
    for k in keys:
        rows = frame[(frame["fold"] == k[0]) & (frame["seed"] == k[1])]
        if rows.empty:
            why = next((f for f in result.failed if f"fold={k[0]} seed={k[1]}" in f), "no result")
            cells.append(failed(table.name, DOWNSTREAM, strategy, k, 0.0, f"error: {why}"))
            continue
        row = rows.iloc[0]
        seconds = sum(
            float(row[m])
            for m in ("fit_seconds", "resample_seconds", "refit_seconds", "predict_seconds")
            if m in row and pd.notna(row[m])
        )
        metrics = {m: float(row[m]) for m in kept if m in row and pd.notna(row[m])}
        cells.append(cell(table.name, DOWNSTREAM, strategy, k, metrics, seconds))
    return cells


# --------------------------------------------------------------------------------------------
# cells and the results file


def cell(
    dataset: str,
    task: str,
    method: str,
    key: tuple[int, int],
    metrics: dict[str, float],
    seconds: float,
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "task": task,
        "method": method,
        "fold": int(key[0]),
        "seed": int(key[1]),
        "metrics": metrics,
        "seconds": round(seconds, 2),
        "error": None,
    }


def failed(
    dataset: str, task: str, method: str, key: tuple[int, int], seconds: float, error: str
) -> dict[str, Any]:
    out = cell(dataset, task, method, key, {}, seconds)
    out["error"] = error
    return out


def records(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (cell, metric): dataset, task, method, fold, seed, metric, value,
    seconds, error, slice; a failed cell is one record of its task's main metric, value None."""
    out = []
    for c in cells:
        base = {k: c[k] for k in ("dataset", "task", "method", "fold", "seed")}
        tail = {"seconds": c["seconds"], "error": c["error"], "slice": c.get("slice")}
        if c["error"] is not None:
            out.append({**base, "metric": PRIMARY[c["task"]], "value": None, **tail})
            continue
        for metric, value in c["metrics"].items():
            out.append({**base, "metric": metric, "value": value, **tail})
    return out


def cells_from_records(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in recs:
        key = (r["dataset"], r["task"], r["method"], r["fold"], r["seed"])
        c = grouped.setdefault(
            key,
            {
                **dict(zip(("dataset", "task", "method", "fold", "seed"), key, strict=True)),
                "metrics": {},
                "seconds": r["seconds"],
                "error": r["error"],
                "slice": r.get("slice"),
            },
        )
        if r["error"] is None:
            c["metrics"][r["metric"]] = r["value"]
    return list(grouped.values())


def cell_key(c: dict[str, Any]) -> tuple[Any, ...]:
    return (c["dataset"], c["task"], c["method"], c["fold"], c["seed"])


def correction_term(meta: dict[str, Any]) -> float | None:
    """The Nadeau & Bengio variance term of a mean over the table's folds
    (`pipeline.split.VarianceCorrection`): as recorded, else, for stratified k-fold,
    n_test / n_train = 1 / (k - 1) (`pool_correction`); None when unknown."""
    if meta.get("correction_term") is not None:
        return float(meta["correction_term"])
    proto = meta.get("protocol") or {}
    if proto.get("split") == "stratified" and int(proto.get("folds", 0)) >= 2:
        return 1.0 / (int(proto["folds"]) - 1)
    return None


def paired_difference(
    a: dict[tuple[Any, ...], float], b: dict[tuple[Any, ...], float], term: float | None
) -> dict[str, float | int | None] | None:
    """`a` minus `b` over the (fold, seed) keys both have: mean, 95 % interval (t, with the
    folds' variance `term`; None below 2 folds or when `term` is unknown) and the number of
    folds; None when they share no key."""
    from pipeline.report.statistics import t_interval

    diffs = [a[k] - b[k] for k in sorted(a) if k in b]
    if not diffs:
        return None
    mean, low, high, n = t_interval(diffs, correction=term)
    known = term is not None and math.isfinite(low)
    return {
        "diff": mean,
        "ci_low": low if known else None,
        "ci_high": high if known else None,
        "folds": n,
    }


def choice_evidence(cells: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per choosing strategy: on how many folds it took a share above 0, and its best share's
    validation gain over share 0 against the larger of the two bars it had to clear (ranges
    over the folds that logged them)."""
    from pipeline.report.choices import (
        CHOICE_BEST_GAIN,
        CHOICE_BEST_SAMPLING_BAR,
        CHOICE_BEST_SPREAD_BAR,
        CHOICE_SHARE,
    )

    share = by_method(cells, DOWNSTREAM, CHOICE_SHARE)
    gain = by_method(cells, DOWNSTREAM, CHOICE_BEST_GAIN)
    bars = [
        by_method(cells, DOWNSTREAM, m) for m in (CHOICE_BEST_SPREAD_BAR, CHOICE_BEST_SAMPLING_BAR)
    ]
    out = {}
    for method, shares in share.items():
        bar = {}  # per fold, the larger of the bars it logged
        for k in sorted(shares):
            logged = [b[method][k] for b in bars if k in b.get(method, {})]
            if k in gain.get(method, {}) and logged:
                bar[k] = max(logged)
        gains = [gain[method][k] for k in bar]
        out[method] = {
            "folds": len(shares),
            "took_share": sum(v > 0 for v in shares.values()),
            "best_gain": [min(gains), max(gains)] if gains else None,
            "bar": [min(bar.values()), max(bar.values())] if bar else None,
            "best_gain_over_bar": [gain[method][k] / bar[k] for k in bar if bar[k] > 0],
        }
    return out


def realism_gaps(
    cells: list[dict[str, Any]], term: float | None
) -> dict[str, dict[str, float | int | None]]:
    """The GAN's C2ST minus each baseline's, paired over the folds both ran
    (`paired_difference`)."""
    c2st = by_method(cells, REALISM, "c2st_auc")
    out = {}
    for g in SUMMARY_GENERATORS[1:]:
        gap = paired_difference(c2st.get("cgan", {}), c2st.get(g, {}), term)
        if gap is not None:
            out[g] = gap
    return out


def by_method(
    cells: list[dict[str, Any]], task: str, metric: str
) -> dict[str, dict[tuple[Any, ...], float]]:
    """{method: {(fold, seed): value}} of one task's metric."""
    out: dict[str, dict[tuple[Any, ...], float]] = {}
    for c in cells:
        if c["task"] == task and metric in c["metrics"]:
            out.setdefault(c["method"], {})[(c["fold"], c["seed"])] = c["metrics"][metric]
    return out


def downstream_intervals(
    cells: list[dict[str, Any]], term: float | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Each strategy's AUPRC minus `none`'s, and `cgan`'s minus that of the fixed-share resampler
    (`ros`, `smote`, `borderline`) with the highest mean AUPRC on the test folds, both paired
    over (fold, seed) with `paired_difference`'s interval. The best of the three is picked after
    reading the test folds, and its interval does not allow for that pick, so it flatters the
    resampler."""
    ap = by_method(cells, DOWNSTREAM, "average_precision")
    vs_none = {}
    for s, values in ap.items():
        if s != "none" and "none" in ap:
            diff = paired_difference(values, ap["none"], term)
            if diff is not None:
                vs_none[s] = diff
    fixed = [s for s in FIXED_SHARE if s in ap]
    if "cgan" not in ap or not fixed:
        return vs_none, None
    best = max(fixed, key=lambda s: float(np.mean(list(ap[s].values()))))
    vs_best = paired_difference(ap["cgan"], ap[best], term)
    return vs_none, None if vs_best is None else {"strategy": best, **vs_best}


def validation_picked_fixed(
    cells: list[dict[str, Any]], term: float | None
) -> dict[str, Any] | None:
    """`cgan`'s AUPRC minus that of the fixed-share resampler (`ros`, `smote`, `borderline`) the
    pipeline would take as its reference: the best mean validation AUPRC over each fold's
    validation windows (`pipeline.report.statistics.choose_reference`), picked without reading
    the test folds (though the windows of one fold hold rows another fold tests on); paired over
    (fold, seed) as in `downstream_intervals`. None unless `cgan` ran and every fixed-share
    resampler that ran kept its validation AUPRC on each of its folds."""
    from pipeline.report.statistics import SELECTION_METRIC, choose_reference

    ap = by_method(cells, DOWNSTREAM, "average_precision")
    val = by_method(cells, DOWNSTREAM, SELECTION_METRIC)
    fixed = [s for s in FIXED_SHARE if s in ap]
    if "cgan" not in ap or not fixed or any(set(val.get(s, {})) != set(ap[s]) for s in fixed):
        return None
    frame = pd.DataFrame(
        [
            {"strategy": s, "fold": k[0], "seed": k[1], SELECTION_METRIC: v}
            for s in fixed
            for k, v in val[s].items()
        ]
    )
    picked, _ = choose_reference(frame, fixed)
    if picked is None:
        return None
    diff = paired_difference(ap["cgan"], ap[picked], term)
    if diff is None:
        return None
    return {
        "strategy": picked,
        SELECTION_METRIC: float(np.mean(list(val[picked].values()))),
        **diff,
    }


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def summarize(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-table summary from every cell: C2ST per generator, AUPRC per strategy, Δ vs none."""
    cells = [c for c in cells_from_records(payload["cells"]) if c["error"] is None]
    out = []
    for name, meta in payload["datasets"].items():
        mine = [c for c in cells if c["dataset"] == name]

        def values(task: str, method: str, metric: str, mine: list = mine) -> list[float]:
            return [
                c["metrics"][metric]
                for c in mine
                if c["task"] == task and c["method"] == method and metric in c["metrics"]
            ]

        gens = sorted({c["method"] for c in mine if c["task"] == REALISM})
        strategies = sorted({c["method"] for c in mine if c["task"] == DOWNSTREAM})
        ap = by_method(mine, DOWNSTREAM, "average_precision")
        none = ap.get("none", {})
        delta, delta_wins = {}, {}
        for s in strategies:
            if s == "none":
                continue
            diffs = [v - none[k] for k, v in ap.get(s, {}).items() if k in none]
            if diffs:
                delta[s] = _mean(diffs)
                delta_wins[s] = f"{sum(d > 0 for d in diffs)}/{len(diffs)}"
        term = correction_term(meta)
        vs_none, vs_best = downstream_intervals(mine, term)
        entry = {
            "name": name,
            "source": meta["source"],
            "rows": meta["rows"],
            "minority": meta["minority"],
            "columns": meta["columns"],
            "c2st": {g: _mean(values(REALISM, g, "c2st_auc")) for g in SUMMARY_GENERATORS},
            "auprc": {s: _mean(values(DOWNSTREAM, s, "average_precision")) for s in strategies},
            "delta_vs_none": delta,
            "delta_vs_none_positive_folds": delta_wins,
            "c2st_real_floor": _mean(values(REALISM, "real", "c2st_auc")),
            "c2st_cgan_minus": realism_gaps(mine, term),
            "delta_vs_none_interval": vs_none,
            "cgan_minus_best_fixed": vs_best,
            "cgan_minus_validation_picked": validation_picked_fixed(mine, term),
            "choice_evidence": choice_evidence(mine),
            "c2st_draws": sorted(
                {int(c["metrics"].get("c2st_draws", 1)) for c in mine if c["task"] == REALISM}
            ),
            "c2st_folds": {g: len(values(REALISM, g, "c2st_auc")) for g in gens},
            "auprc_folds": {s: len(values(DOWNSTREAM, s, "average_precision")) for s in strategies},
            "rule_violation_share": {
                g: _mean(values(REALISM, g, "rule_violation_share"))
                for g in gens
                if values(REALISM, g, "rule_violation_share")
            },
            "memorization": memorization(mine, gens),
            "known_labels": {
                g: {k: _mean(values(REALISM, g, k)) for k in KNOWN_LABEL_METRICS}
                for g in gens
                if values(REALISM, g, KNOWN_LABEL_METRICS[0])
            },
            "gan_train_seconds": _mean(values(REALISM, "cgan", "gan_train_seconds")),
            "gan_rows_per_second": _mean(values(REALISM, "cgan", "gan_rows_per_second")),
            "gan_best_epoch": _mean(values(REALISM, "cgan", "gan_best_epoch")),
            "failed_cells": sorted(
                {
                    f"{c['task']}/{c['method']} fold={c['fold']} seed={c['seed']}: {c['error']}"
                    for c in cells_from_records(payload["cells"])
                    if c["dataset"] == name and c["error"] is not None
                }
            ),
            **{k: meta[k] for k in ("numeric", "categorical", "duplicates_dropped") if k in meta},
            "protocol": meta.get("protocol"),
        }
        out.append(entry)
    return out


def memorization(cells: list[dict[str, Any]], generators: Sequence[str]) -> dict[str, Any]:
    """Per generator with privacy measures: their means over the folds (`dcr_median_ratio` over
    the folds where it is defined) and on how many folds the memorization rule fired."""
    out: dict[str, Any] = {}
    for g in generators:
        per_metric = {
            k: [v for v in by_method(cells, REALISM, k).get(g, {}).values() if math.isfinite(v)]
            for k in (*PRIVACY_METRICS, "memorization_flag")
        }
        flags = per_metric.pop("memorization_flag")
        if flags:
            out[g] = {k: _mean(v) for k, v in per_metric.items()}
            out[g]["flagged_folds"] = f"{int(sum(flags))}/{len(flags)}"
    return out


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _fmt_gap(gap: dict[str, Any] | None) -> str:
    """One `realism_gaps` entry: '+0.052 [-0.059, +0.163]', the mean alone without an interval."""
    if gap is None:
        return "–"
    if gap["ci_low"] is None:
        return f"{gap['diff']:+.3f}"
    return f"{gap['diff']:+.3f} [{gap['ci_low']:+.3f}, {gap['ci_high']:+.3f}]"


def markdown(payload: dict[str, Any]) -> str:
    tables = payload["tables"]
    strategies = [s for s in STRATEGIES if any(s in t["auprc"] for t in tables)]
    strategies += sorted({s for t in tables for s in t["auprc"]} - set(strategies))
    head = ["table", "rows", "minority", "columns", "folds"]
    head += [f"C2ST {g}" for g in (*SUMMARY_GENERATORS, "real")]
    head += ["AUPRC none"] + [f"Δ {s}" for s in strategies if s != "none"]
    lines = [
        "# Benchmark suite",
        "",
        f"`{payload['command']}` at commit {payload['commit']}; each slice's command and commit "
        "are listed at the end."
        + (
            f" Summary rebuilt from the cells by `{payload['report_command']}` at commit "
            f"{payload['report_commit']}."
            if payload.get("report_commit")
            else ""
        ),
        "",
        "Realism: C2ST AUC of generated minority rows against the test folds' real minority rows "
        "(`models.two_sample.c2st_auc`; 0.5 = indistinguishable, lower is better; `real`: real "
        "training minority rows, the floor; `copies`: bootstrap copies, the memorizing floor; "
        "each fold's figure the mean of `c2st_draws` tests (suite.json), each on a fresh draw of "
        "as many generated rows as held-out ones, the generator fitted once). "
        "Downstream: test-fold AUPRC through `run_experiment`; Δ: paired over (fold, seed) "
        "against `none`. A dash: not run (see the slices). Cells averaged over the folds that ran "
        "(`folds`: the protocol's split; `c2st_folds` in suite.json says how many ran).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    for t in tables:
        proto = t.get("protocol") or {}
        row = [
            t["name"],
            str(t["rows"]),
            str(t["minority"]),
            str(t["columns"]),
            f"{proto.get('split', '?')[:5]}-{proto.get('folds', '?')}",
        ]
        row += [_fmt(t["c2st"].get(g)) for g in SUMMARY_GENERATORS]
        row += [_fmt(t["c2st_real_floor"]), _fmt(t["auprc"].get("none"))]
        row += [_fmt(t["delta_vs_none"].get(s), signed=True) for s in strategies if s != "none"]
        lines.append("| " + " | ".join(row) + " |")
    gan = [t for t in tables if t["gan_train_seconds"] is not None]
    if gan:
        lines += [
            "",
            "GAN training (realism cells): seconds, rows/s, kept epoch, rule violations.",
            "",
            "| table | seconds | rows/s | epoch kept | rule violations |",
            "|---|---:|---:|---:|---:|",
        ]
        for t in gan:
            share = t["rule_violation_share"].get("cgan")
            lines.append(
                f"| {t['name']} | {t['gan_train_seconds']:.0f} | {t['gan_rows_per_second']:.0f} "
                f"| {t['gan_best_epoch']:.0f} | {'–' if share is None else f'{share:.1%}'} |"
            )
    gaps = [t for t in tables if any(v["folds"] >= 2 for v in t["c2st_cgan_minus"].values())]
    if gaps:
        lines += [
            "",
            "The GAN's C2ST minus each baseline's, paired over the folds both ran [95 % interval; "
            "t over folds with the Nadeau & Bengio correction for the folds' shared training "
            "rows]: negative = the GAN's rows are harder to tell from real ones. Tables with 2 "
            "folds or more.",
            "",
            "| table | folds | − smote | − gmm | − copies |",
            "|---|---:|---:|---:|---:|",
        ]
        for t in gaps:
            g = t["c2st_cgan_minus"]
            cells_md = [_fmt_gap(g.get(k)) for k in ("smote", "gmm", "copies")]
            n = max(v["folds"] for v in g.values())
            lines.append(f"| {t['name']} | {n} | " + " | ".join(cells_md) + " |")
    lines += memorization_markdown(tables)
    lines += known_labels_markdown(tables)
    lines += downstream_markdown(tables)
    lines += evidence_markdown(tables)
    failed_any = [(t["name"], f) for t in tables for f in t["failed_cells"]]
    if failed_any:
        lines += ["", "Failed cells:", ""] + [f"- {n}: {f}" for n, f in failed_any]
    lines += ["", "Slices (command, commit):", ""]
    lines += [f"- `{s['command']}` at {s['commit']} ({s['started']})" for s in payload["slices"]]
    return "\n".join(lines) + "\n"


def memorization_markdown(tables: list[dict[str, Any]]) -> list[str]:
    """The generators' privacy measures: what the C2ST cannot see."""
    gens = [g for g in SUMMARY_GENERATORS[:3] if any(g in t["memorization"] for t in tables)]
    rows = [t for t in tables if any(g in t["memorization"] for g in gens)]
    if not rows:
        return []

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    head = [f"copies {g}" for g in gens] + ["copies held-out"]
    head += [f"close {g}" for g in gens] + [f"flagged {g}" for g in gens]
    lines = [
        "",
        "Memorization, which the C2ST cannot see (a copied training row looks as real as any): "
        "the quality report's privacy measures (`pipeline.quality.privacy`) against the "
        "training fold's minority rows. `copies`: share of generated rows equal to a training "
        "row (`held-out`: of the test folds' real minority rows, the natural rate); `close`: "
        "share closer to a training row than the held-out rows' 5th-percentile distance (about "
        "5 % for rows drawn from the distribution); `flagged`: folds where the memorization "
        "rule fires. Means over the folds that ran.",
        "",
        "| table | " + " | ".join(head) + " |",
        "|---|" + "|".join(["---:"] * len(head)) + "|",
    ]
    for t in rows:
        m = t["memorization"]
        held = next((v["holdout_exact_copy_share"] for v in m.values()), None)
        row = [pct(m[g]["exact_copy_share"]) if g in m else "–" for g in gens] + [pct(held)]
        row += [pct(m[g]["dcr_share_below_holdout_p05"]) if g in m else "–" for g in gens]
        row += [m[g]["flagged_folds"] if g in m else "–" for g in gens]
        lines.append(f"| {t['name']} | " + " | ".join(row) + " |")
    return lines


def known_labels_markdown(tables: list[dict[str, Any]]) -> list[str]:
    """Where the table labels every combination of values: the generated rows' true labels."""
    rows = [t for t in tables if t.get("known_labels")]
    if not rows:
        return []
    gens = [g for g in GENERATORS if any(g in t["known_labels"] for t in rows)]
    lines = [
        "",
        "Known labels: on tables whose columns are all discrete and that give each combination "
        "of values one label, the share of generated minority rows whose combination the table "
        "labels minority / majority (the rest: combinations it does not hold). A faithful "
        "generator scores 100 % / 0 %, as real rows do.",
        "",
        "| table | " + " | ".join(gens) + " |",
        "|---|" + "|".join(["---:"] * len(gens)) + "|",
    ]
    for t in rows:
        k = t["known_labels"]
        cells = [
            "–"
            if g not in k
            else f"{k[g]['minority_combination_share']:.0%} / "
            f"{k[g]['majority_combination_share']:.0%}"
            for g in gens
        ]
        lines.append(f"| {t['name']} | " + " | ".join(cells) + " |")
    return lines


def downstream_markdown(tables: list[dict[str, Any]]) -> list[str]:
    """The downstream differences with their intervals, and which intervals exclude 0."""
    rows = [t for t in tables if t.get("delta_vs_none_interval")]
    if not rows:
        return []
    lines = [
        "",
        "Downstream differences with 95 % intervals (t over the folds, with the Nadeau & Bengio "
        "correction for their shared training rows; no interval where the correction is not "
        "recorded). `best fixed`: of `ros`, `smote` and `borderline`, the one with the highest "
        "mean test AUPRC on that table, picked after reading the test folds, which flatters it. "
        "`picked on validation`: of the same three, the one with the highest mean validation "
        "AUPRC over each fold's validation windows (the pipeline's reference resampler), picked "
        "without reading the test folds (the windows hold rows that other folds test on, a "
        "slight lean towards the pick).",
        "",
        "| table | folds | Δ cgan vs none | best fixed | its Δ vs none | cgan − best fixed "
        "| picked on validation | its Δ vs none | cgan − picked |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|",
    ]
    above: list[str] = []
    below: list[str] = []
    behind_best: list[str] = []
    level = {"best": [0, 0], "picked": [0, 0]}  # [cgan at or above, tables compared]
    for t in rows:
        vs_none, best = t["delta_vs_none_interval"], t.get("cgan_minus_best_fixed")
        picks = {"best": best, "picked": t.get("cgan_minus_validation_picked")}
        for key, gap in picks.items():
            if gap is not None:
                level[key][0] += gap["diff"] >= -LEVEL
                level[key][1] += 1
        for s, d in sorted(vs_none.items()):
            if d["ci_low"] is not None and d["ci_low"] > 0:
                above.append(f"{s} on {t['name']}")
            if d["ci_high"] is not None and d["ci_high"] < 0:
                below.append(f"{s} on {t['name']}")
        if best is not None and best["ci_high"] is not None and best["ci_high"] < 0:
            behind_best.append(f"{t['name']} ({best['strategy']})")
        folds = max(d["folds"] for d in vs_none.values())
        lines.append(
            f"| {t['name']} | {folds} | {_fmt_gap(vs_none.get('cgan'))} | "
            + " | ".join(
                "– | – | –"
                if gap is None
                else f"{gap['strategy']} | {_fmt_gap(vs_none.get(gap['strategy']))} "
                f"| {_fmt_gap(gap)}"
                for gap in picks.values()
            )
            + " |"
        )
    tested = sum(
        1 for t in rows for d in t["delta_vs_none_interval"].values() if d["ci_low"] is not None
    )
    lines += [
        "",
        f"Of {tested} (table, strategy) differences from `none` with an interval, above 0: "
        f"{', '.join(above) or 'none'}; below 0: {', '.join(below) or 'none'}. `cgan` below the "
        f"best fixed resampler beyond its interval: {', '.join(behind_best) or 'on no table'}. "
        f"`cgan` at or above (within {LEVEL}) the best fixed resampler on {level['best'][0]} of "
        f"{level['best'][1]} tables, and the one picked on validation on {level['picked'][0]} "
        f"of {level['picked'][1]}.",
    ]
    return lines


def evidence_markdown(tables: list[dict[str, Any]]) -> list[str]:
    """The choosing strategies' evidence per table, where the cells logged it."""
    rows = [
        (t["name"], s, e)
        for t in tables
        for s, e in sorted((t.get("choice_evidence") or {}).items())
        if e["best_gain"] is not None
    ]
    if not rows:
        return []
    lines = [
        "",
        "The choice's evidence (cells that logged it): on how many folds a share above 0 was "
        "taken, and the best share's validation AUPRC gain over share 0 against the bar it had to "
        "clear (the larger of the windows' spread bar and the validation rows' sampling bar), "
        "ranges over the folds; `gain / bar`: the largest ratio (1 or more: cleared).",
        "",
        "| table | strategy | folds with a share | best share's gain | bar | gain / bar, largest |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, s, e in rows:
        ratio = max(e["best_gain_over_bar"], default=math.nan)
        lines.append(
            f"| {name} | {s} | {e['took_share']} of {e['folds']} "
            f"| {e['best_gain'][0]:+.3f} to {e['best_gain'][1]:+.3f} "
            f"| {e['bar'][0]:.3f} to {e['bar'][1]:.3f} | {ratio:.2f} |"
        )
    return lines


def write(payload: dict[str, Any], out: Path) -> None:
    payload["tables"] = summarize(payload)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    tmp.replace(out)
    out.with_suffix(".md").write_text(markdown(payload))


def load_payload(out: Path, resume: bool) -> dict[str, Any]:
    if out.exists() and not resume:
        raise ConfigError(
            f"{out} exists: add --resume to keep its cells and run the missing ones, or choose "
            "another --out"
        )
    if out.exists():
        payload = json.loads(out.read_text())
        missing = [k for k in ("cells", "datasets", "slices") if k not in payload]
        if missing:
            raise ConfigError(f"{out}: not a suite results file (no {', '.join(missing)})")
        return payload
    return {
        "command": None,
        "commit": None,
        "slices": [],
        "datasets": {},
        "tables": [],
        "cells": [],
    }


# --------------------------------------------------------------------------------------------
# the grid


def parse_gan(items: Sequence[str]) -> dict[str, Any]:
    """`--gan key=value` items as `CGANConfig` overrides (values read as YAML)."""
    import yaml

    from models.gan.config import CGANConfig

    fields = CGANConfig.defaults()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise ConfigError(
                f"--gan {item!r}: expected key=value with a CGANConfig field: {', '.join(fields)}"
            )
        out[key] = yaml.safe_load(value)
    CGANConfig(**out).validate()
    return out


def check_protocol(payload: dict[str, Any], table: SuiteTable, proto: dict[str, Any]) -> None:
    known = payload["datasets"].get(table.name)
    if known and known.get("protocol") != proto:
        raise ConfigError(
            f"table {table.name!r} is in the results file with protocol {known.get('protocol')}, "
            f"this run asks for {proto}; keep the same --folds/--max-rows/--rows or choose "
            "another --out"
        )


def check_draws(cells: list[dict[str, Any]], table: str, draws: int) -> None:
    """A table's realism cells (`cells_from_records` form) all average the same number of C2ST
    draws."""
    known = {
        int(c["metrics"].get("c2st_draws", 1))
        for c in cells
        if c["dataset"] == table and c["task"] == REALISM and c["error"] is None
    }
    if known and known != {draws}:
        raise ConfigError(
            f"table {table!r}'s realism cells in the results file are means over "
            f"{', '.join(map(str, sorted(known)))} C2ST draw(s), this run asks for {draws}; keep "
            "the same --c2st-draws or choose another --out"
        )


def trains_gan(args: argparse.Namespace) -> bool:
    """Whether the slice trains the GAN: as a generator, as `cgan`, or as one of its variants
    (`FIXED_GANS`, `CHOOSING_GANS`)."""
    gans = {"cgan", *FIXED_GANS, *CHOOSING_GANS}
    return "cgan" in args.generators or any(s in gans for s in args.strategies)


def check_gan(payload: dict[str, Any], gan: dict[str, Any], runs_gan: bool) -> None:
    if not runs_gan:
        return
    known = payload.get("gan")
    if known is not None and known != gan:
        raise ConfigError(
            f"the results file's cgan cells used --gan {known}, this run {gan}; choose another "
            "--out for a GAN ablation"
        )
    payload["gan"] = gan


def run_grid(args: argparse.Namespace, *, on_cell: Callable[[dict[str, Any]], None] | None = None):
    """Run every missing cell of the slice the arguments describe; the results payload."""
    gan: dict[str, Any] = args.gan
    out: Path = args.out
    payload = load_payload(out, args.resume)
    check_gan(payload, gan, trains_gan(args))
    slice_no = len(payload["slices"])
    command = "python benchmarks/suite.py " + shlex.join(args.argv)
    payload["slices"].append(
        {
            "command": command,
            "commit": commit(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": args.tables,
            "generators": args.generators,
            "strategies": args.strategies,
            "gan": gan,
        }
    )
    payload["command"], payload["commit"] = command, payload["slices"][-1]["commit"]
    existing = cells_from_records(payload["cells"])
    keep = [c for c in existing if c["error"] is None or not args.retry_failed]
    done = {cell_key(c) for c in keep}
    payload["cells"] = records(keep)

    def add(c: dict[str, Any]) -> None:
        c["slice"] = slice_no
        payload["cells"].extend(records([c]))
        write(payload, out)
        if on_cell is not None:
            on_cell(c)
        status = c["error"] or ", ".join(
            f"{k}={v:.3f}"
            for k, v in c["metrics"].items()
            if k in ("c2st_auc", "average_precision")
        )
        log.info(
            "%s %s %s fold=%d seed=%d (%.0f s): %s",
            c["dataset"], c["task"], c["method"], c["fold"], c["seed"], c["seconds"], status,
        )  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="fraudgan-suite-") as tmp:
        directory = Path(tmp)
        if args.strategies:
            mlflow_store(directory)
        for name in args.tables:
            try:
                table = subsample(
                    load_table(name, rows=args.rows, directory=directory), args.max_rows
                )
            except Exception as exc:
                log.error("table %s could not be loaded: %s", name, error_text(exc))
                payload["datasets"].setdefault(
                    name, {"source": "?", "rows": None, "minority": None, "columns": None}
                )
                payload["datasets"][name]["load_error"] = error_text(exc)
                write(payload, out)
                continue
            proto = protocol(table, args)
            check_protocol(payload, table, proto)
            if args.generators:
                check_draws(keep, name, args.c2st_draws)
            folds = folds_of(table, proto["folds"], args.seeds)
            payload["datasets"][name] = {
                **table.info,
                "protocol": proto,
                "correction_term": folds.correction.term,
            }
            realism_folds = folds if args.max_folds is None else folds[: args.max_folds]
            for method in args.generators:
                for fold in realism_folds:
                    key = (fold.fold, fold.seed)
                    if (name, REALISM, method, *key) in done:
                        continue
                    started = time.perf_counter()
                    try:
                        with time_limit(args.timeout):
                            metrics = realism_cell(method, table, fold, gan, args.c2st_draws)
                        add(
                            cell(name, REALISM, method, key, metrics, time.perf_counter() - started)
                        )
                    except Exception as exc:
                        log.debug("traceback", exc_info=True)
                        seconds = time.perf_counter() - started
                        add(failed(name, REALISM, method, key, seconds, error_text(exc)))
            for strategy in args.strategies:
                keys = [(f.fold, f.seed) for f in folds]
                if all((name, DOWNSTREAM, strategy, *k) in done for k in keys):
                    continue
                for c in downstream_cells(table, strategy, folds, args, gan, directory):
                    if cell_key(c) not in done:
                        add(c)
            write(payload, out)
    payload["slices"][-1]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    write(payload, out)
    return payload


def mlflow_store(directory: Path) -> str:
    """The MLflow store of the downstream launches: `MLFLOW_TRACKING_URI` when it is set to
    anything but the project's own store, else a new one under `directory`."""
    from pipeline.config import DEFAULT_TRACKING_URI

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    project = uri == DEFAULT_TRACKING_URI or uri.startswith("sqlite:///mlruns")
    if uri.startswith("sqlite:") and not project and str(ROOT / "mlruns") not in uri:
        return uri
    return throwaway_store(directory)


def report(out: Path, command: str) -> dict[str, Any]:
    """`out`'s summary and .md rebuilt from its cells by this checkout's code; its cells, slices
    and command stay, `report_command` and `report_commit` say what rebuilt them."""
    if not out.exists():
        raise ConfigError(f"{out}: no such results file")
    payload = load_payload(out, resume=True)
    payload["report_command"], payload["report_commit"] = command, commit()
    write(payload, out)
    return payload


def merge(
    paths: Sequence[Path], out: Path, command: str, *, replace: bool = False
) -> dict[str, Any]:
    """One results file from several written in parallel (e.g. one slice per machine or lock):
    their slices, datasets and cells; a table's protocol and the GAN parameters must agree, and
    a cell may come from one file only, unless `replace`: then a later file's cell replaces an
    earlier file's (a rerun under changed code; `replaced` counts them by file). `out` is
    written anew."""
    merged: dict[str, Any] = {"slices": [], "datasets": {}, "tables": [], "cells": []}
    seen: dict[tuple[Any, ...], Path] = {}
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    replaced: dict[str, int] = {}
    for path in paths:
        part = load_payload(path, resume=True) if path.exists() else None
        if part is None:
            raise ConfigError(f"{path}: no such results file")
        if part.get("gan") is not None:
            check_gan(merged, part["gan"], True)
        for name, meta in part["datasets"].items():
            known = merged["datasets"].get(name)
            if known and known.get("protocol") != meta.get("protocol"):
                raise ConfigError(
                    f"{path}: table {name!r} has protocol {meta.get('protocol')}, another file "
                    f"{known.get('protocol')}"
                )
            merged["datasets"][name] = meta
        offset = len(merged["slices"])
        merged["slices"].extend(part["slices"])
        for c in cells_from_records(part["cells"]):
            key = cell_key(c)
            if key in seen and not replace:
                raise ConfigError(
                    f"cell {key} is in both {seen[key]} and {path} (--replace: the later wins)"
                )
            if key in seen:
                replaced[str(path)] = replaced.get(str(path), 0) + 1
                del kept[key]  # the later cell goes last, as a cell of its own file
            seen[key] = path
            c["slice"] = offset + (c.get("slice") or 0)
            kept[key] = c
    merged["cells"] = records(list(kept.values()))
    merged["command"], merged["commit"] = command, commit()
    merged["merged_from"] = [str(p) for p in paths]
    if replaced:
        merged["replaced"] = replaced
    write(merged, out)
    return merged


def _names(text: str, allowed: Sequence[str] | None, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if allowed is not None:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise ConfigError(f"unknown {what}: {', '.join(unknown)}; valid: {', '.join(allowed)}")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tables", default="all", help="comma-separated table names, or 'all'")
    p.add_argument("--generators", default=",".join(GENERATORS), help="realism generators")
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="downstream strategies")
    p.add_argument("--folds", type=int, default=5, help="stratified folds (temporal: the yaml's)")
    p.add_argument("--max-folds", type=int, default=None, help="realism on the first N folds only")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--max-rows", type=int, default=None, help="subsample majority rows to this")
    p.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows of the tables made here (stress, simulator, handbook)",
    )
    p.add_argument("--gan", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--c2st-draws",
        type=int,
        default=C2ST_DRAWS,
        help="C2ST tests per realism cell, each on a fresh draw of generated rows (their mean)",
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds per realism cell (not downstream)"
    )
    p.add_argument("--resume", action="store_true")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="merge these results files into --out"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="with --merge: a later file's cell replaces an earlier file's instead of an error",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="rebuild --out's summary and .md from its cells with this checkout's code; runs none",
    )
    return p


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = parser().parse_args(list(argv))
    args.argv = list(argv)
    args.gan = parse_gan(args.gan)
    args.tables = table_names() if args.tables == "all" else _names(args.tables, None, "tables")
    args.generators = _names(args.generators, GENERATORS, "generators")
    args.strategies = _names(args.strategies, STRATEGIES + OPTIONAL_STRATEGIES, "strategies")
    if args.folds < 2:
        raise ConfigError(f"--folds must be >= 2, got {args.folds}")
    if args.c2st_draws < 1:
        raise ConfigError(f"--c2st-draws must be >= 1, got {args.c2st_draws}")
    if args.max_folds is not None and args.max_folds < 1:
        raise ConfigError(f"--max-folds must be >= 1, got {args.max_folds}")
    if args.replace and not args.merge:
        raise ConfigError("--replace applies to --merge only")
    return args


def quiet_benchmark() -> None:
    """A long benchmark's console: its own progress lines, only the errors of the libraries and of
    the pipeline it drives, and XGBoost's threads set for 2 cores unless the caller set them."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("pipeline", "models", "mlflow", "alembic", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("OMP_NUM_THREADS", str(XGB_THREADS))
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def library_messages_to(log_file: Path, *, gan: bool) -> None:
    """Python warnings (MLflow's schema hints) and, when the run trains the GAN (`gan`),
    TensorFlow's start-up lines go to `log_file` instead of the terminal, as a launch's do
    (`pipeline.console`)."""
    from pipeline.console import import_quietly, route_chatter

    route_chatter(log_file)
    if gan:
        import_quietly("tensorflow", log_file)
    log.info("library messages: %s", log_file)


def main(argv: Sequence[str] | None = None) -> None:
    quiet_benchmark()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        runs_gan = not (args.report or args.merge) and trains_gan(args)
        library_messages_to(args.out.with_suffix(".log"), gan=runs_gan)
        command = "python benchmarks/suite.py " + shlex.join(args.argv)
        if args.report:
            payload = report(args.out, command)
        elif args.merge:
            payload = merge(args.merge, args.out, command, replace=args.replace)
        else:
            payload = run_grid(args)
    except ConfigError as exc:
        sys.exit(f"suite: {exc}")
    print(markdown(payload))


if __name__ == "__main__":
    main()
