"""The fitted preprocessing compiled into plain arrays (`Layout`), for fast scoring.

One-hot positions, imputation medians, missing indicators, scaler means and scales: the scorer
builds the model matrix from them and hands it to `Booster.inplace_predict`. The compiled path is
checked against scikit-learn's own transform when the scorer is built; a pipeline of a shape the
compiler does not know gives no `Layout`, and scikit-learn is used (`sklearn_owners` then names
the input column of each matrix column).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.errors import DataError
from models.scorer.inputs import CleanInput, is_missing


@dataclass(frozen=True)
class CategoricalBlock:
    """One categorical column's one-hot block: known categories in column order, and those that
    share one column (`classifier.max_categories`)."""

    column: str
    categories: tuple[Any, ...]  # non-missing categories, block column k = categories[k]
    nan_index: int | None  # the block column of a missing value, if missing was seen in training
    width: int
    pooled: tuple[Any, ...] = ()  # non-missing categories of the shared block column
    pooled_index: int | None = None  # the shared block column (None: every category has one)

    @property
    def known(self) -> tuple[Any, ...]:
        """Every non-missing category of the training rows."""
        return (*self.categories, *self.pooled)

    @property
    def numeric_categories(self) -> bool:
        return bool(self.known) and all(
            isinstance(c, int | float | np.integer | np.floating) and not isinstance(c, bool)
            for c in self.known
        )

    @property
    def boolean_categories(self) -> bool:
        """Whether the categories are those of a column of booleans ('False', 'True')."""
        return bool(self.known) and set(self.known) <= {"False", "True"}


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
            if b.pooled_index is not None:
                names[b.pooled_index] = f"{b.column}=<other>"
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
                if k == b.pooled_index:
                    entry["values"] = [_json_value(c) for c in b.pooled]
                    entry["rule"] = "1.0 when the value is one of `values`" + (
                        " or missing, else 0.0" if k == b.nan_index else ", else 0.0"
                    )
                elif k == b.nan_index:
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

    def transform(self, clean: CleanInput, *, per_value: bool = False) -> np.ndarray:
        """The float32 model matrix of validated input (see `FraudScorer.validate`); `per_value`
        looks categories up value by value, faster for a few rows."""
        n = clean.n
        out = np.zeros((n, self.n_features), dtype=np.float32)
        offset = 0
        indexes = self._categories or tuple(pd.Index(b.known) for b in self.categorical)
        for b, cats in zip(self.categorical, indexes, strict=True):
            values = clean.categorical[b.column]
            if per_value:
                lookup = self._lookups[b.column] if self._lookups else _lookup(b)
                missing = np.fromiter((is_missing(v) for v in values), dtype=bool, count=n)
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
                    if b.pooled_index is not None:  # positions past the own-column categories
                        lookup[lookup >= len(b.categories)] = b.pooled_index
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
        cats = tuple(pd.Index(list(b.known), dtype=object) for b in self.categorical)
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
                if enc.drop_idx_ is not None:
                    return None
                for name, cats, rare in zip(
                    categorical, enc.categories_, _infrequent(enc), strict=True
                ):
                    own, shared = cats[~rare], cats[rare]
                    known, nan_index = _split_nan(own)
                    pooled, pooled_nan = _split_nan(shared)
                    pooled_index = len(own) if rare.any() else None
                    if pooled_nan is not None:
                        nan_index = pooled_index
                    width = len(own) + (pooled_index is not None)
                    blocks.append(
                        CategoricalBlock(name, known, nan_index, width, pooled, pooled_index)
                    )
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
                for k, (name, cats, rare) in enumerate(
                    zip(categorical, enc.categories_, _infrequent(enc), strict=True)
                ):
                    known, _ = _split_nan(cats[~rare])  # missing is code -1: no column
                    pooled, _ = _split_nan(cats[rare])
                    pooled_index = len(known) if rare.any() else None
                    codes = onehot.categories_[k]
                    if not np.array_equal(codes, np.arange(len(codes))):
                        return None
                    if pooled_index is not None and pooled_index >= len(codes):
                        return None
                    blocks.append(
                        CategoricalBlock(name, known, None, len(codes), pooled, pooled_index)
                    )
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


def _infrequent(enc: Any) -> list[np.ndarray]:
    """Per column of a fitted scikit-learn encoder, which of its `categories_` share one output
    (its `max_categories`); in categories' order."""
    rare = getattr(enc, "infrequent_categories_", None) or [None] * len(enc.categories_)
    return [
        np.zeros(len(cats), dtype=bool)
        if shared is None
        else pd.Index(cats, dtype=object).isin(list(shared))
        for cats, shared in zip(enc.categories_, rare, strict=True)
    ]


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
    own = {c: k for k, c in enumerate(block.categories)}
    return {**dict.fromkeys(block.pooled, block.pooled_index), **own}


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, int | float | str | bool) else str(v)


def sklearn_owners(
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
