"""`CGANOverSampler`: an imblearn over-sampler that appends conditional-GAN rows.

It trains a `CGANSynthesizer` on every row it is given (all classes: the GAN learns the shared
structure from the many majority rows and is asked for the minority) and appends as many synthetic
rows of each class as `sampling_strategy` asks for. Inside `imblearn.pipeline.Pipeline` it runs in
`fit` only, so validation and test rows are never resampled.

A trained GAN is cached per process, keyed by a digest of (X, y), the GAN parameters and the seed:
the same training fold resampled at several `sampling_strategy` ratios trains one GAN. Only fits
with an integer `random_state` are cached (with None every fit is a new random GAN).

Columns: `categorical_features` (indices, names or a boolean mask) hold category codes and come
back as codes seen in training; every other column with at most two distinct values (e.g. missing
indicators) is modelled as categorical too; the rest are continuous. NaN is modelled (a missing
indicator per column); sparse input is densified.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import numbers
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn_compat.utils.validation import validate_data

log = logging.getLogger(__name__)

_CACHE_SIZE = 4
_CACHE: OrderedDict[str, Any] = OrderedDict()
_LABEL = "__label__"


def clear_cache() -> None:
    """Forget every cached GAN."""
    _CACHE.clear()


class CGANOverSampler(BaseOverSampler):
    """Over-sample with rows from a conditional tabular GAN (Keras 3 WGAN-GP, PacGAN critic).

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in every imblearn over-sampler.
    random_state : int, RandomState or None, default=None
        Seeds the GAN; an int makes the synthetic rows reproducible on CPU.
    categorical_features : array-like, default=()
        Columns holding category codes (indices, names with DataFrame input, or a boolean mask).
    condition_feature : int, str or None, default=None
        One categorical column to condition the GAN on as well as the class (training-by-sampling
        draws its rare values often).
    epochs : int, default=300
        Training epochs of `steps_per_epoch` class-balanced batches each.
    batch_size : int, default=500
        Rows per batch, a multiple of `pac`.
    steps_per_epoch : int or None, default=10
        None: enough batches to draw as many rows of every class as the rarest class has.
    embedding_dim : int, default=128
        Noise dimensions.
    generator_dim, critic_dim : tuple of int, default=(128, 128)
        Hidden layer widths.
    pac : int, default=10
        Rows per critic pack.
    learning_rate : float, default=1e-3
    class_balance : float, default=1.0
        0 draws batch conditions at the empirical class frequencies, 1 every class equally often.
    eval_every : int, default=10
        Epochs between two classifier two-sample tests on held-out minority rows (model selection
        with early stopping); 0 turns model selection off.
    patience : int, default=20
        Two-sample tests without improvement before training stops.
    max_modes : int, default=10
        Most mixture modes per continuous column.
    cache : bool, default=True
        Reuse a GAN trained on the same data with the same parameters in this process.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "categorical_features": ["array-like"],
        "condition_feature": [numbers.Integral, str, None],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "steps_per_epoch": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "generator_dim": ["array-like"],
        "critic_dim": ["array-like"],
        "pac": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "class_balance": [Interval(numbers.Real, 0, 1, closed="both")],
        "eval_every": [Interval(numbers.Integral, 0, None, closed="left")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_modes": [Interval(numbers.Integral, 1, None, closed="left")],
        "cache": ["boolean"],
    }

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Sequence[Any] = (),
        condition_feature: int | str | None = None,
        epochs: int = 300,
        batch_size: int = 500,
        steps_per_epoch: int | None = 10,
        embedding_dim: int = 128,
        generator_dim: Sequence[int] = (128, 128),
        critic_dim: Sequence[int] = (128, 128),
        pac: int = 10,
        learning_rate: float = 1e-3,
        class_balance: float = 1.0,
        eval_every: int = 10,
        patience: int = 20,
        max_modes: int = 10,
        cache: bool = True,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.categorical_features = categorical_features
        self.condition_feature = condition_feature
        self.epochs = epochs
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.embedding_dim = embedding_dim
        self.generator_dim = generator_dim
        self.critic_dim = critic_dim
        self.pac = pac
        self.learning_rate = learning_rate
        self.class_balance = class_balance
        self.eval_every = eval_every
        self.patience = patience
        self.max_modes = max_modes
        self.cache = cache

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _check_X_y(self, X: Any, y: Any, accept_sparse: Any = None) -> tuple[Any, Any, bool]:
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X, y = validate_data(
            self,
            X=X,
            y=y,
            reset=True,
            accept_sparse=["csr", "csc"],
            ensure_all_finite="allow-nan",
        )
        return X, y, binarize_y

    def gan_config(self) -> Any:
        """The `CGANConfig` these parameters describe."""
        from models.cgan import CGANConfig

        return CGANConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            steps_per_epoch=self.steps_per_epoch,
            embedding_dim=self.embedding_dim,
            generator_dim=tuple(self.generator_dim),
            critic_dim=tuple(self.critic_dim),
            pac=self.pac,
            learning_rate=self.learning_rate,
            class_balance=self.class_balance,
            eval_every=self.eval_every,
            patience=self.patience,
            max_modes=self.max_modes,
        )

    def check_params(self) -> None:
        """Raise ValueError for GAN settings training cannot use (checked when a config loads)."""
        self.gan_config().validate()

    def _fit_resample(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        wanted = {c: int(n) for c, n in self.sampling_strategy_.items() if int(n) > 0}
        is_sparse = sparse.issparse(X)
        dense = X.toarray() if is_sparse else np.asarray(X)
        synth = self._train(dense, y, wanted)
        if synth is None:
            return X, y
        new_X, new_y = [], []
        for cls, n, seed in self.sample_plan():
            new_X.append(self.sample_block(n, cls, seed).astype(X.dtype))
            new_y.append(np.full(n, cls, dtype=y.dtype))
        X_new = np.vstack(new_X)
        y_res = np.concatenate([y, *new_y])
        if is_sparse:
            X_res = sparse.vstack([X, sparse.csr_matrix(X_new)]).asformat(X.format)
        else:
            X_res = np.vstack([X, X_new])
        return X_res, y_res

    def fit_synthesizer(self, X: Any, y: Any, n_synthetic: dict[Any, int]) -> Any:
        """Train the GAN on (X, y) without sampling; `n_synthetic`: rows to draw per class later.

        For callers that draw the rows elsewhere (the Spark engine trains on a sample of the
        training rows on the driver and draws on executors with `sample_plan`/`sample_block`).
        Returns the `CGANSynthesizer`, or None when no rows are wanted.
        """
        self._validate_params()
        X, y, _ = self._check_X_y(X, y)
        dense = X.toarray() if sparse.issparse(X) else np.asarray(X)
        wanted = {c: int(n) for c, n in n_synthetic.items() if int(n) > 0}
        unknown = [c for c in wanted if c not in set(np.unique(y).tolist())]
        if unknown:
            raise ValueError(f"n_synthetic names class(es) {unknown} that are not in y")
        return self._train(dense, y, wanted)

    def sample_plan(self) -> list[tuple[Any, int, int]]:
        """(class, rows, seed) of every block of synthetic rows the fitted sampler draws."""
        wanted = sorted(self.n_synthetic_.items(), key=lambda kv: str(kv[0]))
        return [(cls, n, self.seed_ + 7919 * (i + 1)) for i, (cls, n) in enumerate(wanted)]

    def sample_block(self, n: int, cls: Any, seed: int) -> np.ndarray:
        """`n` synthetic rows of class `cls` as a float64 matrix in X's column order."""
        names = [f"x{i}" for i in range(self.n_features_in_)]
        rows = self.synthesizer_.sample(n, label=cls, seed=seed)
        return rows[names].to_numpy(dtype=np.float64, na_value=np.nan)

    def _train(self, dense: np.ndarray, y: np.ndarray, wanted: dict[Any, int]) -> Any:
        from models.cgan import CGANSynthesizer

        config = self.gan_config()
        config.validate()
        self.seed_ = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        n_features = dense.shape[1]
        categorical = self._categorical_indices(n_features)
        binary = [
            i
            for i in range(n_features)
            if i not in categorical and len(_distinct(dense[:, i])) == 2
        ]
        self.categorical_features_ = categorical
        self.binary_features_ = binary
        condition = self._condition_index(categorical)
        self.n_synthetic_ = wanted
        if not wanted:
            self.synthesizer_ = None
            return None

        names = [f"x{i}" for i in range(n_features)]
        df = pd.DataFrame(dense, columns=names)
        df[_LABEL] = y
        counts = pd.Series(y).value_counts()
        target = max(wanted, key=lambda c: (wanted[c], -counts[c]))
        cat_names = [names[i] for i in sorted(set(categorical) | set(binary))]
        cond_name = names[condition] if condition is not None else None

        key = None
        if self.cache and isinstance(self.random_state, numbers.Integral):
            key = _digest(dense, y, config, self.seed_, cat_names, cond_name, target)
        synth = _CACHE.get(key) if key is not None else None
        if synth is None:
            synth = CGANSynthesizer(config, random_state=self.seed_).fit(
                df, _LABEL, cat_names, cond_name, target_label=target
            )
            if key is not None:
                _CACHE[key] = synth
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
            log.info("CGANOverSampler: reusing the cached GAN for this training data")
        self.synthesizer_ = synth
        return synth

    def _categorical_indices(self, n_features: int) -> list[int]:
        feats = list(self.categorical_features)
        if not feats:
            return []
        if all(isinstance(f, (bool, np.bool_)) for f in feats):
            if len(feats) != n_features:
                raise ValueError(
                    f"categorical_features as a mask needs {n_features} entries, got {len(feats)}"
                )
            return [i for i, f in enumerate(feats) if f]
        return sorted({self._feature_index(f, n_features) for f in feats})

    def _feature_index(self, feature: Any, n_features: int) -> int:
        if isinstance(feature, str):
            names = list(getattr(self, "feature_names_in_", []))
            if feature not in names:
                raise ValueError(
                    f"feature {feature!r} is not a column of X (columns: {names or 'unnamed'})"
                )
            return names.index(feature)
        index = int(feature)
        if not -n_features <= index < n_features:
            raise ValueError(f"feature index {feature} is out of range for {n_features} columns")
        return index % n_features

    def _condition_index(self, categorical: list[int]) -> int | None:
        if self.condition_feature is None:
            return None
        index = self._feature_index(self.condition_feature, self.n_features_in_)
        if index not in categorical:
            raise ValueError(
                f"condition_feature {self.condition_feature!r} must be one of categorical_features"
            )
        return index


def _distinct(column: np.ndarray) -> np.ndarray:
    values = column[~np.isnan(column)] if column.dtype.kind == "f" else column
    return np.unique(values)


def _digest(
    X: np.ndarray,
    y: np.ndarray,
    config: Any,
    seed: int,
    categorical: list[str],
    condition: str | None,
    target: Any,
) -> str:
    h = hashlib.sha256()
    X = np.ascontiguousarray(X)
    h.update(f"{X.shape}{X.dtype}".encode())
    h.update(X.tobytes())
    h.update(np.asarray(y).astype(str).tobytes())
    params = {
        "config": dataclasses.asdict(config),
        "seed": seed,
        "categorical": categorical,
        "condition": condition,
        "target": str(target),
    }
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()
