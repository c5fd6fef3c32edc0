"""Outer folds and the validation slice: positional row indices only, nothing is resampled here.

Every split returns sorted `np.int64` arrays of positional row indices (for `frame.iloc` / numpy
arrays), never index labels, and train and test (fit and validation) are always disjoint.

- `stratified_folds`: stratified k-fold, repeated over seeds (repeated stratified k-fold).
- `temporal_folds`: prequential folds ``train | gap | test``, each one shifted back in time; the gap
  covers the label delay (a fraud is confirmed only some days after the transaction), and a card is
  not scored again once one of its frauds is known (`known_cards`: from the fold's training and
  delay periods, the literature's protocol, or from the whole history).
- `FoldPlan`: what both return, the folds plus the `VarianceCorrection` their design calls for: how
  strongly two folds' estimates are correlated because their training sets share rows.
- `validation_slice`: the part of a training fold kept for early stopping and the decision
  threshold: the most recent rows when the data has a time column, else a stratified sample.

Time periods are half-open ``[start, end)``. Times may be datetime64 (naive or tz-aware) or numbers
of seconds (e.g. the credit-card layout's seconds since the first transaction); see `time_axis`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from models.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pipeline.data.schema import Schema

log = logging.getLogger(__name__)

KNOWN_CARDS = ("training", "history")
"""`temporal_folds(known_cards=...)`: which frauds make a card known compromised (see there)."""
SECONDS_PER_DAY = 86_400.0
NANOSECONDS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class Fold:
    """One outer fold: positional row indices (sorted int64), train and test disjoint.

    `unreported`: training rows (a sorted subset of `train`'s positives) whose fraud was not yet
    reported when the fold's test period starts, so a model trained then sees them as
    legitimate (`temporal_folds` with `label_delays`; `known_labels`)."""

    fold: int
    seed: int
    train: np.ndarray
    test: np.ndarray
    unreported: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def known_labels(y: np.ndarray, fold: Fold) -> np.ndarray:
    """`y` as a model trained for `fold` knows it: its unreported frauds legitimate (0)."""
    if not len(fold.unreported):
        return y
    known = y.copy()
    known[fold.unreported] = 0
    return known


@dataclass(frozen=True)
class VarianceCorrection:
    """The variance term a mean over folds needs because two folds' estimates are correlated.

    With J fold estimates of common variance sigma^2 and mean pairwise correlation `rho`, the mean
    has variance sigma^2 (1/J + (1 - 1/J) rho) while the sample variance s^2 estimates
    sigma^2 (1 - rho); so Var(mean) is estimated by s^2 (1/J + `term`), `term` = rho / (1 - rho)
    (Nadeau & Bengio, 2003). `term` = 0 is the plain t-interval and paired t-test.
    """

    term: float
    rho: float
    shared: float
    test_train: float
    reason: str

    PARAM_PREFIX: ClassVar[str] = "split.correction_"

    @property
    def applies(self) -> bool:
        """True when the folds are correlated and the intervals widen."""
        return self.term > 0

    def as_params(self) -> dict[str, str]:
        """The correction as run parameters (`split.correction_term`, ...)."""
        return {f"{self.PARAM_PREFIX}{k}": str(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> VarianceCorrection | None:
        """The correction `as_params` logged, or None when these parameters do not hold one."""
        names = [f.name for f in dataclasses.fields(cls)]
        values = {n: params.get(f"{cls.PARAM_PREFIX}{n}") for n in names}
        if any(v is None for v in values.values()):
            return None
        return cls(**{n: v if n == "reason" else float(v) for n, v in values.items()})


class FoldPlan(list[Fold]):
    """The outer folds of a launch (a list of `Fold`) and their `correction`."""

    def __init__(self, folds: Sequence[Fold], correction: VarianceCorrection) -> None:
        super().__init__(folds)
        self.correction = correction


def _mean_sizes(folds: Sequence[Fold]) -> tuple[float, float]:
    return float(np.mean([len(f.test) for f in folds])), float(
        np.mean([len(f.train) for f in folds])
    )


def pool_correction(folds: Sequence[Fold]) -> VarianceCorrection:
    """The correction for folds resampled from one pool of rows (stratified k-fold x repeats).

    Every training set is a resample of the same exchangeable rows, the setting of Nadeau and
    Bengio's heuristic rho = n_test / (n_test + n_train) for every pair of folds, hence
    `term` = n_test / n_train (means over the folds); with k folds x r repeats the variance factor
    is 1/(k r) + n_test/n_train, the corrected repeated k-fold t-test (Bouckaert & Frank, 2004).
    """
    n_test, n_train = _mean_sizes(folds)
    rho = n_test / (n_test + n_train)
    k = len({f.fold for f in folds})
    r = len({f.seed for f in folds})
    return VarianceCorrection(
        term=n_test / n_train,
        rho=rho,
        shared=math.nan,
        test_train=n_test / n_train,
        reason=(
            f"stratified {k}-fold x {r} repeat(s): every training set is a resample of the same "
            "rows, so intervals and tests use the Nadeau & Bengio (2003) correction, variance "
            f"factor 1/{k * r} + n_test/n_train = 1/{k * r} + {n_test / n_train:.3g}"
        ),
    )


def draws_correction(folds: Sequence[Fold]) -> VarianceCorrection:
    """The correction for folds of independent draws of the data, the folds of one draw sharing a seed.

    Folds of one draw resample its rows: Nadeau and Bengio's rho = n_test / (n_test + n_train), as
    in `pool_correction`. Folds of different draws share no row and no sample: rho = 0. `rho` is
    the mean over pairs of folds and `term` = rho / (1 - rho), so many draws of a few folds each
    come close to the plain paired t-test, which one draw of many repeats never does.
    `shared` is the fraction of pairs of folds within one draw.
    """
    n_test, n_train = _mean_sizes(folds)
    per_draw = Counter(f.seed for f in folds)
    return correction_over_draws(
        list(per_draw.values()), n_test / n_train, k=len({f.fold for f in folds})
    )


def correction_over_draws(
    folds_per_draw: Sequence[int], test_train: float, *, k: int
) -> VarianceCorrection:
    """`draws_correction` from each draw's number of folds, their mean n_test / n_train and the
    folds per split `k` (for the reason only): what a plan of draws would get before it runs."""
    rho_nb = test_train / (1 + test_train)  # n_test / (n_test + n_train)
    n = sum(folds_per_draw)
    pairs = n * (n - 1) // 2
    within = sum(c * (c - 1) // 2 for c in folds_per_draw)
    shared = within / pairs if pairs else 0.0
    rho = rho_nb * shared
    term = rho / (1 - rho)
    return VarianceCorrection(
        term=term,
        rho=rho,
        shared=shared,
        test_train=test_train,
        reason=(
            f"{len(folds_per_draw)} independent draws of the data x stratified {k}-fold: folds "
            f"of one draw resample its rows (Nadeau & Bengio's rho = n_test/n = {rho_nb:.3g}), "
            f"folds of different draws are independent (rho = 0); the mean rho over pairs is "
            f"{rho:.3g}, variance factor 1/{n} + {term:.3g}"
        ),
    )


def shared_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """The share of training rows two folds have in common: |a & b| / sqrt(|a| |b|) (0 to 1)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / math.sqrt(len(a) * len(b))


def window_correction(folds: Sequence[Fold]) -> VarianceCorrection:
    """The correction for folds whose training sets are windows of one time line.

    Two folds' estimates are correlated through the training rows they share: a pair sharing
    the fraction o_ij of its training rows (`shared_fraction`) is given Nadeau and Bengio's
    correlation scaled by that share, rho_ij = o_ij n_test / (n_test + n_train). `rho` is the mean
    over pairs and `term` = rho / (1 - rho): disjoint windows (e.g. train 7 days, step 7) get 0,
    the plain paired t-test; windows that overlap get a correction in proportion to the overlap.
    Test windows are disjoint when `step_days >= test_days`; overlapping test windows add a
    correlation this does not model.
    """
    n_test, n_train = _mean_sizes(folds)
    rho_nb = n_test / (n_test + n_train)
    pairs = [
        shared_fraction(folds[i].train, folds[j].train)
        for i in range(len(folds))
        for j in range(i + 1, len(folds))
    ]
    shared = float(np.mean(pairs)) if pairs else 0.0
    rho = rho_nb * shared
    term = rho / (1 - rho)
    if term == 0:
        reason = (
            f"{len(folds)} temporal fold(s) whose training windows share no row: the folds' "
            "estimates are independent, so intervals and tests are the plain paired t, "
            "no Nadeau & Bengio correction"
        )
    else:
        reason = (
            f"{len(folds)} temporal folds whose training windows share {shared:.0%} of their rows "
            f"on average: the Nadeau & Bengio (2003) correction scaled by that share, "
            f"rho = {shared:.2f} x n_test/(n_test+n_train) = {rho:.3g}, variance factor "
            f"1/{len(folds)} + {term:.3g}"
        )
    return VarianceCorrection(
        term=term, rho=rho, shared=shared, test_train=n_test / n_train, reason=reason
    )


# --------------------------------------------------------------------------------------------
# keys (shared with pipeline.features and pipeline.evaluate)


def key_codes(keys: Any) -> np.ndarray:
    """Integer codes of a key column (cards, merchants); each missing key is a group of its own:
    a transaction without a card shares no history, and no card, with any other."""
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    missing = codes < 0
    if missing.any():
        codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes


# --------------------------------------------------------------------------------------------
# time axis (shared with pipeline.features)


def time_axis(times: Any, *, where: str = "times") -> tuple[np.ndarray, int | float]:
    """Times as one sortable numeric array plus the length of a day in its units.

    datetime64 values (naive, or tz-aware as UTC instants) become int64 nanoseconds with a day of
    86_400e9; numbers become float64 seconds with a day of 86_400. Missing or non-time values raise
    `DataError` naming `where`.
    """
    s = times if isinstance(times, pd.Series) else pd.Series(np.asarray(times))
    if s.dtype == object:
        try:
            s = pd.to_datetime(s, utc=True)
        except (TypeError, ValueError) as err:
            raise DataError(
                f"{where}: expected datetime64 values or numbers of seconds, found object values "
                f"such as {s.iloc[0]!r} ({err})"
            ) from None
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        n_missing = int(s.isna().sum())
        if n_missing:
            raise DataError(f"{where}: {n_missing} missing time value(s) (NaT); expected none")
        return s.dt.as_unit("ns").astype("int64").to_numpy(), NANOSECONDS_PER_DAY
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        raise DataError(
            f"{where}: expected datetime64 values or numbers of seconds, found dtype {s.dtype}"
        )
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    n_bad = int((~np.isfinite(values)).sum())
    if n_bad:
        raise DataError(f"{where}: {n_bad} missing or infinite time value(s); expected none")
    return values, SECONDS_PER_DAY


def duration_units(days: float, per_day: int | float) -> int | float:
    """A duration in days in the units of a `time_axis` (int nanoseconds or float seconds)."""
    if isinstance(per_day, int):
        return round(days * per_day)
    return days * per_day


def days_to_units(days: np.ndarray, per_day: int | float) -> np.ndarray:
    """Durations in days in the units of a `time_axis`, each as `duration_units` gives it."""
    if isinstance(per_day, int):
        return np.round(days * per_day).astype(np.int64)
    return days * per_day


def _format_time(value: float, per_day: int | float) -> str:
    if isinstance(per_day, int):
        return str(pd.Timestamp(int(value), unit="ns"))
    return f"{value:g} s (day {value / per_day:.2f})"


# --------------------------------------------------------------------------------------------
# checks


def _binary_labels(y: Any, where: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"{where}: labels must be one-dimensional, found shape {arr.shape}")
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise DataError(f"{where}: labels must be numeric 0/1, found dtype {arr.dtype}")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        bad = sorted(values - {0, 1}, key=str)[:5]
        raise DataError(f"{where}: labels must be 0/1, found values {bad}")
    return arr.astype(np.int8)


def _indices(idx: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(idx, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# stratified


def stratified_folds(y: Any, *, n_splits: int = 3, seeds: Sequence[int] = (0,)) -> FoldPlan:
    """Stratified k-fold (shuffled, `random_state=seed`) once per seed: `n_splits * len(seeds)` folds.

    Each seed is one repeat of repeated stratified k-fold. Folds are numbered 0..n_splits-1 within
    each seed and listed seed by seed. Each row is in the test part of exactly one fold per seed.
    Same seeds, same folds. The plan's correction is `pool_correction`.
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ConfigError(f"stratified_folds: n_splits must be an integer >= 2, found {n_splits!r}")
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError("stratified_folds: seeds is empty; give at least one seed, e.g. [0]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"stratified_folds: seeds repeat ({list(seeds)}); the folds would too")
    labels = _binary_labels(y, "stratified_folds")
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if min(n_pos, n_neg) < n_splits:
        raise DataError(
            f"stratified_folds: {n_pos} positive and {n_neg} negative rows; each class needs at "
            f"least n_splits={n_splits} rows so that every test fold has one"
        )
    placeholder = np.zeros((len(labels), 1))
    folds: list[Fold] = []
    for seed in seeds:
        kfold = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
        for k, (train, test) in enumerate(kfold.split(placeholder, labels)):
            folds.append(Fold(fold=k, seed=int(seed), train=_indices(train), test=_indices(test)))
    return FoldPlan(folds, pool_correction(folds))


# --------------------------------------------------------------------------------------------
# temporal


def temporal_folds(
    times: Any,
    *,
    train_days: float,
    gap_days: float,
    test_days: float,
    n_folds: int = 1,
    step_days: float | None = None,
    entity: Any = None,
    y: Any = None,
    exclude_known_compromised: bool = True,
    known_cards: str = "training",
    label_delay_days: float | None = None,
    label_delays: Any = None,
) -> FoldPlan:
    """Prequential temporal folds: ``[train_days) [gap_days) [test_days)``, shifted back in time.

    The most recent fold's test period ends at the end of the day of the last transaction (midnight
    after it, counting days from the epoch, or from second 0 for numeric times); each earlier fold
    is shifted `step_days` (default `test_days`) further back. Folds are returned oldest first: fold
    `n_folds - 1` is the most recent one. All seeds are 0. Rows in the gap are in neither part.

    When `entity` and `y` are given and `exclude_known_compromised` is true, a card is blocked
    once one of its frauds is known: a test row at time t is removed when the same entity has a
    fraud row at t' with t' + `label_delay_days` < t (default delay: `gap_days`). Which frauds
    count (`known_cards`):

    - ``"training"`` (the literature's prequential protocol): frauds in the fold's training and
      delay (gap) periods, t' in [train start, test start); a card compromised before the
      training window is scored like any other;
    - ``"history"``: frauds at any earlier time, also before the training window and, as labels
      arrive, during the test period; with a long history most compromised cards are then never
      scored again.

    `label_delays` (per row, days; NaN: `label_delay_days`) are the real delays of the frauds'
    labels, from the dates of their reports (`pipeline.data.labels`): a fraud is then known that
    long after its transaction, for the cards above, and a training fraud not known by the fold's
    test start is in the fold's `unreported` rows, legitimate to the model trained then.

    The plan's correction is `window_correction`. Raises `ConfigError` for invalid lengths and for periods that hold no rows (the configured
    periods do not fit the data), `DataError` for a training or test period without a positive row.
    """
    for name, value, allow_zero in (
        ("train_days", train_days, False),
        ("gap_days", gap_days, True),
        ("test_days", test_days, False),
        ("step_days", test_days if step_days is None else step_days, False),
        ("label_delay_days", gap_days if label_delay_days is None else label_delay_days, True),
    ):
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"temporal_folds: {name} must be {bound}, found {value!r}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 1:
        raise ConfigError(f"temporal_folds: n_folds must be an integer >= 1, found {n_folds!r}")
    if known_cards not in KNOWN_CARDS:
        raise ConfigError(
            f"temporal_folds: known_cards must be one of {', '.join(KNOWN_CARDS)}, "
            f"found {known_cards!r}"
        )
    step = test_days if step_days is None else step_days

    t, per_day = time_axis(times, where="temporal_folds: times")
    n = len(t)
    if n == 0:
        raise DataError("temporal_folds: times is empty")
    labels = None
    if y is not None:
        labels = _binary_labels(y, "temporal_folds: y")
        if len(labels) != n:
            raise DataError(f"temporal_folds: y has {len(labels)} rows, times has {n}")
    ent = None
    if entity is not None and exclude_known_compromised:
        ent = np.asarray(entity)
        if len(ent) != n:
            raise DataError(f"temporal_folds: entity has {len(ent)} rows, times has {n}")
        if labels is None:
            log.warning("temporal_folds: entity given without y; known-compromised cards are kept")
            ent = None

    t_min, t_max = t.min(), t.max()
    day = per_day
    end = (t_max // day + 1) * day  # midnight after the last transaction
    if isinstance(day, int):
        end = int(end)
    span = f"the data spans {_format_time(t_min, day)} .. {_format_time(t_max, day)}"
    if day == SECONDS_PER_DAY and t_max - t_min < day:
        span += " (if these numbers are not seconds, set data.schema.time_unit to their unit)"

    order = np.argsort(t, kind="stable")
    t_sorted = t[order]
    blocking = labels is not None and ent is not None
    delay = duration_units(gap_days if label_delay_days is None else label_delay_days, day)
    label_known = t + delay  # when each row's label is known
    if label_delays is not None:
        if labels is None:
            raise DataError("temporal_folds: label_delays given without y")
        days = np.asarray(label_delays, dtype=np.float64)
        if len(days) != n:
            raise DataError(f"temporal_folds: label_delays has {len(days)} rows, times has {n}")
        dated = ~np.isnan(days)
        label_known[dated] = t[dated] + days_to_units(days[dated], day)
    if blocking:
        codes = key_codes(ent)  # a card-less row is blocked by no other row's fraud
        never = np.iinfo(np.int64).max if t.dtype.kind == "i" else np.inf
        fraud_rows = np.flatnonzero(labels == 1)

    def known_at(idx: np.ndarray, since: float, until: float) -> np.ndarray:
        """Per row of `idx`: when its card's first known fraud in [since, until) is known
        (never, for a card without one)."""
        rows = fraud_rows[(t[fraud_rows] >= since) & (t[fraud_rows] < until)]
        first_known = np.full(codes.max() + 1, never, dtype=t.dtype)
        np.minimum.at(first_known, codes[rows], label_known[rows])
        return first_known[codes[idx]]

    def rows_in(start: float, stop: float) -> np.ndarray:
        lo, hi = np.searchsorted(t_sorted, [start, stop], side="left")
        return order[lo:hi]

    folds: list[Fold] = []
    for k in range(n_folds):
        shift = duration_units((n_folds - 1 - k) * step, day)
        test_end = end - shift
        test_start = test_end - duration_units(test_days, day)
        train_end = test_start - duration_units(gap_days, day)
        train_start = train_end - duration_units(train_days, day)
        where = f"temporal fold {k} of {n_folds}"
        train = _indices(rows_in(train_start, train_end))
        test = _indices(rows_in(test_start, test_end))
        for period, idx, start, stop in (
            ("training", train, train_start, train_end),
            ("test", test, test_start, test_end),
        ):
            if len(idx) == 0:
                raise ConfigError(
                    f"{where}: the {period} period [{_format_time(start, day)}, "
                    f"{_format_time(stop, day)}) holds no rows; {span}. Use fewer folds "
                    "(split.n_folds), shorter periods or a smaller step_days"
                )
        if train_start < t_min:
            log.info("%s: the training period starts before the data; it is shorter", where)
        if blocking:
            since, until = (
                (train_start, test_start) if known_cards == "training" else (-np.inf, np.inf)
            )
            keep = t[test] <= known_at(test, since, until)
            if not keep.all():
                log.info(
                    "%s: %d test rows of %d cards already known compromised are not scored",
                    where,
                    int((~keep).sum()),
                    len(np.unique(ent[test[~keep]])),
                )
                test = test[keep]
                if len(test) == 0:
                    raise DataError(
                        f"{where}: every test row belongs to a known-compromised entity; "
                        "nothing is left to score"
                    )
        unreported = np.empty(0, dtype=np.int64)
        if label_delays is not None:
            unreported = train[(labels[train] == 1) & (label_known[train] >= test_start)]
            if len(unreported):
                log.info(
                    "%s: %d of its %d training frauds were reported after its test start, "
                    "legitimate to the model trained then",
                    where,
                    len(unreported),
                    int(labels[train].sum()),
                )
        if labels is not None:
            for period, idx in (("training", train), ("test", test)):
                if labels[idx].sum() - (len(unreported) if period == "training" else 0) == 0:
                    raise DataError(
                        f"{where}: the {period} period ({len(idx)} rows) has no positive row"
                        + (
                            " left after removing known-compromised entities"
                            if period == "test" and ent is not None
                            else ""
                        )
                        + (
                            " reported before the test period starts"
                            if period == "training" and len(unreported)
                            else ""
                        )
                        + "; use longer periods or fewer folds"
                    )
        folds.append(Fold(fold=k, seed=0, train=train, test=test, unreported=unreported))
    return FoldPlan(folds, window_correction(folds))


# --------------------------------------------------------------------------------------------
# scarce positives


def cap_train_positives(plan: FoldPlan, y: Any, max_positives: int) -> FoldPlan:
    """The folds with at most `max_positives` positive rows in each training part.

    Each fold keeps a random subset of its training positives (drawn with the fold's seed and
    number, so the same folds give the same subsets) and every negative row; its test part is
    untouched. The inner validation windows (`pipeline.selection`) are cut afterwards from the
    reduced training part, so model selection sees only the positives a user with that few
    labelled frauds would have. The plan's variance correction is kept: it follows the folds'
    design, and the rows dropped are a small share of the training rows.
    """
    if isinstance(max_positives, bool) or not isinstance(max_positives, int | np.integer):
        raise ConfigError(f"split.max_train_positives must be an integer, found {max_positives!r}")
    if max_positives < 2:
        raise ConfigError(f"split.max_train_positives must be >= 2, found {max_positives}")
    labels = _binary_labels(y, "cap_train_positives")
    folds = []
    for f in plan:
        positives = f.train[labels[f.train] == 1]
        if len(positives) <= max_positives:
            folds.append(f)
            continue
        rng = np.random.default_rng([int(f.seed), int(f.fold), int(max_positives)])
        dropped = rng.choice(positives, len(positives) - max_positives, replace=False)
        train = np.setdiff1d(f.train, dropped, assume_unique=True)
        unreported = np.setdiff1d(f.unreported, dropped, assume_unique=True)
        folds.append(dataclasses.replace(f, train=_indices(train), unreported=unreported))
        log.info(
            "fold %d seed %d: %d of %d training positives kept (split.max_train_positives)",
            f.fold,
            f.seed,
            max_positives,
            len(positives),
        )
    return FoldPlan(folds, plan.correction)


# --------------------------------------------------------------------------------------------
# validation slice


def validation_slice(
    frame: pd.DataFrame,
    train_idx: Any,
    schema: Schema,
    *,
    fraction: float = 0.2,
    gap_days: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training fold into (fit_idx, val_idx), disjoint subsets of `train_idx`.

    With a time column: `val_idx` is the most recent `fraction` of the training rows (by row count;
    rows sharing the cut-off timestamp all go to validation) and `fit_idx` the rows at least
    `gap_days` before the first validation row; rows inside the gap are in neither. Without a time
    column: a stratified random split (`random_state=seed`); `gap_days` must then be 0.
    Both parts must hold at least one positive row, else `DataError`.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"validation_slice: fraction must be in (0, 1), found {fraction!r}")
    if not math.isfinite(gap_days) or gap_days < 0:
        raise ConfigError(f"validation_slice: gap_days must be >= 0, found {gap_days!r}")
    if schema.label not in frame.columns:
        raise DataError(f"validation_slice: label column {schema.label!r} is not in the frame")
    idx = np.asarray(train_idx)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or len(idx) == 0):
        raise DataError(
            f"validation_slice: train_idx must be a 1-d array of positional indices, "
            f"found dtype {idx.dtype} shape {idx.shape}"
        )
    idx = np.unique(idx.astype(np.int64))
    if len(idx) and (idx[0] < 0 or idx[-1] >= len(frame)):
        raise DataError(
            f"validation_slice: train_idx holds positions outside 0..{len(frame) - 1} "
            f"(min {idx[0]}, max {idx[-1]})"
        )
    if len(idx) < 2:
        raise DataError(f"validation_slice: the training fold has {len(idx)} row(s); need >= 2")
    labels = _binary_labels(frame[schema.label].to_numpy()[idx], "validation_slice: labels")

    if schema.time is not None and schema.time in frame.columns:
        t, per_day = time_axis(
            frame[schema.time].iloc[idx], where=f"validation_slice: column {schema.time!r}"
        )
        order = np.argsort(t, kind="stable")
        n_val = max(1, round(fraction * len(idx)))
        cutoff = t[order[len(idx) - n_val]]
        gap_start = cutoff - duration_units(gap_days, per_day)
        val = idx[t >= cutoff]
        fit = idx[t < gap_start]
        how = f"time-based (validation from {_format_time(cutoff, per_day)}, gap {gap_days:g} days)"
        pos_val, pos_fit = labels[t >= cutoff].sum(), labels[t < gap_start].sum()
    else:
        if gap_days > 0:
            raise ConfigError(
                f"validation_slice: gap_days={gap_days:g} needs a time column and the schema has "
                "none; set validation.gap_days to 0"
            )
        n_pos = int(labels.sum())
        if n_pos < 2 or len(labels) - n_pos < 2:
            raise DataError(
                f"validation_slice: the training fold has {n_pos} positive row(s) of "
                f"{len(labels)}; a stratified validation slice needs >= 2 of each class"
            )
        fit, val = train_test_split(
            idx, test_size=fraction, stratify=labels, random_state=int(seed), shuffle=True
        )
        how = "stratified"
        pos_fit = labels[np.isin(idx, fit)].sum()
        pos_val = labels[np.isin(idx, val)].sum()
    for part, rows, n_pos in (("fit", fit, pos_fit), ("validation", val, pos_val)):
        if len(rows) == 0 or n_pos == 0:
            raise DataError(
                f"validation_slice ({how}): the {part} part ({len(rows)} rows) has no positive "
                f"row; the training fold has {int(labels.sum())} positives in {len(idx)} rows. "
                "Change validation.fraction or validation.gap_days, or use longer training periods"
            )
    return _indices(fit), _indices(val)
