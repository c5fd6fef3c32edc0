"""The exported fraud scorer: an MLflow pyfunc model around the champion's fitted pipeline.

`FraudScorer` holds what scoring needs and nothing that training needed: the fitted preprocessing
(the sampler step is dropped: imblearn skips it at predict time anyway), the XGBoost booster cut at
its best iteration, the model's input columns and their training dtypes, the id column that is
passed through, and the decision threshold chosen on validation data. When the model uses causal
history features it also records how to rebuild them (`history`), so that `fraudgan score` can
build them from a raw transaction file with the same code as training.

Input is validated by the scorer itself, so that its messages reach the user: all missing columns
are named at once, a value that cannot be read as a number is named with its column and row, an
empty frame gives an empty result, unknown categories are scored as unseen, NaN is missing (XGBoost
routes it), extra columns are ignored and the id column passes through. The model signature marks
every column optional so that MLflow's own check lets a frame with missing columns through to these
messages. Its column types (every numeric column as double, so that a null of an integer column
is NaN as everywhere else; categoricals as string) are still checked by MLflow for pyfunc and
REST callers: a text value in a numeric column is answered by MLflow's message, which names the
column; Python callers of the loaded pyfunc pass integer columns as floats (`signature_frame`).
MLflow drops input that matches no signature column (`{"instances": [1, 2, 3]}`), and the
frame that reaches the scorer then has none of the model's columns: that is an error naming them,
never an empty result.

Scoring is fast: the fitted preprocessing is compiled into plain arrays (`Layout`): one-hot
positions, imputation medians, missing indicators, scaler means and scales: and the matrix goes to
`Booster.inplace_predict`. The compiled path is checked against scikit-learn's own transform when
the scorer is built; if the pipeline has a shape the compiler does not know, scikit-learn is used.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from models.errors import DataError

log = logging.getLogger(__name__)

SMALL_FRAME = 64  # rows; below this, plain Python per value beats pandas per column (REST calls)
PROBABILITY = "fraud_probability"
ALERT = "alert"
N_REASONS = 3
BIAS = "bias"


class ScoringInputError(DataError, MlflowException):
    """Bad scoring input: a `DataError` in Python, a 400 response with this message over REST."""

    def __init__(self, message: str) -> None:
        MlflowException.__init__(self, message, error_code=INVALID_PARAMETER_VALUE)


def reason_columns(n: int = N_REASONS) -> list[str]:
    """Output columns added by `explain`: reason_1, reason_1_value, reason_2, ..."""
    out: list[str] = []
    for k in range(1, n + 1):
        out += [f"reason_{k}", f"reason_{k}_value"]
    return out


# --------------------------------------------------------------------------------------------
# the compiled preprocessing


@dataclass(frozen=True)
class CategoricalBlock:
    """One categorical column's one-hot block: known categories in column order."""

    column: str
    categories: tuple[Any, ...]  # non-missing categories, block column k = categories[k]
    nan_index: int | None  # the block column of a missing value, if missing was seen in training
    width: int

    @property
    def numeric_categories(self) -> bool:
        return bool(self.categories) and all(
            isinstance(c, int | float | np.integer | np.floating) and not isinstance(c, bool)
            for c in self.categories
        )


@dataclass(frozen=True, eq=False)
class Layout:
    """The fitted preprocessing as arrays: one-hot categoricals, then imputed and scaled numerics."""

    categorical: tuple[CategoricalBlock, ...]
    numeric: tuple[str, ...]
    statistics: np.ndarray  # imputation value per numeric column
    indicator: np.ndarray  # numeric column positions that have a missing indicator
    mean: np.ndarray  # scaler mean per numeric + indicator column
    scale: np.ndarray
    _categories: tuple[pd.Index, ...] = field(default=(), repr=False, compare=False)
    _lookups: dict[str, dict[Any, int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_features(self) -> int:
        return sum(b.width for b in self.categorical) + len(self.numeric) + len(self.indicator)

    def owners(self) -> list[str]:
        """The input column behind each matrix column."""
        out = [b.column for b in self.categorical for _ in range(b.width)]
        out += list(self.numeric)
        out += [self.numeric[i] for i in self.indicator]
        return out

    def feature_names(self) -> list[str]:
        """A readable name per matrix column: `channel=online`, `amount`, `amount_missing`."""
        out: list[str] = []
        for b in self.categorical:
            names = [f"{b.column}={c}" for c in b.categories]
            names += [f"{b.column}=<unused {k}>" for k in range(len(names), b.width)]
            if b.nan_index is not None:
                names[b.nan_index] = f"{b.column}=<missing>"
            out += names[: b.width]
        out += list(self.numeric)
        out += [f"{self.numeric[i]}_missing" for i in self.indicator]
        return out

    def describe(self) -> list[dict[str, Any]]:
        """Per matrix column, how it is computed from the raw input (for scoring outside Python)."""
        out: list[dict[str, Any]] = []
        position = 0
        for b in self.categorical:
            for k in range(b.width):
                entry: dict[str, Any] = {"index": position, "column": b.column, "kind": "onehot"}
                if k == b.nan_index:
                    entry["value"] = None
                    entry["rule"] = "1.0 when the value is missing, else 0.0"
                elif k < len(b.categories):
                    entry["value"] = _json_value(b.categories[k])
                    entry["rule"] = "1.0 when the value equals `value`, else 0.0"
                else:
                    entry["rule"] = "always 0.0"
                out.append(entry)
                position += 1
        n = len(self.numeric)
        for j, name in enumerate(self.numeric):
            out.append(
                {
                    "index": position,
                    "column": name,
                    "kind": "numeric",
                    "fill_missing": float(self.statistics[j]),
                    "mean": float(self.mean[j]),
                    "scale": float(self.scale[j]),
                    "rule": "(value, or fill_missing when missing, - mean) / scale",
                }
            )
            position += 1
        for k, j in enumerate(self.indicator):
            out.append(
                {
                    "index": position,
                    "column": self.numeric[j],
                    "kind": "missing_indicator",
                    "mean": float(self.mean[n + k]),
                    "scale": float(self.scale[n + k]),
                    "rule": "(1.0 when the value is missing else 0.0, - mean) / scale",
                }
            )
            position += 1
        return out

    def transform(self, clean: CleanInput) -> np.ndarray:
        """The float32 model matrix of validated input (see `FraudScorer.validate`)."""
        n = clean.n
        out = np.zeros((n, self.n_features), dtype=np.float32)
        offset = 0
        indexes = self._categories or tuple(pd.Index(b.categories) for b in self.categorical)
        for b, cats in zip(self.categorical, indexes, strict=True):
            values = clean.categorical[b.column]
            if n <= SMALL_FRAME:
                lookup = self._lookups[b.column] if self._lookups else _lookup(b)
                missing = np.fromiter((_missing(v) for v in values), dtype=bool, count=n)
                known = np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int64, count=n)
                known[missing] = -1
            else:
                # factorize (hash once per row, arrow-native for string columns), then look the
                # few distinct values up among the known categories
                codes, uniques = pd.factorize(values, use_na_sentinel=True)
                missing = codes < 0
                known = np.full(n, -1, dtype=np.int64)
                if len(cats) and len(uniques):
                    lookup = cats.get_indexer(pd.Index(uniques, dtype=object))
                    known = np.where(missing, -1, lookup[np.maximum(codes, 0)])
            hit = np.flatnonzero((known >= 0) & (known < b.width))
            out[hit, offset + known[hit]] = 1.0
            if b.nan_index is not None:
                out[np.flatnonzero(missing), offset + b.nan_index] = 1.0
            offset += b.width
        if self.numeric:
            # the same float64 operations as SimpleImputer + StandardScaler, in fewer passes
            k = len(self.numeric)
            x = clean.numeric.copy()
            mask = np.isnan(x)
            if mask.any():
                np.copyto(x, np.broadcast_to(self.statistics, x.shape), where=mask)
            x -= self.mean[:k]
            x /= self.scale[:k]
            out[:, offset : offset + k] = x
            if len(self.indicator):
                ind = mask[:, self.indicator].astype(np.float64)
                ind -= self.mean[k:]
                ind /= self.scale[k:]
                out[:, offset + k :] = ind
        return out

    def with_index(self) -> Layout:
        """A copy with the category lookups built (they are not pickled)."""
        cats = tuple(pd.Index(list(b.categories), dtype=object) for b in self.categorical)
        ready = Layout(
            self.categorical,
            self.numeric,
            self.statistics,
            self.indicator,
            self.mean,
            self.scale,
            cats,
        )
        object.__setattr__(ready, "_lookups", {b.column: _lookup(b) for b in self.categorical})
        return ready

    @classmethod
    def from_steps(
        cls, steps: Sequence[tuple[str, Any]], numeric: list[str], categorical: list[str]
    ) -> Layout | None:
        """Compile the fitted steps of `models.classifier.build_pipeline`; None for other shapes."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline as SkPipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

        names = [name for name, _ in steps]
        if names not in (["preprocess"], ["preprocess", "encode"]):
            return None
        pre = steps[0][1]
        if not isinstance(pre, ColumnTransformer):
            return None
        fitted = {name: (est, cols) for name, est, cols in pre.transformers_ if name != "remainder"}
        blocks: list[CategoricalBlock] = []
        if categorical:
            enc, cols = fitted.get("categorical", (None, None))
            if list(cols or []) != categorical:
                return None
            if isinstance(enc, OneHotEncoder):
                if enc.drop_idx_ is not None or getattr(enc, "_infrequent_enabled", False):
                    return None
                for name, cats in zip(categorical, enc.categories_, strict=True):
                    known, nan_index = _split_nan(cats)
                    blocks.append(CategoricalBlock(name, known, nan_index, len(cats)))
                if len(names) != 1:
                    return None
            elif isinstance(enc, OrdinalEncoder):
                if len(names) != 2:
                    return None
                re = steps[1][1]
                onehot = (
                    re.named_transformers_.get("onehot")
                    if hasattr(re, "named_transformers_")
                    else None
                )
                if not isinstance(onehot, OneHotEncoder):
                    return None
                for k, (name, cats) in enumerate(zip(categorical, enc.categories_, strict=True)):
                    known, _ = _split_nan(cats)
                    codes = onehot.categories_[k]
                    if not np.array_equal(codes, np.arange(len(codes))):
                        return None
                    blocks.append(CategoricalBlock(name, known, None, len(codes)))
            else:
                return None
        elif len(names) != 1:
            return None
        if numeric:
            num, cols = fitted.get("numeric", (None, None))
            if list(cols or []) != numeric or not isinstance(num, SkPipeline):
                return None
            if len(num.steps) != 2:
                return None
            imputer, scaler = num.steps[0][1], num.steps[1][1]
            if not isinstance(imputer, SimpleImputer) or not isinstance(scaler, StandardScaler):
                return None
            if not (scaler.with_mean and scaler.with_std):
                return None
            if not (
                isinstance(imputer.missing_values, float) and math.isnan(imputer.missing_values)
            ):
                return None
            indicator = (
                np.asarray(imputer.indicator_.features_, dtype=np.int64)
                if imputer.add_indicator
                else np.zeros(0, dtype=np.int64)
            )
            stats = np.asarray(imputer.statistics_, dtype=np.float64)
            mean = np.asarray(scaler.mean_, dtype=np.float64)
            scale = np.asarray(scaler.scale_, dtype=np.float64)
        else:
            indicator = np.zeros(0, dtype=np.int64)
            stats = mean = scale = np.zeros(0)
        return cls(tuple(blocks), tuple(numeric), stats, indicator, mean, scale)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_categories"] = ()
        state["_lookups"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _split_nan(cats: np.ndarray) -> tuple[tuple[Any, ...], int | None]:
    values = list(cats)
    nan_index = None
    known: list[Any] = []
    for k, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            nan_index = k
        else:
            known.append(v.item() if isinstance(v, np.generic) else v)
    return tuple(known), nan_index


def _lookup(block: CategoricalBlock) -> dict[Any, int]:
    return {c: k for k, c in enumerate(block.categories)}


def _missing(v: Any) -> bool:
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


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, int | float | str | bool) else str(v)


# --------------------------------------------------------------------------------------------
# input validation


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


def _as_numeric(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
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


def _as_category(s: pd.Series, block: CategoricalBlock) -> pd.Series:
    """Categorical input in the type of the training categories; anything unknown stays unseen."""
    if block.numeric_categories:
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


# --------------------------------------------------------------------------------------------
# the pyfunc model


class FraudScorer(mlflow.pyfunc.PythonModel):
    """Scores transactions: id, fraud probability, alert, and optionally the top reason codes.

    Build it with `FraudScorer.from_pipeline`. `predict(context, frame, params)` is the MLflow
    entry point (`params={"explain": True}` adds reason codes); `score(frame, explain=...)` is the
    same without MLflow.
    """

    def __init__(
        self,
        *,
        steps: list[tuple[str, Any]],
        booster: xgb.Booster,
        numeric: list[str],
        categorical: list[str],
        dtypes: Mapping[str, str],
        threshold: float,
        id_column: str | None = None,
        layout: Layout | None = None,
        history: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.steps = list(steps)
        self.booster = booster
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.dtypes = dict(dtypes)
        self.threshold = float(threshold)
        self.id_column = id_column
        self.layout = layout
        self.history = history
        self.metadata = dict(metadata or {})
        self._ready: Layout | None = None

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_pipeline(
        cls,
        pipe: Any,
        *,
        numeric: list[str],
        categorical: list[str],
        threshold: float,
        dtypes: Mapping[str, Any],
        id_column: str | None = None,
        history: dict[str, Any] | None = None,
        check_frame: pd.DataFrame | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> FraudScorer:
        """A scorer from a fitted `models.classifier.build_pipeline` pipeline (sampler dropped).

        `dtypes` are the training dtypes of the input columns; `check_frame` (training-like rows)
        verifies that the compiled preprocessing equals scikit-learn's transform.
        """
        steps = [(n, s) for n, s in pipe.steps[:-1] if n != "sampler"]
        clf = pipe.steps[-1][1]
        booster = clf.get_booster()
        best = getattr(clf, "best_iteration", None)
        if best is not None and best + 1 < booster.num_boosted_rounds():
            booster = booster[: best + 1]
        layout = Layout.from_steps(steps, list(numeric), list(categorical))
        scorer = cls(
            steps=steps,
            booster=booster,
            numeric=numeric,
            categorical=categorical,
            dtypes={c: str(dtypes[c]) for c in [*categorical, *numeric]},
            threshold=threshold,
            id_column=id_column,
            layout=layout,
            history=history,
            metadata=metadata,
        )
        if layout is None:
            log.warning("scorer: unknown preprocessing shape, scoring through scikit-learn")
        elif check_frame is not None and len(check_frame):
            sample = check_frame.iloc[: min(len(check_frame), 5000)]
            fast = scorer.matrix(sample)
            slow = scorer._sklearn_matrix(scorer.validate(sample)).astype(np.float32)
            if fast.shape != slow.shape or not np.array_equal(fast, slow, equal_nan=True):
                log.warning("scorer: compiled preprocessing differs from scikit-learn's; using it")
                scorer.layout = None
                scorer._ready = None
        if booster.num_features() != scorer.n_features:
            raise DataError(
                f"scorer: the booster expects {booster.num_features()} features and the "
                f"preprocessing gives {scorer.n_features}"
            )
        return scorer

    # ---- properties ---------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """The model's input columns, in the order the preprocessing expects them."""
        return [*self.categorical, *self.numeric]

    @property
    def n_features(self) -> int:
        if self.layout is not None:
            return self.layout.n_features
        return len(self.feature_owners())

    def _compiled(self) -> Layout | None:
        if self.layout is None:
            return None
        if getattr(self, "_ready", None) is None:
            self._ready = self.layout.with_index()
        return self._ready

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_ready"] = None
        state.pop("_aggregate", None)
        state.pop("_single", None)
        state.pop("_position_cache", None)
        return state

    def feature_owners(self) -> list[str]:
        """The input column behind each column of the model matrix."""
        if self.layout is not None:
            return self.layout.owners()
        return list(_sklearn_owners(self.steps, self.numeric, self.categorical))

    def feature_names(self) -> list[str]:
        """Readable names of the model matrix columns."""
        if self.layout is not None:
            return self.layout.feature_names()
        return self.feature_owners()

    def text_categoricals(self) -> list[str]:
        """The categorical columns to read as text from a file (`"0042"` must not become 42):
        all but those whose training categories are numbers."""
        blocks = {b.column: b for b in self.layout.categorical} if self.layout else {}
        return [c for c in self.categorical if c not in blocks or not blocks[c].numeric_categories]

    # ---- validation ---------------------------------------------------------------------

    def validate(self, model_input: Any, *, where: str = "") -> pd.DataFrame:
        """The model columns of the input, typed for the preprocessing; `ScoringInputError` if bad.

        `where` prefixes messages (e.g. the input file's name). The result has a positional index.
        """
        return self._clean(_as_frame(model_input, where), where).frame(
            self.categorical, self.numeric
        )

    def _check_columns(self, frame: pd.DataFrame, where: str) -> None:
        if not any(c in frame.columns for c in self.columns):
            raise ScoringInputError(
                f"{where}the input has none of the model's {len(self.columns)} columns; expected "
                f"a table with the columns {', '.join(map(str, self.columns))} (over REST: "
                '{"dataframe_split": {"columns": [...], "data": [[...]]}} or '
                '{"dataframe_records": [{...}]})'
            )
        if frame.columns.has_duplicates:
            dup = frame.columns[frame.columns.duplicated()]
            needed = {*self.columns, self.id_column}
            dup = [c for c in dict.fromkeys(dup) if c in needed]
            if dup:
                raise ScoringInputError(f"{where}the input has repeated column name(s) {dup}")
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            built = set((self.history or {}).get("engineered", []))
            hint = ""
            if built & set(missing):
                hint = (
                    "; the history features among them are built by `fraudgan score` from a "
                    "raw transaction file"
                )
            raise ScoringInputError(
                f"{where}the input is missing {len(missing)} column(s) the model needs: "
                f"{', '.join(map(str, missing))}{hint}"
            )

    def _clean(self, frame: pd.DataFrame, where: str) -> CleanInput:
        self._check_columns(frame, where)
        n = len(frame)
        if 0 < n <= SMALL_FRAME:
            small = self._clean_small(frame)
            if small is not None:
                return small
        blocks = {b.column: b for b in self.layout.categorical} if self.layout else {}
        categorical = {
            c: _as_category(
                frame[c], blocks.get(c) or CategoricalBlock(c, (), None, 0)
            ).reset_index(drop=True)
            for c in self.categorical
        }
        numeric = np.empty((n, len(self.numeric)), dtype=np.float64)
        for j, c in enumerate(self.numeric):
            numeric[:, j] = _as_numeric(frame, c, where)
        return CleanInput(n, categorical, numeric)

    def _clean_small(self, frame: pd.DataFrame) -> CleanInput | None:
        """A few rows (a REST call): one object array, Python per value; None to go the long way.

        Gives exactly what the long way gives, or None when a value needs its checks (text that
        is not a number, dates, infinities, categories of numbers).
        """
        if self.layout is None or any(b.numeric_categories for b in self.layout.categorical):
            return None
        values = frame.to_numpy(dtype=object)[:, self._positions(frame.columns)]
        k = len(self.categorical)
        try:
            numeric = np.array(values[:, k:], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        if not (np.abs(numeric[~np.isnan(numeric)]) <= _FLOAT32_MAX).all():
            return None  # infinities and float32 overflow: the long way names them
        # text numbers, booleans and dates need the long way's rules and messages
        if any(issubclass(t, _NOT_PLAIN_NUMBERS) for t in set(map(type, values[:, k:].flat))):
            return None
        categorical = {
            c: np.array(
                [
                    np.nan if _missing(v) else v if isinstance(v, str) else str(v)
                    for v in values[:, i]
                ],
                dtype=object,
            )
            for i, c in enumerate(self.categorical)
        }
        return CleanInput(len(frame), categorical, numeric)

    def _positions(self, columns: pd.Index) -> np.ndarray:
        """Where the model's columns are among `columns` (remembered: REST calls repeat them)."""
        cache = self.__dict__.setdefault("_position_cache", {})
        key = tuple(columns)
        found = cache.get(key)
        if found is None:
            if len(cache) >= 16:
                cache.clear()
            found = cache[key] = columns.get_indexer(self.columns)
        return found

    # ---- scoring ------------------------------------------------------------------------

    def _sklearn_matrix(self, clean: CleanInput | pd.DataFrame) -> np.ndarray:
        x: Any = clean
        if isinstance(clean, CleanInput):
            x = clean.frame(self.categorical, self.numeric)
        for _, step in self.steps:
            x = step.transform(x)
        return np.asarray(x)

    def matrix(self, model_input: Any, *, where: str = "") -> np.ndarray:
        """The float32 model matrix of raw model input (validated)."""
        return self._matrix(self._clean(_as_frame(model_input, where), where))

    def _matrix(self, clean: CleanInput) -> np.ndarray:
        layout = self._compiled()
        if layout is not None:
            return layout.transform(clean)
        return self._sklearn_matrix(clean).astype(np.float32)

    def predict_proba(self, model_input: Any) -> np.ndarray:
        """Fraud probability per row."""
        clean = self._clean(_as_frame(model_input, ""), "")
        if not clean.n:
            return np.zeros(0)
        return self._probability(self._matrix(clean))

    def _probability(self, m: np.ndarray) -> np.ndarray:
        booster = self.booster if len(m) > SMALL_FRAME else self._one_thread()
        return np.asarray(booster.inplace_predict(m), dtype=np.float64)

    def _one_thread(self) -> xgb.Booster:
        """The booster on one thread, for a few rows (a REST call): waking XGBoost's threads
        costs more than the prediction, and on a busy machine up to tens of milliseconds."""
        single = getattr(self, "_single", None)
        if single is None:
            single = self.booster.copy()
            single.set_param({"nthread": 1})
            self._single = single
        return single

    def contributions(self, model_input: Any) -> pd.DataFrame:
        """Per row, each input column's contribution to the log-odds, plus `bias`.

        One-hot and missing-indicator contributions are summed into their input column, so the
        row sum equals the model's logit.
        """
        frame = _as_frame(model_input, "")
        per_column, bias = self._contributions(self._matrix(self._clean(frame, "")))
        out = pd.DataFrame(per_column, columns=self.columns, index=frame.index)
        out[BIAS] = bias
        return out

    def _contributions(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per input column contributions, bias) from XGBoost's per-feature contributions."""
        threads = 1 if len(m) <= 10_000 else -1  # thread start-up dominates small matrices
        dm = xgb.DMatrix(m, missing=np.nan, nthread=threads)
        raw = self.booster.predict(dm, pred_contribs=True)
        agg = getattr(self, "_aggregate", None)
        if agg is None or agg.shape[0] != raw.shape[1] - 1:
            position = {c: k for k, c in enumerate(self.columns)}
            owners = self.feature_owners()
            agg = np.zeros((len(owners), len(position)), dtype=np.float64)
            agg[np.arange(len(owners)), [position[o] for o in owners]] = 1.0
            self._aggregate = agg
        return raw[:, :-1].astype(np.float64) @ agg, raw[:, -1].astype(np.float64)

    def score(self, model_input: Any, *, explain: bool = False, where: str = "") -> pd.DataFrame:
        """The output frame: id (when present), `fraud_probability`, `alert`, reasons if `explain`."""
        frame = _as_frame(model_input, where)
        if not len(frame):
            self._check_columns(frame, where)
            return self.empty_output(
                explain=explain, with_id=self.id_column is not None and self.id_column in frame
            )
        clean = self._clean(frame, where)
        m = self._matrix(clean)
        p = self._probability(m)
        out: dict[str, Any] = {}
        if self.id_column is not None and self.id_column in frame.columns:
            out[self.id_column] = frame[self.id_column].to_numpy()
        out[PROBABILITY] = p
        out[ALERT] = (p >= self.threshold).astype(np.int8)
        if explain:
            contrib, _ = self._contributions(m)
            k = min(N_REASONS, contrib.shape[1])
            top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
            names = np.asarray(self.columns, dtype=object)
            for r in range(N_REASONS):
                if r < k:
                    out[f"reason_{r + 1}"] = names[top[:, r]]
                    out[f"reason_{r + 1}_value"] = np.take_along_axis(
                        contrib, top[:, r : r + 1], 1
                    )[:, 0]
                else:
                    out[f"reason_{r + 1}"] = np.full(len(frame), None, dtype=object)
                    out[f"reason_{r + 1}_value"] = np.full(len(frame), np.nan)
        return pd.DataFrame(out, index=frame.index)

    def empty_output(self, *, explain: bool = False, with_id: bool = True) -> pd.DataFrame:
        """A zero-row output frame with the output columns and dtypes."""
        cols: dict[str, Any] = {}
        if with_id and self.id_column is not None:
            dtype = self.metadata.get("id_dtype", "object")
            try:
                cols[self.id_column] = pd.Series([], dtype=dtype)
            except TypeError:
                cols[self.id_column] = pd.Series([], dtype=object)
        cols[PROBABILITY] = pd.Series([], dtype=np.float64)
        cols[ALERT] = pd.Series([], dtype=np.int8)
        if explain:
            for r in range(1, N_REASONS + 1):
                cols[f"reason_{r}"] = pd.Series([], dtype=object)
                cols[f"reason_{r}_value"] = pd.Series([], dtype=np.float64)
        return pd.DataFrame(cols)

    def load_context(self, context: Any) -> None:
        """Inside a Spark task, XGBoost uses the task's CPUs (`spark.task.cpus`), not every core."""
        cpus = _spark_task_cpus()
        if cpus is not None:
            self.booster.set_param({"nthread": cpus})

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """MLflow entry point: `score(model_input, explain=params.get("explain", False))`."""
        explain = bool((params or {}).get("explain", False))
        return self.score(model_input, explain=explain)

    # ---- MLflow metadata ------------------------------------------------------------------

    def signature(self) -> ModelSignature:
        """Input columns (all optional, the scorer checks them; numbers as double), outputs and
        the `explain` param."""
        inputs = []
        if self.id_column is not None:
            inputs.append(
                ColSpec(
                    _mlflow_type(self.metadata.get("id_dtype", "str")),
                    self.id_column,
                    required=False,
                )
            )
        for c in self.columns:
            # numbers as double: MLflow cannot put a null into a long column
            kind = "string" if c in self.categorical else "double"
            inputs.append(ColSpec(kind, c, required=False))
        outputs = [ColSpec("double", PROBABILITY), ColSpec("integer", ALERT)]
        for r in range(1, N_REASONS + 1):
            outputs += [
                ColSpec("string", f"reason_{r}", required=False),
                ColSpec("double", f"reason_{r}_value", required=False),
            ]
        params = ParamSchema([ParamSpec("explain", "boolean", False)])
        return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)

    def signature_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with the model's numeric columns as float64, the type its signature declares.

        MLflow refuses int64 for a double column (not every int64 is exactly a double): Python
        callers of the loaded pyfunc pass integer columns as floats. REST JSON needs no care.
        """
        cast = {
            c: np.float64
            for c in self.numeric
            if c in frame.columns and frame[c].dtype != np.float64
        }
        return frame.astype(cast) if cast else frame

    def feature_spec(self) -> dict[str, Any]:
        """The feature list and preprocessing, as JSON-ready data, for scoring outside Python."""
        spec: dict[str, Any] = {
            "id_column": self.id_column,
            "categorical": self.categorical,
            "numeric": self.numeric,
            "dtypes": self.dtypes,
            "threshold": self.threshold,
            "decision": f"alert when {PROBABILITY} >= threshold",
            "booster_features": self.feature_names(),
            "history_features": self.history,
        }
        if self.layout is not None:
            spec["preprocessing"] = self.layout.describe()
        else:
            spec["preprocessing"] = "scikit-learn pipeline (see the pyfunc model)"
        return spec


def _mlflow_type(dtype: str) -> str:
    """The signature type of a training dtype: integers as long and floats as double (upcasts)."""
    d = str(dtype).lower()
    if d in ("bool", "boolean"):
        return "boolean"
    if d.startswith(("int", "uint")):
        return "long"
    if d.startswith("float"):
        return "double"
    if d.startswith("datetime"):
        return "datetime"
    return "string"


def _as_frame(model_input: Any, where: str) -> pd.DataFrame:
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


def _sklearn_owners(
    steps: Sequence[tuple[str, Any]], numeric: list[str], categorical: list[str]
) -> list[str]:
    """Input column of each output column of scikit-learn's transform, from feature names out."""
    x: Any = None
    names: list[str] = []
    for i, (_, step) in enumerate(steps):
        x = step.get_feature_names_out(x if i else None)
    names = [str(n) for n in x]
    columns = [*categorical, *numeric]
    out: list[str] = []
    for n in names:
        base = n.split("__")[-1]
        if base.startswith("missingindicator_"):
            base = base[len("missingindicator_") :]
        match = max(
            (c for c in columns if base == c or base.startswith(f"{c}_")), key=len, default=None
        )
        if match is None:
            raise DataError(f"scorer: cannot map model feature {n!r} back to an input column")
        out.append(match)
    return out


def _spark_task_cpus() -> int | None:
    """CPUs of the Spark task this code runs in; None outside Spark tasks."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import TaskContext

    context = TaskContext.get()
    return None if context is None else max(1, int(context.cpus()))
