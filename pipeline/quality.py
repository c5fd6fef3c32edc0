"""Synthetic-data quality: how faithful, useful and private synthetic fraud rows are.

The report compares synthetic fraud rows with the real training fraud rows the generator learned
from, and optionally with real held-out fraud rows it never saw:

- fidelity: per-column KS statistic (continuous) and total variation distance (categorical), the
  difference of the correlation matrices, and a classifier two-sample test (C2ST: the
  cross-validated ROC-AUC of XGBoost telling real from synthetic; 0.5 is perfect, 1.0 means fully
  distinguishable);
- utility (train on synthetic, test on real): AUPRC of XGBoost trained on synthetic fraud + real
  legitimate rows, against the same trained on real fraud (TRTR), on a real test set;
- privacy: distance to the closest real training record (DCR) of each synthetic row, compared with
  the same distance for real held-out rows, and the count of exact copies of training rows.

Memorization rule (`QualityReport.memorization_flag`), flagged when either holds:

1. exact copies: the share of synthetic rows equal to some training row on every column
   (continuous values rounded to 1e-6) exceeds the same share for the holdout rows by more than
   `COPY_SHARE_MARGIN` (1 percentage point); without a holdout, when it exceeds 1 %.
2. too close (holdout needed): the share of synthetic rows whose DCR is below the holdout's 5th
   percentile DCR exceeds `dcr_share_threshold = max(0.10, 0.05 + 3 * sqrt(0.0475 * (1/n_holdout +
   1/n_synthetic)))`. A generator that samples the distribution without copying puts about 5 % of
   its rows there, as an unseen real row would; the margin is three standard errors of that share
   (both the percentile and the share are estimated), and never less than twice the 5 %.

Without a holdout only rule 1 applies. Any exact copy is worth a look even when not flagged; data
whose columns are all discrete can hold natural copies, which is why rule 1 compares with the
holdout when it can.

Encodings: C2ST and utility feed XGBoost the continuous columns as they are (NaN allowed) and the
categoricals as integer codes from one mapping shared by every frame. DCR standardises continuous
columns with the real training rows' mean and standard deviation (a constant column gets scale 1;
a missing value becomes the mean plus a 0/1 missing indicator), one-hots the categoricals (missing is
its own category) and measures Euclidean distance.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import ks_2samp
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score
from sklearn.neighbors import NearestNeighbors

from models.errors import DataError
from models.two_sample import (
    C2ST_FOLDS,
    FrameEncoding,
    as_float,
    c2st_matrix,
    check_pair,
    check_rows,
    xgb_classifier,
)
from models.two_sample import (
    c2st_auc as c2st_auc,  # re-exported: the report's C2ST is this one
)

log = logging.getLogger(__name__)

MIN_ROWS = C2ST_FOLDS  # stratified k-fold needs k rows of each of real and synthetic
MAX_PLOT_COLUMNS = 24
MAX_PLOT_ROWS = 5_000
MAX_UTILITY_LEGIT_ROWS = 100_000
COPY_SHARE_MARGIN = 0.01
DCR_QUANTILE = 0.05
DCR_MIN_SHARE_THRESHOLD = 0.10

METRIC_DESCRIPTIONS: dict[str, str] = {
    "quality_n_real": "real training fraud rows",
    "quality_n_synthetic": "synthetic fraud rows",
    "quality_n_holdout": "real held-out fraud rows",
    "quality_ks_mean": "mean KS statistic over continuous columns (0 = same marginals)",
    "quality_ks_max": "largest KS statistic over continuous columns",
    "quality_tvd_mean": "mean total variation distance over categorical columns (0 = same)",
    "quality_tvd_max": "largest total variation distance over categorical columns",
    "quality_corr_diff": "mean |corr(real) - corr(synthetic)| over pairs of continuous columns",
    "quality_c2st_auc": "classifier two-sample test: CV ROC-AUC real vs synthetic (0.5 = perfect)",
    "quality_c2st_auc_std": "standard deviation of the C2ST AUC over the folds",
    "quality_utility_tstr_auprc": "AUPRC on real test rows, trained on synthetic fraud + real legit",
    "quality_utility_trtr_auprc": "AUPRC on real test rows, trained on real fraud + real legit",
    "quality_utility_ratio": "TSTR / TRTR AUPRC (1 = synthetic as useful as real)",
    "quality_utility_prevalence": "fraud share of the test rows (AUPRC of a random ranking)",
    "quality_dcr_synthetic_median": "median distance of synthetic rows to the closest training row",
    "quality_dcr_synthetic_p05": "5th percentile of that distance",
    "quality_dcr_holdout_median": "median distance of held-out real rows to the closest training row",
    "quality_dcr_holdout_p05": "5th percentile of that distance",
    "quality_dcr_median_ratio": "synthetic / holdout median DCR (< 1: closer than unseen real rows)",
    "quality_dcr_share_below_holdout_p05": "share of synthetic rows closer than the holdout p05",
    "quality_dcr_share_threshold": "memorization threshold for that share",
    "quality_exact_copies": "synthetic rows equal to a training row on every column",
    "quality_exact_copy_share": "share of synthetic rows that are exact copies",
    "quality_holdout_exact_copy_share": "share of held-out real rows equal to a training row",
    "quality_memorization_flag": "1 when the memorization rule fires (see the report)",
}


class _Missing:
    """The category of a missing value, distinct from every real category."""

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING = _Missing()


# --------------------------------------------------------------------------------------------
# Pure per-column and matrix-level measures
# --------------------------------------------------------------------------------------------


def ks_statistic(real: pd.Series, synthetic: pd.Series) -> float:
    """Two-sample Kolmogorov-Smirnov statistic of the non-missing values (0 = same distribution).

    A side with no values at all gives 1.0 against a side with values, 0.0 against another empty one.
    """
    a = as_float(real)
    b = as_float(synthetic)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return 0.0 if a.size == b.size else 1.0
    with warnings.catch_warnings():  # only the p-value's method changes, never the statistic
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ks_2samp(a, b).statistic)


def _with_missing(values: pd.Series) -> pd.Series:
    out = values.astype(object)
    return out.where(out.notna(), MISSING)


def category_shares(values: pd.Series) -> pd.Series:
    """Share of each category; missing values count as one category of their own (`MISSING`)."""
    return _with_missing(values).value_counts(normalize=True, sort=False)


def total_variation_distance(real: pd.Series, synthetic: pd.Series) -> float:
    """0.5 * sum |p - q| over the union of categories (0 = same frequencies, 1 = disjoint)."""
    p = category_shares(real)
    q = category_shares(synthetic)
    both = pd.concat([p, q], axis=1, keys=["p", "q"]).fillna(0.0)
    return float(0.5 * (both["p"] - both["q"]).abs().sum())


def _correlation(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    matrix = np.column_stack([as_float(frame[c]) for c in columns])
    corr = pd.DataFrame(matrix).corr(method="pearson").to_numpy()
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def correlation_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str]
) -> float:
    """Mean absolute difference of the Pearson correlations of `columns`, over distinct pairs.

    Correlations with a constant (or all-missing) column count as 0, so a column that is constant
    on one side only is penalised by its correlations on the other. NaN with fewer than two columns.
    """
    columns = list(columns)
    if len(columns) < 2:
        return math.nan
    diff = np.abs(_correlation(real, columns) - _correlation(synthetic, columns))
    upper = np.triu_indices(len(columns), k=1)
    return float(diff[upper].mean())


# --------------------------------------------------------------------------------------------
# Encodings shared by the classifier tests and the distances
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Classifier two-sample test, utility, distances
# --------------------------------------------------------------------------------------------


def _nearest(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    nn = NearestNeighbors(n_neighbors=1).fit(reference)
    distances, _ = nn.kneighbors(query)
    return distances[:, 0]


def distance_to_closest_record(
    reference: pd.DataFrame, query: pd.DataFrame, *, categorical: Sequence[str] = ()
) -> np.ndarray:
    """For each query row, the Euclidean distance to its nearest reference row (DCR).

    Continuous columns standardised with the reference rows' mean and standard deviation,
    categoricals one-hot; see the module docstring.
    """
    continuous, categorical = check_pair(
        reference, query, categorical, names=("reference", "query")
    )
    enc = FrameEncoding.fit(reference, [reference, query], continuous, categorical)
    return _nearest(enc.distance_matrix(reference), enc.distance_matrix(query))


def count_exact_copies(
    reference: pd.DataFrame, query: pd.DataFrame, *, categorical: Sequence[str] = ()
) -> int:
    """Number of query rows equal to some reference row on every column (continuous to 1e-6)."""
    continuous, categorical = check_pair(
        reference, query, categorical, names=("reference", "query")
    )
    enc = FrameEncoding.fit(reference, [reference, query], continuous, categorical)
    return _count_copies(enc, reference, query)


def _count_copies(enc: FrameEncoding, reference: pd.DataFrame, query: pd.DataFrame) -> int:
    known = set(enc.row_keys(reference))
    return sum(key in known for key in enc.row_keys(query))


def _utility(
    enc: FrameEncoding,
    features: list[int],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    train_legit: pd.DataFrame,
    test: pd.DataFrame,
    y_test: np.ndarray,
    random_state: int,
) -> dict[str, float]:
    legit_x = enc.tree_matrix(train_legit)[:, features]
    test_x = enc.tree_matrix(test)[:, features]
    scores = {}
    for name, fraud in (("tstr", synthetic), ("trtr", real)):
        fraud_x = enc.tree_matrix(fraud)[:, features]
        x = np.vstack([fraud_x, legit_x])
        y = np.r_[np.ones(len(fraud_x), dtype=np.int8), np.zeros(len(legit_x), dtype=np.int8)]
        clf = xgb_classifier(random_state, n_estimators=200, max_depth=4)
        clf.fit(x, y)
        scores[name] = float(average_precision_score(y_test, clf.predict_proba(test_x)[:, 1]))
    ratio = scores["tstr"] / scores["trtr"] if scores["trtr"] > 0 else math.nan
    return {
        "quality_utility_tstr_auprc": scores["tstr"],
        "quality_utility_trtr_auprc": scores["trtr"],
        "quality_utility_ratio": float(ratio),
        "quality_utility_prevalence": float(np.mean(y_test)),
    }


def dcr_share_threshold(n_holdout: int, n_synthetic: int) -> float:
    """Share of synthetic rows below the holdout's 5th-percentile DCR above which we flag."""
    p = DCR_QUANTILE
    se = math.sqrt(p * (1 - p) * (1 / n_holdout + 1 / n_synthetic))
    return max(DCR_MIN_SHARE_THRESHOLD, p + 3 * se)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class _PlotData:
    real: pd.DataFrame
    synthetic: pd.DataFrame
    continuous: list[str]
    categorical: list[str]
    projection_real: np.ndarray
    projection_synthetic: np.ndarray
    explained: tuple[float, float]
    dcr_synthetic: np.ndarray
    dcr_holdout: np.ndarray | None


@dataclass
class QualityReport:
    """The quality of synthetic rows: metrics for MLflow, per-column statistics, and plots."""

    metrics: dict[str, float]
    per_column: pd.DataFrame
    memorization_flag: bool
    memorization_reasons: list[str]
    _plot: _PlotData = field(repr=False)

    def figures(self) -> dict[str, bytes]:
        """PNG bytes of each figure by file stem."""
        out = {
            "quality_distributions": _png(_figure_distributions(self._plot, self.per_column)),
            "quality_projection": _png(_figure_projection(self._plot)),
            "quality_dcr": _png(_figure_dcr(self._plot)),
        }
        return out

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

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML page (figures embedded as base64 PNGs)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render_html(self), encoding="utf-8")
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

    `holdout` (real fraud rows the generator never saw) enables the DCR comparison and rule 2 of
    the memorization flag. `train_legit`, `test` and `test_label` (a column of `test` or an array
    of 0/1) together enable utility; a label column that is also a column of `real` is left out of
    the utility features. Random subsamples bound the cost: the C2ST uses the same number of rows
    from each side (the smaller side's count, at most `max_rows`), the TSTR at most as many synthetic
    rows as there are real ones (like against like) and at most `MAX_UTILITY_LEGIT_ROWS` legit
    rows, the DCR at most `max_rows` synthetic rows; exact copies are counted over every row.
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
    per_column = pd.DataFrame(
        {
            "column": pd.Series([r[1] for r in rows], dtype=object),
            "kind": pd.Series([r[0] for r in rows], dtype=object),
            "statistic": pd.Series([r[2] for r in rows], dtype="float64"),
        }
    )
    ks = per_column.loc[per_column["kind"] == "continuous", "statistic"]
    tvd = per_column.loc[per_column["kind"] == "categorical", "statistic"]
    metrics["quality_ks_mean"] = float(ks.mean()) if len(ks) else math.nan
    metrics["quality_ks_max"] = float(ks.max()) if len(ks) else math.nan
    metrics["quality_tvd_mean"] = float(tvd.mean()) if len(tvd) else math.nan
    metrics["quality_tvd_max"] = float(tvd.max()) if len(tvd) else math.nan
    metrics["quality_corr_diff"] = correlation_difference(real, synthetic, continuous)
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
            _utility(
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
    real_d = enc.distance_matrix(real)
    synth_dcr_rows = _subsample(synthetic, max_rows, rng)
    dcr_synth = _nearest(real_d, enc.distance_matrix(synth_dcr_rows))
    copies = _count_copies(enc, real, synthetic)
    copy_share = copies / len(synthetic)
    metrics["quality_dcr_synthetic_median"] = float(np.median(dcr_synth))
    metrics["quality_dcr_synthetic_p05"] = float(np.quantile(dcr_synth, DCR_QUANTILE))
    metrics["quality_exact_copies"] = float(copies)
    metrics["quality_exact_copy_share"] = float(copy_share)
    reasons = []
    dcr_holdout = None
    if holdout is not None:
        dcr_holdout = _nearest(real_d, enc.distance_matrix(holdout))
        holdout_copy_share = _count_copies(enc, real, holdout) / len(holdout)
        holdout_p05 = float(np.quantile(dcr_holdout, DCR_QUANTILE))
        holdout_median = float(np.median(dcr_holdout))
        share_below = float(np.mean(dcr_synth < holdout_p05))
        threshold = dcr_share_threshold(len(holdout), len(dcr_synth))
        metrics["quality_n_holdout"] = float(len(holdout))
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
                f"against {holdout_copy_share:.1%} of held-out real rows"
            )
        if share_below > threshold:
            reasons.append(
                f"{share_below:.1%} of synthetic rows are closer to a training row than the 5th "
                f"percentile of held-out real rows ({holdout_p05:.3g}); expected about 5%, "
                f"threshold {threshold:.1%}"
            )
        if len(holdout) < 20:
            log.warning("holdout has %d rows: its DCR percentiles are rough", len(holdout))
    elif copy_share > COPY_SHARE_MARGIN:
        reasons.append(
            f"{copies} synthetic rows ({copy_share:.1%}) are exact copies of training rows "
            "(no holdout to compare with)"
        )
    flag = bool(reasons)
    metrics["quality_memorization_flag"] = float(flag)
    if flag:
        log.warning("synthetic rows look memorized: %s", "; ".join(reasons))

    plot = _plot_data(
        enc, real, synthetic, continuous, categorical, real_d, dcr_synth, dcr_holdout, rng
    )
    log.info(
        "quality: C2ST AUC %.3f, KS mean %.3f, TVD mean %.3f, DCR median %.3g, copies %d",
        metrics["quality_c2st_auc"],
        metrics["quality_ks_mean"],
        metrics["quality_tvd_mean"],
        metrics["quality_dcr_synthetic_median"],
        copies,
    )
    return QualityReport(metrics, per_column, flag, reasons, plot)


def _subsample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    keep = np.sort(rng.choice(len(frame), size=n, replace=False))
    return frame.iloc[keep]


def _plot_data(
    enc: FrameEncoding,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    continuous: list[str],
    categorical: list[str],
    real_d: np.ndarray,
    dcr_synthetic: np.ndarray,
    dcr_holdout: np.ndarray | None,
    rng: np.random.Generator,
) -> _PlotData:
    real_p = _subsample(real, MAX_PLOT_ROWS, rng)
    synth_p = _subsample(synthetic, MAX_PLOT_ROWS, rng)
    synth_d = enc.distance_matrix(synth_p)
    real_pd = enc.distance_matrix(real_p)
    if real_d.shape[1] >= 2 and len(real_d) >= 2:
        pca = PCA(n_components=2, random_state=0).fit(real_d)
        proj_real, proj_synth = pca.transform(real_pd), pca.transform(synth_d)
        ratio = pca.explained_variance_ratio_
        explained = (float(ratio[0]), float(ratio[1]))
    else:  # one encoded dimension, or one real row: plot the raw encoding
        pad = 2 - min(real_d.shape[1], 2)
        proj_real = np.pad(real_pd[:, :2], ((0, 0), (0, pad)))
        proj_synth = np.pad(synth_d[:, :2], ((0, 0), (0, pad)))
        explained = (math.nan, math.nan)
    return _PlotData(
        real_p.reset_index(drop=True),
        synth_p.reset_index(drop=True),
        continuous,
        categorical,
        proj_real,
        proj_synth,
        explained,
        dcr_synthetic,
        dcr_holdout,
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

REAL_COLOR = "#1f77b4"
SYNTH_COLOR = "#ff7f0e"
HOLDOUT_COLOR = "#2ca02c"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _figure_distributions(plot: _PlotData, per_column: pd.DataFrame) -> Figure:
    ranked = per_column.sort_values("statistic", ascending=False, kind="stable")
    shown = ranked.head(MAX_PLOT_COLUMNS)
    n = max(len(shown), 1)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.0 * ncols, 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (_, row) in zip(axes, shown.iterrows(), strict=False):
        col = row["column"]
        if row["kind"] == "continuous":
            _hist_panel(ax, plot.real[col], plot.synthetic[col])
            label = "KS"
        else:
            _bar_panel(ax, plot.real[col], plot.synthetic[col])
            label = "TVD"
        ax.set_title(f"{col}  ({label} {row['statistic']:.3f})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    extra = len(ranked) - len(shown)
    title = "Real vs synthetic, per column (largest difference first)"
    if extra > 0:
        title += f"; {extra} more columns not shown"
    fig.suptitle(title, fontsize=11)
    return fig


def _hist_panel(ax: Any, real: pd.Series, synthetic: pd.Series) -> None:
    a, b = as_float(real), as_float(synthetic)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    both = np.concatenate([a, b])
    if both.size == 0:
        ax.text(0.5, 0.5, "all missing", ha="center", transform=ax.transAxes)
        return
    lo, hi = np.quantile(both, [0.005, 0.995])
    if np.array_equal(both, np.round(both)) and hi - lo <= 60:  # counts: one bar per integer
        lo, hi = math.floor(lo) - 0.5, math.ceil(hi) + 0.5
        bins = np.arange(lo, hi + 0.5)
    else:
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 31)
    for values, color, name in ((a, REAL_COLOR, "real"), (b, SYNTH_COLOR, "synthetic")):
        if values.size:
            ax.hist(
                np.clip(values, lo, hi),
                bins=bins,
                density=True,
                histtype="step",
                linewidth=1.4,
                color=color,
                label=name,
            )


def _bar_panel(ax: Any, real: pd.Series, synthetic: pd.Series, top: int = 12) -> None:
    p = category_shares(real)
    q = category_shares(synthetic)
    both = pd.concat([p, q], axis=1, keys=["real", "synthetic"]).fillna(0.0)
    both = both.sort_values("real", ascending=False, kind="stable")
    if len(both) > top:
        rest = both.iloc[top - 1 :].sum().rename("other")
        both = pd.concat([both.iloc[: top - 1], rest.to_frame().T])
    x = np.arange(len(both))
    ax.bar(x - 0.2, both["real"], width=0.4, color=REAL_COLOR, label="real")
    ax.bar(x + 0.2, both["synthetic"], width=0.4, color=SYNTH_COLOR, label="synthetic")
    ax.set_xticks(x, [str(v)[:14] for v in both.index], rotation=45, ha="right")


def _figure_projection(plot: _PlotData) -> Figure:
    fig = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.scatter(*plot.projection_real.T, s=6, alpha=0.5, color=REAL_COLOR, label="real")
    ax.scatter(*plot.projection_synthetic.T, s=6, alpha=0.5, color=SYNTH_COLOR, label="synthetic")
    e1, e2 = plot.explained
    if math.isnan(e1):
        ax.set_xlabel("encoded column 1")
        ax.set_ylabel("encoded column 2")
    else:
        ax.set_xlabel(f"PC 1 ({e1:.0%} of real variance)")
        ax.set_ylabel(f"PC 2 ({e2:.0%})")
    ax.set_title("PCA of the standardised encoding (fitted on real rows)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _figure_dcr(plot: _PlotData) -> Figure:
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    series = [(plot.dcr_synthetic, SYNTH_COLOR, "synthetic to training")]
    if plot.dcr_holdout is not None:
        series.append((plot.dcr_holdout, HOLDOUT_COLOR, "holdout to training"))
    top = max(float(np.quantile(s, 0.99)) for s, _, _ in series)
    bins = np.linspace(0.0, top if top > 0 else 1.0, 41)
    for values, color, name in series:
        ax.hist(
            np.clip(values, 0.0, bins[-1]),
            bins=bins,
            density=True,
            histtype="step",
            linewidth=1.5,
            color=color,
            label=name,
        )
    if plot.dcr_holdout is not None:
        p05 = float(np.quantile(plot.dcr_holdout, DCR_QUANTILE))
        ax.axvline(p05, color=HOLDOUT_COLOR, linestyle="--", linewidth=1, label="holdout 5th pct")
    ax.set_xlabel("distance to the closest real training row")
    ax.set_ylabel("density")
    ax.set_title("Distance to closest record (DCR)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _format(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    return f"{value:.4f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _render_html(
    report: QualityReport, descriptions: Mapping[str, str] = METRIC_DESCRIPTIONS
) -> str:
    images = {stem: base64.b64encode(png).decode("ascii") for stem, png in report.figures().items()}
    if report.memorization_flag:
        verdict = "<p class='bad'><b>Memorization flagged.</b></p><ul>" + "".join(
            f"<li>{html.escape(r)}</li>" for r in report.memorization_reasons
        )
        verdict += "</ul>"
    else:
        verdict = "<p class='ok'><b>No memorization flagged.</b></p>"
    metric_rows = [
        (key, _format(value), descriptions.get(key, "")) for key, value in report.metrics.items()
    ]
    per_column = report.per_column.sort_values("statistic", ascending=False, kind="stable")
    column_rows = [
        (r.column, r.kind, "KS" if r.kind == "continuous" else "TVD", f"{r.statistic:.4f}")
        for r in per_column.itertuples(index=False)
    ]
    figures = "".join(
        f"<figure><img alt='{stem}' src='data:image/png;base64,{data}'/></figure>"
        for stem, data in images.items()
    )
    rule = html.escape(
        "Flagged when synthetic rows copy training rows exactly more often than held-out real rows "
        f"do (by more than {COPY_SHARE_MARGIN:.0%}), or when more synthetic rows than expected sit "
        "closer to a training row than the 5th percentile of held-out real rows."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Synthetic data quality</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #f3f3f3; }}
.bad {{ color: #b00020; }} .ok {{ color: #1b5e20; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Synthetic data quality</h1>
<h2>Privacy verdict</h2>
{verdict}
<p><small>{rule}</small></p>
<h2>Metrics</h2>
{_table(("metric", "value", "meaning"), metric_rows)}
<h2>Figures</h2>
{figures}
<h2>Per column</h2>
{_table(("column", "kind", "statistic", "value"), column_rows)}
</body></html>
"""
