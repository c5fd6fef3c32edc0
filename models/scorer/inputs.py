"""The scorer's input: a table of transactions checked and typed for the preprocessing.

Input is validated by the scorer itself, so that its messages reach the user: all missing columns
are named at once (`FraudScorer`), a value that cannot be read as a number is named with its column
and row, an empty frame gives an empty result, unknown categories are scored as unseen, NaN is
missing (XGBoost routes it), extra columns are ignored. A few rows (a REST call) take a faster path
(`plain_rows`) that gives exactly what the column-wise path gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from models.errors import DataError


class ScoringInputError(DataError, MlflowException):
    """Bad scoring input: a `DataError` in Python, a 400 response with this message over REST."""

    def __init__(self, message: str) -> None:
        MlflowException.__init__(self, message, error_code=INVALID_PARAMETER_VALUE)


def is_missing(v: Any) -> bool:
    """A scalar that pandas would call missing (None, NaN, NaT, NA)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return bool(v != v)
    if isinstance(v, np.datetime64 | np.timedelta64):
        return bool(np.isnat(v))
    return False


@dataclass
class CleanInput:
    """Validated model input: per categorical column its values, and the numeric matrix."""

    n: int
    categorical: dict[str, Any]  # Series (RangeIndex) or object array, in the categories' type
    numeric: np.ndarray  # (n, number of numeric columns) float64, NaN = missing

    def frame(self, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
        """As a DataFrame with the model's columns (for scikit-learn's transform)."""
        data: dict[str, Any] = {
            c: np.asarray(self.categorical[c], dtype=object) for c in categorical
        }
        for j, c in enumerate(numeric):
            data[c] = self.numeric[:, j]
        return pd.DataFrame(data, index=pd.RangeIndex(self.n), columns=[*categorical, *numeric])


def _row_label(frame: pd.DataFrame, position: int) -> str:
    index = frame.index[position]
    return f"row {index!r}" if not isinstance(index, int | np.integer) else f"row {int(index)}"


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NOT_PLAIN_NUMBERS = (str, bytes, bool, np.bool_, np.datetime64)


def float32_problem(values: np.ndarray, column: str) -> tuple[int, str] | None:
    """The first value of a float64 column that the float32 model matrix cannot hold, or None.

    Returns its position and a message with a `{row}` placeholder for the caller's row label.
    """
    bad = np.isinf(values)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        return pos, (
            f"column {column!r} holds an infinite value ({float(values[pos])!r}) at {{row}}; "
            "use an empty value for missing"
        )
    huge = np.abs(values) > _FLOAT32_MAX
    if huge.any():
        pos = int(np.flatnonzero(huge)[0])
        return pos, (
            f"column {column!r} holds {float(values[pos])!r} at {{row}}, beyond the float32 "
            f"range the model computes in (at most {_FLOAT32_MAX:.3g} in size)"
        )
    return None


def as_numeric(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A numeric input column as float64 (NaN = missing), or `ScoringInputError` naming the value."""
    s = frame[column]
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        s = s.astype(object)
        dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise ScoringInputError(
            f"{where}column {column!r} must be numeric, found {dtype} values (e.g. {s.iloc[0]!r})"
        )
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        try:
            values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ScoringInputError(
                f"{where}column {column!r} cannot be read as numbers ({exc})"
            ) from None
    else:
        values = _parse_numbers(s, column, frame, where)
    problem = float32_problem(values, column)
    if problem is not None:
        pos, text = problem
        raise ScoringInputError(where + text.format(row=_row_label(frame, pos)))
    return values


def _parse_numbers(s: pd.Series, column: str, frame: pd.DataFrame, where: str) -> np.ndarray:
    obj = s.astype(object)
    raw = obj.to_numpy()
    missing = pd.isna(obj).to_numpy()
    is_text = np.fromiter((isinstance(v, str) for v in raw), dtype=bool, count=len(raw))
    blank = np.zeros(len(raw), dtype=bool)
    if is_text.any():
        stripped = np.array([v.strip() if isinstance(v, str) else "" for v in raw], dtype=object)
        blank = is_text & (stripped == "")
        raw = np.where(is_text, stripped, raw)
    values = np.full(len(raw), np.nan)
    ok = ~(missing | blank)
    bad_pos: int | None = None
    if ok.any():
        try:
            parsed = pd.to_numeric(pd.Series(raw[ok], dtype=object), errors="coerce")
            values[ok] = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
            failed = np.flatnonzero(ok)[np.isnan(values[ok])]
            # "nan" text is an explicit missing value; anything else unparsable is an error
            failed = [
                p for p in failed if not (isinstance(raw[p], str) and raw[p].lower() == "nan")
            ]
            bad_pos = int(failed[0]) if failed else None
        except (TypeError, ValueError, OverflowError):
            for p in np.flatnonzero(ok):
                v = raw[p]
                try:
                    if isinstance(
                        v, bool | np.bool_ | int | float | np.integer | np.floating | str
                    ):
                        values[p] = float(v)
                    else:
                        raise TypeError
                except (TypeError, ValueError, OverflowError):
                    bad_pos = int(p)
                    break
    if bad_pos is not None:
        example = raw[bad_pos]
        raise ScoringInputError(
            f"{where}column {column!r} must be numeric; {_row_label(frame, bad_pos)} holds "
            f"{_short_repr(example)}, which is not a number"
        )
    return values


def _short_repr(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def as_category(s: pd.Series, numeric_categories: bool) -> pd.Series:
    """Categorical input in the type of the training categories; anything unknown stays unseen."""
    if numeric_categories:
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            return s
        try:
            return pd.to_numeric(s.astype(object), errors="coerce")
        except (TypeError, ValueError, OverflowError):
            return pd.Series(np.nan, index=s.index)
    if isinstance(s.dtype, pd.StringDtype):
        return s
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s
    obj = s.astype(object)
    missing = pd.isna(obj).to_numpy() if len(obj) else np.zeros(0, dtype=bool)
    values = np.array(
        [np.nan if m else str(v) for v, m in zip(obj.to_numpy(), missing, strict=True)],
        dtype=object,
    )
    return pd.Series(values, index=s.index, dtype=object)


def as_frame(model_input: Any, where: str) -> pd.DataFrame:
    """The input as a DataFrame (a DataFrame, a mapping of columns, or JSON records)."""
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, Mapping):
        try:
            return pd.DataFrame(dict(model_input))
        except ValueError:
            try:
                return pd.DataFrame([dict(model_input)])
            except (TypeError, ValueError) as exc:
                raise ScoringInputError(
                    f"{where}cannot read the input as a table ({exc})"
                ) from None
    if isinstance(model_input, list) and all(isinstance(r, Mapping) for r in model_input):
        return pd.DataFrame(model_input)
    raise ScoringInputError(
        f"{where}expected a table of transactions (a pandas DataFrame or JSON records), "
        f"found {type(model_input).__name__}"
    )


def check_split_payload(decoded_input: Any, pandas_orient: str) -> None:
    """Refuse a REST `dataframe_split` payload that pandas would read wrongly: a row with more or
    fewer values than `columns` (pandas pads a short row with missing values at the end, so
    every value after a forgotten one lands in the wrong column) or a column named twice."""
    if pandas_orient != "split" or not isinstance(decoded_input, Mapping):
        return
    columns, data = decoded_input.get("columns"), decoded_input.get("data")
    if isinstance(columns, list):
        counts: dict[Any, int] = {}
        for c in columns:
            key = c if isinstance(c, str | int | float | bool) or c is None else repr(c)
            counts[key] = counts.get(key, 0) + 1
        repeated = [c for c, n in counts.items() if n > 1]
        if repeated:
            raise ScoringInputError(
                f"dataframe_split: column name(s) {repeated} appear more than once in 'columns'; "
                "name each column once"
            )
    if not isinstance(data, list) or not data:
        return
    width = len(columns) if isinstance(columns, list) else None
    for k, row in enumerate(data):
        if not isinstance(row, list):
            continue
        if width is None:
            width = len(row)
        elif len(row) != width:
            named = "'columns' names" if isinstance(columns, list) else "row 0 has"
            raise ScoringInputError(
                f"dataframe_split: row {k} of 'data' has {len(row)} value(s) but {named} "
                f"{width}; give every row one value per column, in the order of 'columns' "
                "(null for a missing value)"
            )


def plain_rows(values: np.ndarray, categorical: list[str]) -> CleanInput | None:
    """A few rows as one object array (the model's columns: categoricals, then numbers) checked
    by Python per value; None when a value needs the column-wise checks and their messages (text
    that is not a number, booleans, dates, infinities, numbers beyond float32)."""
    k = len(categorical)
    try:
        numeric = np.array(values[:, k:], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (np.abs(numeric[~np.isnan(numeric)]) <= _FLOAT32_MAX).all():
        return None
    if any(issubclass(t, _NOT_PLAIN_NUMBERS) for t in set(map(type, values[:, k:].flat))):
        return None
    text = {
        c: np.array(
            [
                np.nan if is_missing(v) else v if isinstance(v, str) else str(v)
                for v in values[:, i]
            ],
            dtype=object,
        )
        for i, c in enumerate(categorical)
    }
    return CleanInput(len(values), text, numeric)
