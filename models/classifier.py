"""The classifier pipeline: preprocess -> sampler -> (re-encode) -> XGBoost, resampling only in fit.

Every strategy goes through the same `imblearn.pipeline.Pipeline`, so encoders are fitted on the
training rows only and samplers never see validation or test rows: imblearn skips samplers in
`predict_proba`. Categorical columns come first in the preprocessed matrix, so their indices are
`range(len(categorical))`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from xgboost import XGBClassifier

from models.samplers import Encoding


class TimedSampler(BaseEstimator):
    """Wraps a sampler to record how long `fit_resample` took and how many rows it added.

    With `keep_appended`, the rows an over-sampler appended are kept in `appended_` (for the
    synthetic-data quality report).
    """

    def __init__(self, sampler: Any, keep_appended: bool = False) -> None:
        self.sampler = sampler
        self.keep_appended = keep_appended

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
        start = time.perf_counter()
        X_res, y_res = self.sampler.fit_resample(X, y, **params)
        self.seconds_ = time.perf_counter() - start
        self.n_input_ = len(y)
        self.n_added_ = len(y_res) - len(y)
        if self.keep_appended:
            # Over-samplers append their rows after the input rows (imblearn's convention).
            self.appended_ = np.asarray(X_res)[len(y) :]
        return X_res, y_res


def build_preprocessor(
    numeric: list[str], categorical: list[str], encoding: Encoding
) -> ColumnTransformer:
    """Categoricals (one-hot, or integer codes for samplers that model them) then numerics.

    Numerics are median-imputed with a missing indicator (kNN-based samplers cannot take NaN) and
    standardised (so that distances are not dominated by the amount's scale; trees do not care).
    """
    if encoding == "onehot":
        cat = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)
    else:
        cat = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            dtype=np.float32,
        )
    num = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    return ColumnTransformer(
        [("categorical", cat, categorical), ("numeric", num, numeric)],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def _reencoder(n_categorical: int, cardinalities: list[int]) -> ColumnTransformer:
    """One-hot of integer codes after the sampler; explicit categories make it data-independent."""
    return ColumnTransformer(
        [
            (
                "onehot",
                OneHotEncoder(
                    categories=[np.arange(c, dtype=np.float32) for c in cardinalities],
                    handle_unknown="ignore",
                    sparse_output=False,
                    dtype=np.float32,
                ),
                list(range(n_categorical)),
            )
        ],
        remainder="passthrough",
    )


def build_pipeline(
    numeric: list[str],
    categorical: list[str],
    *,
    sampler: Any | None,
    encoding: Encoding,
    xgb_params: dict[str, Any],
    cardinalities: list[int] | None = None,
    random_state: int = 0,
    keep_synthetic: bool = False,
) -> Pipeline:
    """The model pipeline of one strategy; `cardinalities` is needed for ordinal encoding."""
    steps: list[tuple[str, Any]] = [
        ("preprocess", build_preprocessor(numeric, categorical, encoding))
    ]
    if sampler is not None:
        steps.append(("sampler", TimedSampler(sampler, keep_appended=keep_synthetic)))
    if encoding == "ordinal" and categorical:
        if cardinalities is None:
            raise ValueError("ordinal encoding needs the categorical cardinalities")
        steps.append(("encode", _reencoder(len(categorical), cardinalities)))
    params = {"eval_metric": "aucpr", "random_state": random_state, **xgb_params}
    steps.append(("classifier", XGBClassifier(**params)))
    return Pipeline(steps)


def category_cardinalities(frame: pd.DataFrame, categorical: list[str]) -> list[int]:
    """Number of distinct non-missing values per categorical column of the training rows."""
    return [int(frame[c].nunique(dropna=True)) for c in categorical]


def fit_pipeline(
    pipe: Pipeline,
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_val: pd.DataFrame,
    y_val: np.ndarray,
) -> Pipeline:
    """Fit on the fit rows, with XGBoost early stopping on the (never resampled) validation rows."""
    head = [step for name, step in pipe.steps if name in ("preprocess", "encode")]
    Xv = X_val
    for i, step in enumerate(head):
        # The preprocessor is fitted on the fit rows exactly as the pipeline will fit it; the
        # re-encoder has fixed categories, so fitting it on validation codes changes nothing.
        fitted = clone(step).fit(X_fit if i == 0 else Xv)
        Xv = fitted.transform(Xv)
    pipe.fit(X_fit, y_fit, classifier__eval_set=[(Xv, y_val)], classifier__verbose=False)
    return pipe


def sampler_stats(pipe: Pipeline) -> dict[str, float]:
    """Resampling seconds and rows added, from a fitted pipeline (zeros without a sampler)."""
    step = pipe.named_steps.get("sampler")
    if step is None:
        return {"resample_seconds": 0.0, "n_synthetic": 0.0}
    return {"resample_seconds": float(step.seconds_), "n_synthetic": float(step.n_added_)}
