"""The statistics of the comparison: t-intervals, paired tests with the smallest difference they
could detect, Holm's adjustment, and the choice of the reference strategy on validation scores.

`correction` is the variance term of a mean over correlated folds (`pipeline.split.VarianceCorrection`
.term): the variance of a mean of n fold values is estimated by s^2 (1/n + correction). None is
"unknown": intervals treat the folds as independent and paired tests use Wilcoxon's signed-rank
test from 6 pairs on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.report.metrics import lower_is_better, metric_label

AUTO = "auto"
"""`reference=AUTO`: the resampler with the best mean validation score is the reference."""
SELECTION_METRIC = "val_average_precision"
"""The validation-slice score each child logs; it chooses the reference resampler."""

MIN_PAIRS_WILCOXON = 6
"""Below this many pairs a Wilcoxon signed-rank test cannot reach p < 0.05; a paired t-test is used."""
POWER = 0.8
"""The power at which `min_detectable_effect` states the smallest difference a run could detect."""


def t_interval(
    values: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    correction: float | None = None,
) -> tuple[float, float, float, int]:
    """(mean, lower, upper, n) of the (1 - alpha) t-interval of the non-missing values.

    The variance of the mean is s^2 (1/n + `correction`) (see the module docstring; None and 0
    give the plain s^2 / n). The interval is NaN when fewer than two values remain.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * standard_error(v, correction)
    return mean, mean - half, mean + half, n


def standard_error(values: np.ndarray, correction: float | None) -> float:
    """The standard error of the mean of >= 2 values: s sqrt(1/n + `correction`)."""
    sd = float(values.std(ddof=1))
    return sd * math.sqrt(1 / values.size + (correction or 0.0))


def min_detectable_effect(
    values: np.ndarray,
    *,
    alpha: float = 0.05,
    correction: float | None = None,
    power: float = POWER,
) -> float:
    """The smallest true mean difference a two-sided level-`alpha` t-test on these paired
    differences detects with probability `power`: (t_{1-alpha/2, n-1} + t_{power, n-1}) SE, SE the
    (corrected) standard error of their mean. NaN with fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return math.nan
    df = v.size - 1
    quantiles = float(stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df))
    return quantiles * standard_error(v, correction)


def format_p(p: float) -> str:
    """'p=0.031', 'p<0.001', or 'p=n/a'."""
    if p is None or not np.isfinite(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


@dataclass(frozen=True)
class PairedResult:
    """A paired comparison of one strategy with a reference on the shared (fold, seed) pairs."""

    ref: str
    n: int
    diff: float
    ci_low: float
    ci_high: float
    p: float
    test: str
    verdict: str
    mde: float = math.nan
    """The smallest difference the test could detect at 80 % power (`min_detectable_effect`)."""


def paired_test(
    values: pd.Series,
    reference: pd.Series,
    *,
    ref_name: str,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    correction: float | None = None,
) -> PairedResult:
    """Compare `values` with `reference` on their common index (pairs missing on either side drop).

    The difference is values - reference, with a (1 - alpha) t-interval of the paired differences
    and the smallest difference the test could detect (`min_detectable_effect`). The p-value comes
    from the paired t-test with `correction` (the corrected resampled t-test of Nadeau & Bengio
    when it is > 0, the plain paired t-test at 0); without a known correction (None) from the
    Wilcoxon signed-rank test with >= 6 pairs, else a paired t-test.
    """
    joined = pd.concat({"a": values, "b": reference}, axis=1).dropna()
    d = (joined["a"] - joined["b"]).to_numpy(dtype=float)
    n = int(d.size)
    nan = math.nan
    if n == 0:
        return PairedResult(ref_name, 0, nan, nan, nan, nan, "", "no common folds")
    mean, lo, hi, _ = t_interval(d, alpha=alpha, correction=correction)
    if n == 1:
        return PairedResult(ref_name, 1, mean, nan, nan, nan, "", "no test (1 pair)")
    mde = min_detectable_effect(d, alpha=alpha, correction=correction)
    if np.all(d == 0):
        p, test = 1.0, "identical"
    elif correction is not None:
        p, test = _t_p_value(d, correction), "corrected t" if correction > 0 else "paired t"
    elif n >= MIN_PAIRS_WILCOXON:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p, test = float(stats.wilcoxon(d).pvalue), "wilcoxon"
    else:
        p, test = _t_p_value(d, None), "paired t"
    return PairedResult(
        ref_name, n, mean, lo, hi, p, test, verdict_text(mean, p, alpha, higher_is_better), mde
    )


def _t_p_value(d: np.ndarray, correction: float | None) -> float:
    se = standard_error(d, correction)
    mean = float(d.mean())
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean / se), d.size - 1))


def verdict_text(diff: float, p: float, alpha: float, higher_is_better: bool) -> str:
    """'better (p=0.01)', 'worse (p=0.01)', 'not significant (p=0.2)', or 'no test' without p."""
    if not np.isfinite(p):
        return "no test"
    if p < alpha and diff != 0:
        good = diff > 0 if higher_is_better else diff < 0
        return f"{'better' if good else 'worse'} ({format_p(p)})"
    return f"not significant ({format_p(p)})"


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values; NaN entries stay NaN, not counted.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def choose_reference(
    frame: pd.DataFrame,
    candidates: Sequence[str],
    *,
    reference: str = AUTO,
    selection_metric: str = SELECTION_METRIC,
) -> tuple[str | None, str]:
    """The reference strategy and the rule that chose it, from validation scores only.

    `reference` names a strategy fixed in advance; with `AUTO` the candidate (a resampler) with the
    best mean `selection_metric` (scored over each fold's validation windows) is chosen, ties by name.
    Test-fold metrics are never read.
    """
    present = set(frame["strategy"])
    if reference != AUTO:
        if reference in present:
            return reference, f"Reference {reference}: fixed in advance (report.reference)."
        return None, f"Reference {reference} (report.reference) has no finished run: no test."
    pool = sorted(s for s in candidates if s in present)
    if not pool:
        return None, "No resampler in the results: no reference resampler."
    if selection_metric not in frame or frame[selection_metric].notna().sum() == 0:
        return None, (
            f"No {selection_metric} in the results to choose the reference resampler on; "
            "fix one with report.reference."
        )
    means = frame[frame["strategy"].isin(pool)].groupby("strategy")[selection_metric].mean()
    means = means.dropna()
    if means.empty:
        return None, f"No resampler has a {selection_metric}: no reference resampler."
    higher = not lower_is_better(selection_metric.removeprefix("val_"))
    ranked = sorted(means.items(), key=lambda kv: (-kv[1] if higher else kv[1], kv[0]))
    name, value = ranked[0]
    return name, (
        f"Reference {name}: the resampler with the best mean validation "
        f"{metric_label(selection_metric.removeprefix('val_'))} ({selection_metric} "
        f"{value:.4f}, over each fold's validation windows), chosen without the test folds' "
        "scores (a fold's windows hold rows that other folds test on, a slight lean towards the "
        "reference)."
    )
