"""The classifier pipeline, resampling only in fit.

Two layouts of one `FraudPipeline` (imblearn's `Pipeline`):

- distance-based samplers (the SMOTE family) need scaled numbers without NaN:
  preprocess -> sampler -> (re-encode) -> XGBoost;
- generative samplers (the GAN) learn the columns as they are, and their rows then go through
  the same preprocessing as real rows: sampler -> preprocess -> XGBoost.

Encoders are fitted on the training rows only and samplers never see validation or test rows:
imblearn skips samplers in `predict_proba`. Categorical columns come first in the preprocessed
matrix, so their indices are `range(len(categorical))`. Validation rows (for the choice of the
number of trees) go through the fitted preprocessing only, and a sampler's `sample_weight_`
(e.g. the GAN's weight of synthetic rows) reaches XGBoost as its sample weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
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
from xgboost.callback import TrainingCallback

from models.samplers import Encoding


class TimedSampler(BaseEstimator):
    """Wraps a sampler to record how long `fit_resample` took and how many rows it added.

    With `keep_appended`, the rows an over-sampler appended are kept in `appended_` (for the
    synthetic-data quality report). The sampler's `sample_weight_` (one weight per returned row,
    or None) is passed on; with `synthetic_weight` other than 1 (for samplers that append rows
    after the input rows and give no weights: ros and the SMOTE family), the appended rows weigh
    `synthetic_weight` and the input rows 1.
    """

    def __init__(
        self, sampler: Any, keep_appended: bool = False, synthetic_weight: float = 1.0
    ) -> None:
        self.sampler = sampler
        self.keep_appended = keep_appended
        self.synthetic_weight = synthetic_weight

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
        start = time.perf_counter()
        X_res, y_res = self.sampler.fit_resample(X, y, **params)
        self.seconds_ = time.perf_counter() - start
        self.n_input_ = len(y)
        self.n_added_ = len(y_res) - len(y)
        self.sample_weight_ = getattr(self.sampler, "sample_weight_", None)
        if self.synthetic_weight != 1.0:
            if self.sample_weight_ is not None or self.n_added_ < 0:
                raise ValueError(
                    f"synthetic_weight: {type(self.sampler).__name__} weighs or removes rows "
                    "itself; set the weight on the sampler, or leave synthetic_weight at 1"
                )
            self.sample_weight_ = np.r_[
                np.ones(len(y)), np.full(self.n_added_, float(self.synthetic_weight))
            ]
        if self.keep_appended:
            # Over-samplers append their rows after the input rows (imblearn's convention).
            self.appended_ = (
                X_res.iloc[len(y) :].reset_index(drop=True)
                if isinstance(X_res, pd.DataFrame)
                else np.asarray(X_res)[len(y) :]
            )
        return X_res, y_res


class FraudPipeline(Pipeline):
    """imblearn's `Pipeline`, plus what the classifier needs from the steps before it.

    `fit(X, y, validation=(X_val, y_val))` passes the validation rows through the fitted
    preprocessing (never through a sampler) as XGBoost's `eval_set`, and a sampler's
    `sample_weight_` becomes XGBoost's `sample_weight`.
    """

    def fit(self, X: Any, y: Any = None, validation: Any = None, **params: Any) -> FraudPipeline:
        routed = self._check_method_params(method="fit", props=params)
        Xt, yt = self._fit(X, y, routed, raw_params=params)
        last = dict(routed[self.steps[-1][0]]["fit"])
        weights = getattr(self.named_steps.get("sampler"), "sample_weight_", None)
        if weights is not None:
            last["sample_weight"] = weights
        if validation is not None:
            X_val, y_val = validation
            for _, _, step in self._iter(with_final=False, filter_resample=True):
                X_val = step.transform(X_val)
            last.update(eval_set=[(X_val, y_val)], verbose=False)
        self._final_estimator.fit(Xt, yt, **last)
        return self


def build_preprocessor(
    numeric: list[str],
    categorical: list[str],
    encoding: Encoding,
    max_categories: int | None = None,
) -> ColumnTransformer:
    """Categoricals (one-hot, or integer codes for samplers that model them) then numerics.

    `max_categories`: a categorical column keeps its `max_categories - 1` most frequent
    categories, and the others share one column (one code); a value unseen in training is in
    none. Numerics are median-imputed with a missing indicator (kNN-based samplers cannot take
    NaN) and standardised (so that distances are not dominated by the amount's scale; trees do
    not care).
    """
    if encoding == "onehot":
        cat = OneHotEncoder(
            handle_unknown="ignore",
            sparse_output=False,
            dtype=np.float32,
            max_categories=max_categories,
        )
    else:
        cat = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            dtype=np.float32,
            max_categories=max_categories,
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
    sampler_first: bool = False,
    synthetic_weight: float = 1.0,
    max_categories: int | None = None,
) -> FraudPipeline:
    """The model pipeline of one strategy; `cardinalities` (`category_cardinalities`, with the
    same `max_categories`) is needed for ordinal encoding.

    `sampler_first`: the sampler resamples the input columns before any preprocessing;
    `synthetic_weight`: the classifier's weight of appended rows (`TimedSampler`);
    `max_categories`: the one-hot columns of a categorical column (`build_preprocessor`).
    """
    preprocess = (
        "preprocess",
        build_preprocessor(numeric, categorical, encoding, max_categories=max_categories),
    )
    timed = (
        "sampler",
        TimedSampler(sampler, keep_appended=keep_synthetic, synthetic_weight=synthetic_weight),
    )
    if sampler is None:
        steps: list[tuple[str, Any]] = [preprocess]
    else:
        steps = [timed, preprocess] if sampler_first else [preprocess, timed]
    if encoding == "ordinal" and categorical:
        if cardinalities is None:
            raise ValueError("ordinal encoding needs the categorical cardinalities")
        steps.append(("encode", _reencoder(len(categorical), cardinalities)))
    params = {"eval_metric": "aucpr", "random_state": random_state, **xgb_params}
    steps.append(("classifier", XGBClassifier(**params)))
    return FraudPipeline(steps)


def category_cardinalities(
    frame: pd.DataFrame, categorical: list[str], max_categories: int | None = None
) -> list[int]:
    """The integer codes of each categorical column of the training rows: its distinct
    non-missing values, at most `max_categories` (the rare ones share a code)."""
    counts = [int(frame[c].nunique(dropna=True)) for c in categorical]
    return counts if max_categories is None else [min(n, max_categories) for n in counts]


VALIDATION_METRIC = "aucpr"
"""The validation curve that chooses the number of trees (XGBoost's area under the PR curve)."""


def smoothed(curve: Sequence[float], window: int) -> np.ndarray:
    """Centred moving average of `curve` over `window` points (fewer at the ends)."""
    values = np.asarray(curve, dtype=np.float64)
    if window <= 1 or len(values) < 2:
        return values
    return pd.Series(values).rolling(window, center=True, min_periods=1).mean().to_numpy()


class ValidationRounds(TrainingCallback):
    """Chooses the number of boosting rounds on a validation curve, robustly to its noise.

    The choice is the round count with the best `window`-point moving average of the validation
    AUPRC, never fewer than `min_trees` (a few dozen validation frauds make single rounds
    noisy: plain early stopping once kept 3 trees for SMOTE). Boosting stops once `patience`
    rounds past both the floor and the current choice have brought nothing better.
    """

    def __init__(self, *, min_trees: int, patience: int, window: int) -> None:
        super().__init__()
        if min(min_trees, patience, window) < 1:
            raise ValueError("min_trees, patience and window must be >= 1")
        self.min_trees = int(min_trees)
        self.patience = int(patience)
        self.window = int(window)

    def choose(self, curve: Sequence[float]) -> int:
        """The number of trees to keep given the validation curve (one value per round)."""
        n = len(curve)
        if n <= self.min_trees:
            return n
        smooth = smoothed(curve, self.window)
        return self.min_trees + int(np.argmax(smooth[self.min_trees - 1 :]))

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        if not evals_log:
            return False
        curve = list(evals_log.values())[-1][VALIDATION_METRIC]
        return len(curve) - max(self.choose(curve), self.min_trees) >= self.patience

    def __repr__(self) -> str:  # stable: pipelines are compared by their parameters' repr
        return (
            f"ValidationRounds(min_trees={self.min_trees}, patience={self.patience}, "
            f"window={self.window})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValidationRounds) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


def rounds_policy(
    n_estimators: int,
    early_stopping_rounds: int | None,
    *,
    min_trees_fraction: float,
    patience_fraction: float,
    smoothing_fraction: float,
) -> ValidationRounds | None:
    """The `ValidationRounds` for a boosting budget; None (keep every tree) without early stopping.

    The floor, the patience and the smoothing window scale with `n_estimators`;
    `early_stopping_rounds` is the least patience.
    """
    if early_stopping_rounds is None:
        return None
    n = int(n_estimators)
    return ValidationRounds(
        min_trees=max(1, math.ceil(min_trees_fraction * n)),
        patience=max(int(early_stopping_rounds), math.ceil(patience_fraction * n)),
        window=max(1, round(smoothing_fraction * n)),
    )


def rounds_callback(classifier: XGBClassifier) -> ValidationRounds | None:
    """The classifier's `ValidationRounds` callback, if it has one."""
    found = [
        c for c in classifier.get_params().get("callbacks") or [] if isinstance(c, ValidationRounds)
    ]
    return found[0] if found else None


def validation_curve(classifier: XGBClassifier) -> list[float]:
    """The validation AUPRC after each boosting round of a classifier fitted with an eval set."""
    results = classifier.evals_result()
    return list(list(results.values())[-1][VALIDATION_METRIC]) if results else []


def keep_trees(classifier: XGBClassifier, n_trees: int) -> XGBClassifier:
    """Cut a fitted classifier's booster to its first `n_trees` rounds (in place)."""
    booster = classifier.get_booster()
    if n_trees < booster.num_boosted_rounds():
        classifier.load_model(bytearray(booster[:n_trees].save_raw("json")))
    classifier.set_params(n_estimators=int(n_trees))
    return classifier


def n_trees(classifier: XGBClassifier) -> int:
    """Boosting rounds in a fitted classifier's model."""
    return int(classifier.get_booster().num_boosted_rounds())


def fit_pipeline(
    pipe: FraudPipeline,
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_val: pd.DataFrame | None = None,
    y_val: np.ndarray | None = None,
) -> FraudPipeline:
    """Fit on the fit rows; the (never resampled) validation rows, when given, choose the trees.

    With validation rows the classifier records its validation curve, and the model is cut to
    the number of trees its `ValidationRounds` callback chooses (or XGBoost's own best iteration
    with plain `early_stopping_rounds`), so the fitted booster holds exactly the trees it uses.
    """
    if X_val is None or y_val is None:
        pipe.fit(X_fit, y_fit)
        return pipe
    pipe.fit(X_fit, y_fit, validation=(X_val, y_val))
    classifier = pipe.steps[-1][1]
    rounds = rounds_callback(classifier)
    if rounds is not None:
        keep_trees(classifier, rounds.choose(validation_curve(classifier)))
    elif getattr(classifier, "best_iteration", None) is not None:
        keep_trees(classifier, classifier.best_iteration + 1)
    return pipe


def for_refit(pipe: FraudPipeline, trees: int | None = None) -> FraudPipeline:
    """An unfitted copy of a fitted pipeline that boosts `trees` trees (by default exactly the
    trees the fitted one kept) and trains its sampler as the sampler's `refit_params` say."""
    classifier = pipe.steps[-1][1]
    params = classifier.get_params()
    callbacks = [c for c in params.get("callbacks") or [] if not isinstance(c, ValidationRounds)]
    copy = clone(pipe)
    copy.steps[-1][1].set_params(
        n_estimators=int(trees) if trees else n_trees(classifier),
        early_stopping_rounds=None,
        callbacks=callbacks or None,
    )
    fitted_sampler = getattr(pipe.named_steps.get("sampler"), "sampler", None)
    if hasattr(fitted_sampler, "refit_params"):
        copy.named_steps["sampler"].sampler.set_params(**fitted_sampler.refit_params())
    return copy


def sampler_stats(pipe: FraudPipeline) -> dict[str, float]:
    """Resampling seconds and rows added, from a fitted pipeline (zeros without a sampler)."""
    step = pipe.named_steps.get("sampler")
    if step is None:
        return {"resample_seconds": 0.0, "n_synthetic": 0.0}
    return {"resample_seconds": float(step.seconds_), "n_synthetic": float(step.n_added_)}
