"""Reversible encoding of a mixed-type table for a GAN: normal scores or modes, and one-hots.

Continuous columns have two encodings (`continuous=`):

- `"quantile"` (the default): each column becomes one normal score, its value passed through the
  column's empirical CDF (fitted on a bounded subsample; with `fit(..., stratify=label)` every row
  of a rare class is in it) and the standard normal's inverse CDF; the generator's output for it
  is linear. A value held by k > 1 rows of the subsample owns an interval of probability, encoded
  at a uniformly random point of it and decoded exactly (zeros of a count, a fixed fee), so every
  column's scores are standard normal whatever its shape, heavy tails included. Between observed
  values the CDF is linear, so the round trip is exact up to float precision.
- `"modes"` (CTGAN's mode-specific normalization): a scalar in [-1, 1] plus a one-hot of its
  mixture mode: a Bayesian Gaussian mixture (at most `max_modes` components, modes below
  `weight_threshold` dropped) fitted on the subsample; stratified, one mixture per class (the
  `max_modes` split between them). A value is assigned to its most probable mode and encoded as
  its distance to that mode's mean in units of four standard deviations. Exact modes ("spikes": a
  value held by at least 5 % of the rows of some stratum) are found within each stratum; a
  non-negative, heavy-tailed column (its 99th percentile over 20 times its median + 1) has its
  mixture fitted to log1p(x).

Each categorical column becomes a one-hot over the categories seen in fit. A column with missing
values gets an extra two-way span (present, missing); missing entries of the value span are
filled with a random observed value, so that they look like any other row. A numeric column with
at most `max_discrete` distinct values (a weekday, a small count, a flag) is treated as
categorical over the values seen in fit, so generated values stay on its observed support and
keep its dtype. A categorical column with more than `max_categories` categories (a zip code, a
merchant name) keeps a one-hot slot for each of its `max_categories - 1` most frequent ones
(ranked by their share of the rows of any stratum, so a class's own frequent categories stay) and
pools the others into one last slot, decoded by drawing one of the pooled categories by its
frequency in fit (within the stratum asked for, `inverse_transform(..., stratum=)`): the width of
the one-hot, and so the GAN's cost, stays bounded however many categories a column has.

Fallbacks and errors:

- a column with a single distinct non-missing value (or none at all) is not modelled: it is passed
  through as that constant (its missing pattern, if any, is still modelled);
- bool and pandas `category` columns are categorical even when not declared;
- a text or datetime column that is not declared categorical, infinite values, unseen categories
  and missing values in a column that had none at fit time raise `DataError`.

`inverse_transform` returns the original columns with their dtypes: integers are rounded, every
numeric column is clipped to the range seen in fit, categories come only from those seen in fit.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from models.errors import DataError

log = logging.getLogger(__name__)

SpanKind = Literal["scalar", "mode", "category", "missing"]
Activation = Literal["tanh", "softmax", "linear"]
ContinuousEncoding = Literal["quantile", "modes"]
ColumnKind = Literal["continuous", "categorical", "constant"]

# A scalar of +-1 is this many standard deviations of its mode away from the mode's mean.
_SCALE = 4.0
# A value held by at least this share of a column's rows becomes an exact mode of its own.
_SPIKE_SHARE = 0.05
_MAX_SPIKES = 10


@dataclass(frozen=True)
class Span:
    """A contiguous block of the encoded matrix that belongs to one column."""

    column: str
    kind: SpanKind
    start: int
    dim: int
    activation: Activation


@dataclass
class _Column:
    name: str
    kind: ColumnKind
    dtype: Any
    has_missing: bool = False
    # continuous
    is_integer: bool = False
    low: float = 0.0
    high: float = 0.0
    means: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spikes: np.ndarray = field(default_factory=lambda: np.zeros(0))  # exact values, own modes
    log: bool = False  # the modes model log1p(x): a non-negative, heavy-tailed column
    # quantile encoding: the inverse CDF as knots (probability, value), increasing in both
    knot_u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    knot_v: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # categorical: one one-hot slot per category, and one more shared by `pooled` when any
    categories: list[Any] = field(default_factory=list)
    pooled: list[Any] = field(default_factory=list)  # beyond `max_categories`, least frequent
    pooled_p: dict[Any, np.ndarray] = field(default_factory=dict)  # draw weights, by stratum
    # constant
    constant: Any = None
    # filled in when the layout is built
    spans: list[Span] = field(default_factory=list)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a transformer pickled before categories could be pooled has no `pooled`
        self.__dict__.update({"pooled": [], "pooled_p": {}, **state})


class TabularTransformer:
    """Encode a DataFrame for the GAN and decode generated rows back to the original columns.

    Parameters
    ----------
    max_modes : int, default=10
        Most mixture components per continuous column.
    weight_threshold : float, default=0.005
        Components whose weight is below this are dropped.
    subsample : int, default=10_000
        The CDFs (or mixtures) are fitted on at most this many randomly chosen rows (ranges and
        categories always come from every row). 10,000 rows fit 30 columns' mixtures in about 9 s
        on one core; the normalization gains little from more.
    max_iter : int, default=30
        Variational EM iterations per mixture; a few dozen are enough for a normalization.
    max_discrete : int, default=16
        Numeric columns with at most this many distinct values are encoded as categories of
        their values (0 turns this off).
    max_categories : int, default=100
        One-hot slots of a categorical column at most: beyond it the least frequent categories
        share the last slot (see the module docstring).
    continuous : {"quantile", "modes"}, default="quantile"
        How continuous columns are encoded: one normal score (linear activation) through the
        column's empirical CDF, or a scalar in [-1, 1] (tanh) plus a one-hot of its mixture mode.
    random_state : int or None, default=None
        Seeds the subsample, the mixtures and the random filling of missing entries.
    """

    def __init__(
        self,
        *,
        continuous: ContinuousEncoding = "quantile",
        max_modes: int = 10,
        weight_threshold: float = 0.005,
        subsample: int = 10_000,
        max_iter: int = 30,
        max_discrete: int = 16,
        max_categories: int = 100,
        random_state: int | None = None,
    ) -> None:
        self.continuous = continuous
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.subsample = subsample
        self.max_iter = max_iter
        self.max_discrete = max_discrete
        self.max_categories = max_categories
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        data: pd.DataFrame,
        categorical_columns: Sequence[str] = (),
        *,
        stratify: np.ndarray | pd.Series | None = None,
    ) -> TabularTransformer:
        """Learn each column's encoding from `data`.

        `stratify` (one value per row, e.g. the class label) makes the mixtures' subsample take
        equal shares of each stratum as far as the strata allow, so that a rare class's values
        get modes of their own.
        """
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"TabularTransformer.fit expects a pandas DataFrame, got {type(data)}")
        if len(data) == 0:
            raise DataError("TabularTransformer.fit: the DataFrame has no rows")
        if data.columns.has_duplicates:
            dup = data.columns[data.columns.duplicated()].tolist()
            raise DataError(f"TabularTransformer.fit: duplicate column names {dup}")
        categorical = list(categorical_columns)
        missing = [c for c in categorical if c not in data.columns]
        if missing:
            raise DataError(
                f"TabularTransformer.fit: categorical columns {missing} are not in the data; "
                f"columns are {list(data.columns)}"
            )
        if self.max_modes < 1 or self.subsample < 1 or self.max_iter < 1:
            raise ValueError("max_modes, subsample and max_iter must be positive")
        if self.max_categories < 2:
            raise ValueError(f"max_categories must be >= 2, got {self.max_categories}")
        if self.continuous not in ("modes", "quantile"):
            raise ValueError(f"continuous must be 'modes' or 'quantile', got {self.continuous!r}")
        if stratify is not None and len(stratify) != len(data):
            raise DataError(
                f"TabularTransformer.fit: stratify has {len(stratify)} values for {len(data)} rows"
            )
        rng = np.random.default_rng(self.random_state)
        rows = _subsample_rows(len(data), self.subsample, stratify, rng)
        every_stratum = None if stratify is None else np.asarray(stratify)
        strata = None if every_stratum is None else every_stratum[rows]
        columns: list[_Column] = []
        for name in data.columns:
            series = data[name]
            declared = name in categorical
            column = self._fit_column(str(name), series, declared, rows, strata, rng)
            if column.kind == "categorical" and len(column.categories) > self.max_categories:
                self._pool(column, series, every_stratum)
            columns.append(column)
        self.columns_ = [c.name for c in columns]
        self._columns = columns
        self._build_layout()
        return self

    def _fit_column(
        self,
        name: str,
        series: pd.Series,
        declared: bool,
        rows: np.ndarray,
        strata: np.ndarray | None,
        rng: np.random.Generator,
    ) -> _Column:
        dtype = series.dtype
        has_missing = bool(series.isna().any())
        if declared or ptypes.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            categories = _observed_categories(series)
            if len(categories) <= 1:
                return self._constant(name, dtype, has_missing, categories)
            return _Column(name, "categorical", dtype, has_missing, categories=categories)
        if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
            raise DataError(
                f"column {name!r} has dtype {dtype}: the GAN models numbers and categories only; "
                "convert it to a number (e.g. seconds) or drop it"
            )
        if not ptypes.is_numeric_dtype(dtype):
            examples = series.dropna().astype(str).unique()[:3].tolist()
            raise DataError(
                f"column {name!r} has non-numeric dtype {dtype} (values like {examples}) and is "
                "not declared categorical: add it to categorical_columns or drop it"
            )
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[~np.isnan(values)]
        if np.isinf(finite).any():
            n_inf = int(np.isinf(finite).sum())
            raise DataError(
                f"column {name!r} has {n_inf} infinite value(s): replace them with a finite "
                "number or a missing value"
            )
        distinct = np.unique(finite)
        if len(distinct) <= 1:
            return self._constant(name, dtype, has_missing, _observed_categories(series)[:1])
        if len(distinct) <= self.max_discrete:
            values = [
                v.item() if isinstance(v, np.generic) else v for v in series.dropna().unique()
            ]
            return _Column(name, "categorical", dtype, has_missing, categories=sorted(values))
        column = _Column(
            name,
            "continuous",
            dtype,
            has_missing,
            is_integer=ptypes.is_integer_dtype(dtype),
            low=float(finite.min()),
            high=float(finite.max()),
        )
        sample = values[rows]
        present = ~np.isnan(sample)
        sample_strata = None if strata is None else strata[present]
        sample = sample[present]
        if len(sample) == 0:
            sample = finite if len(finite) <= self.subsample else rng.choice(finite, self.subsample)
            sample_strata = None
        if self.continuous == "quantile":
            column.knot_u, column.knot_v = _quantile_knots(sample, column.low, column.high)
            return column
        column.spikes = _spikes(sample, sample_strata)
        off_spike = ~np.isin(sample, column.spikes)
        rest = sample[off_spike]
        rest_strata = None if sample_strata is None else sample_strata[off_spike]
        if len(np.unique(rest)) <= 1:
            # The subsample has (almost) nothing besides the spikes: look at every row.
            rest = finite[~np.isin(finite, column.spikes)]
            rest_strata = None
            if len(rest) > self.subsample:
                rest = rng.choice(rest, self.subsample, replace=False)
        if len(np.unique(rest)) == 1:
            column.spikes = np.union1d(column.spikes, rest[:1])
        elif len(rest):
            column.log = _heavy_tailed(finite)
            bounds = np.array([column.low, column.high])
            values = _forward(
                column, np.concatenate([rest, bounds[~np.isin(bounds, column.spikes)]])
            )
            column.means, column.stds, column.log_weights = self._fit_modes(
                _forward(column, rest), rest_strata, rng
            )
            _cover(column, values)
        return column

    def _pool(self, col: _Column, series: pd.Series, strata: np.ndarray | None) -> None:
        """Keep the `max_categories - 1` categories with the largest share of any stratum's rows
        (of all rows without strata), and pool the others with their frequencies per stratum."""
        codes = _codes(series, col.categories)
        present = codes >= 0
        groups = np.zeros(len(codes), dtype=np.int64)
        labels: list[Any] = [None]
        if strata is not None:
            labels_arr, groups = np.unique(strata, return_inverse=True)
            labels = labels_arr.tolist()
        counts = np.zeros((len(labels), len(col.categories)))
        np.add.at(counts, (groups[present], codes[present]), 1.0)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        order = np.lexsort((-counts.sum(axis=0), -share.max(axis=0)))  # last key sorts first
        kept = np.sort(order[: self.max_categories - 1])
        rare = np.sort(order[self.max_categories - 1 :])
        overall = counts[:, rare].sum(axis=0)
        col.pooled_p = {None: overall / overall.sum()}
        for label, row in zip(labels, counts[:, rare], strict=True):
            if label is not None and row.sum() > 0:
                col.pooled_p[label] = row / row.sum()
        log.info(
            "column %r has %s categories: the GAN models its %d most frequent (within any "
            "class) and draws the other %s by their frequencies (max_categories %d)",
            col.name,
            f"{len(col.categories):,}",
            len(kept),
            f"{len(rare):,}",
            self.max_categories,
        )
        col.pooled = [col.categories[i] for i in rare]
        col.categories = [col.categories[i] for i in kept]

    def _constant(self, name: str, dtype: Any, has_missing: bool, values: list[Any]) -> _Column:
        value = values[0] if values else np.nan
        log.info(
            "column %r has a single value (%r): it is passed through as a constant, not modelled",
            name,
            value,
        )
        return _Column(name, "constant", dtype, has_missing, constant=value)

    def _fit_modes(
        self, x: np.ndarray, strata: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mixture modes of `x`: with strata, each stratum's own modes (at most `max_modes`
        split between the strata), so a rare class's clusters get modes however few its rows."""
        groups = [] if strata is None else [x[strata == s] for s in np.unique(strata)]
        groups = [g for g in groups if len(np.unique(g)) >= 2]
        if len(groups) < 2:
            return self._fit_mixture(x, rng, self.max_modes)
        per_group = max(2, math.ceil(self.max_modes / len(groups)))
        parts = [self._fit_mixture(g, rng, per_group) for g in groups]
        means = np.concatenate([p[0] for p in parts])
        stds = np.concatenate([p[1] for p in parts])
        weights = np.concatenate([np.exp(p[2]) / len(parts) for p in parts])
        order = np.argsort(means)
        return means[order], stds[order], np.log(weights[order])

    def _fit_mixture(
        self, x: np.ndarray, rng: np.random.Generator, max_modes: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture
        from threadpoolctl import threadpool_limits

        center, scale = float(np.mean(x)), float(np.std(x)) or 1.0
        z = ((x - center) / scale).reshape(-1, 1)
        n_components = int(min(max_modes, len(np.unique(z)), len(z)))
        mixture = BayesianGaussianMixture(
            n_components=n_components,
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3,
            max_iter=self.max_iter,
            n_init=1,
            init_params="k-means++",
            random_state=int(rng.integers(2**31 - 1)),
        )
        # Many-threaded BLAS on (n, k) matrices is slower than one thread here.
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mixture.fit(z)
        weights = mixture.weights_
        keep = weights >= self.weight_threshold
        if not keep.any():
            keep = weights == weights.max()
        means = mixture.means_.ravel()[keep] * scale + center
        stds = np.sqrt(mixture.covariances_.ravel()[keep]) * scale
        stds = np.maximum(stds, 1e-6 * scale)
        w = weights[keep] / weights[keep].sum()
        order = np.argsort(means)
        return means[order], stds[order], np.log(w[order])

    def _build_layout(self) -> None:
        spans: list[Span] = []
        start = 0

        def add(col: _Column, kind: SpanKind, dim: int, activation: Activation) -> None:
            nonlocal start
            span = Span(col.name, kind, start, dim, activation)
            col.spans.append(span)
            spans.append(span)
            start += dim

        for col in self._columns:
            col.spans = []
            if col.kind == "continuous" and len(col.knot_u):
                add(col, "scalar", 1, "linear")
            elif col.kind == "continuous":
                add(col, "scalar", 1, "tanh")
                add(col, "mode", len(col.means) + len(col.spikes), "softmax")
            elif col.kind == "categorical":
                add(col, "category", len(col.categories) + bool(col.pooled), "softmax")
            if col.has_missing:
                add(col, "missing", 2, "softmax")
        self.output_info_ = spans
        self.output_dim_ = start

    # ------------------------------------------------------------ accessors

    @property
    def column_kinds_(self) -> dict[str, ColumnKind]:
        """Each column's treatment: continuous, categorical or constant."""
        self._check_fitted()
        return {c.name: c.kind for c in self._columns}

    @property
    def categories_(self) -> dict[str, list[Any]]:
        """The categories with a one-hot slot of their own, per categorical column, in one-hot
        order (a column's pooled categories, `pooled_`, share one more slot after them)."""
        self._check_fitted()
        return {c.name: list(c.categories) for c in self._columns if c.kind == "categorical"}

    @property
    def pooled_(self) -> dict[str, list[Any]]:
        """The categories that share one slot, per column with more than `max_categories`."""
        self._check_fitted()
        return {c.name: list(c.pooled) for c in self._columns if c.pooled}

    def categorical_span(self, column: str) -> tuple[int, int, list[Any]]:
        """(start, dim, categories) of a categorical column's one-hot block."""
        col = self._column(column)
        if col.kind != "categorical":
            raise DataError(
                f"column {column!r} is {col.kind}, not categorical: it has no category span"
            )
        if col.pooled:
            raise DataError(
                f"column {column!r} has {len(col.categories) + len(col.pooled)} categories, more "
                f"than max_categories ({self.max_categories}), and its rare ones share one slot: "
                "condition on a column with fewer categories, or raise max_categories"
            )
        span = next(s for s in col.spans if s.kind == "category")
        return span.start, span.dim, list(col.categories)

    def category_codes(self, df: pd.DataFrame, column: str) -> np.ndarray:
        """Index of each row's category in `categories_[column]` (-1 where missing)."""
        col = self._column(column)
        if col.kind != "categorical":
            raise DataError(f"column {column!r} is {col.kind}, not categorical")
        codes = _category_index(col, df[column])
        unseen = (codes < 0) & df[column].notna().to_numpy()
        if unseen.any():
            raise DataError(_unseen_message(column, df[column][unseen], _seen(col)))
        return codes

    def _column(self, column: str) -> _Column:
        self._check_fitted()
        for col in self._columns:
            if col.name == column:
                return col
        raise DataError(f"column {column!r} was not seen in fit; columns are {self.columns_}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "_columns"):
            raise RuntimeError("TabularTransformer is not fitted: call fit() first")

    # ------------------------------------------------------------ transform

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Encode rows with the fitted layout into a float32 matrix of width `output_dim_`."""
        self._check_fitted()
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"TabularTransformer.transform expects a DataFrame, got {type(df)}")
        absent = [c for c in self.columns_ if c not in df.columns]
        if absent:
            raise DataError(f"TabularTransformer.transform: columns {absent} are missing")
        out = np.zeros((len(df), self.output_dim_), dtype=np.float32)
        rng = np.random.default_rng(self.random_state)
        for col in self._columns:
            series = df[col.name]
            missing = series.isna().to_numpy()
            if missing.any() and not col.has_missing:
                raise DataError(
                    f"column {col.name!r} has {int(missing.sum())} missing value(s), and had none "
                    "when the transformer was fitted"
                )
            if col.kind == "continuous":
                self._encode_continuous(col, series, missing, out, rng)
            elif col.kind == "categorical":
                self._encode_categorical(col, series, missing, out, rng)
            if col.has_missing:
                span = col.spans[-1]
                out[np.arange(len(df)), span.start + missing.astype(np.int64)] = 1.0
        return out

    def _encode_continuous(
        self,
        col: _Column,
        series: pd.Series,
        missing: np.ndarray,
        out: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        if not ptypes.is_numeric_dtype(series.dtype):
            raise DataError(f"column {col.name!r} was numeric in fit, now has dtype {series.dtype}")
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(x).any():
            raise DataError(f"column {col.name!r} has {int(np.isinf(x).sum())} infinite value(s)")
        if missing.any():
            observed = x[~missing]
            if len(observed):
                fill = rng.choice(observed, int(missing.sum()))
            elif len(col.knot_v):
                fill = rng.choice(col.knot_v, int(missing.sum()))
            elif len(col.means):
                fill = rng.normal(col.means[0], col.stds[0], int(missing.sum()))
            else:
                fill = rng.choice(col.spikes, int(missing.sum()))
            x = x.copy()
            x[missing] = fill
        if len(col.knot_u):
            out[:, col.spans[0].start] = _quantile_forward(col, x, rng)
            return
        n_modes = len(col.means)
        spike = np.isin(x, col.spikes)
        if not len(col.means) and not spike.all():
            other = pd.unique(x[~spike])[:5].tolist()
            raise DataError(
                f"column {col.name!r} only took the values {col.spikes.tolist()} in fit; "
                f"now it has {other}"
            )
        mode = np.zeros(len(x), dtype=np.int64)
        scalar = np.zeros(len(x))
        if n_modes:
            z = _forward(col, x[~spike])
            mode[~spike] = self._assign_modes(col, z)
            m = mode[~spike]
            scalar[~spike] = (z - col.means[m]) / (_SCALE * col.stds[m])
        mode[spike] = n_modes + np.searchsorted(col.spikes, x[spike])
        scalar_span, mode_span = col.spans[0], col.spans[1]
        out[:, scalar_span.start] = np.clip(scalar, -1.0, 1.0)
        out[np.arange(len(x)), mode_span.start + mode] = 1.0

    @staticmethod
    def _assign_modes(col: _Column, x: np.ndarray) -> np.ndarray:
        """The most probable mixture mode of each value among the modes that encode it without
        clipping (within four standard deviations); else the mode it is fewest deviations from."""
        best = np.zeros(len(x), dtype=np.int64)
        best_score = np.full(len(x), -np.inf)
        nearest = np.zeros(len(x), dtype=np.int64)
        nearest_z = np.full(len(x), np.inf)
        for k in range(len(col.means)):
            z = np.abs(x - col.means[k]) / col.stds[k]
            score = col.log_weights[k] - np.log(col.stds[k]) - 0.5 * z * z
            better = (score > best_score) & (z <= _SCALE)
            best[better] = k
            best_score[better] = score[better]
            closer = z < nearest_z
            nearest[closer] = k
            nearest_z[closer] = z[closer]
        uncovered = np.isneginf(best_score)
        best[uncovered] = nearest[uncovered]
        return best

    def _encode_categorical(
        self,
        col: _Column,
        series: pd.Series,
        missing: np.ndarray,
        out: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        codes = _category_index(col, series)
        unseen = (codes < 0) & ~missing
        if unseen.any():
            raise DataError(_unseen_message(col.name, series[unseen], _seen(col)))
        span = col.spans[0]
        if missing.any():
            observed = codes[~missing]
            codes = codes.copy()
            codes[missing] = (
                rng.choice(observed, int(missing.sum()))
                if len(observed)
                else rng.integers(span.dim, size=int(missing.sum()))
            )
        out[np.arange(len(codes)), span.start + codes] = 1.0

    # ---------------------------------------------------- inverse transform

    def inverse_transform(
        self,
        arr: np.ndarray,
        *,
        rng: np.random.Generator | None = None,
        stratum: Any = None,
    ) -> pd.DataFrame:
        """Decode an encoded (or generated) matrix to a DataFrame with the fitted columns and dtypes.

        One-hot blocks are read by their largest entry, so soft (softmax) outputs decode too. A
        pooled slot becomes one of its categories drawn with `rng` (default: seeded by
        `random_state`) by their frequencies within `stratum` (a value of fit's `stratify`;
        None, or a stratum none of whose rows had one: every row's frequencies).
        """
        self._check_fitted()
        arr = np.asarray(arr)
        if arr.ndim != 2 or arr.shape[1] != self.output_dim_:
            raise DataError(
                f"inverse_transform expects a matrix of width {self.output_dim_}, got shape "
                f"{arr.shape}"
            )
        n = arr.shape[0]
        data: dict[str, pd.Series] = {}
        for col in self._columns:
            missing = np.zeros(n, dtype=bool)
            if col.has_missing:
                span = col.spans[-1]
                missing = arr[:, span.start : span.start + 2].argmax(axis=1) == 1
            if col.kind == "continuous":
                data[col.name] = self._decode_continuous(col, arr, missing)
            elif col.kind == "categorical":
                span = col.spans[0]
                codes = arr[:, span.start : span.start + span.dim].argmax(axis=1)
                if col.pooled:
                    if rng is None:
                        rng = np.random.default_rng(self.random_state)
                    data[col.name] = _restore_pooled(col, codes, missing, rng, stratum)
                else:
                    data[col.name] = _restore_categories(col, codes, missing)
            else:
                data[col.name] = _restore_categories(
                    _Column(col.name, "categorical", col.dtype, categories=[col.constant]),
                    np.zeros(n, dtype=np.int64),
                    missing,
                )
        return pd.DataFrame(data, columns=self.columns_)

    def _decode_continuous(self, col: _Column, arr: np.ndarray, missing: np.ndarray) -> pd.Series:
        if len(col.knot_u):
            x = _quantile_inverse(col, arr[:, col.spans[0].start].astype(np.float64))
            return _finish_continuous(col, x, missing)
        scalar_span, mode_span = col.spans[0], col.spans[1]
        scalar = np.clip(arr[:, scalar_span.start].astype(np.float64), -1.0, 1.0)
        mode = arr[:, mode_span.start : mode_span.start + mode_span.dim].argmax(axis=1)
        n_modes = len(col.means)
        spike = mode >= n_modes
        x = np.zeros(len(mode))
        if n_modes:
            m = mode[~spike]
            x[~spike] = _inverse(col, scalar[~spike] * _SCALE * col.stds[m] + col.means[m])
        x[spike] = col.spikes[mode[spike] - n_modes]
        return _finish_continuous(col, x, missing)


def _finish_continuous(col: _Column, x: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Clip to the fitted range, round integers, restore missing entries and the dtype."""
    x = np.clip(x, col.low, col.high)
    if col.is_integer:
        x = np.round(x)
    x[missing] = np.nan
    return _as_dtype(pd.Series(x), col.dtype)


def _quantile_knots(sample: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """The empirical inverse CDF of `sample` (plus the column's extremes) as knots.

    A value seen once is one knot at the middle of its probability mass; a value seen k > 1
    times holds an interval of width (k - 1) / n, two knots with that value, so every normal
    score in the interval decodes to exactly that value (zeros of a count, a fixed fee).
    """
    values, counts = np.unique(np.concatenate([sample, [low, high]]), return_counts=True)
    ends = np.isin(values, [low, high]) & (counts > 1)
    counts = counts - ends  # the extremes added above count only where the sample lacks them
    n = counts.sum()
    hi = np.cumsum(counts) / n
    lo = hi - counts / n
    tied = counts > 1
    half = 0.5 / n
    u = np.where(tied, lo + half, (lo + hi) / 2)
    knot_u = np.concatenate([u, (hi - half)[tied]])
    knot_v = np.concatenate([values, values[tied]])
    order = np.lexsort((knot_u, knot_v))
    return knot_u[order], knot_v[order]


def _quantile_forward(col: _Column, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of `x`: between knots by linear interpolation of the CDF; a tied value at
    a uniformly random point of its interval, so the scores of a point mass are continuous."""
    from scipy.special import ndtri

    u = np.interp(x, col.knot_v, col.knot_u)
    first = np.searchsorted(col.knot_v, x, side="left")
    last = np.searchsorted(col.knot_v, x, side="right") - 1
    tied = (last > first) & (first < len(col.knot_v))
    if tied.any():
        a, b = col.knot_u[first[tied]], col.knot_u[last[tied]]
        u[tied] = a + (b - a) * rng.random(int(tied.sum()))
    return ndtri(u).astype(np.float32)


def _quantile_inverse(col: _Column, z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return np.interp(ndtr(z), col.knot_u, col.knot_v)


_HEAVY_TAIL_RATIO = 20.0


def _heavy_tailed(values: np.ndarray) -> bool:
    """A non-negative column whose 99th percentile is far above its median (seconds since the
    last transaction, amounts, counts of a busy merchant): its modes are fitted to log1p(x),
    which resolves the small values a rare class may live in."""
    if len(values) == 0 or values.min() < 0:
        return False
    median, top = np.quantile(values, [0.5, 0.99])
    return bool(top > _HEAVY_TAIL_RATIO * (median + 1.0))


def _forward(col: _Column, x: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(x, 0.0)) if col.log else x


def _inverse(col: _Column, z: np.ndarray) -> np.ndarray:
    return np.expm1(np.minimum(z, 700.0)) if col.log else z


def _spikes(values: np.ndarray, strata: np.ndarray | None = None) -> np.ndarray:
    """Values that carry at least `_SPIKE_SHARE` of the rows of some stratum (zeros of a count, a
    fixed fee, a round amount only fraud uses): a mixture would smear them, so each becomes a
    mode of its own that decodes exactly. At most `_MAX_SPIKES`, the heaviest first."""
    groups = [values] if strata is None else [values[strata == s] for s in np.unique(strata)]
    share: dict[float, float] = {}
    for group in groups:
        unique, counts = np.unique(group, return_counts=True)
        for value, count in zip(unique, counts / max(len(group), 1), strict=True):
            if count >= _SPIKE_SHARE:
                share[float(value)] = max(share.get(float(value), 0.0), float(count))
    top = sorted(share, key=lambda v: -share[v])[:_MAX_SPIKES]
    return np.sort(np.asarray(top, dtype=np.float64))


def _cover(col: _Column, values: np.ndarray) -> None:
    """Widen modes so that every value in `values` is within four deviations of some mode (the
    extremes and gaps the mixture left uncovered would otherwise be clipped by the encoding)."""
    z = np.abs(values[:, None] - col.means[None, :]) / col.stds[None, :]
    uncovered = z.min(axis=1) > _SCALE
    if not uncovered.any():
        return
    nearest = z[uncovered].argmin(axis=1)
    for k in np.unique(nearest):
        reach = np.abs(values[uncovered][nearest == k] - col.means[k]).max()
        col.stds[k] = max(col.stds[k], reach / _SCALE * (1 + 1e-6))


def _subsample_rows(
    n: int, budget: int, stratify: np.ndarray | pd.Series | None, rng: np.random.Generator
) -> np.ndarray:
    """Row indices for the mixtures: all rows if they fit the budget, else a random subset."""
    if n <= budget:
        return np.arange(n)
    if stratify is None:
        return np.sort(rng.choice(n, budget, replace=False))
    _, inverse = np.unique(np.asarray(stratify), return_inverse=True)
    groups = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    groups.sort(key=len)
    chosen: list[np.ndarray] = []
    left = budget
    for i, rows in enumerate(groups):
        take = min(len(rows), left // (len(groups) - i))
        chosen.append(rng.choice(rows, take, replace=False))
        left -= take
    return np.sort(np.concatenate(chosen))


def _observed_categories(series: pd.Series) -> list[Any]:
    values = pd.unique(series.dropna())
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    try:
        return sorted(values)
    except TypeError:
        return values


def _codes(series: pd.Series, categories: list[Any]) -> np.ndarray:
    values = series.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else series
    lookup = pd.Index(categories, dtype=object) if categories else pd.Index([], dtype=object)
    try:
        codes = lookup.get_indexer(values.astype(object))
    except (TypeError, ValueError):
        codes = np.array([_safe_index(categories, v) for v in values], dtype=np.int64)
    return np.asarray(codes, dtype=np.int64)


def _category_index(col: _Column, series: pd.Series) -> np.ndarray:
    """Each value's one-hot slot in `col` (its pooled categories: the last slot; -1: unseen or
    missing)."""
    if not col.pooled:
        return _codes(series, col.categories)
    return np.minimum(_codes(series, _seen(col)), len(col.categories))  # -1 stays -1


def _seen(col: _Column) -> list[Any]:
    return [*col.categories, *col.pooled]


def _safe_index(categories: list[Any], value: Any) -> int:
    try:
        return categories.index(value)
    except ValueError:
        return -1


def _unseen_message(column: str, unseen: pd.Series, categories: list[Any]) -> str:
    examples = pd.unique(unseen)[:5].tolist()
    shown = categories[:20]
    more = f" (and {len(categories) - 20} more)" if len(categories) > 20 else ""
    return (
        f"column {column!r} has categories never seen in fit: {examples}; seen categories are "
        f"{shown}{more}"
    )


def _restore_categories(col: _Column, codes: np.ndarray, missing: np.ndarray) -> pd.Series:
    values = np.empty(len(codes), dtype=object)
    cats = np.empty(len(col.categories), dtype=object)
    cats[:] = col.categories
    values[:] = cats[codes]
    values[missing] = None
    return _as_dtype(pd.Series(values, dtype=object), col.dtype)


def _restore_pooled(
    col: _Column, codes: np.ndarray, missing: np.ndarray, rng: np.random.Generator, stratum: Any
) -> pd.Series:
    """`_restore_categories` of a column with pooled categories: a pooled slot draws one."""
    every = _seen(col)
    pooled = codes == len(col.categories)
    full = codes.copy()
    weights = col.pooled_p.get(stratum, col.pooled_p[None])
    full[pooled] = len(col.categories) + rng.choice(len(col.pooled), int(pooled.sum()), p=weights)
    return _restore_categories(
        _Column(col.name, "categorical", col.dtype, categories=every), full, missing
    )


def _as_dtype(series: pd.Series, dtype: Any) -> pd.Series:
    """Cast decoded values to the column's original dtype (missing values where it allows)."""
    if series.isna().any():
        if ptypes.is_integer_dtype(dtype) and not isinstance(
            dtype, pd.api.extensions.ExtensionDtype
        ):
            return series.astype("float64")
        if ptypes.is_bool_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return series.astype(object)
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series.infer_objects()
