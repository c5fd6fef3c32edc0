"""Labels from a file of their own: fraud reports (chargebacks, confirmed cases) joined to the
transactions by id.

A bank's exports often keep the transactions and the fraud reports apart. `data.labels` names the
reports (`LabelFile`: a CSV or Parquet file, or a folder of them); a transaction is fraud (1) when
its id is among the reports' ids, else legitimate (0), and the schema's `label` names the column
made. Ids match as written, except that whole numbers match their text ("42" and 42.0) and whole
numbers written as text match a numeric column without their leading zeros, sign or decimal point
("0042", "+42" and "42.0" match 42).

With `reported_at`, the reports' dates (on the transactions' clock: dates, or numbers of the
schema's `time_unit`) measure the real label delay, each fraud's days from its transaction to its
first report (`Reports.delays`), which `fraudgan check` shows. A fraud is then known from its
report on: in the fraud-rate features (`pipeline.features.build_features`), for the known
compromised cards and the training labels of temporal folds (`pipeline.split.temporal_folds`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import ConfigError, DataError
from pipeline.data.schema import SECONDS_PER_UNIT, Schema
from pipeline.data.sources import (
    check_file,
    coerce_time,
    data_files,
    date_order,
    id_keys,
    is_number,
    is_parquet,
    listing,
    number_text,
    read_csv_table,
    read_parquet_table,
    rows_in_files,
)

log = logging.getLogger(__name__)

SAME_DAY_DAYS = 1.0
"""A report up to this many days before its transaction is taken as the same day (a report dated
without its hour); earlier ones are named in a warning."""

LATE_SHARE = 0.10
"""Temporal folds are warned about when more than this share of their training frauds were
reported after the fold's test period starts."""

_SHOWN = 3


@dataclass(frozen=True)
class LabelFile:
    """Where the labels are: the reports' `path`, their column of transaction ids (`id`; default
    the schema's `id`), and optionally their column of report dates (`reported_at`)."""

    path: Path
    id: str | None = None
    reported_at: str | None = None

    @classmethod
    def of(cls, spec: Any) -> LabelFile:
        """A `LabelFile` from itself, a mapping or an object with the same keys (the config's)."""
        if isinstance(spec, LabelFile):
            return spec
        if hasattr(spec, "model_dump"):
            spec = spec.model_dump()
        if not isinstance(spec, Mapping) or not spec.get("path"):
            raise ConfigError(
                f"data.labels must be a mapping with a path (and optionally id, reported_at), "
                f"got {spec!r}"
            )
        unknown = sorted(set(spec) - {"path", "id", "reported_at"})
        if unknown:
            raise ConfigError(
                f"data.labels: unknown key(s) {', '.join(unknown)}; valid: path, id, reported_at"
            )
        path = Path(os.path.expanduser(str(spec["path"])))
        return cls(path, spec.get("id"), spec.get("reported_at"))

    def attach(self, raw: pd.DataFrame, schema: Schema, where: str) -> Joined:
        """`raw` with its label column made from the reports (`attach_labels`)."""
        return attach_labels(raw, schema, self, where)


@dataclass(frozen=True)
class Reports:
    """What the reports gave: `reported` distinct ids, `matched` of them among the transactions,
    and with report dates `delays`, per row of the table, a fraud's days from its transaction to
    its first report (NaN for legitimate rows and undated reports; a report dated before its
    transaction counts as 0)."""

    path: str
    reported: int
    matched: int
    delays: np.ndarray | None = None

    def summary(self, label: str, delay_days: float) -> str:
        """One line for `fraudgan check`; `delay_days`: `features.label_delay_days`."""
        text = (
            f"labels: {self.reported:,} ids reported in {self.path}, {self.matched:,} among the "
            f"transactions -> {label!r}"
        )
        dated = self.dated()
        if dated is None:
            return text
        if not len(dated):
            return f"{text}; no report of theirs is dated"
        q = np.quantile(dated, [0.0, 0.5, 0.9, 1.0])
        later = float(np.mean(dated > delay_days))
        return (
            f"{text}; reported {q[0]:,.1f} .. {q[3]:,.1f} days after the transaction, median "
            f"{q[1]:,.1f}, 90 % within {q[2]:,.1f}; {later:.0%} later than "
            f"features.label_delay_days ({delay_days:g}), known from their report on"
        )

    def params(self) -> dict[str, Any]:
        """The run's parameters: the ids reported and matched, with dates the delay's median
        and 90th percentile in days."""
        out: dict[str, Any] = {
            "data.labels.reported": self.reported,
            "data.labels.matched": self.matched,
        }
        dated = self.dated()
        if dated is not None and len(dated):
            q = np.quantile(dated, [0.5, 0.9])
            out["data.labels.delay_median_days"] = round(float(q[0]), 2)
            out["data.labels.delay_p90_days"] = round(float(q[1]), 2)
        return out

    def dated(self) -> np.ndarray | None:
        """The delays of the dated reports (None without report dates)."""
        if self.delays is None:
            return None
        return self.delays[~np.isnan(self.delays)]


def read_reports(
    path: Path, keys: Sequence[str] = ()
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The reports table, CSV or Parquet by content, a file or a folder (`read_csv_table`,
    `read_parquet_table`, with their `keys`), and for a CSV folder its files' first rows and
    names."""
    check_file(path)
    first = data_files(path, str(path))[0] if path.is_dir() else path
    if is_parquet(first):
        return read_parquet_table(path, keys), []
    return read_csv_table(path, keys)


def key_ways(a_numeric: bool, b_numeric: bool) -> tuple[bool, bool]:
    """For two id columns, given whether each is numeric, whether each one's digits written as
    text are to be read as numbers (`id_keys`): where the other column is numeric and it is not."""
    return b_numeric and not a_numeric, a_numeric and not b_numeric


@dataclass(frozen=True)
class Joined:
    """The transactions with their label column, and what `report_delays` needs afterwards."""

    frame: pd.DataFrame
    reports: Reports
    book: ReportBook
    where: str

    def reports_of(self, frame: pd.DataFrame, schema: Schema) -> Reports:
        """The reports' summary with the delays of `frame`'s frauds (`report_delays`)."""
        return report_delays(self, frame, schema)


def attach_labels(raw: pd.DataFrame, schema: Schema, labels: LabelFile, where: str) -> Joined:
    """`raw` with the column `schema.label` made from the reports: 1 where the row's id is
    reported, else 0. `DataError` (naming the file and the column) for a reports file without the
    id or date column, a transactions table that has the label column already or lacks its id
    column, or reports none of whose ids is a transaction's; warnings for reports whose ids match
    no transaction, report rows without an id, and transactions without one."""
    if schema.id is None:
        raise ConfigError(
            f"{where}: data.labels joins the reports to the transactions by id: declare the "
            "transactions' id column as data.schema.id"
        )
    if labels.reported_at is not None and schema.time is None:
        raise ConfigError(
            f"{where}: data.labels.reported_at ({labels.reported_at!r}) is compared with the "
            "transactions' times: declare data.schema.time, or remove reported_at"
        )
    source = str(labels.path)
    if schema.label in raw.columns:
        raise DataError(
            f"{where}: has a column {schema.label!r} (data.schema.label) and data.labels names "
            f"reports ({source}) to make it from: give the labels one way, remove data.labels "
            "or name the column to make otherwise in data.schema.label"
        )
    if schema.id not in raw.columns:
        raise DataError(
            f"{where}: declared id column {schema.id!r} missing, which data.labels joins the "
            f"reports by. Available columns: {listing([str(c) for c in raw.columns])}"
        )
    book = ReportBook.read(labels, schema)
    column = book.column
    tx_keys, report_number = book.matched(raw[schema.id])
    report_keys = book.keys(report_number)
    present = report_keys.notna().to_numpy()
    if not present.all():
        log.warning(
            "%s: %d report row(s) have no id in %r (e.g. row %d); they are left out",
            source,
            int((~present).sum()),
            column,
            int(np.flatnonzero(~present)[0]),
        )
    reported = pd.unique(report_keys[present])
    known = set(tx_keys.dropna())
    found = np.array([k in known for k in reported], dtype=bool)
    if not found.any():
        raise DataError(
            f"{source}: none of the {len(reported):,} ids in column {column!r} is among the "
            f"transactions' {schema.id!r} ({where}): reports "
            f"{listing(list(reported))}, transactions "
            f"{listing(list(tx_keys.dropna().unique()))}; are the ids "
            "written the same way, and do the reports cover these transactions?"
        )
    if not found.all():
        log.warning(
            "%s: %d of the %d ids reported match no transaction in %s (e.g. %s): reports of "
            "transactions outside this table, or ids written otherwise; they are left out",
            source,
            int((~found).sum()),
            len(reported),
            where,
            ", ".join(repr(k) for k in reported[~found][:_SHOWN]),
        )
    missing_ids = int(tx_keys.isna().sum())
    if missing_ids:
        log.warning(
            "%s: %d transaction(s) have no %r, cannot be matched with the reports and are "
            "labelled legitimate (0)",
            where,
            missing_ids,
            schema.id,
        )
    frame = raw.copy()
    frame[schema.label] = book.labels(tx_keys, report_number)
    if frame[schema.label].all():
        raise DataError(
            f"{source}: every one of the {len(frame):,} transactions of {where} is among the "
            "reports, which would leave no legitimate row: the reports list only the frauds "
            "(is data.labels.path the transactions file itself?)"
        )
    summary = Reports(source, len(reported), int(found.sum()))
    return Joined(frame, summary, book, source)


@dataclass
class ReportBook:
    """A reports file read once: its column of ids (`column`, as read) and, with `reported_at`,
    each report's time on the transactions' clock (`times`, None without it)."""

    source: str
    column: str
    ids: pd.Series
    times: pd.Series | None
    _keys: dict[bool, pd.Series] = field(default_factory=dict, repr=False)
    _first: dict[bool, pd.Series] = field(default_factory=dict, repr=False)

    @classmethod
    def read(
        cls, labels: LabelFile, schema: Schema, names: Mapping[str, str] | None = None
    ) -> ReportBook:
        """The reports of `labels`, their columns checked and their dates read as the schema's
        time column is; `names`: how messages call the id and date options (the config's keys
        by default). `DataError` naming the file and the column."""
        names = names or {"id": "data.labels.id", "reported_at": "data.labels.reported_at"}
        source = str(labels.path)
        column = labels.id or schema.id
        reports, parts = read_reports(labels.path, [column] if column is not None else [])
        for role, name in (("id", column), ("reported_at", labels.reported_at)):
            if name is not None and name not in reports.columns:
                unset = role == "id" and labels.id is None
                default = f" (the schema's id, as {names['id']} is not set)" if unset else ""
                raise DataError(
                    f"{source}: {names[role]} column {name!r}{default} missing. Available "
                    f"columns: {listing([str(c) for c in reports.columns])}"
                )
        assert column is not None
        times = None
        if labels.reported_at is not None:
            values = reports[labels.reported_at]
            try:
                day_first = (
                    date_order(values, labels.reported_at, source, role="report date")
                    if schema.time_unit == "datetime"
                    else None
                )
                times = coerce_time(
                    values,
                    labels.reported_at,
                    schema.time_unit,
                    source,
                    span=False,
                    day_first=day_first,
                    role="report date",
                )
            except DataError as exc:
                raise DataError(rows_in_files(str(exc), parts) if parts else str(exc)) from None
        return cls(source, column, reports[column], times)

    def keys(self, as_number: bool) -> pd.Series:
        """The reports' ids as keys (`id_keys`), computed once per way."""
        if as_number not in self._keys:
            self._keys[as_number] = id_keys(self.ids, as_number=as_number)
        return self._keys[as_number]

    def matched(self, ids: pd.Series) -> tuple[pd.Series, bool]:
        """Transactions' `ids` as keys, and how the reports' ids become keys that match them
        (`key_ways`)."""
        tx_number, report_number = key_ways(is_number(ids), is_number(self.ids))
        return id_keys(ids, as_number=tx_number), report_number

    def labels(self, keys: pd.Series, report_number: bool) -> np.ndarray:
        """1 where a transaction's key (`matched`) is reported, else 0."""
        reported = keys.isin(self.keys(report_number).dropna()).fillna(False)
        return reported.to_numpy().astype(np.int8)

    def first_report(self, keys: pd.Series, report_number: bool) -> pd.Series | None:
        """Per transaction's key (`matched`): its earliest report time (missing where none);
        None without report dates."""
        first = self.first_reports(report_number)
        return None if first is None else first.reindex(keys.to_numpy())

    def first_reports(self, report_number: bool) -> pd.Series | None:
        """Each dated key's earliest report time (indexed by key, `keys(report_number)`); None
        without report dates."""
        if self.times is None:
            return None
        if report_number not in self._first:
            by = self.keys(report_number)
            dated = by.notna().to_numpy() & self.times.notna().to_numpy()
            self._first[report_number] = self.times[dated].groupby(by[dated].to_numpy()).min()
        return self._first[report_number]

    def label(
        self, ids: pd.Series, times: pd.Series | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """For transactions `ids` (at `times`, coerced as the schema's time column): 1 where
        reported, else 0, and with report dates each one's days to its first report (NaN where
        not reported or undated; a report before its transaction counts as 0)."""
        keys, report_number = self.matched(ids)
        reported = self.first_report(keys, report_number)
        if reported is None or times is None:
            return self.labels(keys, report_number), None
        return self.labels(keys, report_number), np.maximum(delay_days(reported, times), 0.0)


def delay_days(reported: pd.Series, times: pd.Series) -> np.ndarray:
    """Days from each of `times` to the matching `reported` time (both datetimes, or both float
    seconds); NaN where no report time."""
    if pd.api.types.is_datetime64_any_dtype(times.dtype):
        gap = reported.to_numpy(dtype="datetime64[ns]") - times.to_numpy(dtype="datetime64[ns]")
        return gap / np.timedelta64(1, "D")
    return (reported.to_numpy(dtype=np.float64) - times.to_numpy(np.float64)) / 86_400


def report_delays(joined: Joined, frame: pd.DataFrame, schema: Schema) -> Reports:
    """`joined.reports` with each fraud row's delay, from the validated frame (times coerced);
    a warning names the reports dated more than `SAME_DAY_DAYS` before their transaction."""
    if joined.book.times is None:
        return joined.reports
    assert schema.time is not None and schema.id is not None
    is_fraud = frame[schema.label].to_numpy() == 1
    fraud = frame[is_fraud]
    reported = joined.book.first_report(*joined.book.matched(fraud[schema.id]))
    assert reported is not None
    times = fraud[schema.time]
    delays = delay_days(reported, times)
    early = np.flatnonzero(delays < -SAME_DAY_DAYS)
    if len(early):
        i = early[0]
        log.warning(
            "%s: %d fraud(s) reported more than a day before their transaction (e.g. id %r, "
            "reported %s, its transaction at %s): they count as reported at once; check that "
            "data.labels.reported_at is the report's date, on the transactions' clock",
            joined.where,
            len(early),
            str(fraud[schema.id].iloc[i]),
            _when(reported.iloc[i], schema),
            _when(times.iloc[i], schema),
        )
    per_row = np.full(len(frame), np.nan)
    per_row[is_fraud] = np.maximum(delays, 0.0)  # NaN stays NaN
    return Reports(joined.reports.path, joined.reports.reported, joined.reports.matched, per_row)


def _when(value: Any, schema: Schema) -> str:
    """A time as the file writes it: a date, or a number of the schema's unit."""
    if schema.numeric_time:
        return f"{number_text(value / SECONDS_PER_UNIT[schema.time_unit])} {schema.time_unit}"
    return str(value)
