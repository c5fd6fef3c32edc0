"""What the comparison knows of each metric: its label, which way is better, the values it takes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline import evaluate

TREES = "n_trees"


def lower_is_better(metric: str) -> bool:
    """True for metrics where smaller is better: the Brier score and every `*_seconds` timing."""
    return metric in evaluate.LOWER_IS_BETTER or metric.endswith("_seconds")


def metric_label(metric: str) -> str:
    """A short human label: "AUPRC" for average_precision, the key itself otherwise."""
    return evaluate.METRIC_LABELS.get(metric, metric)


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: [0, 1] for rates and scores, [0, inf) for times and counts."""
    if metric in evaluate.METRIC_KEYS and metric not in (evaluate.N_TEST, evaluate.N_TEST_POSITIVE):
        return 0.0, 1.0
    if metric.endswith("_seconds") or metric in (TREES, evaluate.N_TEST, evaluate.N_TEST_POSITIVE):
        return 0.0, math.inf
    return -math.inf, math.inf


def difference_range(metric: str) -> tuple[float, float]:
    """The values a difference of two values of `metric` can take."""
    lo, hi = metric_range(metric)
    return lo - hi, hi - lo


def finite(x: Any) -> bool:
    """True for a finite number (False for NaN, infinities and what is not a number)."""
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


MIN_TEST_POSITIVES = 20
"""Fewer fraud rows than this in a test fold, and its figures are mostly noise."""


def few_positives_warning(y: np.ndarray, tests: list[np.ndarray]) -> str | None:
    """The warning for a launch whose test folds (row indices into `y`) hold fewer than
    `MIN_TEST_POSITIVES` fraud rows each, or None."""
    counts = [int(np.asarray(y)[t].sum()) for t in tests]
    if not counts or min(counts) >= MIN_TEST_POSITIVES:
        return None
    return (
        f"the test folds hold only {min(counts)}-{max(counts)} fraud rows each (fewer than "
        f"{MIN_TEST_POSITIVES} in {sum(c < MIN_TEST_POSITIVES for c in counts)} of {len(counts)} "
        "folds): one fraud more or less found moves AUPRC by several points, so the figures of "
        "this launch are mostly noise. Use more data or a higher fraud share, fewer folds "
        "(split.n_splits), or longer test windows (split.test_days)"
    )
