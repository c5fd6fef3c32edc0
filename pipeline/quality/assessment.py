"""The synthetic-data quality report: `quality_report` measures, `QualityReport` holds the result.

See `pipeline.quality` for what is measured and the memorization rule.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import DataError
from models.two_sample import C2ST_FOLDS, FrameEncoding, c2st_matrix, check_pair, check_rows
from pipeline.quality.measures import (
    COPY_SHARE_MARGIN,
    DCR_QUANTILE,
    correlation_difference,
    dcr_share_threshold,
    encoded_copies,
    ks_statistic,
    missing_share,
    nearest_distance,
    total_variation_distance,
    utility,
)
from pipeline.quality.page import quality_page
from pipeline.quality.plots import MAX_PLOT_ROWS, PlotData, plot_data, quality_figures

log = logging.getLogger(__name__)

MIN_ROWS = C2ST_FOLDS  # stratified k-fold needs k rows of each of real and synthetic
MAX_UTILITY_LEGIT_ROWS = 100_000

METRIC_DESCRIPTIONS: dict[str, str] = {
    "quality_n_real": "real training fraud rows",
    "quality_n_synthetic": "synthetic fraud rows",
    "quality_n_holdout": "reference rows: real held-out fraud rows, or (leave one out) training",
    "quality_ks_mean": "mean KS statistic over continuous columns (0 = same marginals)",
    "quality_ks_max": "largest KS statistic over continuous columns",
    "quality_tvd_mean": "mean total variation distance over categorical columns (0 = same)",
    "quality_tvd_max": "largest total variation distance over categorical columns",
    "quality_corr_diff": "mean |corr(real) - corr(synthetic)| over pairs of continuous columns",
    "quality_missing_diff_max": (
        "largest |missing share (real) - missing share (synthetic)| over columns"
    ),
    "quality_c2st_auc": "classifier two-sample test: CV ROC-AUC real vs synthetic (0.5 = perfect)",
    "quality_c2st_auc_std": "standard deviation of the C2ST AUC over the folds",
    "quality_utility_tstr_auprc": "AUPRC on real test rows, trained on synthetic fraud + real legit",
    "quality_utility_trtr_auprc": "AUPRC on real test rows, trained on real fraud + real legit",
    "quality_utility_ratio": "TSTR / TRTR AUPRC (1 = synthetic as useful as real)",
    "quality_utility_prevalence": "fraud share of the test rows (AUPRC of a random ranking)",
    "quality_dcr_synthetic_median": "median distance of synthetic rows to the closest training row",
    "quality_dcr_synthetic_p05": "5th percentile of that distance",
    "quality_dcr_holdout_median": (
        "median distance of reference rows to the closest training row (other than itself)"
    ),
    "quality_dcr_holdout_p05": "5th percentile of that distance",
    "quality_dcr_median_ratio": "synthetic / reference median DCR (< 1: closer than real rows are)",
    "quality_dcr_share_below_holdout_p05": "share of synthetic rows closer than the reference p05",
    "quality_dcr_share_threshold": "memorization threshold for that share",
    "quality_exact_copies": "synthetic rows equal to a training row on every column",
    "quality_exact_copy_share": "share of synthetic rows that are exact copies",
    "quality_holdout_exact_copy_share": "share of reference rows equal to a (another) training row",
    "quality_memorization_flag": "1 when the memorization rule fires (see the report)",
    "quality_holdout_leave_one_out": (
        "1 when no held-out rows were given: the reference is each training row's distance to "
        "the closest other training row"
    ),
    "quality_holdout_training_period": (
        "1 when the reference rows come from the GAN's training period: its own held-out rows "
        "(temporal folds) or the training rows, leave one out; 0: the test fold's"
    ),
    "quality_rule_violations": (
        "synthetic rows breaking a rule the real features obey (e.g. a card counting more "
        "transactions in 1 day than in 7)"
    ),
    "quality_rule_violation_share": "share of synthetic rows breaking a rule of the features",
}


@dataclass
class QualityReport:
    """The quality of synthetic rows: metrics for MLflow, per-column statistics, and plots."""

    metrics: dict[str, float]
    per_column: pd.DataFrame
    memorization_flag: bool
    memorization_reasons: list[str]
    _plot: PlotData = field(repr=False)
    _figures: dict[str, bytes] | None = field(default=None, repr=False, compare=False)

    def figures(self) -> dict[str, bytes]:
        """PNG bytes of each figure by file stem (drawn once: the PNGs and the page share them)."""
        if self._figures is None:
            self._figures = quality_figures(self._plot, self.per_column)
        return self._figures

    def save_pngs(self, directory: str | Path) -> list[Path]:
        """Write each figure as `<directory>/<stem>.png` and return the paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for stem, png in self.figures().items():
            path = directory / f"{stem}.png"
            path.write_bytes(png)
            paths.append(path)
        return paths

    def html(self) -> str:
        """The report as one self-contained HTML page (figures embedded as base64 PNGs)."""
        return quality_page(
            metrics=self.metrics,
            descriptions=METRIC_DESCRIPTIONS,
            per_column=self.per_column,
            figures={
                stem: base64.b64encode(png).decode("ascii") for stem, png in self.figures().items()
            },
            flagged=self.memorization_flag,
            reasons=self.memorization_reasons,
            copy_share_margin=COPY_SHARE_MARGIN,
        )

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML page (figures embedded as base64 PNGs)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html(), encoding="utf-8")
        return path


def quality_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    holdout: pd.DataFrame | None = None,
    train_legit: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
    test_label: str | Sequence[int] | np.ndarray | None = None,
    random_state: int = 0,
    max_rows: int = 20_000,
) -> QualityReport:
    """Fidelity, utility and privacy of `synthetic` fraud rows against the `real` training ones.

    `holdout` (real fraud rows the generator never saw) is the reference of the DCR comparison
    and of the memorization rule; without it, each training row's distance to the closest other
    training row is (leave one out). `train_legit`, `test` and `test_label` (a column of `test`
    or an array of 0/1) together enable utility; a label column that is also a column of `real`
    is left out of the utility features. Random subsamples bound the cost: the C2ST uses the same
    number of rows from each side (the smaller side's count, at most `max_rows`), the TSTR at most
    as many synthetic rows as there are real ones (like against like) and at most
    `MAX_UTILITY_LEGIT_ROWS` legit rows, the DCR at most `max_rows` synthetic rows; exact copies
    are counted over every row.
    Metric keys are listed in `METRIC_DESCRIPTIONS`; those of a section left out are absent.
    """
    continuous, categorical = check_pair(real, synthetic, categorical, min_rows=MIN_ROWS)
    columns = list(real.columns)
    synthetic = synthetic[columns]
    rng = np.random.default_rng(random_state)
    if holdout is not None:
        holdout = _check_extra(holdout, "holdout", columns, continuous)
    utility_inputs = {"train_legit": train_legit, "test": test, "test_label": test_label}
    given = [k for k, v in utility_inputs.items() if v is not None]
    if given and len(given) < len(utility_inputs):
        absent = [k for k in utility_inputs if k not in given]
        raise DataError(
            f"utility needs train_legit, test and test_label together; missing {absent}"
        )
    with_utility = bool(given)
    if with_utility:
        y_test = _test_labels(test, test_label)
        train_legit = _check_extra(train_legit, "train_legit", columns, continuous)
        test = _check_extra(test, "test", columns, continuous)

    frames = [real, synthetic] + [f for f in (holdout, train_legit, test) if f is not None]
    enc = FrameEncoding.fit(real, frames, continuous, categorical)
    metrics: dict[str, float] = {
        "quality_n_real": float(len(real)),
        "quality_n_synthetic": float(len(synthetic)),
    }

    # Fidelity
    rows = [("continuous", c, ks_statistic(real[c], synthetic[c])) for c in continuous]
    rows += [
        ("categorical", c, total_variation_distance(real[c], synthetic[c])) for c in categorical
    ]
    names = [r[1] for r in rows]
    per_column = pd.DataFrame(
        {
            "column": pd.Series(names, dtype=object),
            "kind": pd.Series([r[0] for r in rows], dtype=object),
            "statistic": pd.Series([r[2] for r in rows], dtype="float64"),
            # KS compares the values present: how often each side is missing is shown beside it
            "missing_real": pd.Series([missing_share(real[c]) for c in names], dtype="float64"),
            "missing_synthetic": pd.Series(
                [missing_share(synthetic[c]) for c in names], dtype="float64"
            ),
        }
    )
    ks = per_column.loc[per_column["kind"] == "continuous", "statistic"]
    tvd = per_column.loc[per_column["kind"] == "categorical", "statistic"]
    metrics["quality_ks_mean"] = float(ks.mean()) if len(ks) else math.nan
    metrics["quality_ks_max"] = float(ks.max()) if len(ks) else math.nan
    metrics["quality_tvd_mean"] = float(tvd.mean()) if len(tvd) else math.nan
    metrics["quality_tvd_max"] = float(tvd.max()) if len(tvd) else math.nan
    metrics["quality_corr_diff"] = correlation_difference(real, synthetic, continuous)
    gaps = (per_column["missing_real"] - per_column["missing_synthetic"]).abs()
    metrics["quality_missing_diff_max"] = float(gaps.max()) if len(gaps) else math.nan
    n_c2st = min(len(real), len(synthetic), max_rows)  # equal sizes: the larger side adds little
    real_c2st = _subsample(real, n_c2st, rng)
    synth_c2st = _subsample(synthetic, n_c2st, rng)
    auc, auc_std = c2st_matrix(
        enc.tree_matrix(real_c2st),
        enc.tree_matrix(synth_c2st),
        n_splits=C2ST_FOLDS,
        random_state=random_state,
    )
    metrics["quality_c2st_auc"] = auc
    metrics["quality_c2st_auc_std"] = auc_std

    # Utility: synthetic at most as many rows as real, so that TSTR and TRTR compare like with like
    if with_utility:
        label = test_label if isinstance(test_label, str) else None
        if label is not None and label in columns:
            log.warning("test_label %r is a column of the real rows; left out of utility", label)
        features = [i for i, c in enumerate(enc.continuous + enc.categorical) if c != label]
        if not features:
            raise DataError("no feature column is left for utility once the label is removed")
        metrics.update(
            utility(
                enc,
                features,
                real,
                _subsample(synthetic, len(real), rng),
                _subsample(train_legit, MAX_UTILITY_LEGIT_ROWS, rng),
                test,
                y_test,
                random_state,
            )
        )

    # Privacy
    private = _privacy(enc, real, synthetic, holdout, rng, max_rows)
    metrics.update(private.metrics)
    reasons = private.reasons
    flag = private.flagged
    metrics["quality_memorization_flag"] = float(flag)
    if flag:
        log.warning("synthetic rows look memorized: %s", "; ".join(reasons))

    plot = plot_data(
        enc,
        _subsample(real, MAX_PLOT_ROWS, rng),
        _subsample(synthetic, MAX_PLOT_ROWS, rng),
        continuous,
        categorical,
        private.real_matrix,
        private.dcr_synthetic,
        private.dcr_holdout,
        private.leave_one_out,
    )
    log.info(
        "quality: C2ST AUC %.3f, KS mean %.3f, TVD mean %.3f, DCR median %.3g, copies %d",
        metrics["quality_c2st_auc"],
        metrics["quality_ks_mean"],
        metrics["quality_tvd_mean"],
        metrics["quality_dcr_synthetic_median"],
        metrics["quality_exact_copies"],
    )
    return QualityReport(metrics, per_column, flag, reasons, plot)


@dataclass(frozen=True)
class Privacy:
    """The privacy measures of synthetic rows against the real training rows (`privacy`)."""

    metrics: dict[str, float]  # the `quality_` privacy keys of `METRIC_DESCRIPTIONS`
    reasons: list[str]  # why the memorization rule fires (empty: it does not)
    real_matrix: np.ndarray = field(repr=False)  # the training rows as DCR measures them
    dcr_synthetic: np.ndarray = field(repr=False)
    dcr_holdout: np.ndarray | None = field(repr=False)

    @property
    def flagged(self) -> bool:
        """Whether the memorization rule fires."""
        return bool(self.reasons)

    @property
    def leave_one_out(self) -> bool:
        """Whether the training rows were their own reference (no holdout given)."""
        return self.metrics.get("quality_holdout_leave_one_out") == 1.0


def privacy(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    holdout: pd.DataFrame | None = None,
    random_state: int = 0,
    max_rows: int = 20_000,
) -> Privacy:
    """The privacy section of `quality_report` alone: DCR, exact copies and the memorization
    rule of `synthetic` rows against the `real` training rows (`holdout`: unseen real rows;
    without it, the training rows leave one out)."""
    continuous, categorical = check_pair(real, synthetic, categorical, min_rows=1)
    columns = list(real.columns)
    synthetic = synthetic[columns]
    if holdout is not None:
        holdout = _check_extra(holdout, "holdout", columns, continuous)
    frames = [real, synthetic] + ([] if holdout is None else [holdout])
    enc = FrameEncoding.fit(real, frames, continuous, categorical)
    return _privacy(enc, real, synthetic, holdout, np.random.default_rng(random_state), max_rows)


def _privacy(
    enc: FrameEncoding,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    rng: np.random.Generator,
    max_rows: int,
) -> Privacy:
    metrics: dict[str, float] = {}
    real_d = enc.distance_matrix(real)
    synth_dcr_rows = _subsample(synthetic, max_rows, rng)
    dcr_synth = nearest_distance(real_d, enc.distance_matrix(synth_dcr_rows))
    copies = encoded_copies(enc, real, synthetic)
    copy_share = copies / len(synthetic)
    metrics["quality_dcr_synthetic_median"] = float(np.median(dcr_synth))
    metrics["quality_dcr_synthetic_p05"] = float(np.quantile(dcr_synth, DCR_QUANTILE))
    metrics["quality_exact_copies"] = float(copies)
    metrics["quality_exact_copy_share"] = float(copy_share)
    reasons: list[str] = []
    dcr_holdout = None
    if holdout is not None:
        dcr_holdout = nearest_distance(real_d, enc.distance_matrix(holdout))
        holdout_copy_share = encoded_copies(enc, real, holdout) / len(holdout)
        compared = "held-out real rows"
    elif len(real) >= 2:
        dcr_holdout = nearest_distance(real_d)
        holdout_copy_share = encoded_copies(enc, real) / len(real)
        compared = "training rows, each against the others (no holdout: leave one out)"
    if dcr_holdout is not None:
        holdout_p05 = float(np.quantile(dcr_holdout, DCR_QUANTILE))
        holdout_median = float(np.median(dcr_holdout))
        share_below = float(np.mean(dcr_synth < holdout_p05))
        threshold = dcr_share_threshold(len(dcr_holdout), len(dcr_synth))
        metrics["quality_n_holdout"] = float(len(dcr_holdout))
        metrics["quality_holdout_leave_one_out"] = float(holdout is None)
        metrics["quality_dcr_holdout_median"] = holdout_median
        metrics["quality_dcr_holdout_p05"] = holdout_p05
        metrics["quality_dcr_median_ratio"] = (
            metrics["quality_dcr_synthetic_median"] / holdout_median
            if holdout_median > 0
            else math.nan
        )
        metrics["quality_dcr_share_below_holdout_p05"] = share_below
        metrics["quality_dcr_share_threshold"] = threshold
        metrics["quality_holdout_exact_copy_share"] = float(holdout_copy_share)
        if copy_share > holdout_copy_share + COPY_SHARE_MARGIN:
            reasons.append(
                f"{copies} synthetic rows ({copy_share:.1%}) are exact copies of training rows, "
                f"against {holdout_copy_share:.1%} of {compared}"
            )
        if share_below > threshold:
            reasons.append(
                f"{share_below:.1%} of synthetic rows are closer to a training row than the 5th "
                f"percentile distance of {compared} ({holdout_p05:.3g}); expected about 5%, "
                f"threshold {threshold:.1%}"
            )
        if len(dcr_holdout) < 20:
            log.warning("holdout has %d rows: its DCR percentiles are rough", len(dcr_holdout))
    elif copy_share > COPY_SHARE_MARGIN:
        reasons.append(
            f"{copies} synthetic rows ({copy_share:.1%}) are exact copies of training rows "
            "(one training row: nothing to compare with)"
        )
    return Privacy(metrics, reasons, real_d, dcr_synth, dcr_holdout)


def _check_extra(
    frame: Any, name: str, columns: Sequence[str], continuous: Sequence[str], min_rows: int = 1
) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks columns of the real rows: {missing}")
    frame = frame[list(columns)]
    check_rows(frame, name, continuous, min_rows)
    return frame


def _test_labels(test: pd.DataFrame, test_label: Any) -> np.ndarray:
    if isinstance(test_label, str):
        if test_label not in test.columns:
            raise DataError(f"test_label column {test_label!r} is not in test")
        labels = test[test_label]
    else:
        labels = pd.Series(np.asarray(test_label).ravel())
        if len(labels) != len(test):
            raise DataError(f"test_label has {len(labels)} values for {len(test)} test rows")
    if labels.isna().any():
        raise DataError("test_label has missing values")
    values = set(pd.unique(labels.astype(float)).tolist())
    if not values <= {0.0, 1.0}:
        raise DataError(f"test_label must be 0/1, found values {sorted(values)[:10]}")
    y = labels.to_numpy(dtype=np.int8)
    if y.min() == y.max():
        raise DataError(
            f"test rows must hold both classes to score AUPRC; all {len(y)} are class {int(y[0])}"
        )
    return y


def _subsample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    keep = np.sort(rng.choice(len(frame), size=n, replace=False))
    return frame.iloc[keep]
