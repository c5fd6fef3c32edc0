"""CGANOverSampler: imblearn's estimator checks, parameters derived from CGANConfig, the columns
as they are, the GAN cache, synthetic weights and filters."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
from imblearn.utils.estimator_checks import parametrize_with_checks
from sklearn.base import clone

from models.errors import DataError, TrainingError
from models.gan import CGANConfig, CGANOverSampler, GANCache
from models.gan.oversampler import MATCH_POOL, match_histogram

TINY = {
    "epochs": 1,
    "steps_per_epoch": 2,  # the sampler's plumbing, not learning: a few steps
    "critic_steps": 1,
    "batch_size": 40,
    "noise_dim": 8,
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
    flag = (rng.random(n) < 0.3).astype(np.float32)
    x = (rng.normal(size=n) + 2 * y).astype(np.float32)
    return np.column_stack([code, amount, flag, x]), y


def _frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = _fraud_data(n, seed)
    rng = np.random.default_rng(seed)
    return (
        pd.DataFrame(
            {
                "channel": rng.choice(["online", "atm", "pos"], n),
                "amount": X[:, 1].astype(np.float64),
                "count_1d": rng.poisson(2 + 3 * y).astype(np.int64),
                "velocity": np.where(rng.random(n) < 0.1, np.nan, X[:, 3]),
            }
        ),
        y,
    )


def test_every_gan_setting_is_a_parameter_that_clones_unchanged():
    sampler = _tiny(categorical_features=[0], sampling_strategy=0.5, aux_weight=0.5, clusters=2)
    params = sampler.get_params()
    assert set(CGANConfig.defaults()) <= set(params)  # derived from CGANConfig, none left out
    assert sampler.gan_config() == dataclasses.replace(
        CGANConfig(), **{**TINY, "aux_weight": 0.5, "clusters": 2}
    )
    cloned = clone(sampler)
    assert cloned.get_params() == params
    with pytest.raises(TypeError, match="unexpected parameter"):
        CGANOverSampler(embedding_dim=8)


def test_sampling_strategy_and_categorical_codes_with_arrays():
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
    assert sampler.categorical_features_ == ["x0"]


def test_columns_as_they_are_in_and_out():
    df, y = _frame()
    sampler = _tiny(condition_feature="channel", sampling_strategy={1: 120})
    X_res, y_res = sampler.fit_resample(df, pd.Series(y, name="is_fraud"))
    assert isinstance(X_res, pd.DataFrame) and list(X_res.columns) == list(df.columns)
    pd.testing.assert_series_equal(X_res.dtypes, df.dtypes)
    assert int((y_res == 1).sum()) == 120
    new = X_res.iloc[len(df) :]
    assert set(new["channel"]) <= set(df["channel"])  # text categories stay text
    assert (new["count_1d"] >= 0).all()
    assert sampler.categorical_features_ == ["channel"]  # text columns need no declaration


def test_cache_shares_one_gan_between_fits_that_differ_after_training():
    X, y = _fraud_data(seed=1)
    cache = GANCache()
    first = _tiny(sampling_strategy=0.3, cache=cache)
    first.fit_resample(X, y)
    second = _tiny(sampling_strategy=0.6, synthetic_weight=0.5, filter_realism=0.2, cache=cache)
    second.fit_resample(X, y)
    assert second.synthesizer_ is first.synthesizer_
    third = _tiny(sampling_strategy=0.3, epochs=2, cache=cache)
    third.fit_resample(X, y)
    assert third.synthesizer_ is not first.synthesizer_
    # clone and deepcopy share the cache; a pickled copy starts empty
    assert clone(second).cache is cache and copy.deepcopy(cache) is cache
    assert len(pickle.loads(pickle.dumps(cache))) == 0 < len(cache)


def test_same_seed_same_rows_without_cache():
    X, y = _fraud_data(seed=2)
    a, _ = _tiny(sampling_strategy=0.4).fit_resample(X, y)
    b, _ = _tiny(sampling_strategy=0.4).fit_resample(X, y)
    np.testing.assert_array_equal(a, b)


def test_synthetic_weight_marks_only_the_appended_rows():
    X, y = _fraud_data(seed=3)
    sampler = _tiny(sampling_strategy=0.5, synthetic_weight=0.25)
    X_res, _ = sampler.fit_resample(X, y)
    weights = sampler.sample_weight_
    assert len(weights) == len(X_res)
    assert (weights[: len(X)] == 1).all() and (weights[len(X) :] == 0.25).all()
    unweighted = _tiny(sampling_strategy=0.5)
    unweighted.fit_resample(X, y)
    assert unweighted.sample_weight_ is None


def test_filters_drop_the_flagged_rows_and_keep_the_count():
    df, y = _frame(seed=4)
    wanted = {1: 150}
    plain = _tiny(sampling_strategy=wanted)
    plain.fit_resample(df, y)
    filtered = _tiny(sampling_strategy=wanted, filter_realism=0.3, filter_easy=0.2)
    X_res, y_res = filtered.fit_resample(df, y)
    added = 150 - int((y == 1).sum())  # imblearn's dict: the class's count after resampling
    assert int((y_res == 1).sum()) == 150
    assert filtered.n_kept_ == added and filtered.n_generated_ == 2 * added  # kept 1 - 0.5
    assert plain.n_generated_ == plain.n_kept_ == added


def _deciles(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    inner = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    return np.bincount(np.searchsorted(inner, values, side="right"), minlength=10)


def test_match_histogram_gives_each_decile_of_the_reference_its_share():
    rng = np.random.default_rng(0)
    reference = rng.beta(2, 1, 300)  # real fraud: most scored as fraud
    scores = np.r_[rng.beta(1, 4, 800), rng.beta(2, 1, 400)]  # generated: many look legitimate
    picked = match_histogram(scores, reference, 150, rng)
    assert len(picked) == len(set(picked)) == 150
    assert _deciles(scores[picked], reference).tolist() == [15] * 10
    assert _deciles(scores, reference)[0] > 400  # unmatched: most in the lowest decile


def test_match_histogram_fills_a_short_decile_from_its_neighbours():
    rng = np.random.default_rng(1)
    reference = np.linspace(0.0, 1.0, 100)
    scores = np.r_[np.full(5, 0.95), np.full(40, 0.85), np.full(40, 0.05)]
    picked = match_histogram(scores, reference, 40, rng)
    got = _deciles(scores[picked], reference)
    # 4 a decile; deciles 2-8 (indices 1-7) are empty: the shortfalls of the lower four go to
    # the first decile (a tie, index 4, to the lower), of the upper three to the ninth
    assert got.tolist() == [4 + 16, 0, 0, 0, 0, 0, 0, 0, 4 + 12, 4]
    assert len(set(picked)) == 40
    assert len(match_histogram(scores, reference, 100, rng)) == 100  # more than there are: repeats


def test_match_scores_keeps_the_count_from_a_larger_pool():
    df, y = _frame(seed=4)
    sampler = _tiny(sampling_strategy={1: 150}, match_scores=True)
    X_res, y_res = sampler.fit_resample(df, y)
    added = 150 - int((y == 1).sum())
    assert int((y_res == 1).sum()) == 150
    assert sampler.n_kept_ == added and sampler.n_generated_ == MATCH_POOL * added
    pool = pd.concat([sampler.sample_block(n, c, s) for c, n, s in sampler.sample_plan()])
    kept = X_res.iloc[len(df) :]
    assert kept.merge(pool.drop_duplicates(), how="left", indicator=True)["_merge"].eq("both").all()


def test_too_few_minority_rows_names_the_minimum():
    X, y = _fraud_data()
    y = np.zeros_like(y)
    y[:5] = 1
    with pytest.raises(TrainingError, match="at least 10 rows"):
        _tiny().fit_resample(X, y)


def test_bad_parameters_raise_value_errors_before_training():
    X, y = _fraud_data()
    with pytest.raises(ValueError, match="multiple of pac"):
        _tiny(batch_size=42).check_params()
    with pytest.raises(ValueError, match="condition_feature"):
        _tiny(condition_feature=1).fit_resample(X, y)
    with pytest.raises(ValueError, match="out of range"):
        _tiny(categorical_features=[9]).fit_resample(X, y)
    with pytest.raises(ValueError, match="epochs"):
        _tiny(epochs=0).check_params()
    with pytest.raises(ValueError, match="filter_realism"):
        _tiny(filter_realism=1.5).check_params()
    with pytest.raises(ValueError, match="below 0.95"):
        _tiny(filter_realism=0.5, filter_easy=0.5).check_params()
    with pytest.raises(ValueError, match="match_scores"):
        _tiny(match_scores=0.5).check_params()


def test_a_refit_trains_the_chosen_epochs_on_every_row():
    from models.classifier import build_pipeline, fit_pipeline, for_refit

    df, y = _frame(1500, seed=6)
    pipe = build_pipeline(
        ["amount", "count_1d", "velocity"],
        ["channel"],
        sampler=_tiny(sampling_strategy=0.3, epochs=4, eval_every=2),
        encoding="onehot",
        xgb_params={"n_estimators": 5},
        sampler_first=True,
    )
    fit_pipeline(pipe, df.iloc[:1200], y[:1200], df.iloc[1200:], y[1200:])
    fitted = pipe.named_steps["sampler"].sampler
    assert [e for e, _ in fitted.synthesizer_.checkpoints_] == [2, 4]
    refit = for_refit(pipe).named_steps["sampler"].sampler
    assert refit.refit_params() == {}  # not fitted yet
    assert (refit.epochs, refit.eval_every) == (fitted.synthesizer_.best_epoch_, 0)
    refit.fit_resample(df, y)
    assert refit.synthesizer_.epochs_run_ == fitted.synthesizer_.best_epoch_
    assert refit.synthesizer_.checkpoints_ == []  # no rows held out, no tests


def test_a_fold_cache_serves_the_refit_unless_refit_gan():
    df, y = _frame(1500, seed=6)
    params = {"sampling_strategy": 0.3, "epochs": 4, "eval_every": 2}
    shared = _tiny(**params, cache=GANCache(across_rows=True), refit_gan=False)
    shared.fit_resample(df.iloc[:1000], y[:1000])
    assert shared.refit_params() == {}  # the refit draws from the fold's GAN again
    again = _tiny(**params, cache=GANCache(across_rows=True))  # refit_gan by default
    again.fit_resample(df.iloc[:1000], y[:1000])
    assert again.refit_params() == {"epochs": again.epoch_, "eval_every": 0, "checkpoint": None}
    refit = clone(again).set_params(**again.refit_params())
    refit.fit_resample(df, y)  # every row, a GAN of its own (the cache's key: its parameters)
    assert refit.synthesizer_ is not again.synthesizer_
    assert refit.synthesizer_.epochs_run_ == again.epoch_ and refit.synthesizer_.checkpoints_ == []


def test_checkpoint_chooses_which_generator_draws_the_rows():
    df, y = _frame(1500, seed=7)
    cache = GANCache()
    kept = _tiny(sampling_strategy=0.3, epochs=6, eval_every=2, cache=cache)
    X_kept, _ = kept.fit_resample(df, y)
    synth = kept.synthesizer_
    assert synth.checkpoint_epochs_ == [2, 4, 6]
    early = _tiny(sampling_strategy=0.3, epochs=6, eval_every=2, cache=cache, checkpoint=0.3)
    X_early, _ = early.fit_resample(df, y)
    assert early.synthesizer_ is synth and early.epoch_ == 2  # nearest to 0.3 x 6 epochs
    assert early.refit_params() == {"epochs": 2, "eval_every": 0, "checkpoint": None}
    from_epoch_2 = synth.sample(50, label=1, seed=9, epoch=2).drop(columns="__label__")
    pd.testing.assert_frame_equal(early.sample_block(50, 1, 9), from_epoch_2)
    assert len(X_early) == len(X_kept)
    with pytest.raises(DataError, match="no generator of epoch 5"):
        synth.sample(3, label=1, epoch=5)


def test_repeated_folds_train_one_gan_per_fold_and_repeat():
    from pipeline.split import stratified_folds

    X, y = _fraud_data(seed=2)
    plan = stratified_folds(y, n_splits=2, seeds=(0, 1))  # 2 folds x 2 repeats
    cache = GANCache(size=8)
    trained = []
    for fold in plan:
        # two fits of one (fold, repeat), as two strategies or tuning trials make: one GAN
        fits = [
            CGANOverSampler(
                **{**TINY, "sampling_strategy": share}, random_state=fold.seed, cache=cache
            )
            for share in (0.3, 0.5)
        ]
        for sampler in fits:
            sampler.fit_resample(X[fold.train], y[fold.train])
        assert fits[1].synthesizer_ is fits[0].synthesizer_
        trained.append(fits[0].synthesizer_)
    assert len(cache) == len(plan) == 4
    assert len({id(s) for s in trained}) == 4  # no (fold, repeat) reuses another's GAN
