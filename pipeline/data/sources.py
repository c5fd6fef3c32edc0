"""Data sources: the built-in simulator and CSV/Parquet files described by a `Schema`.

Every source's `load()` returns a `Dataset` whose frame is validated (`validate_frame`), has its
exact duplicate rows dropped (all columns but the id column compared, where times finer than a
day tell transactions apart; the count is logged and kept), is sorted by time when there is a
time column (stable), and has a 0..n-1 index. Problems with the input raise `DataError` naming
the file and the column; problems with the source's parameters raise `ConfigError`.

Type coercions made by validation: the label becomes int8 (from 0/1 numbers, booleans or the texts
"0"/"1"); a datetime time column becomes timezone-naive datetime64[ns] (timezone-aware values are
converted to UTC: mixed offsets such as `...Z` and `...+01:00` are fine, a mix of times with and
without an offset is refused), parsed from text when needed (dates written day or month first in
the one order the rows show: `date_order`); a numeric time column becomes float seconds from its
unit (`SECONDS_PER_UNIT`), and it and the amount column become numeric when they hold numbers as
text. Numbers are never read as dates (nor dates as numbers), and feature columns must fit the
model's float32 matrix (no infinities, nothing beyond 3.4e38).
"""

from __future__ import annotations

import bisect
import bz2
import contextlib
import csv
import gzip
import hashlib
import io
import logging
import lzma
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from models.errors import ConfigError, DataError
from pipeline.data.schema import (
    PRESET_NOTES,
    PRESETS,
    SECONDS_PER_UNIT,
    SIMULATOR_SCHEMA,
    Schema,
    numeric_units,
    schema_from_mapping,
)

log = logging.getLogger(__name__)

SOURCE_KINDS: tuple[str, ...] = ("simulator", "csv", "parquet")
# A numeric time column beyond these in seconds is in a smaller unit than the declared one:
MAX_SECONDS = 1e10  # the year 2286 counted from 1970; 317 years counted from the first transaction
MAX_SPAN_YEARS = 100
SECONDS_PER_YEAR = 365.25 * 86_400
_SHOWN = 10  # how many columns / values an error message lists before "..."


@dataclass
class Dataset:
    """A loaded, validated table and its description."""

    frame: pd.DataFrame = field(repr=False)
    schema: Schema
    name: str
    digest: str
    n_duplicates_dropped: int
    source_path: str | None = None
    time_offsets: bool = False  # the datetime time column's values carried UTC offsets
    time_day_first: bool | None = None  # its dates were written dd/mm/yyyy (False: mm/dd/yyyy)
    # each date column's order (`Schema.dates`), as time_day_first
    dates_day_first: dict[str, bool | None] = field(default_factory=dict)
    # where the labels came from a file of their own: `pipeline.data.labels.Reports`
    reports: Any = None
    # the columns made from a folder's `key=value` folder names (`folder_key_names`)
    folder_keys: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def n_positive(self) -> int:
        return int(self.frame[self.schema.label].sum())


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 hex digest of a frame's values (not its index); stable across runs and machines."""
    values = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(values.tobytes()).hexdigest()


def listing(items: list[Any]) -> str:
    """The first few items' reprs, and how many there are in all when more."""
    shown = ", ".join(repr(i) for i in items[:_SHOWN])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _SHOWN else "")


def check_unique_names(names: list[str], where: str, within: str = "") -> None:
    """`DataError` (naming `where`, then `within`) for a column named twice: pandas would rename
    the second copy silently."""
    dups = sorted(name for name, n in Counter(names).items() if n > 1)
    if dups:
        raise DataError(f"{where}: duplicated column name(s){within}: {listing(dups)}")


def _examples(values: pd.Series) -> str:
    return listing(list(pd.unique(values.astype(object)))[:_SHOWN])


# --------------------------------------------------------------------------------------------
# validation


def coerce_label(s: pd.Series, name: str, where: str, *, allow_missing: bool = False) -> pd.Series:
    """Labels as int8 0/1 (from numbers, booleans or texts such as "0"/"1" or "yes"/"no":
    `LABEL_WORDS`), or `DataError`.

    With `allow_missing` (scoring: labels not known yet) missing and blank values become NaN and
    the result is float64.
    """
    missing = s.isna().to_numpy(copy=True)
    if allow_missing and not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        missing |= np.array([isinstance(v, str) and not v.strip() for v in s.astype(object)])
    n_missing = int(missing.sum())
    if n_missing and not allow_missing:
        rows = s.index[missing].tolist()
        raise DataError(
            f"{where}: label column {name!r} has {n_missing} missing value(s) "
            f"({_rows_text(rows)}); every row needs a 0/1 label"
        )
    known = _binary_label(s[~missing], name, where)
    if not allow_missing:
        return known
    out = pd.Series(np.nan, index=s.index, dtype=np.float64)
    out[~missing] = known.to_numpy(dtype=np.float64)
    return out


LABEL_WORDS: tuple[dict[str, int], ...] = (
    {"0": 0, "1": 1},
    {"false": 0, "true": 1},
    {"no": 0, "yes": 1},
    {"n": 0, "y": 1},
    {"f": 0, "t": 1},
)
"""Label texts read as 0/1 (any case, spaces around ignored); a file uses one pair."""


def _binary_label(s: pd.Series, name: str, where: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(np.int8)
    if pd.api.types.is_numeric_dtype(s):
        found = set(pd.unique(s).tolist())
        if found <= {0, 1}:
            return s.astype(np.int8)
    else:
        values = pd.unique(s.astype(object))
        if all(isinstance(v, bool | np.bool_) for v in values):
            return s.astype(bool).astype(np.int8)
        texts = s.astype(str).str.strip().str.casefold()
        for words in LABEL_WORDS:
            if set(pd.unique(texts)) <= set(words):
                return texts.map(words).astype(np.int8)
    distinct = sorted(pd.unique(s.astype(object)).tolist(), key=str)
    odd = ""
    if len(distinct) > 2:  # a few stray values among 0/1 or one pair of words: name their rows
        if pd.api.types.is_numeric_dtype(s):
            stray = ~s.isin([0, 1])
        else:  # `texts`: the values as the pairs of words above read them
            pair = max(LABEL_WORDS, key=lambda words: int(texts.isin(list(words)).sum()))
            stray = ~texts.isin(list(pair))
        if 0 < stray.sum() < len(s) / 2:
            rare = pd.unique(s[stray].astype(object)).tolist()
            odd = f"; {listing(rare)} in {_rows_text(s.index[stray].tolist())}"
    hint = (
        f"; write it as 0/1 with 1 for fraud, e.g. in pandas: df[{name!r}] = "
        f"(df[{name!r}] == {distinct[0]!r}).astype(int) if {distinct[0]!r} means fraud"
        if len(distinct) == 2
        else ""
    )
    raise DataError(
        f"{where}: label column {name!r} must be binary (0/1, True/False, yes/no or y/n); "
        f"found {len(distinct)} distinct value(s): {listing(distinct)}{odd}{hint}"
    )


def _rows_text(rows: list[Any]) -> str:
    """ "row 5" or "rows 5, 6, 9, ... (12 in all)"."""
    return f"row {rows[0]}" if len(rows) == 1 else f"rows {listing(rows)}"


def coerce_time(
    s: pd.Series,
    name: str,
    unit: str,
    where: str,
    *,
    model: bool = False,
    span: bool = True,
    day_first: bool | None = None,
    role: str = "time",
) -> pd.Series:
    """A time column read in its unit: datetime64[ns] for "datetime", float seconds for a
    numeric unit (seconds to months, `SECONDS_PER_UNIT`). With `role="date"` (a schema's `dates`,
    read as the time column is) missing values are allowed and messages say "date column".

    Numbers for a datetime column and dates for a numeric one are `DataError`s (never converted
    by guessing a unit), and so are numbers too far for their unit (`_check_span`; not with
    `span=False`): milliseconds read as seconds; `model` says the unit is the one a model was
    trained with. Dates written with the day or the month first (`31/01/2026`) follow `date_order`,
    `day_first` the order known from training.
    """
    said = "the model was trained with" if model else "the schema says"
    if unit == "datetime":
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            fix = (
                "give dates such as '2026-01-01 10:00:00' as in training; numbers are not read "
                "as times (epoch seconds or milliseconds would need a guess)"
                if model
                else f"set time_unit to the numbers' unit ({numeric_units()}), or store dates "
                "such as '2026-01-01 10:00:00'"
            )
            raise DataError(
                f"{where}: {role} column {name!r} is numeric ({s.dtype}) but {said} time_unit "
                f"'datetime'; {fix}"
            )
        return _coerce_datetime(s, name, where, day_first=day_first, model=model, role=role)
    if pd.api.types.is_datetime64_any_dtype(s):
        fix = (
            f"give numbers of {unit} as in training"
            if model
            else f"give numbers of {unit}, or set time_unit: datetime"
        )
        raise DataError(
            f"{where}: {role} column {name!r} holds dates ({s.dtype}) but {said} time_unit "
            f"'{unit}' (numbers of {unit}); {fix}"
        )
    values = coerce_numeric(s, name, f"{role} ({unit})", where, allow_missing=role != "time")
    if span and len(values):
        _check_span(values, name, unit, where, model)
    return values.astype(np.float64) * SECONDS_PER_UNIT[unit]


def _check_span(values: pd.Series, name: str, unit: str, where: str, model: bool) -> None:
    """Refuse numbers that, in `unit`, reach beyond `MAX_SECONDS` or span over `MAX_SPAN_YEARS`."""
    per = SECONDS_PER_UNIT[unit]
    low, high = int(np.argmin(values.to_numpy())), int(np.argmax(values.to_numpy()))
    far = low if abs(values.iloc[low]) > abs(values.iloc[high]) else high
    years = (values.iloc[high] - values.iloc[low]) * per / SECONDS_PER_YEAR
    if abs(values.iloc[far]) * per > MAX_SECONDS:
        what = (
            f"reaches {number_text(values.iloc[far])} (row {values.index[far]}), "
            f"{abs(values.iloc[far]) * per / SECONDS_PER_YEAR:,.0f} years from 0"
        )
    elif years > MAX_SPAN_YEARS:
        what = (
            f"spans {years:,.0f} years (row {values.index[low]}: {number_text(values.iloc[low])}, "
            f"row {values.index[high]}: {number_text(values.iloc[high])})"
        )
    else:
        return
    smaller = sorted(
        (u for u, f in SECONDS_PER_UNIT.items() if f < per), key=lambda u: -SECONDS_PER_UNIT[u]
    )
    said = "as the model was trained with" if model else "as the schema says"
    if model:
        fix = f"give numbers of {unit}, as in training"
    elif smaller:
        fix = f"if its numbers are {_either(smaller)}, set time_unit to that"
    else:
        fix = "store the times as dates, or as numbers since the first transaction"
    raise DataError(
        f"{where}: time column {name!r} in {unit}, {said}, {what}: too far for transaction "
        f"times counted from the epoch (1970) or from the first transaction; {fix}"
    )


def number_text(value: float) -> str:
    """A number as written: whole numbers in full (epoch milliseconds too), others short."""
    return f"{value:.0f}" if float(value).is_integer() else f"{float(value):g}"


def key_text(value: Any) -> str:
    """A key's value as the file writes it (its first 40 characters): an id column of numbers
    with a missing value is read as floats, whose whole numbers are shown without '.0'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return number_text(float(value))
    return str(value)[:40]


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


_OFFSET = re.compile(r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)\s*$")


def datetime_offsets(s: pd.Series) -> np.ndarray:
    """Per value, whether it carries a UTC offset or zone (`...Z`, `...+01:00`, tz-aware)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.notna().to_numpy()
    if pd.api.types.is_datetime64_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return np.zeros(len(s), dtype=bool)
    text = s.astype(object).where(s.notna(), "").astype(str)
    return text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)


def _coerce_datetime(
    s: pd.Series,
    name: str,
    where: str,
    *,
    day_first: bool | None = None,
    model: bool = False,
    role: str = "time",
) -> pd.Series:
    """Dates as timezone-naive datetime64[ns]. Values with an offset (`Z`, `+01:00`, mixed
    offsets included) are converted to UTC; a column mixing values with and without an offset
    is refused (the naive ones would need a guessed zone); dates with the day or the month first
    are read in the order `date_order` finds (or `day_first` gives)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert(None)
    if pd.api.types.is_datetime64_dtype(s):
        out = s.astype("datetime64[ns]")
    else:
        present = s.notna().to_numpy()
        offsets = datetime_offsets(s)
        aware = bool(offsets.any())
        if aware and not offsets[present].all():
            naive = s.index[present & ~offsets][0]
            with_offset = s.index[offsets][0]
            raise DataError(
                f"{where}: {role} column {name!r} mixes times with a UTC offset (e.g. row "
                f"{with_offset}: {s[with_offset]!r}) and without one (e.g. row {naive}: "
                f"{s[naive]!r}); give every time with its offset, or none"
            )
        if model:
            order = date_order(s, name, where, trained=day_first, role=role)
        elif day_first is not None:  # found on these very rows (`_dataset`)
            order = day_first
        else:
            order = date_order(s, name, where, role=role)
        out = _parse_dates(s, utc=aware, day_first=order)
        bad = out.isna() & present
        if bad.any():
            raise DataError(
                f"{where}: {role} column {name!r} has {int(bad.sum())} value(s) that are not "
                f"dates, e.g. {_examples(s[bad])} ({_rows_text(s.index[bad].tolist())})"
            )
        if isinstance(out.dtype, pd.DatetimeTZDtype):
            out = out.dt.tz_convert(None)
        out = out.astype("datetime64[ns]")
    missing = out.isna()
    if missing.any() and role == "time":
        raise DataError(
            f"{where}: time column {name!r} has {int(missing.sum())} missing value(s) "
            f"({_rows_text(out.index[missing].tolist())})"
        )
    return out


def _parse_dates(s: pd.Series, *, utc: bool, day_first: bool | None = None) -> pd.Series:
    """Text or objects as dates (NaT where unreadable); in UTC with `utc`; `day_first` for dates
    written with the day or the month first."""
    present = s.notna()
    order = {} if day_first is None else {"dayfirst": day_first}
    out = pd.to_datetime(s, errors="coerce", utc=utc, **order)
    if (out.isna() & present).any():
        with contextlib.suppress(TypeError, ValueError):
            out = pd.to_datetime(s, errors="coerce", format="mixed", utc=utc, **order)
    return out


# a date written with the day or the month first: 31/01/2026, 01.31.2026, 31-01-26 ...
DAY_MONTH = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}(?!\d)")


def date_order(
    s: pd.Series, name: str, where: str, *, trained: bool | None = None, role: str = "time"
) -> bool | None:
    """Whether dates written `nn/nn/yyyy` (or with dots or dashes) put the day first: True where a
    first number is above 12, False where a second one is; None for other writings (ISO).

    Both in one column, or (without `trained`, the order a model was trained with) neither in any
    row, so that the day cannot be told from the month, are `DataError`s: parsing would guess per
    row, reading 01/02 as January 2 and 13/02 as February 13. So are a row that contradicts
    `trained`, and a column that writes some dates this way and others not.
    """
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return None
    text = s.dropna().astype(str)
    matched = text.str.match(DAY_MONTH).to_numpy(dtype=bool)
    if not matched.any():
        return None  # ISO and other writings: no order to apply (pandas would misread ISO)
    column = f"{where}: {role} column {name!r}"
    fix = "store ISO dates such as 2026-01-31 14:05"
    if not matched.all():
        others = s[text.index[~matched]]
        unread = others[_parse_dates(others, utc=True).isna()]
        if len(unread):
            raise DataError(
                f"{column} has {len(unread)} value(s) that are not dates, e.g. "
                f"{_examples(unread)} ({_rows_text(unread.index.tolist())})"
            )
        i, j = text.index[matched][0], text.index[~matched][0]
        raise DataError(
            f"{column} writes dates two ways (row {i}: {s[i]!r}, row {j}: {s[j]!r}); {fix}"
        )
    parts = text.str.extract(DAY_MONTH).astype(int)
    day_then_month = parts.index[(parts[0] > 12).to_numpy()]
    month_then_day = parts.index[(parts[1] > 12).to_numpy()]
    if len(day_then_month) and len(month_then_day):
        i, j = day_then_month[0], month_then_day[0]
        raise DataError(
            f"{column} writes dates both day first (row {i}: {s[i]!r}) and month first (row "
            f"{j}: {s[j]!r}); {fix}"
        )
    found = True if len(day_then_month) else False if len(month_then_day) else None
    if trained is not None:
        if found is not None and found != trained:
            row = (day_then_month if found else month_then_day)[0]
            raise DataError(
                f"{column} writes dates {'day' if found else 'month'} first (row {row}: "
                f"{s[row]!r}) but the model was trained on dates written "
                f"{'day' if trained else 'month'} first; give them in that order"
            )
        return trained
    if found is None:
        row = text.index[0]
        raise DataError(
            f"{column} writes dates as nn/nn/yyyy with both numbers 12 or less in every row "
            f"(e.g. row {row}: {s[row]!r}), so the day cannot be told from the month; {fix} "
            "(in pandas: pd.to_datetime(column, format='%d/%m/%Y %H:%M') for days first)"
        )
    return found


def coerce_numeric(
    s: pd.Series, name: str, role: str, where: str, *, allow_missing: bool
) -> pd.Series:
    """A numeric column as float64, numbers written as text read as numbers; `DataError` naming
    `where`, the column and examples for other text and booleans (and missing values unless
    `allow_missing`)."""
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        if pd.api.types.is_bool_dtype(s):
            raise DataError(f"{where}: {role} column {name!r} must be numeric, found booleans")
        out = pd.to_numeric(s.astype(object).where(s.notna(), np.nan), errors="coerce")
        bad = out.isna() & s.notna()
        if bad.any():
            first = s.index[int(np.argmax(bad.to_numpy()))]
            row = int(first) if isinstance(first, int | np.integer) else None
            raise DataError(not_numbers(where, role, name, s[bad], int(bad.sum()), row))
        s = out.astype(np.float64)
    if not allow_missing:
        n_missing = int(s.isna().sum())
        if n_missing:
            raise DataError(f"{where}: {role} column {name!r} has {n_missing} missing value(s)")
    return s


def not_numbers(
    where: str, role: str, name: str, bad: pd.Series, count: int, row: int | None = None
) -> str:
    """The message for `count` values of a numeric column that are not numbers (`bad`: some;
    `row`: the first one's, when known)."""
    at = "" if row is None else f" (the first in row {row})"
    return (
        f"{where}: {role} column {name!r} must be numeric; {count} value(s) are not numbers, "
        f"e.g. {_examples(bad)}{at}{money_hint(bad, name)}"
    )


_MONEY = re.compile(r"-?[$€£¥]?-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
"""An amount as exports write it: '$134.09', '$-77.00', '€1,234.50' (a comma before three digits
only: '12,50' is a decimal comma, and no hint is given for it)."""


def money_hint(values: pd.Series, name: str) -> str:
    """How to write amounts such as '$134.09' as numbers, when that is what they are."""
    sample = values.head(100).astype(str).str.replace(r"\s", "", regex=True)
    if not sample.map(lambda v: _MONEY.fullmatch(v) is not None).all():
        return ""
    return (
        "; they carry a currency sign or thousands separators: write plain numbers, e.g. in "
        f"pandas: df[{name!r}] = df[{name!r}].str.replace(r'[$€£¥,]', '', regex=True)"
        ".astype(float)"
    )


def is_number(s: pd.Series) -> bool:
    """Whether ids `s` are numbers (not text, not booleans)."""
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


WHOLE_NUMBER = r"\+?(-?)0*(\d+)(?:\.0*)?"
"""A whole number as a CSV may write it, `0042`, `+42` or `42.0` (groups: the sign, the digits
without leading zeros); `pipeline.spark_features` writes it in Spark's regular expressions."""


def whole_numbers_as_integers(text: pd.Series) -> pd.Series:
    """Text with each whole number written as a CSV may write it (`WHOLE_NUMBER`, spaces around
    it too) as the integer's digits, `42` for `0042`, `+42` and ` 42.0 `, `0` for `-0`, as a
    column of numbers reads them; other text and missing values as they are. Digits are kept,
    beyond a float's too."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(text, from_pandas=True)
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        return text
    odd = pc.match_substring_regex(values, r"^[\s+0-]|[.\s]")
    if not pc.any(odd).as_py():
        return text
    plain = pc.replace_substring_regex(values, rf"^\s*{WHOLE_NUMBER}\s*$", r"\1\2")
    plain = pc.replace_substring_regex(plain, r"^-0$", "0")
    out = pc.if_else(odd, plain, values).to_numpy(zero_copy_only=False)
    return pd.Series(out, index=text.index, dtype=text.dtype)


def id_keys(s: pd.Series, *, as_number: bool) -> pd.Series:
    """Ids as text keys: whole numbers as integers ("42" for 42.0), text stripped, with
    `as_number` whole numbers written as text as integers ("42" for "0042", "+42" and "42.0":
    `whole_numbers_as_integers`). Missing ids (and empty text) are missing."""
    present = s.notna().to_numpy()
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    if pd.api.types.is_integer_dtype(s.dtype):  # exactly, beyond float64's 2**53 and int64 too
        out[present] = s[present].astype(str).to_numpy()
        return out
    if is_number(s):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        whole = present & (np.floor(values) == values) & (np.abs(values) < 2**63)
        text = s[present].astype(str)
        text[whole[present]] = values[whole].astype(np.int64).astype(str)
        out[present] = text.to_numpy()
        return out
    text = s[present].astype(str).str.strip()
    if as_number:
        text = whole_numbers_as_integers(text)
    out[present] = text.to_numpy()
    return out.replace("", pd.NA)


ENTITY_SEPARATOR = "|"
"""Between the parts of an entity named by several columns (`Schema.entity_columns`); a part's
own separators and backslashes are escaped, so that different parts never make one key."""


def entity_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One key per row from several id columns (a user and the index of their card): each part
    as `id_keys` makes it, escaped, joined by `ENTITY_SEPARATOR`; missing where a part is."""
    parts = []
    for column in columns:
        key = id_keys(frame[column], as_number=False)
        escaped = key.str.replace("\\", "\\\\", regex=False)
        parts.append(escaped.str.replace(ENTITY_SEPARATOR, "\\" + ENTITY_SEPARATOR, regex=False))
    out = parts[0]
    for part in parts[1:]:
        out = out + ENTITY_SEPARATOR + part  # missing where either is
    return out


def validate_frame(
    df: pd.DataFrame,
    schema: Schema,
    where: str,
    *,
    day_first: bool | None = None,
    dates_day_first: Mapping[str, bool | None] | None = None,
    missing_note: str = "",
) -> pd.DataFrame:
    """Check a frame against its schema and return a copy with coerced column types.

    Raises `DataError` (naming `where` and the column) when the frame is empty, has duplicated or
    missing columns (with `missing_note`: what a preset expects), an all-missing column (other
    than `schema.drop` ones), a label that is not binary or has no positive (or no negative)
    rows, a time or date column that is not dates (datetime) or numbers (of its unit), a
    non-numeric amount column, or an infinite or beyond-float32 value in a feature column.
    """
    if df.shape[1] == 0:
        raise DataError(f"{where}: no columns found")
    if df.columns.has_duplicates:
        dups = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"{where}: duplicated column name(s): {listing(dups)}")
    if len(df) == 0:
        raise DataError(f"{where}: no rows (columns: {listing([str(c) for c in df.columns])})")
    missing = [c for c in schema.declared_columns() if c not in df.columns]
    if missing:
        loose = {str(c).strip().casefold(): str(c) for c in df.columns}
        near = [
            f"{loose[m.strip().casefold()]!r} for {m!r}"
            for m in missing
            if m.strip().casefold() in loose
        ]
        hint = (
            f" The file has {', '.join(near)}, which differ only in case or spaces: declare "
            "the names as the file writes them."
            if near
            else ""
        )
        raise DataError(
            f"{where}: declared column(s) missing: {', '.join(repr(c) for c in missing)}.{hint} "
            f"Available columns: {listing([str(c) for c in df.columns])}"
            + (f". {missing_note}" if missing_note else "")
        )
    if schema.entity_columns and schema.entity in df.columns:
        raise DataError(
            f"{where}: has a column {schema.entity!r}, the name of the entity made of "
            f"{listing(list(schema.entity_columns))}: rename that column, or declare it as the "
            "entity itself"
        )
    empty = [str(c) for c in df.columns if c not in schema.drop and df[c].isna().all()]
    if empty:
        raise DataError(
            f"{where}: column(s) with no values at all (every row missing): {listing(empty)}; "
            "remove them from the file or list them in schema.drop"
        )

    out = df.copy()
    if schema.entity_columns:
        out[schema.entity] = entity_keys(out, schema.entity_columns)
    label = schema.label
    out[label] = coerce_label(out[label], label, where)
    n_pos = int(out[label].sum())
    if n_pos == 0:
        raise DataError(
            f"{where}: label column {label!r} has no positive (1) rows among {len(out)}; "
            "a fraud model needs examples of fraud"
        )
    if n_pos == len(out):
        raise DataError(f"{where}: label column {label!r} has only positive (1) rows")
    if schema.time is not None:
        out[schema.time] = coerce_time(
            out[schema.time], schema.time, schema.time_unit, where, day_first=day_first
        )
    for column in schema.dates:
        out[column] = coerce_time(
            out[column],
            column,
            schema.time_unit,
            where,
            span=False,
            day_first=(dates_day_first or {}).get(column),
            role="date",
        )
    if schema.amount is not None:
        out[schema.amount] = coerce_numeric(
            out[schema.amount], schema.amount, "amount", where, allow_missing=True
        )
        negative = out[schema.amount] < 0
        if negative.any():
            raise DataError(
                f"{where}: amount column {schema.amount!r} is negative in "
                f"{_rows_text(out.index[negative.to_numpy()].tolist())}; the amount is the money "
                "at risk (the amount-caught metric sums it over the fraud rows) and must be >= 0. "
                "Refunds and reversals are no purchase to score: drop those rows, or unset "
                "data.schema.amount to keep the column as a plain feature"
            )
    _check_float32(out, schema, where)
    return out


def repeated_ids_warning(
    where: str, column: str, repeats: int, example: str, consequence: str
) -> str:
    """The warning for an id column whose values repeat: how many rows repeat an earlier row's
    id, an `example` ("row 1 and row 5"), and what follows from it (`consequence`)."""
    return (
        f"{where}: id column {column!r} repeats: {repeats:,} row(s) have the id of an earlier row "
        f"(e.g. {example}); {consequence}"
    )


def _check_float32(df: pd.DataFrame, schema: Schema, where: str) -> None:
    """Feature columns must fit the model's float32 matrix: no infinities, nothing beyond 3.4e38."""
    from models.scorer import float32_problem  # the scorer gives the same message

    roles = schema.roles()
    for column in df.columns:
        s = df[column]
        if column in roles or not pd.api.types.is_float_dtype(s.dtype):
            continue
        problem = float32_problem(s.to_numpy(dtype=np.float64, na_value=np.nan), str(column))
        if problem is not None:
            pos, text = problem
            raise DataError(f"{where}: " + text.format(row=f"row {pos}"))


def clean_frame(
    df: pd.DataFrame, schema: Schema, where: str, rows: Callable[[str], str] = str
) -> tuple[pd.DataFrame, int]:
    """Drop exact duplicate rows, sort by time, reset the index.

    With a time column the id is ignored: a row repeated to the second under a new id is one
    transaction logged twice. Without one, or with times that are whole days (dates only: two
    coffees at one shop on one day), rows alike in every other column are common and distinct
    records, so rows with different ids are kept.
    Rows alike in every other column but the label get a warning (`rows` names them), and so do
    rows whose id repeats another row's.
    Returns the new frame and the number of rows dropped (also logged).
    """
    ids_tell = schema.time is None or _whole_days(df[schema.time])
    subset = [c for c in df.columns if c != schema.id or ids_tell]
    dup = df.duplicated(subset=subset, keep="first")
    n_dup = int(dup.sum())
    if n_dup:
        log.info("%s: dropped %d exact duplicate row(s) of %d", where, n_dup, len(df))
        df = df.loc[~dup.to_numpy()]
    others = [c for c in subset if c != schema.label]
    _warn_conflicting_labels(df, others, schema.label, where, rows)
    if schema.id is not None:
        _warn_repeated_ids(df[schema.id], where, rows)
    if schema.time is not None:
        df = df.sort_values(schema.time, kind="stable")
    return df.reset_index(drop=True), n_dup


def _warn_repeated_ids(ids: pd.Series, where: str, rows: Callable[[str], str]) -> None:
    """Warn about ids that repeat among rows that are not exact duplicates (indexed by row)."""
    repeats = ids.dropna().duplicated()
    if not repeats.any():
        return
    second = repeats.index[np.argmax(repeats.to_numpy())]
    first = ids.index[(ids == ids.loc[second]).to_numpy()][0]
    text = repeated_ids_warning(
        where,
        str(ids.name),
        int(repeats.sum()),
        f"row {first} and row {second}",
        "they are kept as transactions of their own, and fraud reports joined by id "
        "(--labels) label each of them",
    )
    log.warning("%s", rows(text))


def _whole_days(times: pd.Series) -> bool:
    """True when every time is a whole day (a date without a time of day; numeric times read as
    seconds, multiples of 86,400)."""
    present = times.dropna()
    if not len(present):
        return False
    if pd.api.types.is_datetime64_any_dtype(present):
        return bool((present.dt.normalize() == present).all())
    return bool((np.mod(present.to_numpy(dtype=np.float64), 86_400.0) == 0).all())


def _warn_conflicting_labels(
    df: pd.DataFrame, others: list[str], label: str, where: str, rows: Callable[[str], str]
) -> None:
    """Warn about rows alike in every column in `others` (exact duplicates already dropped) but
    the label: one transaction with both labels, e.g. an export before and after a chargeback."""
    if not others:
        return
    twins = df.duplicated(subset=others, keep=False).to_numpy()
    if not twins.any():
        return
    hashes = pd.util.hash_pandas_object(df[others], index=False).to_numpy()  # NaN equals NaN
    pair = df.index[twins & (hashes == hashes[np.argmax(twins)])]
    text = rows(
        f"{where}: {int(twins.sum())} row(s) are alike in every column but the label {label!r}, "
        f"which differs (e.g. row {pair[0]} and row {pair[1]}): one transaction with both "
        "labels, as in an export before and after a chargeback, trains on both. Keep the "
        "latest label of each, e.g. in pandas df.drop_duplicates(subset=[c for c in df.columns "
        f"if c != {label!r}], keep='last')"
    )
    log.warning("%s", text)


def _warn_files_out_of_order(times: pd.Series, parts: list[tuple[int, str]], where: str) -> None:
    """Warn when a folder's files, in name order, are not in time order: training sorts the rows,
    but `fraudgan score` reads the files in name order and needs their times ascending."""
    bounds = [*(start for start, _ in parts[1:]), len(times)]
    latest, latest_name = None, ""
    for (start, name), end in zip(parts, bounds, strict=True):
        span = times.iloc[start:end]
        if not len(span):
            continue
        if latest is not None and span.min() < latest:
            log.warning(
                "%s: the files are not in time order by name: %s starts at %s, before %s (named "
                "before it) ends at %s. Training sorts the rows; fraudgan score reads a folder's "
                "files in name order and needs them in time order: name them by date "
                "(2026-01-09 before 2026-01-10)",
                where,
                name,
                span.min(),
                latest_name,
                latest,
            )
            return
        if latest is None or span.max() > latest:
            latest, latest_name = span.max(), name


def _dataset(
    raw: pd.DataFrame,
    schema: Schema,
    where: str,
    name: str,
    path: str | None,
    parts: list[tuple[int, str]] | None = None,
    missing_note: str = "",
) -> Dataset:
    """The validated, cleaned table. `parts`: the files of a folder read as one table (their first
    rows there and names), which messages name rows by; a warning when they are out of time order;
    `missing_note`: what the file's preset expects, when it lacks declared columns.
    """

    def rows(text: str) -> str:
        return rows_in_files(text, parts) if parts else text

    try:
        dates = schema.time is not None and schema.time_unit == "datetime" and schema.time in raw
        day_first = date_order(raw[schema.time], schema.time, where) if dates else None
        dates_day_first = {
            c: date_order(raw[c], c, where, role="date") if c in raw else None for c in schema.dates
        }
        valid = validate_frame(
            raw,
            schema,
            where,
            day_first=day_first,
            dates_day_first=dates_day_first,
            missing_note=missing_note,
        )
    except DataError as exc:
        raise DataError(rows(str(exc))) from None
    if parts and schema.time is not None:
        _warn_files_out_of_order(valid[schema.time], parts, where)
    frame, n_dup = clean_frame(valid, schema, where, rows)
    if int(frame[schema.label].sum()) == len(frame):
        raise DataError(f"{where}: after dropping duplicates only positive rows are left")
    return Dataset(
        time_offsets=dates and bool(datetime_offsets(raw[schema.time]).any()),
        time_day_first=day_first,
        dates_day_first=dates_day_first,
        frame=frame,
        schema=schema,
        name=name,
        digest=frame_digest(frame),
        n_duplicates_dropped=n_dup,
        source_path=path,
    )


# --------------------------------------------------------------------------------------------
# schemas of file sources


def resolve_schema(
    schema: Schema | Mapping[str, Any] | None, preset: str | None, where: str
) -> Schema:
    """The schema of a file source: a `Schema`, a mapping, a preset, or a preset plus a mapping."""
    base: Schema | None = None
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(
                f"{where}: unknown preset {preset!r}. Valid presets: {', '.join(PRESETS)}"
            )
        base = PRESETS[preset]
    if schema is None:
        if base is None:
            raise ConfigError(
                f"{where}: a file source needs a schema (at least its label column) or a preset "
                f"({', '.join(PRESETS)})"
            )
        return base
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        return schema_from_mapping(schema, where, base=base)
    raise ConfigError(f"{where}: schema must be a Schema or a mapping, got {type(schema).__name__}")


def check_file(path: Path) -> None:
    """`DataError` for a path that does not exist or an empty file (a folder passes)."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        return
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")


def data_files(path: Path, where: str) -> list[Path]:
    """A folder's data files in name order, nested folders included; files and folders starting
    with `_` or `.` (`_SUCCESS`, checksums, `.DS_Store`) skipped. `DataError` when none is left."""
    hidden = ("_", ".")
    files = [
        p
        for p in sorted(path.rglob("*"))
        if p.is_file() and not any(part.startswith(hidden) for part in p.relative_to(path).parts)
    ]
    if not files:
        raise DataError(f"{where}: the folder holds no data file")
    return files


def _hive_keys(name: str | Path) -> list[str]:
    """The keys of the `key=value` folders in a file's path under its input folder."""
    return [key for key, _ in _hive_pairs(name)]


def folder_key_names(path: Path) -> list[str]:
    """The columns a folder's `key=value` folder names make (none for a file)."""
    if not path.is_dir():
        return []
    return list(
        dict.fromkeys(
            k for f in data_files(path, str(path)) for k in _hive_keys(f.relative_to(path))
        )
    )


def _hive_pairs(name: str | Path) -> list[tuple[str, str]]:
    """The (key, value) of each `key=value` folder in a file's path under its input folder."""
    return [tuple(part.split("=", 1)) for part in Path(name).parts[:-1] if "=" in part]


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""The folder value Spark and Hive write for a partition key that is missing."""


def folder_keys(
    files: Sequence[Path], folder: Path, text_columns: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Per file of `folder`, the columns its `key=value` folders make, as Spark, Hive and
    pyarrow read a partitioned folder: a key's values are numbers where every one of them is one
    (a key among `text_columns` stays text: `mcc=0742` is "0742"), else text; percent escapes
    decoded; Hive's null folder (`HIVE_NULL`), or a key absent from a file's path, missing."""
    from urllib.parse import unquote

    pairs = [
        {k: None if v == HIVE_NULL else unquote(v) for k, v in _hive_pairs(f.relative_to(folder))}
        for f in files
    ]
    keys = list(dict.fromkeys(k for file in pairs for k in file))
    out: list[dict[str, Any]] = [{} for _ in files]
    for key in keys:
        values = pd.Series([file.get(key) for file in pairs], dtype=object)
        typed: pd.Series = values
        if key not in text_columns:
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().sum() == values.notna().sum():
                typed = numbers
        for file, value in zip(out, typed.tolist(), strict=True):
            file[key] = value
    return out


def with_keys(frame: pd.DataFrame, keys: Mapping[str, Any]) -> pd.DataFrame:
    """`frame` (a file's rows) with its `folder_keys` as columns: text as pandas reads a CSV's
    text, missing values NaN."""
    if not keys:
        return frame
    columns = {
        key: pd.Series(
            value,
            index=frame.index,
            dtype="str" if value is None or isinstance(value, str) else None,
        )
        for key, value in keys.items()
    }
    return frame.assign(**columns)


def _refuse_key_clash(where: str, file: str | Path, columns: Collection[str]) -> None:
    """`DataError` naming `where` and `file` (its path under the input folder) when a
    `key=value` folder of that path names a column the file holds too: read as a hive
    partition, the key would be that column twice."""
    clash = [key for key in _hive_keys(file) if key in columns]
    if clash:
        raise DataError(
            f"{where}: {file}: its folder {clash[0]}=... makes {clash[0]!r} a column (a hive "
            f"partition), and the file holds a column {clash[0]!r} too: rename that folder level, "
            "or drop the column from the files (Spark and pandas write a partition key in folder "
            "names only)"
        )


def csv_folder(
    path: Path, where: str, in_order: str | None = None
) -> list[tuple[Path, str | None]]:
    """The CSV files of a folder (`data_files`), each with its compression, read as one table in
    name order, its `key=value` folders columns (`folder_keys`). `DataError` (naming `where` and
    the file) for a Parquet or Excel file among them, a header `csv_header` refuses, columns
    other than the first file's, a file that holds its folder's key as a column too, or, with
    `in_order` (why the order matters, for the message), the first file's columns in another
    order."""
    files = data_files(path, where)
    out: list[tuple[Path, str | None]] = []
    first: list[str] = []
    first_keys: list[str] = []
    for file in files:
        name = f"{where}: {file.relative_to(path)}"
        if is_parquet(file):
            raise DataError(
                f"{name} is a Parquet file among CSV files: a folder holds CSV files only, "
                "read as one table, or Parquet files only, read as one dataset"
            )
        if _is_excel(file):
            raise DataError(f"{name} is an Excel workbook: {EXCEL_ADVICE}")
        compression = csv_compression(file, name)
        header = csv_header(file, name, compression=compression)
        _refuse_key_clash(where, file.relative_to(path), header)
        keys = _hive_keys(file.relative_to(path))
        if not out:
            first, first_keys = header, keys
        elif keys != first_keys:
            raise DataError(
                f"{name}: its key=value folders ({listing(keys) if keys else 'none'}) differ from "
                f"those of {files[0].relative_to(path)}, the first file "
                f"({listing(first_keys) if first_keys else 'none'}): the folders' keys are "
                "columns, and the files of a folder need the same columns"
            )
        elif set(header) != set(first):
            lacking = [c for c in first if c not in header]
            extra = [c for c in header if c not in first]
            raise DataError(
                f"{name}: its columns differ from those of {files[0].relative_to(path)}, the "
                f"first file (lacking: {listing(lacking) if lacking else 'none'}; extra: "
                f"{listing(extra) if extra else 'none'}); the files of a folder are read as one "
                "table and need the same columns"
            )
        elif in_order is not None and header != first:
            raise DataError(
                f"{name}: its columns are those of {files[0].relative_to(path)} in another order "
                f"({listing(header)} against {listing(first)}); {in_order}"
            )
        out.append((file, compression))
    return out


def parquet_folder(path: Path, where: str, text_columns: Collection[str] = ()) -> Any:
    """A folder of Parquet files read as one `pyarrow.dataset.Dataset` (as Spark, Hive or
    `DataFrame.to_parquet(partition_cols=...)` write them): hive partitions such as
    `day=2026-01-01` become columns (pyarrow makes digits integers; a key among `text_columns`
    stays text: `mcc=0742` is "0742", not 742), files starting with `_` or `.` (`_SUCCESS`,
    checksums) are skipped. `DataError` (naming `where` and the file) for a folder without
    Parquet files, with other files, a file that cannot be read, a file lacking some of the
    folder's columns (read as one table, its rows would get missing values there), a file
    holding its folder's key as a column too, or a column named twice."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = data_files(path, where)
    other = [p for p in files if not is_parquet(p)]
    if other:
        raise DataError(
            f"{where}: {len(other)} of the folder's {len(files)} file(s) are not Parquet, e.g. "
            f"{other[0].relative_to(path)}; a folder is read as one Parquet dataset (a folder of "
            "CSV files is data.kind: csv)"
        )
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
    except (pa.ArrowException, OSError, ValueError) as exc:
        for file in files:  # a key that is a column too fails the merge when the types differ
            with contextlib.suppress(pa.ArrowException, OSError):
                _refuse_key_clash(where, relative_name(file, path), pq.read_schema(file).names)
        raise DataError(f"{where}: cannot read the folder as Parquet ({_reason(exc)})") from None
    check_unique_names(dataset.schema.names, where)
    first = ""
    for fragment in dataset.get_fragments():
        name = relative_name(Path(fragment.path), path)
        try:
            present = set(fragment.physical_schema.names)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"{where}: {name}: not a readable Parquet file ({_reason(exc)})"
            ) from None
        _refuse_key_clash(where, name, present)
        present |= set(_hive_keys(name))
        lacking = [c for c in dataset.schema.names if c not in present]
        if lacking:
            shown = ", ".join(repr(c) for c in lacking[:5]) + (", ..." if len(lacking) > 5 else "")
            holder = first or _holding(dataset, path, lacking[0])
            raise DataError(
                f"{where}: {name} lacks {len(lacking)} of the folder's columns ({shown}, in "
                f"{holder}): every file of a folder must hold the same columns, or its rows would "
                "be read with those values missing"
            )
        first = first or name
    keys = dataset.partitioning.schema if dataset.partitioning is not None else pa.schema([])
    as_text = [f.name for f in keys if f.name in text_columns and not pa.types.is_string(f.type)]
    if as_text:
        typed = pa.schema([pa.field(f.name, pa.string()) if f.name in as_text else f for f in keys])
        dataset = ds.dataset(path, format="parquet", partitioning=ds.HivePartitioning(typed))
    return dataset


def _holding(dataset: Any, folder: Path, column: str) -> str:
    """The first file of a Parquet `dataset` that holds `column`, in its data or its folders."""
    import pyarrow as pa

    for fragment in dataset.get_fragments():
        name = relative_name(Path(fragment.path), folder)
        with contextlib.suppress(pa.ArrowException, OSError):
            if column in {*fragment.physical_schema.names, *_hive_keys(name)}:
                return name
    return "another file"


def relative_name(file: Path, folder: Path) -> str:
    """`file`'s path under `folder`, as the user would name it."""
    try:
        return str(file.resolve().relative_to(folder.resolve()))
    except ValueError:
        return file.name


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


PARQUET_MAGIC = b"PAR1"


def _head(path: Path) -> bytes:
    """A file's first 8 bytes, where its kind shows (b"" when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8)
    except OSError:
        return b""


def is_parquet(path: Path) -> bool:
    """Whether the file starts as a Parquet file does (its name aside)."""
    return _head(path).startswith(PARQUET_MAGIC)


def _as_path(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.expanduser(os.fspath(path)))


class SimulatorSource:
    """The built-in transaction simulator (`pipeline.data.simulate.simulate`)."""

    def __init__(
        self, rows: int = 300_000, days: int = 90, seed: int = 0, fraud_rate: float = 0.003
    ) -> None:
        self.rows = rows
        self.days = days
        self.seed = seed
        self.fraud_rate = fraud_rate

    @property
    def name(self) -> str:
        return (
            f"simulator(rows={self.rows},days={self.days},seed={self.seed},"
            f"fraud_rate={self.fraud_rate:g})"
        )

    def load(self) -> Dataset:
        """Simulate, validate and describe the transactions."""
        from pipeline.data.simulate import simulate

        raw = simulate(self.rows, n_days=self.days, seed=self.seed, fraud_rate=self.fraud_rate)
        return _dataset(raw, SIMULATOR_SCHEMA, self.name, self.name, None)

    def __repr__(self) -> str:
        return f"SimulatorSource({self.name})"


class _FileSource:
    kind = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: Schema | Mapping[str, Any] | None = None,
        *,
        preset: str | None = None,
        labels: Any = None,
    ) -> None:
        self.path = _as_path(path)
        self.schema = resolve_schema(schema, preset, f"{self.kind} source {self.path}")
        self.missing_note = PRESET_NOTES.get(preset or "", "")  # for a file lacking its columns
        # where the labels are a file of their own: a `pipeline.data.labels.LabelFile`
        self.labels = labels
        # per file of a folder read as one table (CSV): its first row there, its name
        self._parts: list[tuple[int, str]] = []

    def _read(self) -> pd.DataFrame:
        raise NotImplementedError

    def load(self) -> Dataset:
        """Read, validate and describe the file, or the folder of files read as one table."""
        check_file(self.path)
        raw = self._read()
        where = str(self.path)
        joined, name = None, self._name(where)
        if self.labels is not None:
            joined = self.labels.attach(raw, self.schema, where)
            raw, name = joined.frame, f"{name}, labels from {self.labels.path}"
        dataset = _dataset(raw, self.schema, where, name, where, self._parts, self.missing_note)
        if joined is not None:
            dataset.reports = joined.reports_of(dataset.frame, self.schema)
        dataset.folder_keys = folder_key_names(self.path)
        return dataset

    def _name(self, where: str) -> str:
        """The dataset's name (in `check` and the run's tags), its labels' file aside."""
        return where

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, label={self.schema.label!r})"


class CsvSource(_FileSource):
    """A comma-separated file with a header line, plain or compressed (`csv_compression`), or a
    folder of them read as one table in name order (`csv_folder`)."""

    kind = "csv"

    def _read(self) -> pd.DataFrame:
        frame, self._parts = read_csv_table(self.path, self.schema.key_columns())
        return frame

    def _name(self, where: str) -> str:
        names = [name for _, name in self._parts]
        if not names:
            return where
        shown = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
        return f"{where} ({len(names)} CSV file{'s' if len(names) > 1 else ''}: {shown})"


def read_csv_table(
    path: Path, key_columns: Collection[str] = ()
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """A CSV file, or a folder of them (`csv_folder`) read as one table in name order, and for a
    folder its files' first rows in the table and names (`rows_in_files`); `DataError`s name the
    file. Key columns (`key_columns`) that numbers would not hold exactly (`lost_digits`) are
    text."""
    if not path.is_dir():
        compression = csv_compression(path, str(path))
        csv_header(path, str(path), compression=compression)
        frame = _read_csv(path, compression, str(path))
        lossy = [c for c in key_columns if c in frame.columns and lost_digits(frame[c])]
        if lossy:
            frame = _read_csv(path, compression, str(path), dtype=dict.fromkeys(lossy, "str"))
        return frame, []
    files = csv_folder(path, str(path))
    names = [f"{path}: {file.relative_to(path)}" for file, _ in files]
    keys = folder_keys([f for f, _ in files], path)
    frames = [
        with_keys(_read_csv(f, c, name), k)
        for (f, c), name, k in zip(files, names, keys, strict=True)
    ]
    # a column that is text in one file is text in every file, as written ("0042", not 42)
    text = {c for f in frames for c in f.columns if not _holds_numbers(f[c])}
    mixed = {c for c in text if any(_holds_numbers(f[c]) and f[c].notna().any() for f in frames)}
    # a key too long for the floats of a file with a missing one: text in every file
    mixed |= {c for c in key_columns for f in frames if c in f.columns and lost_digits(f[c])}
    if mixed:
        as_text = dict.fromkeys(mixed, "str")
        frames = [
            with_keys(_read_csv(f, c, name, dtype=as_text), k)
            for (f, c), name, k in zip(files, names, keys, strict=True)
        ]
    parts = [
        (start, str(file.relative_to(path)))
        for start, (file, _) in zip(np.cumsum([0, *map(len, frames[:-1])]), files, strict=True)
    ]
    return pd.concat(frames, ignore_index=True), parts


EXACT_FLOAT = 2**53
"""From here on a float64 does not hold every whole number: pandas reads a column of integers
with a missing value as floats, and ids of 17 digits or more lose their last digits there."""


def lost_digits(values: pd.Series) -> bool:
    """Whether `values` are floats too large to hold every digit of a whole number: keys read so
    (19-digit card numbers in a column with a missing one) would become one card."""
    if not pd.api.types.is_float_dtype(values.dtype):
        return False
    present = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return bool((np.abs(present[~np.isnan(present)]) >= EXACT_FLOAT).any())


def _holds_numbers(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


UNREADABLE = (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError)
"""What reading a file's bytes raises when the file (or its compression) is damaged."""


def _read_csv(
    path: Path, compression: str | None, where: str, dtype: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A whole CSV file (its header checked by `csv_header`), `dtype` as pandas takes it;
    `DataError` naming `where`."""
    try:
        with open_csv_bytes(path, compression) as raw:
            return pd.read_csv(raw, low_memory=False, dtype=dtype)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{where}: cannot read as CSV (not UTF-8 text: {exc.reason}); {UTF8_ADVICE}"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"{where}: cannot read as CSV ({_reason(exc)})") from None
    except UNREADABLE as exc:
        raise DataError(f"{where}: cannot read the file ({_reason(exc)})") from None


_ROW = re.compile(r"\brow (\d+)|\brows (\d+(?:, \d+)+)")


def rows_in_files(text: str, parts: list[tuple[int, str]]) -> str:
    """`text` with each "row N" (or "rows N, M, ...") of a folder's table written as the row of
    its file."""
    starts = [start for start, _ in parts]

    def local(n: int) -> str:
        start, name = parts[bisect.bisect_right(starts, n) - 1]
        return f"row {n - start} of {name}"

    def named(match: re.Match[str]) -> str:
        if match[1] is not None:
            return local(int(match[1]))
        return ", ".join(local(int(n)) for n in match[2].split(", "))

    return _ROW.sub(named, text)


_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
# what to do about a CSV that is not UTF-8 (Excel and older exports write Windows-1252 / Latin-1)
UTF8_ADVICE = "save it as UTF-8, e.g. iconv -f cp1252 -t utf-8 FILE.csv > FILE-utf8.csv"


_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # an .xls workbook
_ZIP_MAGIC = b"PK\x03\x04"
_COMPRESSIONS = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", _ZIP_MAGIC: "zip"}
"""A CSV's compression from its first bytes, by the name pandas gives it."""
_OPENERS: dict[str, Any] = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def open_csv_text(path: Path, compression: str | None, name: str | None = None) -> IO[str]:
    """A text file to write a CSV into, plain or compressed with `compression` (a key of
    `_OPENERS`); a gzip header names `name` (default: the file's; a file written under a
    temporary name is named as it will be) and no time, so that the same rows give the same
    bytes."""
    if compression is None:
        return open(path, "w", encoding="utf-8", newline="")
    if compression == "gzip":
        return _GzipText(path, name or path.name)
    return _OPENERS[compression](path, "wt", encoding="utf-8", newline="")


class _GzipText(io.TextIOWrapper):
    """Text into a gzip stream over a file of its own, closed with it."""

    def __init__(self, path: Path, name: str) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        stream = gzip.GzipFile(filename=name, mode="wb", fileobj=self._file, mtime=0)
        super().__init__(stream, encoding="utf-8", newline="")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._file.close()


OUTPUT_COMPRESSIONS = {".csv.gz": "gzip", ".csv.bz2": "bz2", ".csv.xz": "xz"}
"""The compressed CSV files fraudgan writes (`score --output`, `simulate --out`), by the name's
ending."""


def output_compression(path: Path) -> str | None:
    """The compression of a CSV to write (`OUTPUT_COMPRESSIONS`), None for a plain file."""
    name = path.name.lower()
    return next((c for end, c in OUTPUT_COMPRESSIONS.items() if name.endswith(end)), None)


EXCEL_ADVICE = (
    "fraudgan reads CSV and Parquet: save the sheet as CSV UTF-8, or "
    "pandas.read_excel(path).to_csv(new_path, index=False)"
)


def _zip_names(path: Path) -> list[str]:
    """The names in a zip archive; `zipfile.BadZipFile` or `OSError` when it cannot be read."""
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _excel_parts(names: list[str]) -> bool:
    """Whether a zip archive's names are an .xlsx workbook's parts."""
    return "[Content_Types].xml" in names or any(n.startswith("xl/") for n in names)


def _is_excel(path: Path) -> bool:
    """An .xls workbook (an OLE2 container) or an .xlsx one (a zip of `xl/` parts)."""
    head = _head(path)
    if head.startswith(_OLE2_MAGIC):
        return True
    if not head.startswith(_ZIP_MAGIC):
        return False
    try:
        return _excel_parts(_zip_names(path))
    except (OSError, zipfile.BadZipFile):
        return False


def csv_compression(path: Path, where: str) -> str | None:
    """How a CSV file is compressed, from its first bytes: gzip, bz2, xz or zip (one CSV in the
    archive), None for plain text. `DataError` (naming `where`) for an Excel workbook, a zip of
    several files, or zstd (which needs a module fraudgan does not install)."""
    head = _head(path)  # an unreadable file is refused by the reader, naming why
    if head.startswith(_OLE2_MAGIC):
        raise DataError(f"{where}: an Excel workbook, not a CSV file; {EXCEL_ADVICE}")
    if head.startswith(b"(\xb5/\xfd"):
        raise DataError(f"{where}: compressed with zstd; decompress it first (zstd -d FILE)")
    kind = next((name for magic, name in _COMPRESSIONS.items() if head.startswith(magic)), None)
    if kind == "zip":
        try:
            names = _zip_names(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{where}: a damaged zip archive ({_reason(exc)})") from None
        if _excel_parts(names):
            raise DataError(f"{where}: an Excel workbook, not a CSV file; {EXCEL_ADVICE}")
        members = _zip_members(names)
        if len(members) != 1:
            shown = listing(members[:5]) + (", ..." if len(members) > 5 else "")
            raise DataError(
                f"{where}: a zip archive of {len(members)} files ({shown}); fraudgan reads one "
                "CSV, compressed or not: extract the one to use"
            )
    return kind


def _zip_members(names: list[str]) -> list[str]:
    """A zip archive's files, less its folders and the `__MACOSX/` and `._name` copies that
    macOS's Finder adds beside each file."""
    return [
        name
        for name in names
        if not name.endswith("/")
        and not name.startswith("__MACOSX/")
        and not Path(name).name.startswith("._")
    ]


class _ArchiveMember(io.BufferedIOBase):
    """One file of a zip archive, read as a stream; closing it closes the archive too."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        super().__init__()
        self._archive = archive
        self._member = archive.open(name)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._member.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self._member.read1(size)

    def close(self) -> None:
        if not self.closed:
            self._member.close()
            self._archive.close()
        super().close()


def open_csv_bytes(path: Path, compression: str | None) -> IO[bytes]:
    """The CSV's bytes, decompressed (`csv_compression`: a zip archive holds one CSV)."""
    if compression is None:
        return open(path, "rb")
    if compression == "zip":
        archive = zipfile.ZipFile(path)
        try:
            (name,) = _zip_members(archive.namelist())
            return _ArchiveMember(archive, name)
        except BaseException:
            archive.close()
            raise
    return _OPENERS[compression](path, "rb")


def csv_header(
    path: Path,
    where: str,
    parquet_advice: str = "set data.kind: parquet",
    *,
    compression: str | None = None,
) -> list[str]:
    """The column names of a comma-separated file's header line, checked (`compression` as
    `csv_compression` gives it).

    `DataError` (naming `where`) when the file cannot be read as UTF-8, the header is empty,
    names a column twice (pandas would rename the second copy silently), or is one column
    holding semicolons, tabs or vertical bars (a file separated by another character); a
    Parquet file gets `parquet_advice`.
    """
    try:
        raw = open_csv_bytes(path, compression)
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except UnicodeDecodeError as exc:
        hint = f"it is a Parquet file: {parquet_advice}" if is_parquet(path) else UTF8_ADVICE
        raise DataError(
            f"{where}: cannot read as CSV (not UTF-8 text: {exc.reason}); {hint}"
        ) from None
    except UNREADABLE as exc:
        raise DataError(f"{where}: cannot read the file ({_reason(exc)})") from None
    if not first.strip():
        raise DataError(f"{where}: the first line (the header) is empty")
    header = next(csv.reader(io.StringIO(first)))
    if len(header) == 1:
        for sep, name in _OTHER_SEPARATORS.items():
            if header[0].count(sep) >= 1:
                raise DataError(
                    f"{where}: the header is one column, {listing(header)}: the file seems to "
                    f"be separated by {name} ({sep!r}), and fraudgan reads comma-separated "
                    f"files. Convert it, e.g. pandas.read_csv(path, sep={sep!r})"
                    ".to_csv(new_path, index=False), or write it as Parquet"
                )
    if _looks_like_data(header):
        shown = listing([h for h in header if _DATA_VALUE.fullmatch(h.strip())])
        raise DataError(
            f"{where}: the first line looks like a row of data, not column names ({shown}): "
            "fraudgan reads CSV files whose first line names the columns; add that line (Spark "
            "writes it with df.write.option('header', True).csv(...))"
        )
    check_unique_names(header, where, " in the header")
    return header


_DATA_VALUE = re.compile(
    r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?"  # a number
    r"|\d{4}-\d{2}-\d{2}([ T][\d:.]+)?.*|\d{1,2}/\d{1,2}/\d{2,4}( [\d:.]+)?.*"  # a date
)
"""A header field that is a number or a date, as the values of a row of data are."""


def _looks_like_data(header: list[str]) -> bool:
    """Whether a CSV's first line is a row of data: half its fields or more numbers or dates, one
    of them at least a date or a number with a fraction (column names `0,1,2` are numbers too)."""
    values = [h.strip() for h in header if _DATA_VALUE.fullmatch(h.strip())]
    if len(header) < 2 or 2 * len(values) < len(header):
        return False
    return any(not v.lstrip("+-").isdigit() for v in values)


class ParquetSource(_FileSource):
    """A Parquet file, or a folder of them read as one dataset (`parquet_folder`)."""

    kind = "parquet"

    def _read(self) -> pd.DataFrame:
        return read_parquet_table(self.path, self.schema.key_columns())


def arrow_frame(data: Any, keys: Collection[str] = ()) -> pd.DataFrame:
    """An Arrow table or record batch as pandas, its decimal columns as float64 (a warehouse's
    NUMERIC(18, 2) amount; pandas would hold Python `Decimal` objects, no numeric column), its
    integer key columns (`keys`) that floats would not hold exactly (`lost_digits`) as pandas'
    nullable integers."""
    import pyarrow as pa

    if not any(pa.types.is_decimal(f.type) for f in data.schema):
        frame = data.to_pandas()
    else:
        schema = pa.schema(
            [
                pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f
                for f in data.schema
            ],
            metadata=data.schema.metadata,
        )
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        frame = table.cast(schema).to_pandas()
    exact = {pa.int64(): pd.Int64Dtype(), pa.uint64(): pd.UInt64Dtype()}
    for name in keys:
        if name in frame.columns and lost_digits(frame[name]):
            column = data.column(name)
            if column.type in exact:
                values = column.to_pandas(types_mapper=exact.get)
                frame[name] = pd.Series(values.array, index=frame.index)
    return frame


def read_parquet_table(path: Path, keys: Collection[str] = ()) -> pd.DataFrame:
    """A Parquet file, or a folder of them read as one dataset (`parquet_folder`); `DataError`s
    name the file. Integer key columns (`keys`) stay exact (`arrow_frame`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_dir():
        dataset = parquet_folder(path, str(path))
        try:
            return arrow_frame(dataset.to_table(), keys)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(
                f"{path}: cannot read the folder's files as one table ({_reason(exc)}); "
                "they must share their columns and types"
            ) from None
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, ValueError, OSError) as exc:
        hint = ""
        if _is_excel(path):
            hint = f"; it is an Excel workbook: {EXCEL_ADVICE}"
        elif not is_parquet(path):
            hint = "; it is no Parquet file: a CSV is data.kind: csv"
        raise DataError(f"{path}: cannot read as Parquet ({_reason(exc)}){hint}") from None
    check_unique_names(names, str(path))
    try:
        return arrow_frame(pq.read_table(path), keys)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read as Parquet ({_reason(exc)})") from None


Source = SimulatorSource | CsvSource | ParquetSource

_PARAMS = {
    "simulator": ("rows", "days", "seed", "fraud_rate"),
    "csv": ("path", "preset", "schema", "labels"),
    "parquet": ("path", "preset", "schema", "labels"),
}


def build_source(kind: str, **params: Any) -> Source:
    """A source from its kind and parameters, e.g. as written in an experiment YAML.

    `simulator`: rows, days, seed, fraud_rate. `csv` / `parquet`: path, and a preset (e.g.
    "creditcard"), a schema (`Schema` or mapping) or both (the mapping overrides the preset's
    keys it names); `labels` (a `pipeline.data.labels.LabelFile`) when the labels are a file
    of their own.
    Parameters set to None take their defaults. Raises `ConfigError`.
    """
    if kind not in _PARAMS:
        raise ConfigError(
            f"unknown data source kind {kind!r}. Valid kinds: {', '.join(SOURCE_KINDS)}"
        )
    unknown = sorted(k for k in params if k not in _PARAMS[kind])
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) for a {kind} source: {', '.join(unknown)}. "
            f"Valid parameters: {', '.join(_PARAMS[kind])}"
        )
    given = {k: v for k, v in params.items() if v is not None}
    if kind == "simulator":
        return SimulatorSource(**given)
    if "path" not in given:
        raise ConfigError(f"a {kind} source needs a path")
    cls = CsvSource if kind == "csv" else ParquetSource
    return cls(
        given["path"], given.get("schema"), preset=given.get("preset"), labels=given.get("labels")
    )


def _spec_value(spec: Any, key: str) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(key)
    value = getattr(spec, key, None)
    return None if callable(value) else value


def load_dataset(spec: Any) -> Dataset:
    """Load the data a source spec describes: a mapping or an object with the attributes `kind`,
    `rows`, `days`, `seed`, `fraud_rate` (simulator) or `path`, `preset`, `schema`, `labels` (a
    `pipeline.data.labels.LabelFile`, or the config's, which gives one) (files), such as
    `pipeline.config.DataConfig`.
    """
    kind = _spec_value(spec, "kind") or "simulator"
    if kind == "simulator":
        params = {k: _spec_value(spec, k) for k in _PARAMS["simulator"]}
        return build_source("simulator", **params).load()
    resolved = getattr(spec, "resolved_path", None)
    path = resolved() if callable(resolved) else _spec_value(spec, "path")
    labels = _spec_value(spec, "labels")
    schema = _spec_value(spec, "schema_")
    if schema is None:
        schema = _spec_value(spec, "schema")
    if hasattr(schema, "model_dump"):
        schema = schema.model_dump()
    if isinstance(schema, Mapping):
        schema = {k: v for k, v in schema.items() if v is not None}
    return build_source(
        kind,
        path=None if path is None else str(path),
        preset=_spec_value(spec, "preset"),
        schema=schema,
        labels=labels.label_file() if hasattr(labels, "label_file") else labels,
    ).load()
