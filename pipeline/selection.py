"""Selection inside a training fold: the inner validation windows and the noise rule.

Every choice made inside a training fold (the number of trees, the decision threshold, each tuning
trial, the reference resampler, the GAN's share, weight and checkpoint through the tuner) is
scored over the same k inner windows, cut here once per fold:

- in the training period of temporal folds (`by_time`, with a time column), the k most recent
  windows, each `fraction` of its rows or more (rows sharing a time stay in one window, so with
  coarse times, month indexes, a window is one month or more); a window's model fits on the rows
  before it, less `gap_days` (an expanding window, as scikit-learn's
  ``TimeSeriesSplit(gap=...)``);
- in a stratified fold, or without a time column, k disjoint stratified parts of `fraction` of the
  rows each; a window's model fits on every other row of the fold.

The windows follow the outer folds because a choice is only as good as the question it is scored
on: stratified test folds draw their rows from the whole time line, and time windows would score
each choice on extrapolation to the latest days with models fitted on the earlier rows alone.
On the simulator, 6 draws x 2 stratified folds with time windows
(`benchmarks/results/decisive_cgan.md`, at ded034e), SMOTE at 0.1 gained on all 12 test folds
(+0.028 on average, a significant gain) while, on the time windows, `smote_auto`'s best share lost to share 0 on 8 of
them, so the choosing strategies kept share 0 everywhere. The time windows had also stopped
`none` at 72 trees; cut as the folds are (`decisive_cgan_stratified.md`, at 2f04d79), they give it
168 and AUPRC 0.675 instead of 0.651, and SMOTE's lead shrinks to +0.012 [+0.002, +0.022].

In both layouts the rows no window validates on (`Windows.shared`) are in every window's fit
rows: the GAN the windows draw from trains once per fold on them, so no window scores a GAN
that saw its rows (the refit on the whole fold trains its own: `CGANOverSampler.refit_gan`). With
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

Three windows' differences can also agree by chance: their spread has 2 degrees of freedom, and
with a few positive rows per window (5 frauds in a 10 % window of a small table) a spread of
0.004 sat beside differences that one fraud more or less moves by 0.05 (a share taken on `car_good`
that lost 0.076 on its test fold, `benchmarks/results/suite.json`). So the gain must clear a
second bar, from the validation rows' own sampling noise: z(1 - 0.1/m) standard errors of the
mean per-window difference under a stratified bootstrap of each window's rows, the same draws
for every candidate (`WindowDraws`; `Gain.sampling_bar`). The larger bar counts.

Both bars together are conservative: on simulated folds of 3 windows with 2 to 50 positive rows
each (`benchmarks/results/noise_rule.md`, at 3df31b1), `pipeline.augment.choose` takes one of
3 shares no better than share 0 in 1.5-2.5 % of folds, and a share that gains +0.03 AUPRC in
0.5-10 %. Share 0 kept means no gain was shown, not that none exists.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import StratifiedKFold, train_test_split

from models.errors import ConfigError, DataError
from pipeline import evaluate
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
    by_time: bool = True,
    labels: np.ndarray | None = None,
) -> Windows:
    """The k inner validation windows of a training fold (see the module docstring).

    `by_time`: time windows when the schema has a time column (the folds are temporal); False:
    stratified parts whatever the columns (the folds are stratified), and `gap_days` must be 0.
    `labels`: the labels as the fold knows them (`split.known_labels`), the frame's by default.
    Every window's fit and validation parts, and the rows shared by all fits, must hold a
    positive row, else `DataError` naming the window and what to change.
    """
    if k < 1:
        raise ConfigError(f"inner_windows: need k >= 1 windows, found {k!r}")
    if not by_time and schema.time is not None:
        if gap_days > 0:
            raise ConfigError(
                f"validation.gap_days={gap_days:g} leaves a gap before time windows, and the "
                "windows of stratified folds are stratified parts; set validation.gap_days to 0"
            )
        schema = dataclasses.replace(schema, time=None)
    if k == 1:
        fit, val = validation_slice(
            frame, train_idx, schema, fraction=fraction, gap_days=gap_days, seed=seed
        )
        how = "one slice"
        known = frame[schema.label].to_numpy() if labels is None else labels
        return _checked(Windows((Window(fit, val),), how), known)
    if fraction <= 0 or k * fraction >= 0.9:
        raise ConfigError(
            f"validation: {k} windows of {fraction:g} of the training rows each leave "
            f"{1 - k * fraction:.2g} of them to fit every window; need windows x fraction < 0.9"
        )
    if not math.isfinite(gap_days) or gap_days < 0:
        raise ConfigError(f"inner_windows: gap_days must be >= 0, found {gap_days!r}")
    idx = np.unique(np.asarray(train_idx, dtype=np.int64))
    if labels is None:
        labels = frame[schema.label].to_numpy()
    n_val = max(1, round(fraction * len(idx)))
    if schema.time is not None and schema.time in frame.columns:
        t, per_day = time_axis(
            frame[schema.time].iloc[idx], where=f"inner_windows: column {schema.time!r}"
        )
        ordered = np.sort(t, kind="stable")
        gap = gap_days * per_day
        windows = []
        end, before = np.inf, len(idx)  # rows before `end`
        for j in range(1, k + 1):
            if before - n_val < 0:
                raise DataError(
                    f"inner_windows: the training fold's times take {len(np.unique(t))} distinct "
                    f"value(s) over {len(idx)} rows: {j - 1} window(s) of whole times take every "
                    f"row, and {k} are asked for. Lower validation.windows or "
                    "validation.fraction"
                )
            start = ordered[before - n_val]
            val = idx[(t >= start) & (t < end)]
            fit = idx[t < start - gap]
            windows.append(Window(fit, val))
            end, before = start, int(np.searchsorted(ordered, start, side="left"))
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
    standard_error: float  # of the per-window differences' spread; NaN with one window
    windows: int
    # the candidates it is the best of: the test's level is NOISE_ALPHA / compared
    compared: int = 1
    # the validation rows' own sampling noise (`WindowDraws.standard_error`); NaN: not measured
    sampling_error: float = math.nan

    @property
    def level(self) -> float:
        return NOISE_ALPHA / max(self.compared, 1)

    @property
    def spread_bar(self) -> float:
        """t(1 - 0.1/m, k-1) standard errors of the windows' spread (NaN with one window)."""
        if not math.isfinite(self.standard_error) or self.windows < 2:
            return math.nan
        return float(stats.t.ppf(1 - self.level, self.windows - 1)) * self.standard_error

    @property
    def sampling_bar(self) -> float:
        """z(1 - 0.1/m) sampling standard errors (NaN when not measured)."""
        if not math.isfinite(self.sampling_error):
            return math.nan
        return float(stats.norm.ppf(1 - self.level)) * self.sampling_error

    @property
    def bar(self) -> float:
        """The gain the noise rule asks for: the larger of the spread's and the sampling bar
        (NaN when neither is known)."""
        bars = [b for b in (self.spread_bar, self.sampling_bar) if math.isfinite(b)]
        return max(bars) if bars else math.nan

    @property
    def sampled(self) -> bool:
        """The sampling bar is the higher one: the windows agree more than their rows allow."""
        return math.isfinite(self.sampling_bar) and not self.sampling_bar <= self.spread_bar

    @property
    def clear(self) -> bool:
        """The gain exceeds the windows' noise (no noise estimate: any positive gain counts)."""
        if not math.isfinite(self.bar):
            return self.mean > 0
        return self.mean > self.bar

    def __str__(self) -> str:
        best = f", for the best of {self.compared}" if self.compared > 1 else ""
        if not math.isfinite(self.bar):
            noise = "no noise estimate from one window"
        elif self.sampled:
            noise = (
                f"the noise bar {self.bar:.4f}, {self.bar / self.sampling_error:.2f} sampling "
                f"standard errors of {self.sampling_error:.4f} (the validation rows' bootstrap"
            )
            if math.isfinite(self.standard_error):
                noise += f"; the windows' spread gave {self.standard_error:.4f}"
            noise += f"){best}"
        elif self.standard_error == 0:
            noise = "no spread between the windows"
        else:
            noise = (
                f"the noise bar {self.bar:.4f}, {self.bar / self.standard_error:.2f} standard "
                f"errors of {self.standard_error:.4f}{best}"
            )
        return f"{self.mean:+.4f} over {self.windows} window(s) ({noise})"


def paired_gain(
    candidate: Sequence[float],
    default: Sequence[float],
    *,
    compared: int = 1,
    sampling_error: float = math.nan,
) -> Gain:
    """The mean per-window difference `candidate - default` and its standard error; `compared`:
    how many candidates `candidate` was chosen from as the best (the noise rule's family);
    `sampling_error`: the difference's standard error from the validation rows' sampling alone
    (`WindowDraws.standard_error`), a second bar the gain must clear."""
    c, d = np.asarray(candidate, dtype=float), np.asarray(default, dtype=float)
    if c.shape != d.shape or c.ndim != 1 or len(c) == 0:
        raise ValueError(
            f"paired_gain: need one score per window for both, got {c.shape} and {d.shape}"
        )
    if compared < 1:
        raise ValueError(f"paired_gain: compared is the number of candidates, >= 1, got {compared}")
    diff = c - d
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.nan
    return Gain(float(diff.mean()), se, len(diff), compared, float(sampling_error))


SAMPLING_DRAWS = 200
"""Bootstrap draws of each window's validation rows for the sampling bar."""


class WindowDraws:
    """Stratified bootstrap draws of every window's validation rows, the same for every
    candidate of a fold (paired).

    `standard_error(a, b)` is the standard error of the mean per-window AUPRC difference between
    two fits' pooled validation predictions (in `Windows.val` order) that the sampling of the
    validation rows alone gives. With a few positive rows per window it is large, and three
    windows' differences can agree by chance far more closely: the noise rule then asks for
    this bar too (`Gain.sampling_bar`).
    """

    CHUNK = 4_000_000
    """Draws × rows scored at once (memory: a few times this many floats)."""

    def __init__(
        self, labels: Sequence[np.ndarray], *, draws: int = SAMPLING_DRAWS, seed: int = 0
    ) -> None:
        if draws < 2:
            raise ValueError(f"WindowDraws: need >= 2 draws, got {draws}")
        self.labels = [np.asarray(y, dtype=np.int8) for y in labels]
        self.bounds = np.cumsum([0, *(len(y) for y in self.labels)])
        self.draws, self.seed = draws, int(seed)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._kept: dict[int, np.ndarray] = {}  # windows whose draws fit in one chunk

    def _counts(self, window: int) -> Iterator[np.ndarray]:
        """The window's draws in chunks, regenerated from the same seed on every call: how often
        each row is drawn, as many rows of each class in every draw as in the window."""
        if window in self._kept:
            yield self._kept[window]
            return
        y = self.labels[window]
        rng = np.random.default_rng([self.seed, window])
        classes = [np.flatnonzero(y == c) for c in (0, 1)]
        step = max(1, self.CHUNK // max(len(y), 1))
        for lo in range(0, self.draws, step):
            n = min(step, self.draws - lo)
            flat = [
                (np.arange(n)[:, None] * len(y) + rows[rng.integers(0, len(rows), (n, len(rows)))])
                for rows in classes
                if len(rows)
            ]
            picks = np.concatenate([f.ravel() for f in flat])
            counts = np.bincount(picks, minlength=n * len(y)).reshape(n, len(y))
            if n == self.draws:
                self._kept[window] = counts.astype(np.int32)
            yield counts

    def scores(self, p_val: np.ndarray) -> np.ndarray:
        """Windows × draws AUPRC of one fit's pooled validation predictions."""
        hit = self._cache.get(id(p_val))
        if hit is not None and hit[0] is p_val:
            return hit[1]
        p = np.asarray(p_val, dtype=float)
        if p.shape != (self.bounds[-1],):
            raise ValueError(
                f"WindowDraws: need {self.bounds[-1]} pooled validation scores, got {p.shape}"
            )
        out = np.stack(
            [
                np.concatenate(
                    [
                        evaluate.average_precision_draws(y, p[lo:hi], counts)
                        for counts in self._counts(w)
                    ]
                )
                for w, (y, lo, hi) in enumerate(
                    zip(self.labels, self.bounds[:-1], self.bounds[1:], strict=True)
                )
            ]
        )
        self._cache[id(p_val)] = (p_val, out)  # holds p_val, so its id is not reused
        return out

    def standard_error(self, candidate: np.ndarray, default: np.ndarray) -> float:
        """The sampling standard error of the mean per-window AUPRC difference."""
        diff = self.scores(candidate) - self.scores(default)
        per_window = np.var(diff, axis=1, ddof=1)
        return float(math.sqrt(per_window.sum()) / len(per_window))
