"""The measures of the quality report: fidelity, utility and privacy of synthetic rows.

- fidelity: per-column KS statistic (continuous) and total variation distance (categorical), the
  difference of the correlation matrices (the classifier two-sample test is `models.two_sample`);
- utility (train on synthetic, test on real): AUPRC of XGBoost trained on synthetic fraud + real
  legitimate rows, against the same trained on real fraud (TRTR), on a real test set;
- privacy: distance to the closest real training record (DCR) and exact copies of training rows,
  with the threshold of the memorization rule (see `pipeline.quality`).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score
from sklearn.neighbors import NearestNeighbors

from models.two_sample import FrameEncoding, as_float, check_pair, xgb_classifier

COPY_SHARE_MARGIN = 0.01
DCR_QUANTILE = 0.05
DCR_MIN_SHARE_THRESHOLD = 0.10


class _Missing:
    """The category of a missing value, distinct from every real category."""

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING = _Missing()


# --------------------------------------------------------------------------------------------
# fidelity


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


def missing_share(values: pd.Series) -> float:
    """The share of missing values (0 for no values)."""
    return float(values.isna().mean()) if len(values) else 0.0


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
# utility


def utility(
    enc: FrameEncoding,
    features: list[int],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    train_legit: pd.DataFrame,
    test: pd.DataFrame,
    y_test: np.ndarray,
    random_state: int,
) -> dict[str, float]:
    """TSTR and TRTR AUPRC on the real test rows, their ratio, and the test rows' fraud share."""
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


# --------------------------------------------------------------------------------------------
# privacy


def nearest_distance(reference: np.ndarray, query: np.ndarray | None = None) -> np.ndarray:
    """For each query row of an encoded matrix, the Euclidean distance to its nearest reference
    row; without `query`, each reference row's distance to its nearest other reference row
    (leave one out: a duplicate row is at 0)."""
    if query is None and len(reference) < 2:
        raise ValueError("leave-one-out distances need at least 2 reference rows")
    nn = NearestNeighbors(n_neighbors=1).fit(reference)
    distances, _ = nn.kneighbors(query)
    return distances[:, 0]


def distance_to_closest_record(
    reference: pd.DataFrame, query: pd.DataFrame | None = None, *, categorical: Sequence[str] = ()
) -> np.ndarray:
    """For each query row, the Euclidean distance to its nearest reference row (DCR); without
    `query`, each reference row's distance to its nearest other reference row (leave one out).

    Continuous columns standardised with the reference rows' mean and standard deviation,
    categoricals one-hot (`FrameEncoding.distance_matrix`).
    """
    if query is None:
        continuous, categorical = check_pair(
            reference, reference, categorical, names=("reference", "reference"), min_rows=2
        )
        enc = FrameEncoding.fit(reference, [reference], continuous, categorical)
        return nearest_distance(enc.distance_matrix(reference))
    continuous, categorical = check_pair(
        reference, query, categorical, names=("reference", "query")
    )
    enc = FrameEncoding.fit(reference, [reference, query], continuous, categorical)
    return nearest_distance(enc.distance_matrix(reference), enc.distance_matrix(query))


def count_exact_copies(
    reference: pd.DataFrame, query: pd.DataFrame, *, categorical: Sequence[str] = ()
) -> int:
    """Number of query rows equal to some reference row on every column (continuous to 1e-6)."""
    continuous, categorical = check_pair(
        reference, query, categorical, names=("reference", "query")
    )
    enc = FrameEncoding.fit(reference, [reference, query], continuous, categorical)
    return encoded_copies(enc, reference, query)


def encoded_copies(
    enc: FrameEncoding, reference: pd.DataFrame, query: pd.DataFrame | None = None
) -> int:
    """`count_exact_copies` with an encoding already fitted on both frames; without `query`, the
    number of reference rows equal to another reference row."""
    if query is None:
        counts = Counter(enc.row_keys(reference))
        return sum(n for n in counts.values() if n > 1)
    known = set(enc.row_keys(reference))
    return sum(key in known for key in enc.row_keys(query))


def dcr_share_threshold(n_holdout: int, n_synthetic: int) -> float:
    """Share of synthetic rows below the holdout's 5th-percentile DCR above which we flag."""
    p = DCR_QUANTILE
    se = math.sqrt(p * (1 - p) * (1 / n_holdout + 1 / n_synthetic))
    return max(DCR_MIN_SHARE_THRESHOLD, p + 3 * se)
