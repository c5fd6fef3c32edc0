"""The built-in choice of an over-sampler's synthetic share, weight and checkpoint.

An over-sampling strategy that chooses (`cgan` by default; ros and the SMOTE family with
`choose: true`) picks, inside each training fold and over the fold's inner validation windows
(`pipeline.selection`), from a small grid:

- its share: synthetic minority rows as a share of the fold's majority rows (share s is
  `sampling_strategy` = the fold's own minority/majority ratio + s, so a share means the same
  on a table with 0.3 % positives and on one with 30 %); 0 appends no row, so the strategy then
  fits exactly as `none` does, and share 0 is the default to beat;
- its weight, `synthetic_weight` (the classifier's sample weight of each appended row);
- the GAN's `checkpoint`: `best` (the one its two-sample tests chose) or `last`.

Every candidate is scored by its downstream validation AUPRC in every window; only XGBoost
fits repeat (the fold's GAN trains once and serves every candidate: `models.gan.GANCache`).
The search is coordinate-wise, to keep the fits few (`DEFAULT_GRID`: 3 fits beyond share 0,
plus 1 for the weight and 1 for the checkpoint when a share above 0 wins):

1. the share, at the grid's lowest weight and its first checkpoint: the smallest share whose
   windows' scores the best share does not beat beyond the windows' noise for the best of the
   grid's shares above 0 (the tuner's rule, `selection.paired_gain(..., compared=m).clear`) and
   that, above 0, itself beats share 0 beyond the noise; so a larger share replaces a smaller
   one only when it is better beyond the noise, share 0 stays unless a share clearly helps, and
   a share within the noise of the best but no better than share 0 is never the one kept;
2. the weight, at that share: a larger weight replaces the lowest only when clearly better;
3. the checkpoint, at that share and weight: `last` replaces `best` only when clearly better.

A parameter the strategy's YAML block sets is fixed and not searched (`sampling_strategy: 0.1`
fixes the share, as that ratio); `choose: false` turns the choice off; `choose: {share: [...],
weight: [...], checkpoint: [...]}` replaces parts of the grid. With `tuning.enabled` the choice
is the untuned setting that the tuner's best trial must beat beyond the windows' noise
(`pipeline.fold.FoldRunner.tune`); the trials search what the search space names (a share it
leaves unset is `models.samplers.DEFAULT_SAMPLING_STRATEGY`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from models.errors import ConfigError
from models.samplers import CHOOSE, REGISTRY, SYNTHETIC_WEIGHT, strategy_kind
from pipeline.report.choices import (
    CHOICE_BEST_GAIN,
    CHOICE_BEST_SAMPLING_BAR,
    CHOICE_BEST_SPREAD_BAR,
    CHOICE_CHECKPOINT_LAST,
    CHOICE_GAIN,
    CHOICE_SHARE,
    CHOICE_WEIGHT,
)
from pipeline.selection import Gain, paired_gain

log = logging.getLogger(__name__)

SHARE, CHECKPOINT = "sampling_strategy", "checkpoint"
CHECKPOINTS = {"best": None, "last": 1.0}
"""Checkpoint names and the `CGANOverSampler.checkpoint` value each stands for."""
DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "share": (0.0, 0.01, 0.03, 0.1),
    "weight": (0.2, 1.0),
    "checkpoint": ("best", "last"),
}
CHOOSES_BY_DEFAULT = {"gan": True, "resampler": False}
"""Whether a family chooses when its YAML block does not say (`choose:`)."""
_PARAM_OF = {"share": SHARE, "weight": SYNTHETIC_WEIGHT, "checkpoint": CHECKPOINT}


class Scored(Protocol):
    """What a candidate's fit gives the choice: its validation AUPRC in each window."""

    val_aps: tuple[float, ...]


@dataclass(frozen=True)
class Grid:
    """The values a strategy chooses among (one value: fixed)."""

    share: tuple[float | None, ...]  # (None,): the YAML's sampling_strategy, not searched
    weight: tuple[float, ...] = (1.0,)
    checkpoint: tuple[str, ...] = ("best",)


@dataclass
class Choice:
    """What a strategy chose in one fold: the sampler parameters, why, and every candidate."""

    share: float | None  # None: the YAML's sampling_strategy
    weight: float
    checkpoint: str
    gain: Gain | None  # of the chosen setting over share 0 (None: share 0 not in the grid)
    best_gain: Gain | None = None  # of the best share above 0 over share 0 (the first weight)
    best_share: float | None = None  # that share (None: no share above 0 in the grid)
    tried: list[tuple[dict[str, Any], tuple[float, ...]]] = field(default_factory=list)
    ratio: float = 0.0  # the fold's own minority/majority ratio
    fits: list[Any] = field(default_factory=list, repr=False, compare=False)  # as `tried`

    @property
    def params(self) -> dict[str, Any]:
        """The sampler parameters of the choice (share 0: `sampling_strategy: 0`, no rows)."""
        return candidate_params(self.share, self.weight, self.checkpoint, self.ratio)

    def log_params(self) -> dict[str, Any]:
        """The choice as run parameters (the checkpoint by name)."""
        return {
            **self.params,
            "synthetic_share": "as set" if self.share is None else self.share,
            SYNTHETIC_WEIGHT: self.weight,
            CHECKPOINT: self.checkpoint,
            "choice": self.text(),
        }

    def metrics(self) -> dict[str, float]:
        out = {
            CHOICE_SHARE: float("nan") if self.share is None else float(self.share),
            CHOICE_WEIGHT: float(self.weight),
            CHOICE_CHECKPOINT_LAST: float(self.checkpoint == "last"),
        }
        if self.gain is not None:
            out[CHOICE_GAIN] = self.gain.mean
        if self.best_gain is not None:
            out[CHOICE_BEST_GAIN] = self.best_gain.mean
            out[CHOICE_BEST_SPREAD_BAR] = self.best_gain.spread_bar
            out[CHOICE_BEST_SAMPLING_BAR] = self.best_gain.sampling_bar
        return out

    def text(self) -> str:
        """One line: what was chosen and the validation evidence."""
        if self.share == 0:
            head = "share 0 (no synthetic rows)"
            if self.best_share is not None and self.best_gain is not None:
                head += f": the best share, {self.best_share:.3g}, gained {self.best_gain}"
            return head
        share = "as set" if self.share is None else f"{self.share:g}"
        head = f"share {share}, weight {self.weight:g}, checkpoint {self.checkpoint}"
        if self.gain is not None:
            head += f": validation AUPRC {self.gain} over share 0"
        return head


def candidate_params(
    share: float | None, weight: float, checkpoint: str, ratio: float = 0.0
) -> dict[str, Any]:
    """The sampler parameters of one candidate (share 0: no sampler, as `none`; None: the
    YAML's sampling_strategy) on a fold whose minority/majority ratio is `ratio`."""
    if share == 0:
        return {SHARE: 0}
    out: dict[str, Any] = {} if share is None else {SHARE: round(min(1.0, ratio + share), 6)}
    if weight != 1.0:
        out[SYNTHETIC_WEIGHT] = weight
    if checkpoint != "best":
        out[CHECKPOINT] = CHECKPOINTS[checkpoint]
    return out


def _values(spec: Any, key: str, where: str) -> tuple[Any, ...]:
    values = tuple(spec) if isinstance(spec, list | tuple) else (spec,)
    if not values:
        raise ConfigError(f"{where}.{CHOOSE}.{key}: the list is empty")
    for v in values:
        if key == "checkpoint":
            if v not in CHECKPOINTS:
                raise ConfigError(
                    f"{where}.{CHOOSE}.checkpoint: {v!r} is not one of {', '.join(CHECKPOINTS)}"
                )
        elif isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{where}.{CHOOSE}.{key}: {v!r} is not a number")
        elif key == "share" and not 0 <= v <= 1:
            raise ConfigError(f"{where}.{CHOOSE}.share: {v!r} is not in [0, 1]")
        elif key == "weight" and not v > 0:
            raise ConfigError(f"{where}.{CHOOSE}.weight: {v!r} is not > 0")
    if key == "checkpoint":
        return tuple(dict.fromkeys(values))
    return tuple(sorted({float(v) for v in values}))


def grid_of(name: str, params: Mapping[str, Any], *, where: str = "strategies") -> Grid | None:
    """The grid strategy `name` chooses over, or None when it does not choose.

    Raises `ConfigError` for a `choose:` value that is not a boolean or a mapping of
    `share`/`weight`/`checkpoint` lists, or on a strategy that cannot choose.
    """
    kind = strategy_kind(name, params)
    spec = REGISTRY[kind]
    at = f"{where}.{name}"
    value = params.get(CHOOSE, CHOOSES_BY_DEFAULT.get(spec.family, False))
    if CHOOSE in params and spec.family not in CHOOSES_BY_DEFAULT and value:
        raise ConfigError(f"{at}.{CHOOSE}: only over-samplers choose a share; {kind} has none")
    if value is None or value is False:
        return None
    if value is True:
        raw: dict[str, Any] = dict(DEFAULT_GRID)
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(DEFAULT_GRID))
        if unknown:
            raise ConfigError(
                f"{at}.{CHOOSE}: unknown key(s) {unknown}; valid: {', '.join(DEFAULT_GRID)}"
            )
        raw = {**DEFAULT_GRID, **value}
    else:
        raise ConfigError(
            f"{at}.{CHOOSE}: expected true, false or a mapping of share/weight/checkpoint lists, "
            f"got {value!r}"
        )
    grid = {k: _values(v, k, at) for k, v in raw.items()}
    for key, param in _PARAM_OF.items():
        if param in params:  # the YAML fixes it
            fixed = params[param]
            grid[key] = (
                ("best" if fixed is None else "last" if fixed == 1.0 else fixed,)
                if key == "checkpoint"
                else (None,)
                if key == "share"
                else (float(fixed),)
            )
    if kind == "smote_tomek" or (
        spec.family != "gan" and SYNTHETIC_WEIGHT not in spec.extra_params
    ):
        grid["weight"] = (1.0,)
    if spec.family != "gan":
        grid["checkpoint"] = ("best",)
    return Grid(share=grid["share"], weight=grid["weight"], checkpoint=grid["checkpoint"])


def check_choices(strategies: Mapping[str, Mapping[str, Any]], *, where: str) -> None:
    """Check every strategy's `choose:` before any work (`ConfigError` if invalid)."""
    for name, params in strategies.items():
        grid_of(name, params, where=f"{where}: strategies")


def window_gain(candidate: Scored, default: Scored, compared: int) -> Gain:
    """The noise rule's gain from the windows' scores alone (no sampling bar)."""
    return paired_gain(candidate.val_aps, default.val_aps, compared=compared)


def choose(
    fit: Callable[[dict[str, Any]], Scored],
    grid: Grid,
    *,
    ratio: float = 0.0,
    gain: Callable[[Scored, Scored, int], Gain] = window_gain,
) -> tuple[Scored, Choice]:
    """Choose a share, weight and checkpoint by the coordinate search of the module docstring.

    `fit(sampler_params)` fits the strategy with those parameters in every window and returns
    the fit (its `val_aps`: one validation AUPRC per window); `ratio` is the fold's own
    minority/majority ratio, to which a share adds; `gain(candidate, default, compared)` the
    noise rule's gain of one fit over another (`pipeline.fold.FoldRunner.gain` adds the
    validation rows' sampling bar). Returns the chosen fit and the `Choice`.
    """
    shares = list(grid.share)
    tried: list[tuple[dict[str, Any], tuple[float, ...]]] = []
    fits: dict[tuple[float | None, float, str], Scored] = {}

    def score(share: float | None, weight: float, checkpoint: str) -> Scored:
        key = (share, weight if share != 0 else 0.0, checkpoint if share != 0 else "best")
        if key not in fits:
            params = candidate_params(*key, ratio)
            fits[key] = fit(params)
            tried.append((params, tuple(fits[key].val_aps)))
        return fits[key]

    weight, checkpoint = grid.weight[0], grid.checkpoint[0]
    at = {s: score(s, weight, checkpoint) for s in shares}

    def rank(s: float | None) -> tuple[float, float]:  # the higher mean, then the smaller share
        return float(np.mean(at[s].val_aps)), -(s or 0)

    best = max(shares, key=rank)
    # the best is the best of the shares above 0: the noise rule's family (`selection`)
    family = max(sum(s != 0 for s in shares), 1)

    def beats(a: Scored, b: Scored, compared: int) -> bool:
        return gain(a, b, compared).clear

    def enough(s: float | None) -> bool:  # within noise of the best, and (above 0) beats 0
        if s == best:
            return True
        if beats(at[best], at[s], family):
            return False
        return s == 0 or 0.0 not in at or beats(at[s], at[0.0], family)

    share = next(s for s in shares if enough(s))
    chosen = at[share]
    if share != 0:
        for w in grid.weight[1:]:
            candidate = score(share, w, checkpoint)
            if beats(candidate, chosen, len(grid.weight) - 1):
                weight, chosen = w, candidate
        for c in grid.checkpoint[1:]:
            candidate = score(share, weight, c)
            if beats(candidate, chosen, len(grid.checkpoint) - 1):
                checkpoint, chosen = c, candidate
    over_zero = best_over_zero = best_above = None
    if 0.0 in at:
        over_zero = gain(chosen, at[0.0], family)
        above = [s for s in shares if s != 0]
        if above:  # the evidence: how far the best share above 0 came
            best_above = max(above, key=rank)
            best_over_zero = gain(at[best_above], at[0.0], family)
    choice = Choice(
        share=share,
        weight=weight if share != 0 else 1.0,
        checkpoint=checkpoint if share != 0 else "best",
        gain=over_zero,
        best_gain=best_over_zero,
        best_share=best_above,
        tried=tried,
        ratio=ratio,
        fits=list(fits.values()),
    )
    return chosen, choice


def fit_choosing(runner: Any, name: str, params: dict[str, Any]) -> tuple[Any, Choice | None]:
    """Fit a strategy in a fold (`pipeline.fold.FoldRunner`), choosing its share, weight and
    checkpoint when it chooses (`grid_of`); the fit and the `Choice` (None: no choice made)."""
    grid = grid_of(name, params)
    if grid is None:
        return runner.fit(name, params, {}), None
    base = {k: v for k, v in params.items() if k != CHOOSE}
    ctx = runner.ctx
    ratio = ctx.n_positive / max(ctx.n_negative, 1)
    start = time.perf_counter()
    candidates: list[Any] = []

    def fit(p: dict[str, Any]) -> Any:
        candidates.append(runner.fit(name, {**base, **p}, {}))
        return candidates[-1]

    fitted, choice = choose(fit, grid, ratio=ratio, gain=runner.gain)
    # the choice costs every candidate's fit (the GAN's training in the first that drew from it),
    # whichever is kept: share 0 is the cached fit of no resampling
    fitted = dataclasses.replace(
        fitted,
        fit_seconds=time.perf_counter() - start,
        resample_seconds=sum(c.resample_seconds for c in candidates),
    )
    log.info("%s fold %d seed %d chose %s", name, runner.fold.fold, runner.fold.seed, choice.text())
    return fitted, choice


__all__: Sequence[str] = (
    "DEFAULT_GRID",
    "Choice",
    "Grid",
    "check_choices",
    "choose",
    "fit_choosing",
    "grid_of",
)
