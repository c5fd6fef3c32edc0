"""`CGANOverSampler`: an imblearn over-sampler that appends conditional-GAN rows.

It trains a `CGANSynthesizer` on every row it is given (all classes: the GAN learns the shared
structure from the many majority rows and is asked for the minority) and appends as many
synthetic rows of each class as `sampling_strategy` asks for. Inside `imblearn.pipeline.Pipeline`
it runs in `fit` only, so validation and test rows are never resampled. In the experiment
pipeline it comes first, on the strategy's input columns as they are (categories as categories,
counts as integers, NaN as NaN), and its rows then go through the same preprocessing as real
rows.

After training, five choices shape what is appended, none of which retrains the GAN:

- `checkpoint`: which of the generator's checkpoints draws the rows (a share of the epochs
  trained; None: the one the two-sample tests chose), so a tuner can choose among them by the
  downstream classifier's validation AUPRC;
- `synthetic_weight`: the classifier's sample weight of each synthetic row (real rows weigh 1),
  exposed as `sample_weight_` for the pipeline to pass on (`models.classifier.FraudPipeline`);
- `filter_realism`: the share of generated rows dropped because a classifier telling real rows
  of the class from generated ones finds them the most obviously synthetic;
- `filter_easy`: the share dropped because a classifier trained on the real rows finds them the
  most obviously of their class (far from the decision boundary, they teach it little);
- `match_scores`: the rows kept are drawn from `MATCH_POOL` times as many generated ones so that a
  classifier trained on the real rows scores them as it scores the class's real rows out of fold
  (the same share in each decile of those scores). A GAN's minority rows can be realistic to a
  two-sample test and still hold more rows that this classifier takes for the other class than the
  real minority does (`benchmarks/results/detectability.md`); the match removes that excess.

Filtered rows are replaced by over-generating, so the count `sampling_strategy` asks for holds;
`n_generated_` and `n_kept_` record what happened.

The parameters of the GAN are `CGANConfig`'s fields, one keyword each (the signature is derived
from `CGANConfig`, so every field can be set from YAML and searched by the tuner). A
`GANCache` shared by several fits reuses a GAN trained on the same rows with the same GAN
parameters, so trials that change only the choices above train once; the runner gives each fold
a cache `across_rows`, whose one GAN per setting serves the fold's inner windows and tuning
trials (the refit on the whole fold trains its own: `refit_gan`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
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

from models.gan.config import CGANConfig
from models.two_sample import FrameEncoding, xgb_classifier

log = logging.getLogger(__name__)

_LABEL = "__label__"
_FILTER_FOLDS = 2
_MAX_FILTER_REFERENCE = 50_000
MATCH_POOL = 4
"""Generated rows per row kept by `match_scores`."""
_MATCH_BINS = 10
_MATCH_FOLDS = 3


class GANCache:
    """Trained synthesizers, by a digest of their training rows and parameters (LRU).

    With `across_rows`, the rows are left out of the digest: one GAN per GAN setting, trained
    by the first fit that misses, serves every later fit whatever its rows (the runner's fold:
    its GAN trains once, on the rows every inner window fits on, and the windows and the tuning
    trials draw from it; the refit on the whole fold trains its own unless `refit_gan` is off;
    see `refit_params`).

    One object shared by every fit that holds it: `copy.deepcopy` (and so scikit-learn's
    `clone`) returns the same cache, and a pickled copy starts empty.
    """

    def __init__(self, size: int = 4, across_rows: bool = False) -> None:
        self.size = size
        self.across_rows = across_rows
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: str, synthesizer: Any) -> None:
        self._items[key] = synthesizer
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def __deepcopy__(self, memo: dict[int, Any]) -> GANCache:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (GANCache, (self.size, self.across_rows))

    def __repr__(self) -> str:
        return f"GANCache(size={self.size}, across_rows={self.across_rows})"


_OWN_DEFAULTS: dict[str, Any] = {
    "sampling_strategy": "auto",
    "random_state": None,
    "categorical_features": (),
    "condition_feature": None,
    "rules": None,
    "checkpoint": None,
    "synthetic_weight": 1.0,
    "filter_realism": 0.0,
    "filter_easy": 0.0,
    "match_scores": False,
    "refit_gan": True,
    "cache": None,
}
_GAN_DEFAULTS = CGANConfig.defaults()


class CGANOverSampler(BaseOverSampler):
    """Over-sample with rows from a conditional tabular GAN (Keras 3 WGAN-GP).

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in every imblearn over-sampler.
    random_state : int, RandomState or None, default=None
        Seeds the GAN; an int makes the synthetic rows reproducible on CPU.
    categorical_features : array-like, default=()
        Columns holding categories (names with DataFrame input, indices or a boolean mask).
        Text and pandas `category` columns of a DataFrame are categorical anyway.
    condition_feature : int, str or None, default=None
        One categorical column to condition the GAN on as well as the class.
    rules : pipeline.features.FeatureRules or None, default=None
        Relations between columns that generated rows must obey (needs DataFrame input).
    checkpoint : float in (0, 1] or None, default=None
        Draw from the checkpoint nearest this share of the epochs trained (see the module
        docstring); None: the checkpoint the two-sample tests chose.
    synthetic_weight : float, default=1.0
        Sample weight of each synthetic row for the classifier (`sample_weight_`).
    filter_realism, filter_easy : float in [0, 1), default=0.0
        Shares of generated rows dropped (see the module docstring).
    match_scores : bool, default=False
        Keep the generated rows that a classifier of the real rows scores as it scores the real
        rows of their class (see the module docstring).
    refit_gan : bool, default=True
        With a cache `across_rows`, train the GAN again for a refit on more rows (see
        `refit_params`) rather than draw from the GAN the cache holds, which trained on fewer
        (the runner's fold: the rows every inner window fits on, less the tests' held-out rows),
        while a resampler such as SMOTE refits on them all.
    cache : GANCache or None, default=None
        Reuse GANs trained on the same rows with the same GAN parameters.
    **CGANConfig fields
        epochs, batch_size, noise_dim, generator_dim, critic_dim, pac, aux_weight, clusters, ...
        (see `models.gan.config.CGANConfig`), with its defaults.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "categorical_features": ["array-like"],
        "condition_feature": [numbers.Integral, str, None],
        "rules": "no_validation",
        "checkpoint": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "synthetic_weight": [Interval(numbers.Real, 0, None, closed="neither")],
        "filter_realism": [Interval(numbers.Real, 0, 1, closed="left")],
        "filter_easy": [Interval(numbers.Real, 0, 1, closed="left")],
        "match_scores": ["boolean"],
        "refit_gan": ["boolean"],
        "cache": [GANCache, None],
        **{name: "no_validation" for name in _GAN_DEFAULTS},  # CGANConfig.validate checks them
    }

    def __init__(self, **params: Any) -> None:
        defaults = {**_OWN_DEFAULTS, **_GAN_DEFAULTS}
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"CGANOverSampler got unexpected parameter(s) {unknown}")
        super().__init__(sampling_strategy=params.get("sampling_strategy", "auto"))
        for name, default in defaults.items():
            if name != "sampling_strategy":
                setattr(self, name, params.get(name, default))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags

    def gan_config(self) -> CGANConfig:
        """The `CGANConfig` these parameters describe."""
        return CGANConfig(**{name: getattr(self, name) for name in _GAN_DEFAULTS})

    def refit_params(self) -> dict[str, Any]:
        """How to train this sampler's GAN again on more rows (a refit on the whole training
        fold): for the epochs its model selection chose, without holding rows out; nothing
        changes with a cache `across_rows` (the refit draws from its GAN again, trained on the
        rows every inner window fits on, less the tests' held-out rows) unless `refit_gan`."""
        synth = getattr(self, "synthesizer_", None)
        if synth is None:
            return {}
        if self.cache is not None and self.cache.across_rows and not self.refit_gan:
            return {}
        return {"epochs": self.epoch_, "eval_every": 0, "checkpoint": None}

    @property
    def epoch_(self) -> int:
        """The epoch of the generator that draws the rows (see `checkpoint`)."""
        synth = self.synthesizer_
        if self.checkpoint is None:
            return int(synth.best_epoch_)
        epochs = synth.checkpoint_epochs_
        target = self.checkpoint * synth.epochs_run_
        return int(min(epochs, key=lambda e: (abs(e - target), e)))

    def check_params(self) -> None:
        """Raise ValueError for parameters training cannot use (before any data is seen)."""
        self._validate_params()
        self.gan_config().validate()
        if self.filter_realism + self.filter_easy >= 0.95:
            raise ValueError(
                "filter_realism + filter_easy must stay below 0.95 (they are shares of the "
                f"generated rows dropped), got {self.filter_realism + self.filter_easy:g}"
            )

    def _check_X_y(self, X: Any, y: Any, accept_sparse: Any = None) -> tuple[Any, Any, bool]:
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        if isinstance(X, pd.DataFrame):
            self.n_features_in_ = X.shape[1]
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            if len(X) != len(y):
                raise ValueError(f"X has {len(X)} rows and y {len(y)}")
            return X, np.asarray(y), binarize_y
        from sklearn_compat.utils.validation import validate_data

        text = not sparse.issparse(X) and np.asarray(X).dtype.kind in "OUS"
        X, y = validate_data(
            self,
            X=X,
            y=y,
            reset=True,
            accept_sparse=["csr", "csc"],
            dtype=None if text else "numeric",
            ensure_all_finite=False if text else "allow-nan",
        )
        return X, y, binarize_y

    # ---- resampling

    def _fit_resample(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        self.check_params()
        wanted = {c: int(n) for c, n in self.sampling_strategy_.items() if int(n) > 0}
        frame = self._frame(X)
        synth = self._train(frame, y, wanted)
        self.sample_weight_ = None
        if synth is None:
            self.n_generated_ = self.n_kept_ = 0
            return X, y
        blocks = [self.sample_block(n, cls, seed) for cls, n, seed in self.sample_plan()]
        synthetic = self._filter(frame, y, blocks)
        new = pd.concat([b for b, _ in synthetic], ignore_index=True)
        y_new = np.concatenate([np.full(len(b), cls, dtype=y.dtype) for b, cls in synthetic])
        y_res = np.concatenate([y, y_new])
        if self.synthetic_weight != 1.0:
            self.sample_weight_ = np.r_[np.ones(len(y)), np.full(len(y_new), self.synthetic_weight)]
        if isinstance(X, pd.DataFrame):
            X_res = pd.concat([X.reset_index(drop=True), new[list(X.columns)]], ignore_index=True)
            return X_res, y_res
        if sparse.issparse(X):
            matrix = new.to_numpy(dtype=np.float64, na_value=np.nan)
            return sparse.vstack([X, sparse.csr_matrix(matrix)]).asformat(X.format), y_res
        X = np.asarray(X)
        return np.vstack([X, new.to_numpy().astype(X.dtype)]), y_res

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X.reset_index(drop=True)
        dense = X.toarray() if sparse.issparse(X) else np.asarray(X)
        return pd.DataFrame(dense, columns=[f"x{i}" for i in range(dense.shape[1])])

    def fit_synthesizer(self, X: Any, y: Any, n_synthetic: dict[Any, int]) -> Any:
        """Train the GAN on (X, y) without sampling; `n_synthetic`: rows to draw per class later.

        For callers that draw the rows elsewhere (the Spark engine trains on a sample of the
        training rows on the driver and draws on executors with `sample_plan`/`sample_block`).
        Returns the `CGANSynthesizer`, or None when no rows are wanted.
        """
        self.check_params()
        X, y, _ = self._check_X_y(X, y)
        wanted = {c: int(n) for c, n in n_synthetic.items() if int(n) > 0}
        unknown = [c for c in wanted if c not in set(np.unique(y).tolist())]
        if unknown:
            raise ValueError(f"n_synthetic names class(es) {unknown} that are not in y")
        return self._train(self._frame(X), y, wanted)

    def sample_plan(self) -> list[tuple[Any, int, int]]:
        """(class, rows, seed) of every block of synthetic rows the fitted sampler draws, filters
        included (rows to generate before filtering)."""
        keep = (1.0 - self.filter_realism - self.filter_easy) / self._pool()
        wanted = sorted(self.n_synthetic_.items(), key=lambda kv: str(kv[0]))
        return [
            (cls, math.ceil(round(n / keep, 9)), self.seed_ + 7919 * (i + 1))
            for i, (cls, n) in enumerate(wanted)
        ]

    def _pool(self) -> int:
        return MATCH_POOL if self.match_scores else 1

    def sample_block(self, n: int, cls: Any, seed: int) -> pd.DataFrame:
        """`n` synthetic rows of class `cls`, with X's columns (x0, x1, ... for arrays)."""
        rows = self.synthesizer_.sample(n, label=cls, seed=seed, epoch=self.epoch_)
        return rows.drop(columns=[_LABEL])

    def _train(self, frame: pd.DataFrame, y: np.ndarray, wanted: dict[Any, int]) -> Any:
        from models.gan.synthesizer import CGANSynthesizer

        config = self.gan_config()
        self.seed_ = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        categorical = self._categorical_names(frame)
        condition = self._condition_name(frame, categorical)
        self.categorical_features_ = categorical
        self.n_synthetic_ = wanted
        if not wanted:
            self.synthesizer_ = None
            return None
        if self.rules is not None and not isinstance(self.feature_names_in_[0], str):
            raise ValueError("rules need DataFrame input with the rules' column names")
        data = frame.assign(**{_LABEL: y})
        counts = pd.Series(y).value_counts()
        target = max(wanted, key=lambda c: (wanted[c], -counts[c]))
        key = None
        if self.cache is not None and isinstance(self.random_state, numbers.Integral):
            rows = None if self.cache.across_rows else data
            key = _digest(
                data.columns, rows, config, self.seed_, categorical, condition, target, self.rules
            )
        synth = self.cache.get(key) if key is not None else None
        if synth is None:
            synth = CGANSynthesizer(config, random_state=self.seed_).fit(
                data, _LABEL, categorical, condition, target_label=target, rules=self.rules
            )
            if key is not None:
                self.cache.put(key, synth)
        else:
            log.debug("CGANOverSampler: reusing the GAN of the cache (%r)", self.cache)
        self.synthesizer_ = synth
        return synth

    def _filter(
        self, frame: pd.DataFrame, y: np.ndarray, blocks: list[pd.DataFrame]
    ) -> list[tuple[pd.DataFrame, Any]]:
        """Each class's generated rows, filtered down to the count asked for."""
        out = []
        self.n_generated_ = self.n_kept_ = 0
        for (cls, n), block in zip(
            sorted(self.n_synthetic_.items(), key=lambda kv: str(kv[0])), blocks, strict=True
        ):
            self.n_generated_ += len(block)
            score = np.zeros(len(block))  # higher: dropped first
            keep = np.argsort(score, kind="stable")[:n]
            if self.filter_realism or self.filter_easy or self.match_scores:
                enc = self._encoding(frame, block)
                real = enc.tree_matrix(frame)
                fake = enc.tree_matrix(block)
                if self.filter_realism:
                    p_fake = _cross_fitted(real[y == cls], fake, self.seed_)
                    score = _drop_first(score, p_fake, self.filter_realism)
                if self.filter_easy or self.match_scores:
                    p_class, reference = _class_scores(
                        real, y == cls, fake, self.seed_, out_of_fold=self.match_scores
                    )
                if self.filter_easy:
                    score = _drop_first(score, p_class, self.filter_easy)
                pool = np.argsort(score, kind="stable")[: n * self._pool()]
                keep = pool[:n]
                if self.match_scores:
                    rng = np.random.default_rng(self.seed_ + len(out))
                    keep = pool[match_histogram(p_class[pool], reference, n, rng)]
            keep = np.sort(keep)
            out.append((block.iloc[keep].reset_index(drop=True), cls))
            self.n_kept_ += len(keep)
        if self.filter_realism or self.filter_easy or self.match_scores:
            log.info(
                "CGANOverSampler: kept %d of %d generated rows", self.n_kept_, self.n_generated_
            )
        return out

    def _encoding(self, frame: pd.DataFrame, block: pd.DataFrame) -> FrameEncoding:
        categorical = list(self.categorical_features_)
        continuous = [c for c in frame.columns if c not in set(categorical)]
        return FrameEncoding.fit(frame, [frame, block], continuous, categorical)

    def _categorical_names(self, frame: pd.DataFrame) -> list[str]:
        names = list(frame.columns)
        feats = list(self.categorical_features)
        chosen: set[str] = set()
        if feats and all(isinstance(f, bool | np.bool_) for f in feats):
            if len(feats) != len(names):
                raise ValueError(
                    f"categorical_features as a mask needs {len(names)} entries, got {len(feats)}"
                )
            chosen = {n for n, f in zip(names, feats, strict=True) if f}
        else:
            chosen = {names[self._feature_index(f, names)] for f in feats}
        for name in names:
            dtype = frame[name].dtype
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                chosen.add(name)
        return [n for n in names if n in chosen]

    def _feature_index(self, feature: Any, names: list[str]) -> int:
        if isinstance(feature, str):
            if feature not in names:
                raise ValueError(f"feature {feature!r} is not a column of X (columns: {names})")
            return names.index(feature)
        index = int(feature)
        if not -len(names) <= index < len(names):
            raise ValueError(f"feature index {feature} is out of range for {len(names)} columns")
        return index % len(names)

    def _condition_name(self, frame: pd.DataFrame, categorical: list[str]) -> str | None:
        if self.condition_feature is None:
            return None
        names = list(frame.columns)
        name = names[self._feature_index(self.condition_feature, names)]
        if name not in categorical:
            raise ValueError(
                f"condition_feature {self.condition_feature!r} must be one of categorical_features"
            )
        return name


def _gan_signature() -> inspect.Signature:
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name, default in {**_OWN_DEFAULTS, **_GAN_DEFAULTS}.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


# scikit-learn reads an estimator's parameters from its __init__ signature: derived from
# CGANConfig, every GAN field is a parameter without being written twice.
CGANOverSampler.__init__.__signature__ = _gan_signature()  # type: ignore[attr-defined]


def _cross_fitted(real: np.ndarray, fake: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold probability that each generated row is synthetic (real vs generated)."""
    from sklearn.model_selection import StratifiedKFold

    x = np.vstack([real, fake])
    y = np.r_[np.zeros(len(real), dtype=np.int8), np.ones(len(fake), dtype=np.int8)]
    out = np.zeros(len(x))
    folds = StratifiedKFold(n_splits=_FILTER_FOLDS, shuffle=True, random_state=seed % (2**31 - 1))
    for train, test in folds.split(x, y):
        clf = xgb_classifier(seed, n_estimators=100, max_depth=3)
        clf.fit(x[train], y[train])
        out[test] = clf.predict_proba(x[test])[:, 1]
    return out[len(real) :]


def _class_scores(
    real: np.ndarray, is_class: np.ndarray, fake: np.ndarray, seed: int, *, out_of_fold: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probability of the class for each generated row, by a classifier of the real rows, and
    with `out_of_fold` that of each real row of the class by the same classifier fitted without
    it (None otherwise)."""
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    others = np.flatnonzero(~is_class)
    if len(others) > _MAX_FILTER_REFERENCE:
        others = rng.choice(others, _MAX_FILTER_REFERENCE, replace=False)
    rows = np.r_[np.flatnonzero(is_class), others]
    x, target = real[rows], is_class[rows].astype(np.int8)
    clf = xgb_classifier(seed, n_estimators=200, max_depth=4)
    p_fake = clf.fit(x, target).predict_proba(fake)[:, 1]
    if not out_of_fold:
        return p_fake, None
    oof = np.zeros(len(rows))
    folds = StratifiedKFold(n_splits=_MATCH_FOLDS, shuffle=True, random_state=seed % (2**31 - 1))
    for train, test in folds.split(x, target):
        fitted = xgb_classifier(seed, n_estimators=200, max_depth=4).fit(x[train], target[train])
        oof[test] = fitted.predict_proba(x[test])[:, 1]
    return p_fake, oof[target == 1]


def match_histogram(
    scores: np.ndarray, reference: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of `n` of `scores` whose shares in the deciles of `reference` are those of
    `reference`.

    Each decile gets its share of `n` (largest remainders), drawn at random without replacement
    from the scores in it; a decile with too few scores takes all it has and its shortfall comes
    from the nearest deciles with scores left. Indices repeat only when `n` exceeds
    `len(scores)`.
    """
    inner = np.quantile(reference, np.linspace(0, 1, _MATCH_BINS + 1)[1:-1])
    of_ref = np.searchsorted(inner, reference, side="right")
    of_scores = np.searchsorted(inner, scores, side="right")
    share = np.bincount(of_ref, minlength=_MATCH_BINS) * n / len(reference)
    quota = np.floor(share).astype(int)
    quota[np.argsort(quota - share, kind="stable")[: n - quota.sum()]] += 1
    free = [list(rng.permutation(np.flatnonzero(of_scores == b))) for b in range(_MATCH_BINS)]
    picked: list[int] = []
    short = []
    for b in range(_MATCH_BINS):
        take = min(quota[b], len(free[b]))
        picked += free[b][:take]
        free[b] = free[b][take:]
        short += [b] * (quota[b] - take)
    for b in short:  # the nearest decile with a score left, the lower one first on a tie
        near = sorted((abs(c - b), c) for c in range(_MATCH_BINS) if free[c])
        if not near:
            break
        picked.append(free[near[0][1]].pop(0))
    picked = np.asarray(picked, dtype=int)
    if len(picked) < n:
        picked = np.r_[picked, rng.choice(len(scores), n - len(picked), replace=True)]
    return picked


def _drop_first(score: np.ndarray, values: np.ndarray, share: float) -> np.ndarray:
    """Mark the `share` of rows with the highest `values` to be dropped first."""
    n_drop = int(round(share * len(values)))
    out = score.copy()
    if n_drop:
        out[np.argsort(-values, kind="stable")[:n_drop]] += 1.0
    return out


def _digest(
    columns: Any,
    data: pd.DataFrame | None,
    config: CGANConfig,
    seed: int,
    categorical: list[str],
    condition: str | None,
    target: Any,
    rules: Any,
) -> str:
    h = hashlib.sha256()
    if data is not None:
        h.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    h.update(repr(list(columns)).encode())
    params = {
        "config": repr(config),
        "seed": seed,
        "categorical": categorical,
        "condition": condition,
        "target": str(target),
        "rules": repr(rules),
    }
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


__all__: Sequence[str] = ("CGANOverSampler", "GANCache")
