"""Selection inside a training fold: the inner validation windows and the noise rule.

Every choice made inside a training fold (the number of trees, the decision threshold, each tuning
trial, the reference resampler, the GAN's share, weight and checkpoint through the tuner) is
scored over the same k inner windows, cut here once per fold:

- with a time column, the k most recent windows of the training period, each `fraction` of its
  rows; a window's model fits on the rows before it, less `gap_days` (an expanding window, as
  scikit-learn's ``TimeSeriesSplit(gap=...)``);
- without one, k disjoint stratified parts of `fraction` of the rows each; a window's model fits
  on every other row of the fold.

In both layouts the rows no window validates on (`Windows.shared`) are in every window's fit
rows: the GAN trains once per fold on them, so no window scores a GAN that saw its rows. With
k = 1 the single window is `pipeline.split.validation_slice`'s slice.

`paired_gain(...).clear` is the noise rule: a choice replaces the default only when its mean gain over the
windows passes a one-sided paired t-test at 10 % (the mean exceeds t(0.9, k-1) standard errors of the
per-window differences: 1.89 at k = 3). A choice that is the best of m candidates (the tuner's best
of m trials, the best of the GAN's m shares) is tested at 10 %/m (Bonferroni, `compared=m`): the best
of several noise gains is larger than one, and at 10 % per candidate the tuner's best of 4 trials let
a noise gain through on about one fold in three (`benchmarks/results/tuning_windows.md` at 94ac5f8,
before the correction: borderline -0.021 on the test weeks). Bonferroni is conservative when the candidates are
alike (neighbouring trials); more windows (`validation.windows`) buy back the power: the bar at
m = 4 is 4.30 standard errors with 3 windows, 2.26 with 10.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import StratifiedKFold, train_test_split

from models.errors import ConfigError, DataError
from pipeline.split import time_axis, validation_slice

if TYPE_CHECKING:
    from pipeline.data.schema import Schema


@dataclass(frozen=True)
class Window:
    """One inner window: the rows a model fits on and the rows that score it (disjoint,
    sorted positional indices into the frame)."""

    fit: np.ndarray
    val: np.ndarray


@dataclass(frozen=True)
class Windows:
    """The inner windows of one training fold, most recent (or first) window first."""

    windows: tuple[Window, ...]
    how: str

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self) -> Iterator[Window]:
        return iter(self.windows)

    @property
    def val(self) -> np.ndarray:
        """Every window's validation rows, window after window (the pooled predictions' order)."""
        return np.concatenate([w.val for w in self.windows])

    @property
    def shared(self) -> np.ndarray:
        """The rows every window fits on: the rows the fold's GAN learns from."""
        common = self.windows[0].fit
        for w in self.windows[1:]:
            common = np.intersect1d(common, w.fit, assume_unique=True)
        return common


def inner_windows(
    frame: pd.DataFrame,
    train_idx: Any,
    schema: Schema,
    *,
    k: int = 3,
    fraction: float = 0.1,
    gap_days: float = 0.0,
    seed: int = 0,
) -> Windows:
    """The k inner validation windows of a training fold (see the module docstring).

    Every window's fit and validation parts, and the rows shared by all fits, must hold a
    positive row, else `DataError` naming the window and what to change.
    """
    if k < 1:
        raise ConfigError(f"inner_windows: need k >= 1 windows, found {k!r}")
    if k == 1:
        fit, val = validation_slice(
            frame, train_idx, schema, fraction=fraction, gap_days=gap_days, seed=seed
        )
        how = "one slice"
        return _checked(Windows((Window(fit, val),), how), frame[schema.label].to_numpy())
    if fraction <= 0 or k * fraction >= 0.9:
        raise ConfigError(
            f"validation: {k} windows of {fraction:g} of the training rows each leave "
            f"{1 - k * fraction:.2g} of them to fit every window; need windows x fraction < 0.9"
        )
    if not math.isfinite(gap_days) or gap_days < 0:
        raise ConfigError(f"inner_windows: gap_days must be >= 0, found {gap_days!r}")
    idx = np.unique(np.asarray(train_idx, dtype=np.int64))
    labels = frame[schema.label].to_numpy()
    n_val = max(1, round(fraction * len(idx)))
    if schema.time is not None and schema.time in frame.columns:
        t, per_day = time_axis(
            frame[schema.time].iloc[idx], where=f"inner_windows: column {schema.time!r}"
        )
        ordered = np.sort(t, kind="stable")
        gap = gap_days * per_day
        windows = []
        end = np.inf
        for j in range(1, k + 1):
            start = ordered[len(idx) - j * n_val]
            val = idx[(t >= start) & (t < end)]
            fit = idx[t < start - gap]
            windows.append(Window(fit, val))
            end = start
        out = Windows(tuple(windows), f"{k} most recent windows (gap {gap_days:g} days)")
    else:
        if gap_days > 0:
            raise ConfigError(
                f"validation.gap_days={gap_days:g} needs a time column and the schema has none; "
                "set validation.gap_days to 0"
            )
        y = labels[idx]
        n_pos = int(y.sum())
        if n_pos < 2 * k or len(y) - n_pos < 2 * k:
            raise DataError(
                f"inner_windows: the training fold has {n_pos} positive row(s) of {len(y)}; "
                f"{k} stratified windows need >= {2 * k} of each class. Lower validation.windows"
            )
        rest, held = train_test_split(
            idx, test_size=k * n_val, stratify=y, random_state=int(seed), shuffle=True
        )
        parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(seed))
        windows = []
        for _, part in parts.split(held, labels[held]):
            val = np.sort(held[part])
            windows.append(Window(np.setdiff1d(idx, val, assume_unique=True), val))
        out = Windows(tuple(windows), f"{k} stratified windows")
    return _checked(out, labels)


def _checked(windows: Windows, labels: np.ndarray) -> Windows:
    parts = [
        (f"window {i} {name}", rows)
        for i, w in enumerate(windows)
        for name, rows in (("fit", w.fit), ("validation", w.val))
    ]
    parts.append(("rows shared by every window's fit", windows.shared))
    for name, rows in parts:
        if len(rows) == 0 or labels[rows].sum() == 0:
            raise DataError(
                f"inner validation ({windows.how}): the {name} part ({len(rows)} rows) has no "
                "positive row. Change validation.windows, validation.fraction or "
                "validation.gap_days, or use longer training periods"
            )
    return windows


def combine_trees(per_window: Sequence[int]) -> int:
    """The number of trees of the refit: the median of the windows' choices."""
    return int(round(float(np.median(np.asarray(per_window, dtype=float)))))


NOISE_ALPHA = 0.1
"""The one-sided level of the noise rule's paired t-test over the windows."""


@dataclass(frozen=True)
class Gain:
    """A candidate's paired gain over the default across the windows."""

    mean: float
    standard_error: float  # NaN with one window: no estimate of the noise
    windows: int
    # the candidates it is the best of: the test's level is NOISE_ALPHA / compared
    compared: int = 1

    @property
    def bar(self) -> float:
        """The gain the noise rule asks for: t(1 - 0.1/m, k-1) standard errors for the best of m
        candidates over k windows (NaN with one window)."""
        if not math.isfinite(self.standard_error) or self.windows < 2:
            return math.nan
        level = NOISE_ALPHA / max(self.compared, 1)
        return float(stats.t.ppf(1 - level, self.windows - 1)) * self.standard_error

    @property
    def clear(self) -> bool:
        """The gain exceeds the windows' noise (one window: any positive gain counts)."""
        if not math.isfinite(self.bar):
            return self.mean > 0
        return self.mean > self.bar

    def __str__(self) -> str:
        if not math.isfinite(self.bar):
            noise = "no noise estimate from one window"
        elif self.standard_error == 0:
            noise = "no spread between the windows"
        else:
            noise = (
                f"the noise bar {self.bar:.4f}, {self.bar / self.standard_error:.2f} standard "
                f"errors of {self.standard_error:.4f}"
            )
            if self.compared > 1:
                noise += f", for the best of {self.compared}"
        return f"{self.mean:+.4f} over {self.windows} window(s) ({noise})"


def paired_gain(candidate: Sequence[float], default: Sequence[float], *, compared: int = 1) -> Gain:
    """The mean per-window difference `candidate - default` and its standard error; `compared`:
    how many candidates `candidate` was chosen from as the best (the noise rule's family)."""
    c, d = np.asarray(candidate, dtype=float), np.asarray(default, dtype=float)
    if c.shape != d.shape or c.ndim != 1 or len(c) == 0:
        raise ValueError(
            f"paired_gain: need one score per window for both, got {c.shape} and {d.shape}"
        )
    if compared < 1:
        raise ValueError(f"paired_gain: compared is the number of candidates, >= 1, got {compared}")
    diff = c - d
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.nan
    return Gain(float(diff.mean()), se, len(diff), compared)
