"""Label leaks (model input columns that separate fraud from legitimate rows perfectly alone) and
copies of the time.

No genuine fraud signal puts every fraud row on one side of every legitimate row; a column that
does is, almost always, the label in another form: a fraud scenario code, a chargeback date that
only fraud rows have, a case id given to investigated rows. Left in, it makes every strategy score
an AUPRC near 1 and the comparison meaningless, so the launch stops before any work
(`check_label_leaks`).

- numeric (and boolean) columns: every fraud row lies above every legitimate row, or below
  (ROC-AUC 1 or 0), with missing values taken as the lowest and as the highest value (a column
  missing on exactly one class separates);
- categorical columns: out of sample, so that an id-like column (every value new) does not count:
  each category's fraud rate is learned on a random half of the rows (half of each class) and
  scores the other half (a category the first half lacks gets the overall rate), and every fraud
  row scores above every legitimate one, both ways.

A second kind of column is the time again (`check_time_copies`): a numeric column whose rank
follows the time column's (|Spearman| >= `TIME_COPY_RHO`): a row number, a transaction counter,
the time in another unit (the public card files' `unix_time`, the handbook's `TX_TIME_DAYS`). The
pipeline keeps the time itself out of the features; as a feature, its copy lets stratified folds
learn when fraud happened, and every transaction scored later lies beyond the values trained on.

A third is a row number or a sequential id (`check_row_ids`): whole numbers, a different one on
every row, that fill a range hardly wider than the row count (a policy or claim number, an export's
row counter). It describes the file, not the transaction; with a file in time order it is the time
again even where no time column is declared, and every row scored later lies beyond its range.

A fourth is an identifier read as a number (`check_long_numbers`): whole numbers of 12 digits or
more on (nearly) every row, a card, account or phone number. No quantity of a transaction is
written that way; as a feature, a card number lets stratified folds recognise the cards whose
fraud they were trained on, a per-card memory the entity features give causally instead.

A fifth is a categorical column with a different value on every row (`check_categorical_ids`): a
transaction id or free text declared categorical. No test row shares its value with a training
row, so it carries nothing the model can use, and one-hot encoding gives it a column per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from models.errors import DataError
from pipeline.data.schema import yaml_list

MIN_POSITIVES = 10  # with fewer fraud rows, perfect separation by chance is too likely to judge
FRAUD_ABOVE = "every fraud row is above every legitimate row"


@dataclass(frozen=True)
class Leak:
    """A column that separates the classes perfectly on its own, and how."""

    column: str
    how: str


def label_leaks(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    y: np.ndarray,
    *,
    seed: int = 0,
) -> list[Leak]:
    """The columns of `numeric` and `categorical` that alone separate `y` (0/1) perfectly (see
    the module docstring); none when `y` has fewer than `MIN_POSITIVES` of either class."""
    y = np.asarray(y, dtype=np.int8)
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_POSITIVES:
        return []
    leaks = []
    for column in numeric:
        how = _numeric_separation(frame[column], y)
        if how:
            leaks.append(Leak(column, how))
    half = _stratified_half(y, seed)
    for column in categorical:
        if _categorical_separates(frame[column], y, half):
            leaks.append(
                Leak(
                    column,
                    "every category's fraud rate, learned on half the rows, ranks every "
                    "fraud row of the other half above every legitimate one",
                )
            )
    return leaks


def check_label_leaks(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    y: np.ndarray,
    *,
    where: str,
    dated: Mapping[str, str] | None = None,
) -> None:
    """Raise `DataError` naming each column of `label_leaks`, what it does, and what to do.

    `dated` maps a feature made from a date column (`days_since_<column>`) to that column, which
    is what the user moves to `drop`."""
    leaks = label_leaks(frame, numeric, categorical, y)
    if not leaks:
        return
    dated = dated or {}

    def named(column: str) -> str:
        return (
            f"{column!r} (from date column {dated[column]!r})" if column in dated else repr(column)
        )

    listed = "; ".join(f"{named(leak.column)}: {leak.how}" for leak in leaks)
    names = yaml_list([dated.get(leak.column, leak.column) for leak in leaks])
    moved = [dated[leak.column] for leak in leaks if leak.column in dated]
    also = (
        f" (taking {', '.join(repr(c) for c in moved)} out of data.schema.dates)" if moved else ""
    )
    raise DataError(
        f"{where}: {len(leaks)} input column(s) separate fraud from legitimate rows perfectly on "
        f"their own, the label in another form ({listed}). Drop them (data.schema.drop: "
        f"{names}){also}, or, if they are genuine features, set data.leak_check: false"
    )


def _numeric_separation(values: pd.Series, y: np.ndarray) -> str:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(x)
    if missing.all():
        return ""
    if not missing.any():
        return _strict_order(x, y)
    for fill, said in ((np.nanmin(x) - 1.0, "lowest"), (np.nanmax(x) + 1.0, "highest")):
        order = _strict_order(np.where(missing, fill, x), y)
        if order:
            return f"{order} (missing values taken as the {said})"
    return ""


def _stratified_half(y: np.ndarray, seed: int) -> np.ndarray:
    """A random half of the rows of each class."""
    rng = np.random.default_rng(seed)
    half = np.zeros(len(y), dtype=bool)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        half[rows[: len(rows) // 2]] = True
    return half


def _categorical_separates(values: pd.Series, y: np.ndarray, half: np.ndarray) -> bool:
    codes, _ = pd.factorize(values.astype(object), use_na_sentinel=False)
    for learn in (half, ~half):  # each half holds both classes (`MIN_POSITIVES`, stratified)
        score = ~learn
        fraud = np.bincount(codes[learn], weights=y[learn], minlength=codes.max() + 1)
        seen = np.bincount(codes[learn], minlength=codes.max() + 1)
        rate = np.where(seen > 0, fraud / np.maximum(seen, 1), y[learn].mean())
        if _strict_order(rate[codes[score]], y[score]) != FRAUD_ABOVE:
            return False
    return True


def _strict_order(x: np.ndarray, y: np.ndarray) -> str:
    """Which class lies wholly above the other on `x` (ROC-AUC 1 or 0), or "" (ties count as
    overlap)."""
    fraud, legit = x[y == 1], x[y == 0]
    if fraud.min() > legit.max():
        return FRAUD_ABOVE
    if legit.min() > fraud.max():
        return "every legitimate row is above every fraud row"
    return ""


TIME_COPY_RHO = 0.99
"""|Spearman correlation| with the time column from which a numeric column is the time again
(a step column of k equal levels reaches sqrt(1 - 1/k^2): 0.995 for ten levels, so a month
index over ten months counts, a before/after flag, 0.87, does not)."""
TIME_COPY_ROWS = 100_000
"""Rows (a seeded random sample) the correlation is measured on."""
TIME_COPY_SCREEN = (5_000, 0.9)
"""A first look on fewer rows: only columns reaching this |correlation| there (or too often
missing to judge there) are measured on `TIME_COPY_ROWS`; a copy of the time is near 1 on any
sample, and a wide table is screened in a fraction of the time."""


def time_copies(
    frame: pd.DataFrame, columns: Sequence[str], time: str, *, seed: int = 0
) -> list[tuple[str, float]]:
    """The columns of `columns` whose Spearman correlation with `time` reaches `TIME_COPY_RHO` in
    absolute value, with it (rows where both are present; a column with fewer than 100 such rows
    or a single value is not judged)."""
    rng = np.random.default_rng(seed)
    screen_rows, screen_bar = TIME_COPY_SCREEN
    screened = _time_correlations(_rows(frame, screen_rows, rng), columns, time)
    near = [c for c, rho in screened.items() if not abs(rho) < screen_bar]  # NaN: not judged yet
    measured = _time_correlations(_rows(frame, TIME_COPY_ROWS, rng), near, time) if near else {}
    return [(c, rho) for c, rho in measured.items() if abs(rho) >= TIME_COPY_RHO]


def _rows(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most `n` rows of `frame`, a random sample in frame order."""
    if len(frame) <= n:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), n, replace=False))]


def _time_correlations(sample: pd.DataFrame, columns: Sequence[str], time: str) -> dict[str, float]:
    """Each column's Spearman correlation with `time` on `sample` (NaN: not judged)."""
    t = sample[time]
    t = (t - t.min()).dt.total_seconds() if pd.api.types.is_datetime64_any_dtype(t) else t
    t = pd.to_numeric(t, errors="coerce").to_numpy(dtype=float)
    out = {}
    for column in columns:
        x = pd.to_numeric(sample[column], errors="coerce").to_numpy(dtype=float)
        both = np.isfinite(x) & np.isfinite(t)
        judged = both.sum() >= 100 and np.ptp(x[both]) > 0 and np.ptp(t[both]) > 0
        rho = stats.spearmanr(x[both], t[both]).statistic if judged else np.nan
        out[str(column)] = float(rho)
    return out


def check_time_copies(
    frame: pd.DataFrame, columns: Sequence[str], time: str, *, where: str
) -> None:
    """Raise `DataError` naming each column of `time_copies`, its correlation, and what to do."""
    copies = time_copies(frame, columns, time)
    if not copies:
        return
    listed = ", ".join(f"{name!r} (Spearman {rho:+.3f})" for name, rho in copies)
    names = yaml_list([name for name, _ in copies])
    raise DataError(
        f"{where}: {len(copies)} input column(s) rise or fall with the time column {time!r}, "
        f"the time again in another form (a row number, a counter, the time in another unit): "
        f"{listed}. As features they let stratified folds learn when fraud happened, and every "
        f"transaction scored later lies beyond the values trained on. Drop them "
        f"(data.schema.drop: {names}; a transaction id can be data.schema.id), or, if they are "
        "genuine features, set data.leak_check: false"
    )


def _whole_numbers(s: pd.Series) -> np.ndarray | None:
    """A numeric column's finite values, when every one is a whole number; None otherwise."""
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        return None
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    return values if np.array_equal(values, np.round(values)) else None


ROW_ID_MIN_ROWS = 100
"""Below this many rows, distinct whole numbers in a narrow range are too likely by chance."""
ROW_ID_SPAN = 2.0
"""A row id's values span at most this many times the row count (1..n spans exactly n)."""


def row_ids(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns of `columns` holding a row number or a sequential id (module docstring):
    whole numbers, none missing, distinct on every row, spanning at most `ROW_ID_SPAN` x the rows."""
    n = len(frame)
    if n < ROW_ID_MIN_ROWS:
        return []
    found = []
    for column in columns:
        values = _whole_numbers(frame[column])
        if values is None or len(values) < n:  # not whole numbers, or some missing
            continue
        if values.max() - values.min() + 1 > ROW_ID_SPAN * n:
            continue
        if len(np.unique(values)) == n:
            found.append(column)
    return found


def check_row_ids(frame: pd.DataFrame, columns: Sequence[str], *, where: str) -> None:
    """Raise `DataError` naming each column of `row_ids`, and what to do."""
    found = row_ids(frame, columns)
    if not found:
        return
    described = ", ".join(
        f"{c!r} ({frame[c].min():.0f} .. {frame[c].max():.0f} over {len(frame):,} rows)"
        for c in found
    )
    raise DataError(
        f"{where}: {len(found)} input column(s) hold a different whole number on every row, "
        f"filling a range about as wide as the file: a row number or a sequential id, "
        f"{described}. An id describes the file, not the transaction: with rows in time order it "
        f"is the time again, and every row scored later lies beyond its range. Declare it as "
        f"data.schema.id (passed through scoring) or drop it (data.schema.drop: "
        f"{yaml_list(found)}), or, if it is a genuine feature, set data.leak_check: false"
    )


def categorical_ids(frame: pd.DataFrame, categorical: Sequence[str]) -> list[str]:
    """The columns of `categorical` with a different value on every row, none missing (module
    docstring); none below `ROW_ID_MIN_ROWS` rows."""
    n = len(frame)
    if n < ROW_ID_MIN_ROWS:
        return []
    return [c for c in categorical if frame[c].notna().all() and frame[c].nunique() == n]


def check_categorical_ids(frame: pd.DataFrame, categorical: Sequence[str], *, where: str) -> None:
    """Raise `DataError` naming each column of `categorical_ids`, an example, and what to do."""
    found = categorical_ids(frame, categorical)
    if not found:
        return
    described = ", ".join(f"{c!r} (e.g. {frame[c].iloc[0]!r}, {frame[c].iloc[1]!r})" for c in found)
    raise DataError(
        f"{where}: {len(found)} categorical column(s) hold a different value on every one of "
        f"the {len(frame):,} rows: {described}. Such a value names its row (a transaction id, "
        "free text): no test row shares it with a training row, so the model learns nothing "
        "from it, and one-hot encoding gives it a column per row. Declare a transaction id as "
        "data.schema.id (passed through scoring) or drop the column (data.schema.drop: "
        f"{yaml_list(found)}); if it is a genuine feature, set data.leak_check: false"
    )


LONG_NUMBER = 1e11
"""Whole numbers of at least this magnitude (12 digits) are identifiers, not quantities."""
LONG_NUMBER_SHARE = 0.95
"""...on at least this share of a column's present values."""


def long_numbers(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns of `columns` holding identifiers read as numbers (module docstring)."""
    found = []
    for column in columns:
        values = _whole_numbers(frame[column])
        if values is None or not len(values):
            continue
        if (np.abs(values) >= LONG_NUMBER).mean() >= LONG_NUMBER_SHARE:
            found.append(column)
    return found


def check_long_numbers(frame: pd.DataFrame, columns: Sequence[str], *, where: str) -> None:
    """Raise `DataError` naming each column of `long_numbers`, an example, and what to do."""
    found = long_numbers(frame, columns)
    if not found:
        return
    described = ", ".join(
        f"{c!r} (e.g. {int(frame[c].dropna().iloc[0])}, {frame[c].nunique():,} distinct values)"
        for c in found
    )
    raise DataError(
        f"{where}: {len(found)} input column(s) hold whole numbers of 12 digits or more, "
        f"identifiers such as a card, account or phone number rather than quantities: "
        f"{described}. As a feature, a card number lets stratified folds recognise the cards "
        f"whose fraud they were trained on. Declare a card or customer as data.schema.entity "
        f"and a merchant as data.schema.merchant, another id several transactions share (a "
        f"phone, a device) under data.schema.velocity (their history becomes features, "
        f"causally), a transaction id as data.schema.id, a time "
        f"in milliseconds as data.schema.time or under dates, or drop it (data.schema.drop: "
        f"{yaml_list(found)}); if it is a genuine feature, set data.leak_check: false"
    )
