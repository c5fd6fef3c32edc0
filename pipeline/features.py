"""Causal window features for transaction data, and the model's input columns.

`build_features` adds engineered columns to a copy of the frame. Every feature of a row is computed
from that row's own raw values and from rows *strictly before* it in time:

- "before t" means a strictly earlier timestamp. Rows with identical timestamps do not see each
  other (a burst logged within the same second is not counted in its own history), and a row never
  sees itself. Window ``w`` covers the half-open interval ``[t - w, t)``.
- Labels are used only once known: a label becomes known ``label_delay_days`` after its
  transaction, so the merchant fraud rate at ``t`` over window ``w`` counts only transactions in
  ``[t - delay - w, t - delay)``. Missing labels (NaN) count as not yet known.
- Hence changing, adding or removing rows at times ``> t`` never changes the features of rows at
  ``<= t``; labels of rows later than ``t - delay`` never change features at ``t``.

Columns added (only where the schema columns they need are present in the frame; ``{w}`` is a
window such as ``1d``, ``7d``, ``30d``; the longest window is ``{wmax}``):

===============================  ===========================  ==================================
column                           needs                        value when there is no history
===============================  ===========================  ==================================
``hour``                         time                         (always defined) fractional hour
``day_of_week``                  time (datetime)              (always defined) Monday = 0
``is_weekend``                   time (datetime)              (always defined) Sat/Sun = 1
``is_night``                     time (datetime)              (always defined) 0 <= hour < 6
``entity_n_{w}``                 time, entity                 0
``entity_mean_amount_{w}``       time, entity, amount         0.0 (`NO_HISTORY_MEAN`)
``entity_amount_ratio_{wmax}``   time, entity, amount         1.0 (`NO_HISTORY_RATIO`)
``entity_secs_since_prev``       time, entity                 30 days (`NO_PREVIOUS_SECONDS`)
``merchant_n_{w}``               time, merchant               0
``merchant_fraud_rate_{w}``      time, merchant, label        0.0 (`NO_LABEL_RATE`)
===============================  ===========================  ==================================

With ``time_unit="seconds"`` (seconds since the first transaction, as in the credit-card layout)
only ``hour = (t % 86400) / 3600`` is derived from the clock: the weekday is unknown. Entity means
use rows with a known amount; the ratio is 1.0 when the mean is 0 or the row's amount is missing.
Engineered columns never hold NaN. Nothing is fitted here: encoders and scalers belong to the model
pipeline, fitted on training folds only.

The computation is vectorised: rows are sorted by (group, time) once and every window boundary is
found with one ``numpy.searchsorted`` over the whole table; window sums are differences of
per-group cumulative sums.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError, DataError
from pipeline.split import NANOSECONDS_PER_DAY, SECONDS_PER_DAY, time_axis

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

    def rank_before(self, offset: int | float) -> np.ndarray:
        """Per row (input order): how many distinct times are < t - offset."""
        if offset not in self._ranks:
            r = np.searchsorted(self.times, self._sorted - offset, side="left")
            out = np.empty(len(r), dtype=np.int64)
            out[self._order] = r
            self._ranks[offset] = out
        return self._ranks[offset]


class _SortedGroups:
    """Rows sorted by (group, time); finds, for every row, per-group time boundaries at once.

    A row's key is ``group * m + rank(time)`` with `m` above every rank, so one sorted int64 array
    orders the whole table and a boundary "first row of my group at or after time s" is one
    `numpy.searchsorted` of ``group * m + rank(s)`` for all rows together.
    """

    def __init__(self, codes: np.ndarray, clock: _Clock) -> None:
        self._clock = clock
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
        rank = self._clock.rank_before(offset)[self.order]
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


def _group_codes(keys: pd.Series) -> np.ndarray:
    """Integer codes of a key column; each missing key is its own group (it has no history)."""
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    missing = codes < 0
    if missing.any():
        codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes


def _numeric(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    s = frame[column]
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    raise DataError(f"build_features: {role} column {column!r} must be numeric, found {s.dtype}")


def _labels(frame: pd.DataFrame, column: str) -> np.ndarray:
    y = _numeric(frame, column, "label")
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
        "is_weekend": (dow >= 5).astype(np.int8),
        "is_night": (hour < NIGHT_END_HOUR).astype(np.int8),
    }


def _entity_features(
    g: _SortedGroups,
    amount: np.ndarray | None,
    windows: list[tuple[str, int | float]],
    seconds_per_unit: float,
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
        out[f"entity_n_{label}"] = (hi - lo).astype(np.int64)
        if amount is not None:
            n_known = g.window_sum(c_known, lo, hi)
            total = g.window_sum(c_amount, lo, hi)
            mean = np.where(n_known > 0, total / np.maximum(n_known, 1), NO_HISTORY_MEAN)
            out[f"entity_mean_amount_{label}"] = mean
    if amount is not None and mean is not None:
        # `mean` is the longest window's: windows are sorted ascending.
        ok = known & (mean != 0)
        ratio = np.where(ok, a / np.where(ok, mean, 1.0), NO_HISTORY_RATIO)
        out[f"entity_amount_ratio_{windows[-1][0]}"] = ratio
    has_prev = hi > g.start
    prev_t = g.t[np.maximum(hi - 1, 0)]
    gap = (g.t - prev_t).astype(np.float64) * seconds_per_unit
    out["entity_secs_since_prev"] = np.where(has_prev, gap, NO_PREVIOUS_SECONDS)
    return out


def _merchant_features(
    g: _SortedGroups,
    y: np.ndarray | None,
    windows: list[tuple[str, int | float]],
    delay: int | float,
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    hi = g.self_pos
    for label, w in windows:
        lo = g.first_at_or_after(w)
        out[f"merchant_n_{label}"] = (hi - lo).astype(np.int64)
    if y is None:
        return out
    ys = y[g.order]
    known = ~np.isnan(ys)
    c_known = g.cumsum(known.astype(np.int64))
    c_fraud = g.cumsum(np.where(known, ys, 0.0).astype(np.int64))
    d_hi = g.first_at_or_after(delay)
    for label, w in windows:
        d_lo = g.first_at_or_after(delay + w)
        n_known = g.window_sum(c_known, d_lo, d_hi)
        n_fraud = g.window_sum(c_fraud, d_lo, d_hi)
        out[f"merchant_fraud_rate_{label}"] = np.where(
            n_known > 0, n_fraud / np.maximum(n_known, 1), NO_LABEL_RATE
        )
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
) -> pd.DataFrame:
    """A new frame: the input's columns, index and row order plus the causal engineered columns.

    See the module docstring for the columns, the causality rule and the fill values. Without a
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
    if schema.time_unit == "seconds" and not is_seconds:
        raise DataError(
            f"build_features: time column {schema.time!r} holds datetimes but the schema says "
            "time_unit='seconds'"
        )
    if schema.time_unit != "seconds" and is_seconds:
        raise DataError(
            f"build_features: time column {schema.time!r} holds numbers ({s.dtype}) but the "
            "schema says time_unit='datetime'; set time_unit: seconds"
        )
    seconds_per_unit = 1.0 if is_seconds else SECONDS_PER_DAY / NANOSECONDS_PER_DAY

    def units(days: float) -> int | float:
        return round(days * per_day) if not is_seconds else days * per_day

    unit_windows = [(window_label(w), units(w)) for w in windows]

    new: dict[str, np.ndarray] = dict(_time_features(s, t, is_seconds))
    clock = _Clock(t)
    amount = None
    if schema.amount is not None and schema.amount in frame.columns:
        amount = _numeric(frame, schema.amount, "amount")
    if schema.entity is not None and schema.entity in frame.columns:
        g = _SortedGroups(_group_codes(frame[schema.entity]), clock)
        for name, values in _entity_features(g, amount, unit_windows, seconds_per_unit).items():
            new[name] = g.unsort(values)
    if schema.merchant is not None and schema.merchant in frame.columns:
        y = None
        if schema.label in frame.columns:
            y = _labels(frame, schema.label)
        else:
            log.info("build_features: no label column, merchant fraud rates are left out")
        g = _SortedGroups(_group_codes(frame[schema.merchant]), clock)
        delay = units(label_delay_days)
        for name, values in _merchant_features(g, y, unit_windows, delay).items():
            new[name] = g.unsort(values)

    clash = [c for c in new if c in frame.columns]
    if clash:
        raise DataError(
            f"build_features: the frame already has column(s) {clash}, which build_features "
            "adds; were the features built twice? Rename or drop them"
        )
    out = pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)
    log.debug(
        "build_features: %d columns on %d rows in %.2f s",
        len(new),
        len(frame),
        time.perf_counter() - started,
    )
    return out


def feature_columns(frame: pd.DataFrame, schema: Schema) -> tuple[list[str], list[str]]:
    """The model's input columns: (numeric, categorical), each in frame order.

    Everything except the label, id, time, entity, merchant and drop columns. Categorical columns
    are the schema's categoricals present in the frame; the others must be numeric or boolean, else
    `DataError` (declare them categorical or drop them).
    """
    roles = {schema.label, schema.id, schema.time, schema.entity, schema.merchant, *schema.drop}
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
            other.append(f"{column} ({dtype})")
    if other:
        raise DataError(
            f"feature_columns: column(s) {other} are neither numeric nor declared categorical; "
            "add them to schema.categorical or schema.drop"
        )
    if not numeric and not categorical:
        raise DataError("feature_columns: the frame has no feature column left besides its roles")
    return numeric, categorical
