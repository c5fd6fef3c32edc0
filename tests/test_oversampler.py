"""CGANOverSampler: imblearn's estimator checks, cloning, sampling_strategy, categorical codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.utils.estimator_checks import parametrize_with_checks
from sklearn.base import clone

from models import oversampler as ovs
from models.oversampler import CGANOverSampler
from pipeline.errors import TrainingError

TINY = {
    "epochs": 1,
    "steps_per_epoch": 1,
    "batch_size": 40,
    "embedding_dim": 8,
    "generator_dim": (16,),
    "critic_dim": (16,),
    "pac": 4,
    "eval_every": 0,
    "max_modes": 3,
}

# imblearn's checks that our sampler fails by design, and why.
EXPECTED_FAILURES: dict[str, str] = {}


def _tiny(**params: object) -> CGANOverSampler:
    return CGANOverSampler(random_state=0, **{**TINY, **params})


_checks = parametrize_with_checks([_tiny()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
# imblearn hands pytest a generator, which pytest deprecates: materialise it.
_checks = pytest.mark.parametrize(_checks.args[0], list(_checks.args[1]), **_checks.kwargs)


@_checks
def test_imblearn_estimator_checks(estimator, check):
    check(estimator)


def _fraud_data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(np.int64)
    code = rng.integers(0, 4, n).astype(np.float32)  # an ordinal-encoded category
    amount = rng.lognormal(2 + y, 1.0, n).astype(np.float32)
    flag = (rng.random(n) < 0.3).astype(np.float32)  # a missing-indicator-like column
    x = (rng.normal(size=n) + 2 * y).astype(np.float32)
    return np.column_stack([code, amount, flag, x]), y


def test_clone_keeps_parameters_unchanged():
    sampler = _tiny(categorical_features=[0], sampling_strategy=0.5)
    params = sampler.get_params()
    cloned = clone(sampler)
    assert cloned.get_params() == params
    assert cloned.categorical_features is sampler.categorical_features or (
        cloned.categorical_features == sampler.categorical_features
    )


def test_sampling_strategy_and_categorical_codes():
    X, y = _fraud_data()
    sampler = _tiny(categorical_features=[0], sampling_strategy=0.5)
    X_res, y_res = sampler.fit_resample(X, y)
    n_major = int((y == 0).sum())
    assert int((y_res == 1).sum()) == int(0.5 * n_major)
    assert int((y_res == 0).sum()) == n_major
    assert X_res.dtype == X.dtype
    np.testing.assert_array_equal(X_res[: len(X)], X)
    new = X_res[len(X) :]
    assert set(np.unique(new[:, 0])) <= set(np.unique(X[:, 0]))
    assert set(np.unique(new[:, 2])) <= {0.0, 1.0}
    assert new[:, 1].min() >= X[:, 1].min() and new[:, 1].max() <= X[:, 1].max()
    assert sampler.categorical_features_ == [0] and sampler.binary_features_ == [2]


def test_dataframe_in_dataframe_out_and_condition_by_name():
    X, y = _fraud_data()
    df = pd.DataFrame(X, columns=["merchant_code", "amount", "flag", "x"])
    sampler = _tiny(
        categorical_features=["merchant_code"],
        condition_feature="merchant_code",
        sampling_strategy={1: 120},
    )
    X_res, y_res = sampler.fit_resample(df, pd.Series(y, name="is_fraud"))
    assert isinstance(X_res, pd.DataFrame) and list(X_res.columns) == list(df.columns)
    assert int((y_res == 1).sum()) == 120


def test_cache_reuses_the_gan_for_other_ratios():
    ovs.clear_cache()
    X, y = _fraud_data(seed=1)
    first = _tiny(sampling_strategy=0.3)
    first.fit_resample(X, y)
    second = _tiny(sampling_strategy=0.6)
    second.fit_resample(X, y)
    assert second.synthesizer_ is first.synthesizer_
    third = _tiny(sampling_strategy=0.3, epochs=2)
    third.fit_resample(X, y)
    assert third.synthesizer_ is not first.synthesizer_
    assert len(ovs._CACHE) <= ovs._CACHE_SIZE


def test_same_seed_same_rows_without_cache():
    X, y = _fraud_data(seed=2)
    a, _ = _tiny(cache=False, sampling_strategy=0.4).fit_resample(X, y)
    b, _ = _tiny(cache=False, sampling_strategy=0.4).fit_resample(X, y)
    np.testing.assert_array_equal(a, b)


def test_too_few_minority_rows_names_the_minimum():
    X, y = _fraud_data()
    y = np.zeros_like(y)
    y[:5] = 1
    with pytest.raises(TrainingError, match="at least 10 rows"):
        _tiny().fit_resample(X, y)


def test_bad_parameters_raise_value_errors():
    X, y = _fraud_data()
    with pytest.raises(ValueError, match="multiple of pac"):
        _tiny(batch_size=42).fit_resample(X, y)
    with pytest.raises(ValueError, match="condition_feature"):
        _tiny(condition_feature=1).fit_resample(X, y)
    with pytest.raises(ValueError, match="out of range"):
        _tiny(categorical_features=[9]).fit_resample(X, y)
    with pytest.raises(ValueError, match="epochs"):
        _tiny(epochs=0).fit_resample(X, y)
