"""The decisive benchmark's planning figure: how many independent draws reach the target."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import decisive


def test_draws_for_the_target_is_the_fewest_that_reach_it() -> None:
    sd, k, test_train = 0.018, 2, 1.0
    needed = decisive.draws_for(sd, k, test_train, target=0.02)
    assert needed is not None and needed > 2
    assert decisive.draw_half_width(sd, k, needed, test_train) <= 0.02
    assert decisive.draw_half_width(sd, k, needed - 1, test_train) > 0.02
    assert decisive.draws_for(10.0, k, test_train, target=0.02) is None  # beyond 1000 draws


def test_the_half_width_over_draws_matches_the_comparisons_interval() -> None:
    """The projection uses the same t quantile and correction as the report's interval."""
    from pipeline.report.statistics import t_interval
    from pipeline.split import Fold, draws_correction

    k, draws = 2, 6
    values = np.random.default_rng(0).normal(0.02, 0.018, size=k * draws)
    sd = float(values.std(ddof=1))
    rows = np.arange(10, dtype=np.int64)  # 10 test and 10 training rows per fold
    plan = [Fold(f, r, rows, rows + 10) for r in range(draws) for f in range(k)]
    term = draws_correction(plan).term
    mean, low, high, _ = t_interval(values, correction=term)
    assert decisive.draw_half_width(sd, k, draws, 1.0) == pytest.approx((high - low) / 2)
