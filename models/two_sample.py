"""Classifier two-sample tests and the "features as numbers" encoding they share.

`FrameEncoding` turns frames with continuous and categorical columns into numbers with one
category mapping for every frame: continuous columns as they are (NaN kept) plus categorical
codes for trees (`tree_matrix`), or standardised columns plus one-hots for distances
(`distance_matrix`). `c2st_auc` is the classifier two-sample test (C2ST): the cross-validated
ROC-AUC of XGBoost telling real rows from synthetic ones (0.5: indistinguishable; 1.0: fully
distinguishable). The GAN's model selection and the synthetic-data quality report both use it,
so their figures are comparable.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from xgboost import XGBClassifier

from models.errors import DataError

C2ST_FOLDS = 5
COPY_DECIMALS = 6


def as_float(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


@dataclass
class FrameEncoding:
    """Column roles, one category mapping for every frame, and the real rows' scale."""

    continuous: list[str]
    categorical: list[str]
    categories: dict[str, pd.Index]
    mean: np.ndarray
    scale: np.ndarray
    nan_columns: list[int]  # positions in `continuous` with a missing value in some frame

    @classmethod
    def fit(
        cls,
        real: pd.DataFrame,
        frames: Sequence[pd.DataFrame],
        continuous: Sequence[str],
        categorical: Sequence[str],
    ) -> FrameEncoding:
        categories: dict[str, pd.Index] = {}
        for col in categorical:
            seen: set[Any] = set()
            for frame in frames:
                values = frame[col].astype(object)
                seen.update(values[values.notna()].unique().tolist())
            categories[col] = pd.Index(sorted(seen, key=_sort_key), dtype=object)
        continuous = list(continuous)
        if continuous:
            x = np.column_stack([as_float(real[c]) for c in continuous])
            with np.errstate(all="ignore"), warnings.catch_warnings():  # all-missing columns
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
                scale = np.nanstd(x, axis=0)
            scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        else:
            mean = scale = np.zeros(0)
        nan_columns = [
            i for i, c in enumerate(continuous) if any(frame[c].isna().any() for frame in frames)
        ]
        return cls(continuous, list(categorical), categories, mean, scale, nan_columns)

    def continuous_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.continuous:
            return np.zeros((len(frame), 0))
        return np.column_stack([as_float(frame[c]) for c in self.continuous])

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Integer code per categorical column; missing is the code after the last category."""
        if not self.categorical:
            return np.zeros((len(frame), 0), dtype=np.int64)
        out = []
        for col in self.categorical:
            index = self.categories[col]
            values = frame[col].astype(object)
            codes = index.get_indexer(values)
            codes[values.isna().to_numpy()] = len(index)
            out.append(codes)
        return np.column_stack(out).astype(np.int64)

    def tree_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Continuous columns as they are (NaN kept) then categorical codes: XGBoost's input."""
        return np.hstack([self.continuous_matrix(frame), self.codes(frame).astype(np.float64)])

    def distance_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Standardised continuous columns, missing indicators, one-hot categoricals."""
        x = (self.continuous_matrix(frame) - self.mean) / self.scale
        missing = np.isnan(x)
        parts = [np.where(missing, 0.0, x), missing[:, self.nan_columns].astype(np.float64)]
        codes = self.codes(frame)
        for j, col in enumerate(self.categorical):
            width = len(self.categories[col]) + 1
            parts.append(np.eye(width)[codes[:, j]])
        return np.hstack(parts)

    def row_keys(self, frame: pd.DataFrame) -> list[bytes]:
        """One exact key per row: continuous values rounded to 1e-6, then category codes."""
        x = np.round(self.continuous_matrix(frame), COPY_DECIMALS) + 0.0  # -0.0 becomes 0.0
        x = np.where(np.isnan(x), np.inf, x)  # inputs hold no inf, so inf marks "missing"
        matrix = np.ascontiguousarray(np.hstack([x, self.codes(frame).astype(np.float64)]))
        return [row.tobytes() for row in matrix]


def xgb_classifier(random_state: int, *, n_estimators: int, max_depth: int) -> XGBClassifier:
    # one thread: these fits are small, and OpenMP thread pools stall badly on a busy machine
    # (measured 3.5x slower with 2 threads than with 1 under a load of 4 on 2 cores)
    return XGBClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=0.1,
        tree_method="hist",
        random_state=random_state,
        eval_metric="logloss",
        n_jobs=1,
    )


def c2st_matrix(
    real_x: np.ndarray, synth_x: np.ndarray, *, n_splits: int, random_state: int
) -> tuple[float, float]:
    x = np.vstack([real_x, synth_x])
    y = np.r_[np.zeros(len(real_x), dtype=np.int8), np.ones(len(synth_x), dtype=np.int8)]
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    aucs = []
    for train, test in folds.split(x, y):
        clf = xgb_classifier(random_state, n_estimators=100, max_depth=3)
        clf.fit(x[train], y[train])
        aucs.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return float(np.mean(aucs)), float(np.std(aucs))


def c2st_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    n_splits: int = C2ST_FOLDS,
    random_state: int = 0,
) -> float:
    """Cross-validated ROC-AUC of XGBoost telling real from synthetic rows (0.5 = indistinguishable)."""
    continuous, categorical = check_pair(real, synthetic, categorical, min_rows=n_splits)
    enc = FrameEncoding.fit(real, [real, synthetic], continuous, categorical)
    auc, _ = c2st_matrix(
        enc.tree_matrix(real),
        enc.tree_matrix(synthetic[list(real.columns)]),
        n_splits=n_splits,
        random_state=random_state,
    )
    return auc


def check_pair(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical: Sequence[str],
    *,
    names: tuple[str, str] = ("real", "synthetic"),
    min_rows: int = 1,
) -> tuple[list[str], list[str]]:
    """Validate the two main frames; return (continuous, categorical) in the real column order."""
    for name, frame in zip(names, (real, synthetic), strict=True):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        duplicated = frame.columns[frame.columns.duplicated()].tolist()
        if duplicated:
            raise DataError(f"{name} has duplicated column names: {duplicated}")
    missing = [c for c in real.columns if c not in synthetic.columns]
    extra = [c for c in synthetic.columns if c not in real.columns]
    if missing or extra:
        raise DataError(
            f"{names[0]} and {names[1]} must have the same columns: missing from {names[1]}: "
            f"{missing}, only in {names[1]}: {extra}"
        )
    if real.shape[1] == 0:
        raise DataError(f"{names[0]} has no columns")
    undeclared = [c for c in categorical if c not in real.columns]
    if undeclared:
        raise DataError(f"categorical columns not in {names[0]}: {undeclared}")
    categorical = [c for c in real.columns if c in set(categorical)]
    continuous = [c for c in real.columns if c not in set(categorical)]
    for name, frame in zip(names, (real, synthetic), strict=True):
        check_rows(frame, name, continuous, min_rows)
    return continuous, categorical


def check_rows(frame: pd.DataFrame, name: str, continuous: Sequence[str], min_rows: int) -> None:
    if len(frame) == 0:
        raise DataError(f"{name} has no rows")
    if len(frame) < min_rows:
        raise DataError(
            f"{name} has {len(frame)} rows; the classifier two-sample test uses {min_rows}-fold "
            f"stratified cross-validation and needs at least {min_rows} rows each of real and synthetic"
        )
    for col in continuous:
        dtype = frame[col].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise DataError(
                f"{name} column {col!r} has dtype {dtype}, which is not numeric: declare it in "
                "`categorical` or drop it"
            )
        values = as_float(frame[col])
        if np.isinf(values).any():
            raise DataError(
                f"{name} column {col!r} holds {int(np.isinf(values).sum())} infinite values"
            )
