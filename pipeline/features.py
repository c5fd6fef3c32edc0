"""Causal window features for transaction data, and the model's input columns.

`build_features` adds engineered columns to a copy of the frame. Every feature of a row is computed
from that row's own raw values and from rows *strictly before* it in time:

- "before t" means a strictly earlier timestamp. Rows with identical timestamps do not see each
  other (a burst logged within the same second is not counted in its own history), and a row never
  sees itself. Window ``w`` covers the half-open interval ``[t - w, t)``.
- Labels are used only once known: a label becomes known ``label_delay_days`` after its
  transaction, so the merchant fraud rate at ``t`` over window ``w`` counts only transactions in
  ``[t - delay - w, t - delay)``. Missing labels (NaN) count as not yet known; with the frauds'
  report dates (`build_features`'s `label_delays`), a fraud reported later than ``delay`` after
  its transaction counts as legitimate until its report.
- Hence changing, adding or removing rows at times ``> t`` never changes the features of rows at
  ``<= t``; labels of rows later than ``t - delay`` never change features at ``t``.

Columns added (only where the schema columns they need are present in the frame; ``{w}`` is a
window such as ``1d``, ``7d``, ``30d``; the longest window is ``{wmax}``):

===============================  ===========================  ==================================
column                           needs                        value when there is no history
===============================  ===========================  ==================================
``hour``                         time (not months)            (always defined) fractional hour
``day_of_week``                  time (datetime)              (always defined) Monday = 0
``is_weekend``                   time (datetime)              (always defined) Sat/Sun = 1
``is_night``                     time (datetime)              (always defined) 0 <= hour < 6
``days_since_{d}``               time, a date column ``d``    missing where ``d`` is
``entity_n_{w}``                 time, entity                 0
``entity_mean_amount_{w}``       time, entity, amount         0.0 (`NO_HISTORY_MEAN`)
``entity_amount_ratio_{wmax}``   time, entity, amount         1.0 (`NO_HISTORY_RATIO`)
``entity_secs_since_prev``       time, entity                 30 days (`NO_PREVIOUS_SECONDS`)
``{k}_n_{w}``                    time, a velocity column k    0
``{k}_secs_since_prev``          time, a velocity column k    30 days (`NO_PREVIOUS_SECONDS`)
``{k}_fraud_rate_{w}``           time, velocity k, label      0.0 (`NO_LABEL_RATE`)
``{k}_entities_{w}``             time, velocity k, entity     0
``merchant_n_{w}``               time, merchant               0
``merchant_fraud_rate_{w}``      time, merchant, label        0.0 (`NO_LABEL_RATE`)
``merchant_entities_{w}``        time, merchant, entity,      0
                                 `merchant_entities`
===============================  ===========================  ==================================

With a numeric time (``time_unit`` seconds to months, `SECONDS_PER_UNIT`, which loading
turns into seconds; seconds since the first transaction in the credit-card layout) only
``hour = (t % 86400) / 3600`` is derived from the clock: the weekday is unknown (and with
``months``, no whole number of days, not even the hour: `Schema.clock`). Entity means
use rows with a known amount; the ratio is 1.0 when the mean is 0 or the row's amount is missing.
``days_since_{d}`` is the days from the row's date column ``d`` (`Schema.dates`: a signup, an
account's opening) to its time, negative when the date is later; it reads nothing but the row.
A velocity column ``k`` (`Schema.velocity`: a device, an IP address, an e-mail shared by several
cards) is counted as the entity is, without amounts, and its known fraud rate is the merchant's;
a missing value has no history. ``{k}_entities_{w}`` counts the distinct known entity values (cards)
among those earlier rows: the cards a device served in the window. With `merchant_entities`,
``merchant_entities_{w}`` counts them for the merchant: many cards at one terminal in an hour is
card testing.
Other engineered columns never hold NaN. Nothing is fitted here: encoders and scalers belong to the
model pipeline, fitted on training folds only.

The computation is vectorised: rows are sorted by (group, time) once and every window boundary is
found with one ``numpy.searchsorted`` over the whole table; window sums are differences of
per-group cumulative sums.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models.errors import ConfigError, DataError
from pipeline.data.schema import numeric_units, yaml_list
from pipeline.data.sources import money_hint
from pipeline.split import (
    NANOSECONDS_PER_DAY,
    SECONDS_PER_DAY,
    days_to_units,
    duration_units,
    key_codes,
    time_axis,
)

if TYPE_CHECKING:
    from pipeline.data.schema import Schema

log = logging.getLogger(__name__)

NIGHT_END_HOUR = 6.0
"""`is_night` is 1 for 0 <= hour < NIGHT_END_HOUR (local clock of the time column)."""
NO_PREVIOUS_SECONDS = 30 * 86_400.0
"""`entity_secs_since_prev` of an entity's first transaction (or one with no strictly earlier row)."""
NO_HISTORY_MEAN = 0.0
"""`entity_mean_amount_{w}` when the window holds no earlier row with a known amount."""
NO_HISTORY_RATIO = 1.0
"""`entity_amount_ratio_{wmax}` when the entity's mean over the longest window is 0 or unknown."""
NO_LABEL_RATE = 0.0
"""`merchant_fraud_rate_{w}` when no label of the merchant in the delayed window is known yet."""


def window_label(days: float) -> str:
    """The suffix naming a window in column names: 1 -> "1d", 0.5 -> "0.5d"."""
    return f"{days:g}d"


def secs_since_prev_column(key: str = "entity") -> str:
    """`entity_secs_since_prev`, or `{column}_secs_since_prev` of a velocity column: the seconds
    since the previous transaction with the row's value."""
    return f"{key}_secs_since_prev"


SECONDS_SINCE_PREVIOUS = secs_since_prev_column()


def entity_count_column(label: str, key: str = "entity") -> str:
    """`entity_n_{w}`, or `{column}_n_{w}` of a velocity column: the transactions with the row's
    value in the window."""
    return f"{key}_n_{label}"


def entity_mean_column(label: str) -> str:
    """`entity_mean_amount_{w}`: the mean known amount of those transactions."""
    return f"entity_mean_amount_{label}"


def days_since_column(date: str) -> str:
    """The feature a date column (`Schema.dates`) becomes."""
    return f"days_since_{date}"


def entity_distinct_column(label: str, key: str) -> str:
    """`{column}_entities_{w}` of a velocity column: the distinct entities (cards) among the earlier
    transactions with the row's value in the window."""
    return f"{key}_entities_{label}"


def amount_ratio_column(label: str) -> str:
    """`entity_amount_ratio_{wmax}`: the amount over the longest window's mean."""
    return f"entity_amount_ratio_{label}"


def merchant_count_column(label: str) -> str:
    """`merchant_n_{w}`: the merchant's transactions in the window."""
    return f"merchant_n_{label}"


def fraud_rate_column(label: str, key: str = "merchant") -> str:
    """`merchant_fraud_rate_{w}`, or `{column}_fraud_rate_{w}` of a velocity column: the known
    fraud share of the earlier transactions with the row's value, a label delay back."""
    return f"{key}_fraud_rate_{label}"


def amount_ratio(amount: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """amount / mean, and `NO_HISTORY_RATIO` where the amount is missing or the mean is 0."""
    ok = ~np.isnan(amount) & (mean != 0)
    return np.where(ok, amount / np.where(ok, mean, 1.0), NO_HISTORY_RATIO)


class _Clock:
    """The rows' times sorted once; ranks of shifted times are then found in one monotone pass."""

    def __init__(self, t: np.ndarray) -> None:
        self.t = t
        self._order = np.argsort(t, kind="stable")
        self._sorted = t[self._order]
        distinct = np.ones(len(t), dtype=bool)
        distinct[1:] = self._sorted[1:] != self._sorted[:-1]
        self.times = self._sorted[distinct]
        self._ranks: dict[int | float, np.ndarray] = {}
        self._through: dict[int | float, np.ndarray] = {}

    def rank_before(self, offset: int | float) -> np.ndarray:
        """Per row (input order): how many distinct times are < t - offset."""
        if offset not in self._ranks:
            r = np.searchsorted(self.times, self._sorted - offset, side="left")
            out = np.empty(len(r), dtype=np.int64)
            out[self._order] = r
            self._ranks[offset] = out
        return self._ranks[offset]

    def rank_through(self, shift: int | float) -> np.ndarray:
        """Per row (input order): how many distinct times are <= t + shift."""
        if shift not in self._through:
            r = np.searchsorted(self.times, self._sorted + shift, side="right")
            out = np.empty(len(r), dtype=np.int64)
            out[self._order] = r
            self._through[shift] = out
        return self._through[shift]


class _SortedGroups:
    """Rows sorted by (group, time); finds, for every row, per-group time boundaries at once.

    A row's key is ``group * m + rank(time)`` with `m` above every rank, so one sorted int64 array
    orders the whole table and a boundary "first row of my group at or after time s" is one
    `numpy.searchsorted` of ``group * m + rank(s)`` for all rows together.
    """

    def __init__(self, codes: np.ndarray, clock: _Clock) -> None:
        self.clock = clock
        m = len(clock.times) + 1
        n_groups = int(codes.max()) + 1 if len(codes) else 0
        if n_groups * m >= 2**62:
            raise DataError(f"too many groups ({n_groups}) x distinct times ({m - 1}) to index")
        keys = codes * np.int64(m) + clock.rank_before(0)
        self.order = np.argsort(keys, kind="stable")
        self._keys = keys[self.order]
        self.t = clock.t[self.order]
        self._base = codes[self.order] * np.int64(m)
        self.group = codes[self.order]
        self.start = np.searchsorted(self._keys, self._base, side="left")
        # Per sorted row: where its strictly earlier rows of the same group end.
        self.self_pos = self.first_at_or_after(0)

    def first_at_or_after(self, offset: int | float) -> np.ndarray:
        """Per sorted row: sorted position of the first row of its group with time >= t - offset."""
        rank = self.clock.rank_before(offset)[self.order]
        return np.searchsorted(self._keys, self._base + rank, side="left")

    def cumsum(self, values: np.ndarray) -> np.ndarray:
        """Inclusive cumulative sums restarting at each group (sorted order).

        Per group, so that a row's sums never depend on rows of other groups or later rows.
        """
        return pd.Series(values).groupby(self.group, sort=False).cumsum().to_numpy()

    def window_sum(self, csum: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum over sorted positions [lo, hi) of one group, from its per-group `cumsum`."""

        def before(pos: np.ndarray) -> np.ndarray:
            return np.where(pos > self.start, csum[np.maximum(pos - 1, 0)], 0)

        return before(hi) - before(lo)

    def unsort(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out


def key_counts(keys: pd.Series) -> pd.Series:
    """Rows per value of a key column (entity, velocity), most frequent first; missing values and
    unused categories left out."""
    counts = keys.value_counts()
    return counts[counts > 0]


def _float64_values(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    """A numeric or boolean column as float64 (NaN = missing); `DataError` for other dtypes."""
    s = frame[column]
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    raise DataError(f"build_features: {role} column {column!r} must be numeric, found {s.dtype}")


def _labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    y = _float64_values(frame, column, "label")
    bad = ~np.isnan(y) & (y != 0) & (y != 1)
    if bad.any():
        found = sorted(set(np.unique(y[bad]).tolist()))[:5]
        raise DataError(f"build_features: label column {column!r} must be 0/1, found {found}")
    return y


def _time_features(s: pd.Series, t: np.ndarray, seconds: bool) -> dict[str, np.ndarray]:
    if seconds:
        return {"hour": np.mod(t, SECONDS_PER_DAY) / 3600.0}
    hour = (s.dt.hour + s.dt.minute / 60.0 + s.dt.second / 3600.0).to_numpy(dtype=np.float64)
    dow = s.dt.day_of_week.to_numpy(dtype=np.int8)
    return {
        "hour": hour,
        "day_of_week": dow,
        WEEKEND.column: WEEKEND.values(dow),
        NIGHT.column: NIGHT.values(hour),
    }


def _days_since(d: pd.Series, name: str, t: np.ndarray, per_day: int | float) -> np.ndarray:
    """Days from the date column's values to the times `t` (a `time_axis`); NaN where missing."""
    seconds = per_day == SECONDS_PER_DAY
    dated = pd.api.types.is_datetime64_any_dtype(d.dtype)
    if dated == seconds or (not dated and not pd.api.types.is_numeric_dtype(d.dtype)):
        raise DataError(
            f"build_features: date column {name!r} holds {d.dtype} values; expected "
            f"{'numbers of seconds' if seconds else 'datetimes'}, as the time column holds"
        )
    if dated:
        if isinstance(d.dtype, pd.DatetimeTZDtype):
            d = d.dt.tz_convert(None)
        missing = d.isna().to_numpy()
        values = d.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    else:
        values = d.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
    days = (t - values) / float(per_day)
    days[missing] = np.nan
    return days.astype(np.float64)


def _entity_features(
    g: _SortedGroups,
    amount: np.ndarray | None,
    windows: list[tuple[str, int | float]],
    seconds_per_unit: float,
    key: str = "entity",
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    hi = g.self_pos
    if amount is not None:
        a = amount[g.order]
        known = ~np.isnan(a)
        c_amount = g.cumsum(np.where(known, a, 0.0))
        c_known = g.cumsum(known.astype(np.int64))
    mean = None
    for label, w in windows:
        lo = g.first_at_or_after(w)
        out[entity_count_column(label, key)] = (hi - lo).astype(np.int64)
        if amount is not None:
            n_known = g.window_sum(c_known, lo, hi)
            total = g.window_sum(c_amount, lo, hi)
            mean = np.where(n_known > 0, total / np.maximum(n_known, 1), NO_HISTORY_MEAN)
            out[entity_mean_column(label)] = mean
    if amount is not None and mean is not None:
        # `mean` is the longest window's: windows are sorted ascending.
        out[amount_ratio_column(windows[-1][0])] = amount_ratio(a, mean)
    has_prev = hi > g.start
    prev_t = g.t[np.maximum(hi - 1, 0)]
    gap = (g.t - prev_t).astype(np.float64) * seconds_per_unit
    out[secs_since_prev_column(key)] = np.where(has_prev, gap, NO_PREVIOUS_SECONDS)
    return out


def _merchant_features(
    g: _SortedGroups,
    y: np.ndarray | None,
    windows: list[tuple[str, int | float]],
    delay: int | float,
    reported: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    hi = g.self_pos
    for label, w in windows:
        lo = g.first_at_or_after(w)
        out[merchant_count_column(label)] = (hi - lo).astype(np.int64)
    if y is None:
        return out
    return out | _fraud_rates(g, y, windows, delay, reported=reported)


def _fraud_rates(
    g: _SortedGroups,
    y: np.ndarray,
    windows: list[tuple[str, int | float]],
    delay: int | float,
    key: str = "merchant",
    reported: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per sorted row of `g`: the fraud share of its group's rows in [t - delay - w, t - delay)
    whose label is known, per window.

    `reported` (per row, input order, in the clock's units; NaN: no report date) is when each
    fraud was reported: a fraud reported later than `delay` after its transaction counts as
    legitimate until then. It is in the window and not yet reported for t in (L_r, R_r] with
    L_r = t_r + delay and R_r = min(t_r + delay + w, reported_r), so #{L_r < t} - #{R_r < t} of
    them are taken off the window's frauds (`_EarlierCounts`).
    """
    out: dict[str, np.ndarray] = {}
    ys = y[g.order]
    known = ~np.isnan(ys)
    c_known = g.cumsum(known.astype(np.int64))
    c_fraud = g.cumsum(np.where(known, ys, 0.0).astype(np.int64))
    d_hi = g.first_at_or_after(delay)
    late = None
    if reported is not None:
        when = reported[g.order]
        rows = np.flatnonzero((ys == 1) & (when > g.t + delay))  # NaN: never late
        if len(rows):
            late = _EarlierCounts(g, rows)
            reported_rank = late.clock_rank(when)
            entered = late.count(late.rank_through(delay))
    for label, w in windows:
        d_lo = g.first_at_or_after(delay + w)
        n_known = g.window_sum(c_known, d_lo, d_hi)
        n_fraud = g.window_sum(c_fraud, d_lo, d_hi)
        if late is not None:
            left = np.minimum(late.rank_through(delay + w), reported_rank)
            n_fraud = n_fraud - (entered - late.count(left))
        out[fraud_rate_column(label, key)] = np.where(
            n_known > 0, n_fraud / np.maximum(n_known, 1), NO_LABEL_RATE
        )
    return out


class _EarlierCounts:
    """For some rows of a `_SortedGroups` (sorted positions `rows`), per sorted row at time t: how
    many of them, in its group, have a value v < t; each v given by its rank on the clock,
    #{distinct times <= v}, since v < t exactly when that rank is <= #{distinct times < t}."""

    def __init__(self, g: _SortedGroups, rows: np.ndarray) -> None:
        self._g, self._rows = g, rows
        clock = g.clock
        self._m = np.int64(len(clock.times) + 2)
        self._start = g.group * self._m
        self._asked = self._start + clock.rank_before(0)[g.order] + 1

    def rank_through(self, shift: int | float) -> np.ndarray:
        """The ranks of t_r + shift of the rows (as `_Clock.rank_through`, for these rows only)."""
        return np.searchsorted(self._g.clock.times, self._g.t[self._rows] + shift, side="right")

    def clock_rank(self, values: np.ndarray) -> np.ndarray:
        """The ranks of the rows' `values` (sorted order, the whole group's length)."""
        return np.searchsorted(self._g.clock.times, values[self._rows], side="right")

    def count(self, ranks: np.ndarray) -> np.ndarray:
        """Per sorted row: its group's rows whose rank (one per row of `rows`) is below its t."""
        keys = np.sort(self._g.group[self._rows] * self._m + ranks)
        return np.searchsorted(keys, self._asked) - np.searchsorted(keys, self._start)


def _distinct_entities(
    g: _SortedGroups,
    clock: _Clock,
    entity: pd.Series,
    windows: list[tuple[str, int | float]],
    key: str,
) -> dict[str, np.ndarray]:
    """Per sorted row of `g`: the distinct known entities among the earlier rows of its group,
    per window.

    A (key, entity) pair is in the window [t - w, t) when one of its rows r is there whose pair's
    previous row is before t - w; that holds for t in (L_r, R_r] with L_r = max(t_r, prev_r + w)
    (t_r without a previous row) and R_r = t_r + w, an empty interval for a second row at the same
    time. So the count is #{r: L_r < t} - #{r: R_r < t} over the group's rows, found on the
    clock's ranks: v < t exactly when #{times <= v} <= #{times < t}.
    """
    e = key_codes(entity)[g.order]
    known = ~entity.isna().to_numpy()[g.order]
    # (group, entity, time) order, from g's (group, time) order by a stable sort
    pair_order = np.argsort(g.group * np.int64(e.max() + 1 if len(e) else 1) + e, kind="stable")
    pair_keys, pair_cards = g.group[pair_order], e[pair_order]
    same = np.zeros(len(e), dtype=bool)
    same[1:] = (pair_keys[1:] == pair_keys[:-1]) & (pair_cards[1:] == pair_cards[:-1])
    prev = np.full(len(e), -1, dtype=np.int64)
    prev[pair_order[1:][same[1:]]] = pair_order[:-1][same[1:]]
    has_prev = prev >= 0
    now = clock.rank_through(0)[g.order]
    cards = np.flatnonzero(known)
    counts = _EarlierCounts(g, cards)
    out: dict[str, np.ndarray] = {}
    for label, w in windows:
        through = clock.rank_through(w)[g.order]
        entered = np.where(has_prev, np.maximum(now, through[np.maximum(prev, 0)]), now)
        out[entity_distinct_column(label, key)] = (
            counts.count(entered[cards]) - counts.count(through[cards])
        ).astype(np.int64)
    return out


def _check_windows(windows_days: Sequence[float]) -> list[float]:
    try:
        values = [float(w) for w in windows_days]
    except (TypeError, ValueError):
        raise ConfigError(
            f"features.windows_days must be a list of numbers of days, found {windows_days!r}"
        ) from None
    for w in values:
        if not math.isfinite(w) or w <= 0:
            raise ConfigError(f"features.windows_days must all be > 0, found {w!r}")
    unique = sorted(set(values))
    labels = [window_label(w) for w in unique]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"features.windows_days {values} give repeated names {labels}")
    return unique


def build_features(
    frame: pd.DataFrame,
    schema: Schema,
    *,
    label_delay_days: float = 7.0,
    windows_days: Sequence[float] = (1, 7, 30),
    label_delays: np.ndarray | None = None,
    merchant_entities: bool = False,
) -> pd.DataFrame:
    """A new frame: the input's columns, index and row order plus the causal engineered columns.

    See the module docstring for the columns, the causality rule and the fill values.
    `label_delays` (per row, days; NaN: none known) are the frauds' real delays, from the dates of
    their reports (`pipeline.data.labels`): in the fraud rates, a fraud reported later than
    `label_delay_days` after its transaction counts as legitimate until its report.
    `merchant_entities` adds each merchant's distinct cards per window. Without a
    time column nothing can be computed causally and the copy has no engineered columns. Raises
    `ConfigError` for invalid windows or delay and `DataError` for unusable columns or when an
    engineered column name already exists in the frame.
    """
    if not math.isfinite(label_delay_days) or label_delay_days < 0:
        raise ConfigError(
            f"features.label_delay_days must be a number >= 0, found {label_delay_days!r}"
        )
    windows = _check_windows(windows_days)
    if schema.time is None or schema.time not in frame.columns:
        log.info("build_features: no time column, no causal features can be built")
        return frame.copy()
    started = time.perf_counter()

    s = frame[schema.time]
    t, per_day = time_axis(s, where=f"build_features: time column {schema.time!r}")
    is_seconds = per_day == SECONDS_PER_DAY
    if schema.numeric_time and not is_seconds:
        raise DataError(
            f"build_features: time column {schema.time!r} holds datetimes but the schema says "
            f"time_unit={schema.time_unit!r}"
        )
    if not schema.numeric_time and is_seconds:
        raise DataError(
            f"build_features: time column {schema.time!r} holds numbers ({s.dtype}) but the "
            f"schema says time_unit='datetime'; set time_unit to the numbers' unit "
            f"({numeric_units()})"
        )
    seconds_per_unit = 1.0 if is_seconds else SECONDS_PER_DAY / NANOSECONDS_PER_DAY

    unit_windows = [(window_label(w), duration_units(w, per_day)) for w in windows]

    new: dict[str, np.ndarray] = dict(_time_features(s, t, is_seconds)) if schema.clock else {}
    for date in schema.dates:
        if date in frame.columns:
            new[days_since_column(date)] = _days_since(frame[date], date, t, per_day)
    clock = _Clock(t)
    amount = None
    if schema.amount is not None and schema.amount in frame.columns:
        amount = _float64_values(frame, schema.amount, "amount")
    if schema.entity is not None and schema.entity in frame.columns:
        g = _SortedGroups(key_codes(frame[schema.entity]), clock)
        for name, values in _entity_features(g, amount, unit_windows, seconds_per_unit).items():
            new[name] = g.unsort(values)
    keys = [k for k in schema.velocity if k in frame.columns]
    merchant = schema.merchant is not None and schema.merchant in frame.columns
    y = None
    if (merchant or keys) and schema.label in frame.columns:
        y = _labels(frame, schema.label)
    elif merchant or keys:
        log.info("build_features: no label column, fraud rates are left out")
    delay = duration_units(label_delay_days, per_day)
    reported = None
    if y is not None and label_delays is not None:
        reported = _reported(t, per_day, np.asarray(label_delays, dtype=np.float64))
    has_entity = schema.entity is not None and schema.entity in frame.columns
    entity = frame[schema.entity] if has_entity else None
    for key in keys:
        g = _SortedGroups(key_codes(frame[key]), clock)
        found = _entity_features(g, None, unit_windows, seconds_per_unit, key)
        if y is not None:
            found |= _fraud_rates(g, y, unit_windows, delay, key, reported)
        for name, values in found.items():
            new[name] = g.unsort(values)
        if entity is not None:
            for name, values in _distinct_entities(g, clock, entity, unit_windows, key).items():
                new[name] = g.unsort(values)
    if merchant:
        assert schema.merchant is not None
        g = _SortedGroups(key_codes(frame[schema.merchant]), clock)
        for name, values in _merchant_features(g, y, unit_windows, delay, reported).items():
            new[name] = g.unsort(values)
        if merchant_entities and entity is not None:
            for name, values in _distinct_entities(
                g, clock, entity, unit_windows, "merchant"
            ).items():
                new[name] = g.unsort(values)

    clash = [c for c in new if c in frame.columns]
    if clash:
        raise DataError(
            f"the data has column(s) named as features built from its time, amount and keys: "
            f"{', '.join(repr(c) for c in clash)}; rename them in the data, or list them under "
            "data.schema.drop (features.enabled: false builds none)"
        )
    out = pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)
    log.debug(
        "build_features: %d columns on %d rows in %.2f s",
        len(new),
        len(frame),
        time.perf_counter() - started,
    )
    return out


def _reported(t: np.ndarray, per_day: int | float, days: np.ndarray) -> np.ndarray:
    """Each row's report time on the clock `t` (int nanoseconds or float seconds), `days` after
    its time; NaN days: never late (NaN, or the smallest int64)."""
    if len(days) != len(t):
        raise DataError(f"build_features: label_delays has {len(days)} rows, the frame {len(t)}")
    dated = ~np.isnan(days)
    out = np.full(len(t), np.iinfo(np.int64).min if isinstance(per_day, int) else np.nan, t.dtype)
    out[dated] = t[dated] + days_to_units(days[dated], per_day)
    return out


_DATE_TEXT = re.compile(r"\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
"""The start of a date written as text: 2026-01-31, 31/01/2026, 01.31.26."""


def _numbers_as_text(values: pd.Series, name: str) -> tuple[str, pd.Series | None]:
    """Of a text column that holds numbers: (`money_hint` when its values that are no plain
    number are all amounts as exports write them, '1,234.50', '$12.00'; else ''), and else the
    counts of those values when they are few (at most 5 % of its values and 10 distinct texts:
    '-', '?', 'unknown' written for a missing value), else None. ('', None) for digits kept as
    text and for text."""
    given = values.dropna().astype(str)
    texts = given[pd.to_numeric(given, errors="coerce").isna()]
    if texts.empty:
        return "", None
    money = money_hint(texts, name)
    if money or len(texts) > 0.05 * len(given) or texts.nunique() > 10:
        return money, None
    return "", texts.value_counts()


def _looks_dated(values: pd.Series) -> bool:
    """Whether a text column holds dates (datetimes, or text that starts as a date does)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    sample = values.dropna().head(200).astype(str)
    return len(sample) > 0 and bool(sample.str.match(_DATE_TEXT).all())


NAMELESS = re.compile(r"Unnamed: \d+")
"""How pandas names a CSV column whose header is empty."""


def feature_columns(
    frame: pd.DataFrame, schema: Schema, *, where: str = "feature_columns"
) -> tuple[list[str], list[str]]:
    """The model's input columns: (numeric, categorical), each in frame order.

    Everything except the schema's roles (`Schema.roles`: the label, id, time, entity, merchant,
    drop, date and velocity columns). Categorical columns are the schema's categoricals present in
    the frame; the others must be numeric or boolean, else `DataError` (declare them categorical or
    drop them), as for a column without a name in the header (a row index).
    """
    roles = schema.roles()
    declared = set(schema.categorical)
    numeric: list[str] = []
    categorical: list[str] = []
    other: list[str] = []
    for column in frame.columns:
        if column in roles:
            continue
        if column in declared:
            categorical.append(column)
            continue
        dtype = frame[column].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        else:
            other.append(column)
    if other:
        dated = [c for c in other if _looks_dated(frame[c])]
        hint = (
            f"; {', '.join(repr(c) for c in dated)} hold{'s' * (len(dated) == 1)} dates (e.g. "
            f"{frame[dated[0]].dropna().iloc[0]!r}): list a date under schema.dates to use the "
            "days from it to the row's time"
            if dated and schema.time is not None
            else ""
        )
        shown = [f"{c} ({frame[c].dtype})" for c in other]
        texts = [c for c in other if c not in dated]
        money: dict[str, str] = {}
        marked: dict[str, pd.Series] = {}
        for c in texts:
            money_text, counts = _numbers_as_text(frame[c], c)
            if money_text:
                money[c] = money_text
            elif counts is not None:
                marked[c] = counts
        for c, money_text in money.items():
            hint += f"; {c!r} holds numbers written as text{money_text}"
        for c, counts in marked.items():
            shown_texts = ", ".join(f"{t!r} in {n:,} row{'s' * (n > 1)}" for t, n in counts.items())
            hint += (
                f"; {c!r} holds numbers except {shown_texts}: if that marks a missing value, "
                "leave the field empty in the file (NA, N/A, NaN and null read as missing too) "
                "and it is a numeric feature"
            )
        every = (
            f" (all of them: categorical: {yaml_list([*categorical, *texts])})"
            if len(texts) > 1
            else ""
        )
        ids = [
            c
            for c in texts
            if c not in marked
            and c not in money
            and frame[c].nunique() > max(50, len(frame) // 100)
        ]
        if ids and schema.time is not None:
            hint += (
                f"; {', '.join(repr(c) for c in ids)} ha{'s' if len(ids) == 1 else 've'} many "
                "distinct values: an id that several transactions share (a device, an IP "
                "address, an e-mail) can go under schema.velocity, whose earlier transactions "
                "are then counted as features"
            )
        raise DataError(
            f"{where}: column(s) {shown} are neither numeric nor declared categorical; "
            f"add them to schema.categorical{every} or schema.drop{hint}"
        )
    nameless = [c for c in (*numeric, *categorical) if NAMELESS.fullmatch(str(c))]
    if nameless:
        names = ", ".join(repr(c) for c in nameless)
        raise DataError(
            f"{where}: column(s) {names} have no name in the file's header (pandas "
            "calls such a column 'Unnamed: <position>'): usually a row index, which pandas' "
            "to_csv writes unless index=False, and no feature. List them in schema.drop "
            f"(drop: {yaml_list(nameless)}), or write the file without them"
        )
    if not numeric and not categorical:
        raise DataError(f"{where}: no feature column left besides the schema's roles")
    return numeric, categorical


def categories_as_scored(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """`frame` with its categorical columns as the exported scorer reads them
    (`models.scorer.inputs.as_category`): numbers stay numbers, anything else is text (a column
    of booleans 'False' and 'True', a pandas `category` column its values), so that the model
    is trained on the categories it is later given."""
    from models.scorer.inputs import as_category

    out = frame
    for c in categorical:
        s = frame[c]
        values = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s
        numbers = pd.api.types.is_numeric_dtype(values.dtype) and not (
            pd.api.types.is_bool_dtype(values.dtype)
        )
        as_read = as_category(s, numbers)
        if as_read is not s:
            if out is frame:
                out = frame.copy(deep=False)
            out[c] = as_read
    return out


ONEHOT_MEMORY_SHARE = 8
"""The one-hot block of the categorical columns may take up to 1/8 of the machine's memory: the
pipeline holds several copies of the training rows (the encoded matrix, XGBoost's, a sampler's)."""


def machine_memory() -> int | None:
    """Physical memory in bytes, where the system says (Linux, macOS)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def category_levels(frame: pd.DataFrame, categorical: Sequence[str]) -> dict[str, int]:
    """Each categorical column's distinct values over the frame's rows, missing counted as one."""
    return {c: int(frame[c].nunique(dropna=False)) for c in categorical}


def one_hot_width(levels: dict[str, int], max_categories: int | None) -> int:
    """The one-hot columns of categorical columns of `levels` distinct values, each at most
    `max_categories` (`classifier.max_categories`)."""
    return sum(n if max_categories is None else min(n, max_categories) for n in levels.values())


def check_category_sizes(
    frame: pd.DataFrame,
    categorical: Sequence[str],
    *,
    where: str,
    memory: int | None = None,
    max_categories: int | None = None,
) -> None:
    """`DataError` when one-hot encoding the categorical columns over the frame's rows (each in
    at most `max_categories` columns, `classifier.max_categories`) would take more than
    1/`ONEHOT_MEMORY_SHARE` of `memory` (default: this machine's; 16 GiB when unknown), naming
    the columns with the most values and what to do, before any model is fitted."""
    if not categorical:
        return
    memory = memory or machine_memory() or 16 * 2**30
    levels = category_levels(frame, categorical)
    width = one_hot_width(levels, max_categories)
    need = len(frame) * width * 4  # float32
    if need <= memory / ONEHOT_MEMORY_SHARE:
        return
    largest = sorted(levels.items(), key=lambda kv: -kv[1])[:3]
    named = ", ".join(f"{c!r} ({n:,} distinct values)" for c, n in largest)
    raise DataError(
        f"{where}: the categorical columns one-hot encode into {width:,} columns over "
        f"{len(frame):,} rows, {need / 2**30:,.1f} GiB of float32 per copy of the data, more "
        f"than 1/{ONEHOT_MEMORY_SHARE} of this machine's {memory / 2**30:.3g} GiB; the largest: "
        f"{named}. A card or merchant id is better declared as data.schema.entity or merchant, "
        "a device, IP address or e-mail under data.schema.velocity (history features); drop an "
        "id-like or free-text column (data.schema.drop), or "
        + (
            "cap each column's one-hot columns with classifier.max_categories (e.g. 100: "
            "the rarer values share one)"
            if max_categories is None
            else f"lower classifier.max_categories (now {max_categories})"
        )
    )


# --------------------------------------------------------------------------------------------
# The rules engineered columns obey. A generator of synthetic rows generates the free columns
# and computes the others through these declarations (`FeatureRules.encode` / `decode`), so a
# generated row obeys every rule a real row obeys.


@dataclass(frozen=True)
class Flag:
    """`column` = 1 where `source` >= `threshold` (`above`), or where `source` < `threshold`."""

    column: str
    source: str
    threshold: float
    above: bool

    @property
    def name(self) -> str:
        return f"{self.column} = ({self.source} {'>=' if self.above else '<'} {self.threshold:g})"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.column, self.source)

    def values(self, source: np.ndarray) -> np.ndarray:
        source = np.asarray(source, dtype=np.float64)
        hit = source >= self.threshold if self.above else source < self.threshold
        return hit.astype(np.int8)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=[self.column])

    def decode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{self.column: self.values(frame[self.source].to_numpy())})

    def violations(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.column].to_numpy() != self.values(frame[self.source].to_numpy())


@dataclass(frozen=True)
class Ratio:
    """`column` = `numerator` / `denominator` (`amount_ratio`, with its fill value)."""

    column: str
    numerator: str
    denominator: str

    @property
    def name(self) -> str:
        return f"{self.column} = {self.numerator} / {self.denominator}"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.column, self.numerator, self.denominator)

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        return amount_ratio(
            frame[self.numerator].to_numpy(dtype=np.float64, na_value=np.nan),
            frame[self.denominator].to_numpy(dtype=np.float64, na_value=np.nan),
        )

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=[self.column])

    def decode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{self.column: self._values(frame)})

    def violations(self, frame: pd.DataFrame) -> np.ndarray:
        got = frame[self.column].to_numpy(dtype=np.float64, na_value=np.nan)
        return ~np.isclose(got, self._values(frame), rtol=1e-9, atol=1e-12)


@dataclass(frozen=True)
class Windows:
    """Counts over growing windows, and optionally the mean amount of each window's rows.

    Counts never decrease from one window to the next, and a window's mean is
    `NO_HISTORY_MEAN` when its count is 0 and equals the shorter window's mean when no row was
    added. Encoded as the first window's count and mean and, for each longer window, the rows it
    adds (`count`, >= 0) and their mean amount (missing when it adds none), so that decoding
    gives nested counts and consistent means whatever the generated values.
    """

    counts: tuple[str, ...]
    means: tuple[str, ...] = ()
    amount: str | None = None  # the row's amount: a stand-in for a missing generated mean

    @property
    def name(self) -> str:
        means = f" and consistent means {', '.join(self.means)}" if self.means else ""
        return f"nested counts {' <= '.join(self.counts)}{means}"

    @property
    def reads(self) -> tuple[str, ...]:
        return (*self.counts, *self.means, *([self.amount] if self.amount else []))

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        n = [frame[c].to_numpy(dtype=np.float64) for c in self.counts]
        for k in range(len(n) - 1, 0, -1):
            out[self.counts[k]] = _like(frame[self.counts[k]], n[k] - n[k - 1])
        if self.means:
            m = [frame[c].to_numpy(dtype=np.float64) for c in self.means]
            out[self.means[0]] = np.where(n[0] > 0, m[0], np.nan)
            for k in range(len(m) - 1, 0, -1):
                added = n[k] - n[k - 1]
                total = n[k] * m[k] - n[k - 1] * m[k - 1]
                out[self.means[k]] = np.where(added > 0, total / np.maximum(added, 1), np.nan)
        return out

    def decode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        added = [
            np.maximum(frame[c].to_numpy(dtype=np.float64, na_value=0.0), 0) for c in self.counts
        ]
        n = np.cumsum(np.vstack(added), axis=0)
        for k, column in enumerate(self.counts):
            out[column] = _like(frame[column], n[k])
        if self.means:
            total = np.zeros(len(frame))
            mean = np.full(len(frame), NO_HISTORY_MEAN)
            stand_in = np.zeros(len(frame))
            if self.amount is not None:
                stand_in = frame[self.amount].to_numpy(dtype=np.float64, na_value=0.0)
            for k, column in enumerate(self.means):
                ring = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
                # rows added without a generated mean: the shorter window's mean, else the amount
                prior = np.where(n[k] - added[k] > 0, mean, stand_in)
                ring = np.where(np.isnan(ring), prior, ring)
                total = total + added[k] * ring
                mean = np.where(n[k] > 0, total / np.maximum(n[k], 1), NO_HISTORY_MEAN)
                out[column] = mean
        return out

    def violations(self, frame: pd.DataFrame) -> np.ndarray:
        n = [frame[c].to_numpy(dtype=np.float64) for c in self.counts]
        bad = np.zeros(len(frame), dtype=bool)
        for k in range(1, len(n)):
            bad |= n[k] < n[k - 1]
        for k, column in enumerate(self.means):
            m = frame[column].to_numpy(dtype=np.float64)
            bad |= (n[k] == 0) & (m != NO_HISTORY_MEAN)
            if k:
                previous = frame[self.means[k - 1]].to_numpy(dtype=np.float64)
                same = (n[k] == n[k - 1]) & (n[k] > 0)
                bad |= same & ~np.isclose(m, previous, rtol=1e-9, atol=1e-9)
        return bad


@dataclass(frozen=True)
class Recency:
    """The seconds since the previous transaction agree with the window counts.

    A window holds a row exactly when the previous one is within it: count_w > 0 if and only
    if the gap is <= w (and the gap is `NO_PREVIOUS_SECONDS` or more when nothing is in the
    longest window). So the counts fix an interval for the gap: (0, w1] when the shortest window
    holds a row, [w_(k-1), w_k] when the k-th is the shortest that does, [w_max, inf) when none
    does. Encoded as the gap's position inside that interval on a log scale (0 to 1, or >= 0 for
    the open one), so decoding gives a gap inside the interval the generated counts imply.
    """

    column: str
    counts: tuple[str, ...]
    windows_seconds: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.column} within the shortest window that holds a row"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.column, *self.counts)

    def _bounds(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        low = np.zeros(len(frame))
        high = np.full(len(frame), np.inf)
        for column, w in zip(self.counts[::-1], self.windows_seconds[::-1], strict=True):
            has = frame[column].to_numpy(dtype=np.float64) > 0
            high = np.where(has, w, high)
            low = np.where(has, low, np.maximum(low, w))
        return low, high

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        low, high = self._bounds(frame)
        gap = frame[self.column].to_numpy(dtype=np.float64)
        lo, hi = np.log1p(low), np.log1p(np.where(np.isinf(high), low, high))
        closed = np.isfinite(high)
        position = np.where(
            closed,
            (np.log1p(gap) - lo) / np.where(closed, hi - lo, 1.0),
            np.log1p(gap) - lo,
        )
        return frame.assign(**{self.column: position})

    def decode(self, frame: pd.DataFrame) -> pd.DataFrame:
        low, high = self._bounds(frame)
        position = frame[self.column].to_numpy(dtype=np.float64, na_value=0.0)
        position = np.maximum(np.nan_to_num(position, nan=0.0), 0.0)
        closed = np.isfinite(high)
        position = np.where(closed, np.minimum(position, 1.0), position)
        lo, hi = np.log1p(low), np.log1p(np.where(closed, high, low))
        gap = np.expm1(np.where(closed, lo + position * (hi - lo), lo + position))
        # exp(log(x)) can land an ulp outside the interval
        return frame.assign(**{self.column: np.clip(gap, low, high)})

    def violations(self, frame: pd.DataFrame) -> np.ndarray:
        low, high = self._bounds(frame)
        gap = frame[self.column].to_numpy(dtype=np.float64)
        return (gap < low) | (gap > high)


@dataclass(frozen=True)
class Distinct:
    """A velocity column's distinct entities per window agree with its counts per window.

    None without rows, one to the count with rows, never fewer in a longer window, and at most one
    more per row a longer window adds. So each window's distinct count lies in an interval fixed by
    the counts and the shorter window's distinct count; encoded as its position there (0 to 1), so
    that decoding gives whole numbers inside the intervals whatever the generated values.
    """

    counts: tuple[str, ...]
    distinct: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"distinct {', '.join(self.distinct)} within the counts {', '.join(self.counts)}"

    @property
    def reads(self) -> tuple[str, ...]:
        return (*self.distinct, *self.counts)

    def _added(
        self, frame: pd.DataFrame, k: int, before: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The bounds of the distinct entities window k adds to the shorter window's `before`."""
        n = frame[self.counts[k]].to_numpy(dtype=np.float64)
        shorter = frame[self.counts[k - 1]].to_numpy(dtype=np.float64) if k else np.zeros(len(n))
        low = np.where((before == 0) & (n > 0), 1.0, 0.0)
        return low, np.maximum(n - shorter, low)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        before = np.zeros(len(frame))
        for k, column in enumerate(self.distinct):
            d = frame[column].to_numpy(dtype=np.float64)
            low, high = self._added(frame, k, before)
            span = high - low
            out[column] = np.where(span > 0, (d - before - low) / np.where(span > 0, span, 1.0), 0)
            before = d
        return out

    def decode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        before = np.zeros(len(frame))
        for k, column in enumerate(self.distinct):
            position = frame[column].to_numpy(dtype=np.float64, na_value=0.0)
            position = np.clip(np.nan_to_num(position, nan=0.0), 0.0, 1.0)
            low, high = self._added(frame, k, before)
            before = before + low + np.round(position * (high - low))
            out[column] = before.astype(np.int64)
        return out

    def violations(self, frame: pd.DataFrame) -> np.ndarray:
        bad = np.zeros(len(frame), dtype=bool)
        before = np.zeros(len(frame))
        for k, column in enumerate(self.distinct):
            d = frame[column].to_numpy(dtype=np.float64)
            low, high = self._added(frame, k, before)
            added = d - before
            bad |= (added < low) | (added > high) | (d != np.round(d))
            before = d
        return bad


Rule = Flag | Ratio | Windows | Recency | Distinct

WEEKEND = Flag("is_weekend", "day_of_week", 5, above=True)
NIGHT = Flag("is_night", "hour", NIGHT_END_HOUR, above=False)

INDEPENDENT_FEATURES = re.compile(r"hour|day_of_week|days_since_.+|.+_fraud_rate_[^_]+")
"""The names of the engineered columns that no rule ties to another column (a full match)."""


def _like(column: pd.Series, values: np.ndarray) -> np.ndarray:
    """`values` in the dtype of `column` (counts stay integers)."""
    if pd.api.types.is_integer_dtype(column.dtype):
        return np.round(values).astype(column.dtype)
    return values


@dataclass(frozen=True)
class FeatureRules:
    """The rules that hold between the columns of a feature table, in the order they decode.

    `encode` maps real rows to the free columns a generator learns (derived columns dropped,
    nested counts as increments); `decode` maps generated free columns back to full rows that
    obey every rule; `violations` counts the rows that break each rule.
    """

    rules: tuple[Rule, ...] = ()

    @property
    def derived(self) -> list[str]:
        """Columns computed from others, never generated."""
        return [r.column for r in self.rules if isinstance(r, Flag | Ratio)]

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        for rule in reversed(self.rules):
            frame = rule.encode(frame)
        return frame

    def decode(self, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Full rows from free columns, in `columns` order when given."""
        for rule in self.rules:
            frame = rule.decode(frame)
        return frame if columns is None else frame[list(columns)]

    def violations(self, frame: pd.DataFrame) -> dict[str, int]:
        """Rows that break each rule, by the rule's name."""
        return {r.name: int(r.violations(frame).sum()) for r in self.rules}

    def broken_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row: does it break any rule?"""
        bad = np.zeros(len(frame), dtype=bool)
        for rule in self.rules:
            bad |= rule.violations(frame)
        return bad

    def holding(self, frame: pd.DataFrame) -> FeatureRules:
        """The rules that every row of `frame` obeys (a user's columns may break a rule that
        holds for the built-in features, e.g. with missing amounts); the others are dropped."""
        kept = tuple(r for r in self.rules if not r.violations(frame).any())
        for rule in set(self.rules) - set(kept):
            log.info("rule %r does not hold on the training rows: not enforced", rule.name)
        return FeatureRules(kept)


def feature_rules(
    columns: Sequence[str],
    *,
    amount: str | None,
    windows_days: Sequence[float],
    velocity: Sequence[str] = (),
) -> FeatureRules:
    """The rules between the engineered columns among `columns` (as `build_features` names
    them), with `amount` the schema's amount column and `velocity` its velocity columns; a rule
    needs all its columns present."""
    labels = [window_label(w) for w in _check_windows(windows_days)]
    seconds = tuple(w * SECONDS_PER_DAY for w in _check_windows(windows_days))
    counts = tuple(entity_count_column(lb) for lb in labels)
    means = tuple(entity_mean_column(lb) for lb in labels)
    candidates: list[Rule] = [
        *([Windows(counts, means, amount)] if amount is not None else []),
        Windows(counts, means),
        Windows(counts),
        Windows(tuple(merchant_count_column(lb) for lb in labels)),
        Recency(SECONDS_SINCE_PREVIOUS, counts, seconds),
        WEEKEND,
        NIGHT,
    ]
    if amount is not None:
        candidates.append(Ratio(amount_ratio_column(labels[-1]), amount, means[-1]))
    for key in velocity:
        key_counts = tuple(entity_count_column(lb, key) for lb in labels)
        candidates += [
            Windows(key_counts),
            Recency(secs_since_prev_column(key), key_counts, seconds),
            Distinct(key_counts, tuple(entity_distinct_column(lb, key) for lb in labels)),
        ]
    present = set(columns)
    rules: list[Rule] = []
    for rule in candidates:
        duplicate = isinstance(rule, Windows) and any(
            isinstance(r, Windows) and r.counts == rule.counts for r in rules
        )
        if set(rule.reads) <= present and not duplicate:
            rules.append(rule)
    return FeatureRules(tuple(rules))
