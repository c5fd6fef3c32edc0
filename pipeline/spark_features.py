"""A model's causal history features built with Spark, equal to `build_features` on the whole input.

`spark_history_features(df, history, where)` adds the engineered columns of an exported model
(`history`, from `pipeline.export.history_spec`) to a Spark DataFrame. The values are those that
`pipeline.score.HistoryFeatures` (i.e. `pipeline.features.build_features` on the whole input as
one pandas frame) gives, with the same semantics (see `pipeline.features`):

- windows are half-open ``[t - w, t)``: rows at the same timestamp do not see each other and a
  row never sees itself; the merchant fraud rate counts labels in ``[t - delay - w, t - delay)``,
  missing labels counting as not yet known;
- each missing entity/merchant key is its own group with no history (fill values
  `NO_HISTORY_MEAN`, `NO_HISTORY_RATIO`, `NO_PREVIOUS_SECONDS`, `NO_LABEL_RATE`, 0 counts);
- entity means use rows with a known amount; the ratio is 1.0 when the mean is 0 or the row's own
  amount is missing;
- the input is prepared like `HistoryFeatures` does: missing raw columns raise `DataError`,
  engineered columns already in the input are rebuilt (warning), a missing label column means no
  label is known yet (warning), labels are coerced to numbers (blank text is unknown; other text
  that is no number, and numbers other than 0/1, raise), datetime text is parsed (unparseable
  text raises).

How, in DataFrame operations only (nothing is collected but one row of validation counts):

- Time becomes one axis: int64 nanoseconds for ``time_unit="datetime"`` (from Timestamp,
  TimestampNTZ, a long of nanoseconds as Spark reads pandas' Parquet timestamps with
  ``spark.sql.legacy.parquet.nanosAsLong``, or text), float64 seconds for a numeric unit
  (numbers of seconds to months times `SECONDS_PER_UNIT`), exactly
  like `pipeline.split.time_axis`. Window lengths in those units are computed as in
  `build_features` (rounded nanoseconds, float seconds).
- Each key's rows are aggregated to one row per distinct (key, time): counts, amount sums, known
  labels, frauds. On that table, ordered by time per key, the sum over strictly earlier times is a
  running ``ROWS ... 1 PRECEDING`` sum, and the sum over times ``< t - x`` is the running sum of
  ``RANGE BETWEEN UNBOUNDED PRECEDING AND x PRECEDING`` (times ``<= t - x``) minus the last time in
  that frame when it equals ``t - x`` exactly (computed with the same floating-point operation
  as Spark's frame bound). Window sums are differences of the two, as `build_features` takes
  differences of cumulative sums; every frame is incremental (no per-row re-aggregation). The
  previous distinct time of a key is a ``lag`` on the same table. The table is joined back to the
  rows on (key, time); rows with a missing key find no match and get the no-history values.
- With a file of fraud reports (`--labels`), the reports' ids become keys on the driver
  (`pipeline.data.labels.ReportBook`), one row per key with its first report time, broadcast and
  joined to the input's ids made keys the same way in Spark SQL (`_id_key`). A fraud reported
  later than the delay is taken off its key's windows until its report: a step of +1 when it
  enters the delayed window and -1 when it leaves it or is reported, summed over the key's
  earlier times on a (key, time) table of its own (`_late_counts`).
- ``hour``, ``day_of_week``, ``is_weekend``, ``is_night`` are integer arithmetic on the wall-clock
  nanoseconds (1970-01-01 was a Thursday), so the session time zone cannot shift them; text times
  with an explicit offset (``Z``, ``+01:00``) keep their written clock, as pandas does.

Integer counts are exact; floating window sums can differ from the local engine's by rounding only
(a different summation order). Deliberate differences from pandas: see `spark_history_features`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from models.errors import ConfigError, DataError, FraudganError
from pipeline.console import RETURNED
from pipeline.data.schema import SECONDS_PER_UNIT, numeric_units
from pipeline.data.sources import (
    DAY_MONTH,
    ENTITY_SEPARATOR,
    LABEL_WORDS,
    WHOLE_NUMBER,
    relative_name,
)
from pipeline.features import (
    NIGHT_END_HOUR,
    NO_HISTORY_MEAN,
    NO_HISTORY_RATIO,
    NO_LABEL_RATE,
    NO_PREVIOUS_SECONDS,
    _check_windows,
    days_since_column,
    entity_count_column,
    entity_distinct_column,
    fraud_rate_column,
    secs_since_prev_column,
    window_label,
)
from pipeline.split import NANOSECONDS_PER_DAY, SECONDS_PER_DAY, duration_units

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from pipeline.data.labels import ReportBook
    from pipeline.data.schema import Schema

log = logging.getLogger(__name__)

_NS_PER_SECOND = 1_000_000_000
# an explicit zone after a clock time: "...12:00:00Z", "...12:00+01:00", "...12:00:00.5 UTC"
_ZONE_SUFFIX = r"(?i)\d:\d{2}(:\d{2}(\.\d*)?)?\s*(z|utc|gmt|[+-]\d{1,2}(:?\d{2}){0,2})$"
_INTEGRAL = ("ByteType", "ShortType", "IntegerType", "LongType")
_SHOWN = 5


@dataclass(frozen=True)
class SparkHistory:
    """What `spark_history_features` built: `frame` with the history features, the warnings
    given, and with `reports` how many rows they label fraud."""

    frame: DataFrame
    warnings: list[str]
    reported_rows: int | None = None


@dataclass(frozen=True)
class _Spec:
    """The parts of a model's `history` dict that the features depend on."""

    schema: Schema
    delay: float
    windows: list[float]
    raw_columns: list[str]
    engineered: list[str]
    merchant_entities: bool = False


def _spec(history: dict[str, Any], where: str) -> _Spec:
    from pipeline.data.schema import Schema

    try:
        schema = Schema.from_dict(history["schema"])
        delay = float(history["label_delay_days"])
        windows = _check_windows(history["windows_days"])
        raw_columns = list(history["raw_columns"])
        engineered = list(history["engineered"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise FraudganError(
            f"{where}: the model's history features spec is invalid ({exc!r})"
        ) from None
    if not math.isfinite(delay) or delay < 0:
        raise ConfigError(f"features.label_delay_days must be a number >= 0, found {delay!r}")
    merchant_entities = bool(history.get("merchant_entities", False))
    return _Spec(schema, delay, windows, raw_columns, engineered, merchant_entities)


def _q(name: str) -> str:
    """A column name quoted for Spark (names may hold dots, e.g. ``entity_n_0.5d``)."""
    return "`" + name.replace("`", "``") + "`"


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(_q(name))


def _type_name(df: DataFrame, column: str) -> str:
    return type(df.schema[column].dataType).__name__


# --------------------------------------------------------------------------------------------
# row preparation: time axis, wall clock, amount, label, keys


@dataclass
class _Time:
    axis: Column  # nanoseconds (long) or seconds (double)
    wall: Column | None  # wall-clock nanoseconds (datetime only)
    missing: Column  # boolean: no value at all
    bad: Column | None  # boolean: a value that is not a time
    bad_text: str  # what a bad value is not


def _time(df: DataFrame, column: str, unit: str, where: str, role: str = "time") -> _Time:
    from pyspark.sql import functions as F

    c = _col(column)
    kind = _type_name(df, column)
    what = f"{where}: {role} column {column!r}"
    if unit != "datetime":
        if kind in ("TimestampType", "TimestampNTZType", "DateType"):
            raise DataError(f"{what} holds datetimes but the schema says time_unit={unit!r}")
        if kind == "StringType":  # numbers as text (a CSV read without type inference)
            value = F.expr(f"try_cast(trim({_q(column)}) AS DOUBLE)")
        elif kind in (*_INTEGRAL, "FloatType", "DoubleType", "DecimalType"):
            value = c.cast("double")
        else:
            raise DataError(f"{what}: expected numbers of {unit}, found Spark type {kind}")
        finite = ~F.isnan(value) & (F.abs(value) != F.lit(float("inf")))
        bad = c.isNotNull() & (value.isNull() | ~finite)
        seconds = value * F.lit(SECONDS_PER_UNIT[unit]) if unit != "seconds" else value
        return _Time(seconds, None, c.isNull(), bad, f"finite numbers of {unit}")
    if kind == "TimestampType":  # an instant: UTC clock (as pandas shows tz-aware UTC values)
        ns = F.expr(f"unix_micros({_q(column)})") * 1000
        return _Time(ns, ns, c.isNull(), None, "dates")
    if kind == "TimestampNTZType":
        ns = _ntz_nanos(_q(column))
        return _Time(ns, ns, c.isNull(), None, "dates")
    if kind == "DateType":
        ns = _ntz_nanos(f"CAST({_q(column)} AS TIMESTAMP_NTZ)")
        return _Time(ns, ns, c.isNull(), None, "dates")
    if kind in _INTEGRAL:  # nanoseconds since the epoch (pandas' Parquet, pd.to_datetime of ints)
        ns = c.cast("long")
        return _Time(ns, ns, c.isNull(), None, "dates")
    if kind == "StringType":
        text = F.trim(c)
        wall = _ntz_nanos(f"try_cast(trim({_q(column)}) AS TIMESTAMP_NTZ)")
        instant = F.expr(f"unix_micros(try_cast(trim({_q(column)}) AS TIMESTAMP))") * 1000
        # text with an explicit zone is that instant (shown at its written clock, like pandas);
        # text without one is its wall clock, whatever the session time zone
        axis = F.when(text.rlike(_ZONE_SUFFIX), instant).otherwise(wall)
        bad = c.isNotNull() & (axis.isNull() | wall.isNull())
        return _Time(axis, wall, c.isNull(), bad, "dates")
    raise DataError(
        f"{what} holds Spark type {kind}, which is neither a datetime nor nanoseconds; "
        f"for numbers set time_unit to their unit ({numeric_units()})"
    )


def _ntz_nanos(sql: str) -> Column:
    """Nanoseconds from 1970-01-01 00:00 of a TIMESTAMP_NTZ expression (no time zone involved)."""
    from pyspark.sql import functions as F

    # from the date and the clock fields: timestampdiff on TIMESTAMP_NTZ goes through the session
    # time zone (a wall clock inside a daylight-saving gap comes out an hour late)
    micros = (
        f"unix_date(CAST({sql} AS DATE)) * 86400000000L"
        f" + (hour({sql}) * 3600L + minute({sql}) * 60L) * 1000000L"
        f" + CAST(extract(SECOND FROM {sql}) * 1000000 AS BIGINT)"
    )
    return F.expr(f"({micros}) * 1000L")


def _double_or_null(df: DataFrame, column: str, role: str, where: str) -> Column:
    """A numeric column as double with NaN as null (unknown); numbers written as text are read
    as numbers (`number_checks` names the text that is none)."""
    from pyspark.sql import functions as F

    kind = _type_name(df, column)
    if kind == "StringType":
        value = _text_number(column)
    elif kind in (*_INTEGRAL, "FloatType", "DoubleType", "DecimalType", "BooleanType"):
        value = _col(column).cast("double")
    else:
        raise DataError(
            f"{where}: {role} column {column!r} must be numeric, found Spark type {kind}"
        )
    return F.when(~F.isnan(value), value)


def spark_number(df: DataFrame, column: str) -> Column:
    """A model's numeric input column as double: numbers written as text read as numbers
    (`number_checks` name the text that is none)."""
    if _type_name(df, column) == "StringType":
        return _text_number(column)
    return _col(column).cast("double")


def _text_number(column: str) -> Column:
    from pyspark.sql import functions as F

    return F.expr(f"try_cast(trim({_q(column)}) AS DOUBLE)")


def number_checks(df: DataFrame, column: str, role: str, file: str) -> list[Column]:
    """Aggregates that count and show a text column's values that are no number (blank text is
    missing), and the files holding them (column `file`: `input_file_name()`, which an aggregate
    cannot call); none for a column of another type."""
    from pyspark.sql import functions as F

    if _type_name(df, column) != "StringType":
        return []
    raw = _col(column)
    bad = raw.isNotNull() & (F.trim(raw) != "") & _text_number(column).isNull()
    tag = f"{role}:{column}"
    file = F.when(bad, _col(file))
    return [
        F.count(F.when(bad, 1)).alias(f"n_bad_number:{tag}"),
        F.slice(F.array_sort(F.collect_set(F.when(bad, raw))), 1, _SHOWN).alias(
            f"bad_numbers:{tag}"
        ),
        F.min(file).alias(f"bad_number_file:{tag}"),
        F.count_distinct(file).alias(f"bad_number_files:{tag}"),
    ]


def spark_file(uri: str | None) -> Path:
    """The local path of a file URI as Spark gives it (`input_file_name()`, its error texts):
    percent-escapes decoded; an empty path for None."""
    return Path(unquote(urlparse(uri or "").path))


def file_in(uri: str | None, folder: Path | None) -> str:
    """A file Spark names by URI, as the user would name it: its path under the input `folder`
    (a partitioned folder holds many `part-00000` files), else its name; "" for None."""
    if not uri:
        return ""
    file = spark_file(uri)
    return relative_name(file, folder) if folder is not None and folder.is_dir() else file.name


def raise_bad_numbers(values: dict[str, Any], where: str, folder: Path | None = None) -> None:
    """`DataError` for the first column `number_checks` found text in that is no number, naming
    the (first) file that holds one (under the input `folder`, see `file_in`)."""
    import pandas as pd

    from pipeline.data.sources import not_numbers

    for key, count in values.items():
        if not key.startswith("n_bad_number:") or not count:
            continue
        tag = key.split(":", 1)[1]
        role, column = tag.split(":", 1)
        name = file_in(values[f"bad_number_file:{tag}"], folder)
        at = where
        if name and name not in where:
            others = values[f"bad_number_files:{tag}"] - 1
            at = f"{where}: {name}" + (f" (and {others} other file(s))" if others else "")
        raise DataError(
            not_numbers(at, role, column, pd.Series(values[f"bad_numbers:{tag}"]), count)
        )


def _label(df: DataFrame, column: str, where: str) -> Column:
    """Labels as double, null when unknown (missing or blank; other text is checked by the caller)."""
    from pyspark.sql import functions as F

    kind = _type_name(df, column)
    if kind == "StringType":
        value = F.expr(f"try_cast(trim({_q(column)}) AS DOUBLE)")
        text = F.lower(F.trim(_col(column)))
        for words in LABEL_WORDS:  # yes/no, true/false ... as the local engine reads them
            for word, number in words.items():
                value = F.when(text == F.lit(word), F.lit(float(number))).otherwise(value)
        return F.when(~F.isnan(value), value)
    return _double_or_null(df, column, "label", where)


def _key(df: DataFrame, column: str) -> Column:
    """A grouping key; NaN keys are missing, like pandas.factorize's."""
    from pyspark.sql import functions as F

    c = _col(column)
    if _type_name(df, column) in ("FloatType", "DoubleType"):
        return F.when(~F.isnan(c), c)
    return c


def _entity_key(df: DataFrame, columns: tuple[str, ...]) -> Column:
    """An entity of several columns as one key, as `pipeline.data.sources.entity_keys` makes it
    (null where a part is)."""
    from pyspark.sql import functions as F

    parts = []
    for column in columns:
        key = F.replace(_id_key(df, column, as_number=False), F.lit("\\"), F.lit("\\\\"))
        parts.append(F.replace(key, F.lit(ENTITY_SEPARATOR), F.lit("\\" + ENTITY_SEPARATOR)))
    return F.concat(*[p for part in parts for p in (F.lit(ENTITY_SEPARATOR), part)][1:])


def _is_number(df: DataFrame, column: str) -> bool:
    return _type_name(df, column) in (*_INTEGRAL, "FloatType", "DoubleType", "DecimalType")


def _id_key(df: DataFrame, column: str, *, as_number: bool) -> Column:
    """The ids of `column` as `pipeline.data.sources.id_keys` makes them keys: whole numbers as
    integers, text stripped, with `as_number` digits written as text without leading zeros;
    missing ids (NaN, empty text) null. Numbers that are not whole are Spark's text of them."""
    from pyspark.sql import functions as F

    c = _col(column)
    if _type_name(df, column) in _INTEGRAL:  # exactly, beyond a double's 2**53 too
        return c.cast("string")
    if _is_number(df, column):
        v = c.cast("double")
        whole = (F.floor(v) == v) & (F.abs(v) < F.lit(2.0**63))
        number = F.when(whole, v.cast("long").cast("string")).otherwise(c.cast("string"))
        return F.when(~F.isnan(v), number)
    text = F.regexp_replace(c.cast("string"), r"^\s+|\s+$", "")
    if as_number:
        whole = f"^{WHOLE_NUMBER}$"
        plain = F.regexp_replace(F.regexp_replace(text, whole, "$1$2"), r"^-0$", "0")
        text = F.when(text.rlike(whole), plain).otherwise(text)
    return F.when(text != "", text)


def _reports_table(spark: Any, reports: ReportBook, report_number: bool, k: str, r: str) -> Any:
    """One row per reported key (`k`, its `ReportBook.keys`), with its first report time on the
    time axis (`r`, `pipeline.split.time_axis`'s units; null where undated)."""
    import pandas as pd
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    from pipeline.split import time_axis

    keys = pd.unique(reports.keys(report_number).dropna().to_numpy())
    first = reports.first_reports(report_number)
    when: list[Any] = [None] * len(keys)
    axis: Any = LongType()
    if first is not None and len(first):
        t, per_day = time_axis(first, where=f"--labels {reports.source}")
        axis = LongType() if isinstance(per_day, int) else DoubleType()
        found = dict(zip(first.index, t.tolist(), strict=True))
        when = [found.get(key) for key in keys]
    schema = StructType([StructField(k, StringType(), False), StructField(r, axis, True)])
    return spark.createDataFrame(list(zip([str(x) for x in keys], when, strict=True)), schema)


# --------------------------------------------------------------------------------------------
# per-key window sums on the (key, time) table


class _Groups:
    """Window sums over one row per distinct (key, time), columns `k`, `t` and the sums."""

    def __init__(self, k: str, t: str, seconds: bool) -> None:
        from pyspark.sql import Window

        self.k, self.t, self.seconds = k, t, seconds
        self.order = Window.partitionBy(_q(k)).orderBy(_q(t))
        self.earlier = self.order.rowsBetween(Window.unboundedPreceding, -1)

    def before_now(self, columns: list[str]) -> dict[str, Column]:
        """Per column: the sum over the key's times < t."""
        from pyspark.sql import functions as F

        return {c: F.coalesce(F.sum(_q(c)).over(self.earlier), F.lit(0)) for c in columns}

    def before(self, offset: int | float, columns: list[str]) -> dict[str, Column]:
        """Per column: the sum over the key's times < t - offset (same float op as the frame)."""
        from pyspark.sql import functions as F

        if offset == 0:
            return self.before_now(columns)
        bound = f"CAST('{offset!r}' AS DOUBLE)" if self.seconds else f"CAST({offset} AS BIGINT)"
        frame = (
            f"PARTITION BY {_q(self.k)} ORDER BY {_q(self.t)} "
            f"RANGE BETWEEN UNBOUNDED PRECEDING AND {bound} PRECEDING"
        )
        fields = ", ".join(f"{_q(c)} AS {_q(c)}" for c in [self.t, *columns])
        last = F.expr(f"max(struct({fields})) OVER ({frame})")
        edge = last[self.t] == _col(self.t) - F.lit(offset)
        out = {}
        for c in columns:
            total = F.coalesce(F.expr(f"sum({_q(c)}) OVER ({frame})"), F.lit(0))
            out[c] = total - F.when(edge, last[c]).otherwise(F.lit(0))
        return out


def _rate(num: Column, den: Column, fill: float) -> Column:
    from pyspark.sql import functions as F

    return F.when(den > 0, num.cast("double") / F.greatest(den, F.lit(1)).cast("double")).otherwise(
        F.lit(fill)
    )


# --------------------------------------------------------------------------------------------
# the features


def _clock(wall: Column | None, axis: Column, seconds: bool) -> dict[str, Column]:
    """hour (and day_of_week, is_weekend, is_night) by arithmetic on the wall clock."""
    from pyspark.sql import functions as F

    if seconds:
        r = axis % F.lit(SECONDS_PER_DAY)  # np.mod: the sign of the divisor
        r = F.when(r < 0, r + F.lit(SECONDS_PER_DAY)).otherwise(r)
        return {"hour": r / F.lit(3600.0)}
    assert wall is not None
    of_day = F.pmod(wall, F.lit(NANOSECONDS_PER_DAY))
    secs = F.floor(of_day / F.lit(_NS_PER_SECOND)).cast("long")  # whole seconds of the day
    h = F.floor(secs / F.lit(3600)).cast("double")
    m = F.floor((secs % 3600) / F.lit(60)).cast("double")
    s = (secs % 60).cast("double")
    hour = h + m / F.lit(60.0) + s / F.lit(3600.0)  # pandas: hour + minute/60 + second/3600
    # exact: wall - of_day is a multiple of 2**16 below 2**62, so a double holds it exactly
    days = ((wall - of_day) / F.lit(NANOSECONDS_PER_DAY)).cast("long")
    dow = F.pmod(days + F.lit(3), F.lit(7))  # 1970-01-01 was a Thursday; Monday = 0
    return {
        "hour": hour,
        "day_of_week": dow.cast("int"),
        "is_weekend": (dow >= 5).cast("int"),
        "is_night": (hour < F.lit(NIGHT_END_HOUR)).cast("int"),
    }


def spark_history_features(
    df: DataFrame,
    history: dict[str, Any],
    where: str,
    reports: ReportBook | None = None,
    folder: Path | None = None,
) -> SparkHistory:
    """`df` with the model's history features (history["engineered"]) added, equal to build_features on the whole input; and the warnings given.

    `reports` (`pipeline.score.report_book`, for `--labels`) gives the labels as the local
    engine's `HistoryFeatures` does: a row is fraud when its id is reported, and with report
    dates a fraud counts in the fraud rates from its report on. The input must then have the
    model's id column and no label column.

    The output has `df`'s columns (engineered ones already there are replaced) and then the
    engineered columns in `history` order: int64 counts as LongType, int8 clock flags as
    IntegerType, the rest DoubleType. Raises `DataError` (prefixed with `where`, naming the
    column) for missing raw columns, unusable column types, missing or unparseable times and
    labels other than 0/1; all but the value checks before any Spark job, those in one aggregate.

    Deliberate differences from pandas: datetime text is parsed by Spark (ISO-8601 like
    ``2026-01-01 12:00:00[.ffffff][Z|+hh:mm]``; text that only pandas understands, such as
    ``01/02/2026``, raises; mixed UTC offsets, which pandas refuses, are accepted); times are
    kept to the microsecond unless given as nanosecond longs; the clock (hour, weekday) of a
    TimestampType column is its UTC clock, like pandas' for tz-aware UTC values (a CSV timestamp
    that Spark inferred in a non-UTC session, or a Parquet column pandas would show in another
    zone, gets the UTC clock: `pipeline.spark.spark_session` runs in UTC); fractional
    numbers in a datetime column raise instead of being read as nanoseconds; label words
    (`LABEL_WORDS`) are read value by value, so a file mixing 1 and yes is accepted; and ids that
    are numbers but not whole ones are matched to the reports by Spark's text of them.
    """
    from pyspark.sql import functions as F

    from pipeline.data.labels import key_ways
    from pipeline.data.sources import is_number
    from pipeline.score import (
        check_history_input,
        check_report_input,
        no_label_warning,
        unmatched_reports_warning,
    )

    spec = _spec(history, where)
    s = spec.schema
    seconds = s.numeric_time
    warnings: list[str] = []

    def warn(text: str) -> None:
        log.warning(text, extra=RETURNED)
        warnings.append(text)

    already, rebuilt = check_history_input(
        df.columns, spec.raw_columns, spec.engineered, where, s.history_inputs()
    )
    if rebuilt is not None:
        warn(rebuilt)
    base = df.drop(*already) if already else df
    if reports is not None:
        check_report_input(base.columns, s, reports, where)
    labelled = s.label in base.columns
    if not labelled and reports is None:
        warn(no_label_warning(where, s.label))
    roles = {c for c in (s.time, s.entity, s.merchant, s.amount) if c in spec.raw_columns}
    has = {role: getattr(s, role) in roles for role in ("time", "entity", "merchant", "amount")}
    if s.entity_columns:  # an entity of several columns, made of them
        has["entity"] = all(c in spec.raw_columns for c in s.entity_columns)
    if not has["time"]:
        has = dict.fromkeys(has, False)  # build_features builds nothing without a time column
    dates = [c for c in s.dates if c in spec.raw_columns] if has["time"] else []
    keys = [c for c in s.velocity if c in spec.raw_columns] if has["time"] else []

    p = "__hf_"
    while any(c.startswith(p) for c in base.columns):
        p = "_" + p
    T, WALL, A, Y, EK, MK = (p + n for n in ("t", "wall", "a", "y", "ek", "mk"))
    D = {date: f"{p}d{i}" for i, date in enumerate(dates)}
    V = {key: f"{p}v{i}" for i, key in enumerate(keys)}
    RK, RT, RM, REP = (p + n for n in ("rk", "rt", "rm", "rep"))  # reports: key, first, match
    FILE = p + "file"
    source = base
    if has["amount"]:
        assert s.amount is not None
        amount_checks = number_checks(base, s.amount, "amount", FILE)
        if amount_checks:
            source = source.withColumn(FILE, F.input_file_name())
    if reports is not None:
        assert s.id is not None
        tx_as_number, report_as_number = key_ways(_is_number(base, s.id), is_number(reports.ids))
        table = _reports_table(df.sparkSession, reports, report_as_number, RK, RT)
        keyed = source.withColumn(RK, _id_key(base, s.id, as_number=tx_as_number))
        table = F.broadcast(table.withColumn(RM, F.lit(1)))
        source = keyed.join(table, RK, "left")
    new: dict[str, Column] = {}
    prepared: dict[str, Column] = {}
    checks: list[Column] = []
    time_info: _Time | None = None
    if has["time"]:
        assert s.time is not None
        time_info = _time(base, s.time, s.time_unit, where)
        prepared[T] = time_info.axis
        if time_info.wall is not None:
            prepared[WALL] = time_info.wall
        checks.append(F.count(F.when(time_info.missing, 1)).alias("n_missing_time"))
        if time_info.bad is not None:
            checks.append(F.count(F.when(time_info.bad, 1)).alias("n_bad_time"))
            checks.append(F.min(F.when(time_info.bad, _col(s.time).cast("string"))).alias("bad"))
    for date, name in D.items():
        date_info = _time(base, date, s.time_unit, where, role="date")
        prepared[name] = date_info.axis
        if date_info.bad is not None:
            checks.append(
                F.min(F.when(date_info.bad, _col(date).cast("string"))).alias(f"bad_date:{date}")
            )
    if has["amount"]:  # checked even without an entity, as build_features does
        assert s.amount is not None
        prepared[A] = _double_or_null(base, s.amount, "amount", where)
        checks += amount_checks
    if has["entity"]:
        assert s.entity is not None
        prepared[EK] = (
            _entity_key(base, s.entity_columns) if s.entity_columns else _key(base, s.entity)
        )
    for key, name in V.items():
        prepared[name] = _key(base, key)
    if has["merchant"]:
        assert s.merchant is not None
        prepared[MK] = _key(base, s.merchant)
    if (has["merchant"] or keys) and reports is not None:  # their fraud rates, labelled
        prepared[Y] = F.when(F.col(RM).isNotNull(), F.lit(1.0)).otherwise(F.lit(0.0))
        checks += [F.sum(F.col(RM)).alias("n_reported"), F.count(F.lit(1)).alias("n_rows")]
    elif has["merchant"] or keys:  # their fraud rates
        y = _label(base, s.label, where) if labelled else F.lit(None).cast("double")
        prepared[Y] = y
        bad, shown = y.isNotNull() & ~y.isin(0.0, 1.0), y
        if labelled and _type_name(base, s.label) == "StringType":
            shown = F.trim(_col(s.label))
            bad = bad | (y.isNull() & (shown != ""))  # text that is no number, as in pandas
        checks.append(F.count(F.when(bad, 1)).alias("n_bad_label"))
        checks.append(
            F.slice(F.array_sort(F.collect_set(F.when(bad, shown))), 1, _SHOWN).alias("bad_labels")
        )

    names = _feature_names(spec, has, keys) | {days_since_column(d) for d in dates}
    lacking = [c for c in spec.engineered if c not in names]
    if lacking:
        raise DataError(
            f"{where}: the model's history feature(s) {', '.join(lacking)} cannot be built from "
            f"its raw columns {spec.raw_columns}"
        )
    if not spec.engineered:
        return SparkHistory(base, warnings)

    rows = source.select("*", *[value.alias(name) for name, value in prepared.items()])
    reported_rows = None
    if checks:
        counts = rows.agg(*checks).first()
        _validate(counts, s, where, time_info, folder)
        if "n_reported" in counts.asDict():
            reported_rows = int(counts["n_reported"] or 0)
            if counts["n_rows"] and not reported_rows:
                warn(unmatched_reports_warning(reports, int(counts["n_rows"])))

    assert time_info is not None
    new.update(_clock(F.col(WALL) if WALL in prepared else None, F.col(T), seconds))
    axis_day = SECONDS_PER_DAY if seconds else NANOSECONDS_PER_DAY  # `time_axis`'s day
    per_day = float(axis_day)
    for date, name in D.items():
        new[days_since_column(date)] = (F.col(T) - F.col(name)).cast("double") / F.lit(per_day)

    windows = [(window_label(w), duration_units(w, axis_day)) for w in spec.windows]
    delay = duration_units(spec.delay, axis_day)
    late = None
    if reports is not None and reports.times is not None and Y in prepared:
        # each fraud's report time as the local engine computes it: its days to the first
        # report (0 for a report before the transaction), back on the axis
        days = F.greatest((F.col(RT) - F.col(T)).cast("double") / F.lit(per_day), F.lit(0.0))
        shift = days * F.lit(per_day)
        rows = rows.withColumn(REP, F.col(T) + (shift if seconds else F.bround(shift).cast("long")))
        late = _Late(Y, REP, delay)
    # each family's sums are made of `rows` and joined onto `out`: made of `out`, the plan
    # would double with each join (half a minute of analysis for two velocity columns)
    out = rows
    if has["entity"]:
        amount = A if has["amount"] else None
        out, entity = _entity(rows, out, p, EK, T, amount, windows, seconds)
        new.update(entity)
    for i, (key, name) in enumerate(V.items()):
        out, found = _entity(
            rows, out, f"{p}v{i}_", name, T, None, windows, seconds, key, Y, delay, late
        )
        new.update(found)
        if has["entity"]:
            out, found = _distinct(rows, out, f"{p}v{i}_", name, EK, T, windows, seconds, key)
            new.update(found)
    if has["merchant"]:
        out, merchant = _merchant(rows, out, p, MK, T, Y, windows, delay, seconds, late)
        new.update(merchant)
        if spec.merchant_entities and has["entity"]:
            out, found = _distinct(rows, out, p + "m_", MK, EK, T, windows, seconds, "merchant")
            new.update(found)
    return SparkHistory(
        out.select(*[_col(c) for c in base.columns], *[new[c].alias(c) for c in spec.engineered]),
        warnings,
        reported_rows,
    )


def _feature_names(spec: _Spec, has: dict[str, bool], keys: list[str]) -> set[str]:
    labels = [window_label(w) for w in spec.windows]
    names: set[str] = set()
    if has["time"] and spec.schema.clock:
        names.add("hour")
        if not spec.schema.numeric_time:
            names |= {"day_of_week", "is_weekend", "is_night"}
    for key in [*(["entity"] if has["entity"] else []), *keys]:
        names |= {entity_count_column(w, key) for w in labels} | {secs_since_prev_column(key)}
    for key in keys:
        names |= {fraud_rate_column(w, key) for w in labels}
        if has["entity"]:
            names |= {entity_distinct_column(w, key) for w in labels}
    if has["entity"] and has["amount"]:
        names |= {f"entity_mean_amount_{w}" for w in labels}
        names.add(f"entity_amount_ratio_{labels[-1]}")
    if has["merchant"]:
        names |= {f"merchant_n_{w}" for w in labels} | {f"merchant_fraud_rate_{w}" for w in labels}
        if has["entity"] and spec.merchant_entities:
            names |= {entity_distinct_column(w, "merchant") for w in labels}
    return names


def _validate(
    row: Any, s: Schema, where: str, time_info: _Time | None, folder: Path | None
) -> None:
    """DataError for the value checks (one collected row of counts), in the local engine's order."""
    values = row.asDict()
    if values.get("n_bad_time"):
        assert time_info is not None
        written = isinstance(values["bad"], str) and DAY_MONTH.match(values["bad"])
        hint = (
            "; dates written day or month first are read by the local engine only: give the "
            "Spark engine ISO dates such as 2026-01-31 14:05"
            if written
            else ""
        )
        raise DataError(
            f"{where}: time column {s.time!r} holds {values['n_bad_time']} value(s) that are not "
            f"{time_info.bad_text} (e.g. {values['bad']!r}){hint}"
        )
    if values.get("n_missing_time"):
        raise DataError(
            f"{where}: time column {s.time!r}: {values['n_missing_time']} missing time value(s); "
            "expected none"
        )
    for key, bad in values.items():
        if key.startswith("bad_date:") and bad is not None:
            what = (
                f"finite numbers of {s.time_unit}"
                if s.numeric_time
                else "dates (the Spark engine reads ISO dates such as 2026-01-31 14:05)"
            )
            raise DataError(
                f"{where}: date column {key.split(':', 1)[1]!r} holds value(s) that are not "
                f"{what}, e.g. {bad!r}"
            )
    raise_bad_numbers(values, where, folder)
    if values.get("n_bad_label"):
        found = list(values["bad_labels"])
        raise DataError(f"{where}: label column {s.label!r} must be 0/1, found {found}")


def _entity(
    rows: DataFrame,
    into: DataFrame,
    p: str,
    key: str,
    t: str,
    amount: str | None,
    windows: list[tuple[str, int | float]],
    seconds: bool,
    named_as: str = "entity",
    y: str | None = None,
    delay: int | float = 0,
    late: _Late | None = None,
) -> tuple[DataFrame, dict[str, Column]]:
    """`into` joined with the entity features of `rows` (or a velocity column's, named after it,
    with the fraud rates of label `y` a `delay` back, `late` the frauds reported later); the
    feature columns (filled for missing keys)."""
    from pyspark.sql import functions as F

    k, kt, n, na, sa = (p + x for x in ("e_k", "e_t", "e_n", "e_na", "e_sa"))
    nk, nf = p + "e_nk", p + "e_nf"
    aggs = [F.count(F.lit(1)).alias(n)]
    sums = [n]
    if amount is not None:
        aggs += [
            F.count(_q(amount)).alias(na),
            F.coalesce(F.sum(_q(amount)), F.lit(0.0)).alias(sa),
        ]
        sums += [na, sa]
    if y is not None:
        aggs += _label_sums(y, nk, nf)
    table = rows.where(F.col(key).isNotNull()).groupBy(F.col(key).alias(k), F.col(t).alias(kt))
    table = table.agg(*aggs)
    late_counts = None
    if y is not None and late is not None:
        table, late_counts = _late_counts(table, rows, key, t, k, kt, windows, late, seconds)
    g = _Groups(k, kt, seconds)
    now = g.before_now(sums)
    feats: dict[str, Column] = {}
    mean_name = None
    for label, w in windows:
        lo = g.before(w, sums)
        feats[entity_count_column(label, named_as)] = now[n] - lo[n]
        if amount is not None:
            n_known = now[na] - lo[na]
            total = now[sa] - lo[sa]
            mean_name = f"entity_mean_amount_{label}"
            feats[mean_name] = _rate(total, n_known, NO_HISTORY_MEAN)
    rates: set[str] = set()
    if y is not None:
        found = _fraud_rates(g, nk, nf, windows, delay, named_as, late_counts)
        feats.update(found)
        rates.update(found)
    seconds_per_unit = 1.0 if seconds else SECONDS_PER_DAY / NANOSECONDS_PER_DAY
    prev = F.lag(_q(kt)).over(g.order)
    gap = secs_since_prev_column(named_as)
    feats[gap] = F.when(prev.isNull(), F.lit(NO_PREVIOUS_SECONDS)).otherwise(
        (F.col(kt) - prev).cast("double") * F.lit(seconds_per_unit)
    )
    named = {name: p + "e_f" + str(i) for i, name in enumerate(feats)}
    table = table.select(k, kt, *[feats[name].alias(named[name]) for name in feats])
    joined = into.join(table, (F.col(key) == F.col(k)) & (F.col(t) == F.col(kt)), "left")
    out: dict[str, Column] = {}  # missing keys found no match: no history
    for name, column in named.items():
        if name == gap:
            out[name] = F.coalesce(F.col(column), F.lit(NO_PREVIOUS_SECONDS)).cast("double")
        elif name in rates:
            out[name] = F.coalesce(F.col(column), F.lit(NO_LABEL_RATE)).cast("double")
        elif name.startswith(f"{named_as}_n_"):
            out[name] = F.coalesce(F.col(column), F.lit(0)).cast("long")
        else:
            out[name] = F.coalesce(F.col(column), F.lit(NO_HISTORY_MEAN)).cast("double")
    if amount is not None and mean_name is not None:
        mean, a = out[mean_name], F.col(amount)
        ok = a.isNotNull() & (mean != 0)
        ratio = F.when(ok, a / F.when(ok, mean).otherwise(F.lit(1.0)))
        out[f"entity_amount_ratio_{windows[-1][0]}"] = ratio.otherwise(F.lit(NO_HISTORY_RATIO))
    return joined, out


@dataclass(frozen=True)
class _Late:
    """The frauds of label column `y` reported at `when` (on the time axis; null: undated), with
    the model's label `delay` in the axis' units: one reported later than `delay` after its
    transaction counts as legitimate until its report (`build_features`' `label_delays`)."""

    y: str
    when: str
    delay: int | float


def _late_counts(
    table: DataFrame,
    rows: DataFrame,
    key: str,
    t: str,
    k: str,
    kt: str,
    windows: list[tuple[str, int | float]],
    late: _Late,
    seconds: bool,
) -> tuple[DataFrame, list[str]]:
    """`table` (one row per (key `k`, time `kt`)) with a column per window: how many of the key's
    frauds in [t - delay - w, t - delay) were not yet reported at t.

    As `pipeline.features._fraud_rates`: such a fraud r counts for t in (L_r, R_r] with
    L_r = t_r + delay and R_r = min(t_r + delay + w, its report), a step of +1 at L_r and -1 at
    R_r; a row's count is the sum of its key's steps strictly before its time.
    """
    from pyspark.sql import functions as F

    counts = [f"{k}_late{i}" for i in range(len(windows))]
    zero = F.lit(0).cast("long")

    def step(when: Column, column: str | None, by: int) -> Column:
        values = [
            (F.lit(by).cast("long") if column in (None, c) else zero).alias(c) for c in counts
        ]
        return F.struct(when.alias(kt), *values)

    at, reported = F.col(t), F.col(late.when)
    changes = [step(at + F.lit(late.delay), None, 1)]
    for (_, w), column in zip(windows, counts, strict=True):
        changes.append(step(F.least(at + F.lit(late.delay + w), reported), column, -1))
    is_late = F.col(key).isNotNull() & (F.col(late.y) == 1) & (reported > at + F.lit(late.delay))
    change = k + "_change"
    events = rows.where(is_late).select(
        F.col(key).alias(k), F.explode(F.array(*changes)).alias(change)
    )
    events = events.select(k, *[F.col(change)[c].alias(c) for c in (kt, *counts)])
    queries = table.select(k, kt, *[zero.alias(c) for c in counts])
    summed = queries.unionByName(events).groupBy(k, kt)
    summed = summed.agg(*[F.sum(_q(c)).alias(c) for c in counts])
    now = _Groups(k, kt, seconds).before_now(counts)
    summed = summed.select(k, kt, *[now[c].alias(c) for c in counts])
    return table.join(summed, [k, kt], "left"), counts


def _label_sums(y: str, nk: str, nf: str) -> list[Column]:
    """A (key, time) table's known labels (`nk`) and frauds (`nf`) of label column `y`."""
    from pyspark.sql import functions as F

    return [
        F.count(_q(y)).alias(nk),
        F.coalesce(F.sum(_q(y)), F.lit(0.0)).cast("long").alias(nf),
    ]


def _fraud_rates(
    g: _Groups,
    nk: str,
    nf: str,
    windows: list[tuple[str, int | float]],
    delay: int | float,
    named_as: str,
    late: list[str] | None = None,
) -> dict[str, Column]:
    """Per window, the known fraud share of the key's rows in [t - delay - w, t - delay), from
    the sums `_label_sums` made, less the frauds not yet reported (`_late_counts`' columns)."""
    from pyspark.sql import functions as F

    d_hi = g.before(delay, [nk, nf])
    out = {}
    for i, (label, w) in enumerate(windows):
        d_lo = g.before(delay + w, [nk, nf])
        frauds = d_hi[nf] - d_lo[nf]
        if late is not None:
            frauds = frauds - F.col(late[i])
        out[fraud_rate_column(label, named_as)] = _rate(frauds, d_hi[nk] - d_lo[nk], NO_LABEL_RATE)
    return out


def _distinct(
    rows: DataFrame,
    into: DataFrame,
    p: str,
    key: str,
    entity: str,
    t: str,
    windows: list[tuple[str, int | float]],
    seconds: bool,
    named_as: str,
) -> tuple[DataFrame, dict[str, Column]]:
    """`into` joined with the distinct entities in the windows of a velocity column of `rows`
    (filled with 0).

    As `pipeline.features._distinct_entities`: each (key, entity, time) adds one at
    max(time, its pair's previous time + w) and takes it back at time + w; a row's count is the
    sum of the key's steps strictly before its time.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    k, e, kt, prev_t = p + "d_k", p + "d_e", p + "d_t", p + "d_prev"
    steps = [p + f"d_s{i}" for i in range(len(windows))]
    pairs = (
        rows.where(F.col(key).isNotNull() & F.col(entity).isNotNull())
        .select(F.col(key).alias(k), F.col(entity).alias(e), F.col(t).alias(kt))
        .distinct()
    )
    prev = F.lag(_q(kt)).over(Window.partitionBy(_q(k), _q(e)).orderBy(_q(kt)))
    pairs = pairs.select(k, kt, prev.alias(prev_t))
    zero = F.lit(0).cast("long")

    def step(when: Column, column: str, by: int) -> Column:
        values = [(F.lit(by).cast("long") if c == column else zero).alias(c) for c in steps]
        return F.struct(when.alias(kt), *values)

    previous = F.col(prev_t)
    changes = []
    for (_, w), column in zip(windows, steps, strict=True):
        entered = F.when(previous.isNull(), F.col(kt)).otherwise(
            F.greatest(F.col(kt), previous + F.lit(w))
        )
        changes += [step(entered, column, 1), step(F.col(kt) + F.lit(w), column, -1)]
    change = p + "d_c"
    events = pairs.select(k, F.explode(F.array(*changes)).alias(change))
    events = events.select(k, *[F.col(change)[c].alias(c) for c in (kt, *steps)])
    queries = rows.where(F.col(key).isNotNull()).select(
        F.col(key).alias(k), F.col(t).alias(kt), *[zero.alias(c) for c in steps]
    )
    events = queries.unionByName(events)
    table = events.groupBy(k, kt).agg(*[F.sum(_q(c)).alias(c) for c in steps])
    g = _Groups(k, kt, seconds)
    now = g.before_now(steps)
    named = {
        entity_distinct_column(label, named_as): c
        for (label, _), c in zip(windows, steps, strict=True)
    }
    table = table.select(k, kt, *[now[c].alias(c) for c in steps])
    joined = into.join(table, (F.col(key) == F.col(k)) & (F.col(t) == F.col(kt)), "left")
    return joined, {name: F.coalesce(F.col(c), F.lit(0)).cast("long") for name, c in named.items()}


def _merchant(
    rows: DataFrame,
    into: DataFrame,
    p: str,
    key: str,
    t: str,
    y: str,
    windows: list[tuple[str, int | float]],
    delay: int | float,
    seconds: bool,
    late: _Late | None = None,
) -> tuple[DataFrame, dict[str, Column]]:
    """`into` joined with the merchant features of `rows` (`late`: the frauds reported later
    than the delay); the feature columns (filled for missing keys)."""
    from pyspark.sql import functions as F

    k, kt, n, nk, nf = (p + x for x in ("m_k", "m_t", "m_n", "m_nk", "m_nf"))
    table = rows.where(F.col(key).isNotNull()).groupBy(F.col(key).alias(k), F.col(t).alias(kt))
    table = table.agg(F.count(F.lit(1)).alias(n), *_label_sums(y, nk, nf))
    late_counts = None
    if late is not None:
        table, late_counts = _late_counts(table, rows, key, t, k, kt, windows, late, seconds)
    g = _Groups(k, kt, seconds)
    now = g.before_now([n])
    feats: dict[str, Column] = {}
    for label, w in windows:
        feats[f"merchant_n_{label}"] = now[n] - g.before(w, [n])[n]
    feats.update(_fraud_rates(g, nk, nf, windows, delay, "merchant", late_counts))
    named = {name: p + "m_f" + str(i) for i, name in enumerate(feats)}
    table = table.select(k, kt, *[feats[name].alias(named[name]) for name in feats])
    joined = into.join(table, (F.col(key) == F.col(k)) & (F.col(t) == F.col(kt)), "left")
    out: dict[str, Column] = {}
    for name, column in named.items():
        if name.startswith("merchant_n_"):
            out[name] = F.coalesce(F.col(column), F.lit(0)).cast("long")
        else:
            out[name] = F.coalesce(F.col(column), F.lit(NO_LABEL_RATE)).cast("double")
    return joined, out
