"""The strategy registry and the leak-proof model pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from models.classifier import build_pipeline, category_cardinalities, fit_pipeline, sampler_stats
from models.errors import ConfigError
from models.samplers import (
    REGISTRY,
    StrategyContext,
    build_strategy,
    check_neighbors,
    check_ratio,
)
from models.scorer import FraudScorer

OVER = {k for k, spec in REGISTRY.items() if spec.sampler_class}
CTX = StrategyContext(random_state=0, n_positive=40, n_negative=360, categorical_indices=(0,))


def _frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    y[:5] = 1
    X = pd.DataFrame(
        {
            "channel": rng.choice(["online", "atm", "card_present"], n),
            "amount": rng.lognormal(3, 1, n) + 50 * y,
            "count_1d": rng.poisson(2, n).astype(float),
        }
    )
    return X, y


@pytest.mark.parametrize("kind", [k for k in REGISTRY if k != "cgan"])
def test_every_kind_builds_and_fits(kind: str) -> None:
    X, y = _frame()
    strategy = build_strategy(kind, {"sampling_strategy": 0.5} if kind in OVER else {}, CTX)
    pipe = build_pipeline(
        ["amount", "count_1d"],
        ["channel"],
        sampler=strategy.sampler,
        encoding=strategy.encoding,
        xgb_params={"n_estimators": 5, "max_depth": 2, "early_stopping_rounds": 3},
        cardinalities=category_cardinalities(X, ["channel"]),
    )
    fit_pipeline(pipe, X.iloc[:300], y[:300], X.iloc[300:], y[300:])
    p = pipe.predict_proba(X.iloc[300:])[:, 1]
    assert p.shape == (100,) and np.all((p >= 0) & (p <= 1))
    stats = sampler_stats(pipe)
    assert (stats["n_synthetic"] != 0) == (strategy.sampler is not None)
    # every layout's matrix maps back to its input columns: `amount` carries the label
    scorer = FraudScorer.from_pipeline(
        pipe,
        numeric=["amount", "count_1d"],
        categorical=["channel"],
        threshold=0.5,
        dtypes=X.dtypes.to_dict(),
    )
    importance = scorer.importance(X.iloc[300:])
    assert sorted(importance["feature"]) == ["amount", "channel", "count_1d"]
    assert importance["feature"].iloc[0] == "amount"
    assert importance["share"].sum() == pytest.approx(1.0)


def test_class_weight_defaults_to_class_ratio_and_accepts_override() -> None:
    assert build_strategy("class_weight", {}, CTX).classifier_params == {"scale_pos_weight": 9.0}
    s = build_strategy("class_weight", {"scale_pos_weight": 3}, CTX)
    assert s.classifier_params == {"scale_pos_weight": 3.0}


def test_variant_names_use_kind_and_parameters() -> None:
    s = build_strategy("smote_0.5", {"kind": "smote", "sampling_strategy": 0.5}, CTX)
    assert s.kind == "smote" and s.sampler.sampling_strategy == 0.5


def test_samplers_default_to_ten_percent_not_full_balance() -> None:
    ctx = StrategyContext(random_state=0, n_positive=3, n_negative=1000)
    assert build_strategy("smote", {}, ctx).sampler.sampling_strategy == 0.1


def test_smotenc_without_categoricals_is_a_clear_error() -> None:
    ctx = StrategyContext(random_state=0, n_positive=4, n_negative=40)
    with pytest.raises(ConfigError, match="needs categorical columns"):
        build_strategy("smotenc", {}, ctx)


class SpySampler(BaseEstimator):
    """Duplicates every positive row and records what it was given."""

    seen: list[np.ndarray] = []

    def fit_resample(self, X, y):
        SpySampler.seen.append(np.asarray(X).copy())
        pos = np.asarray(y) == 1
        return np.vstack([X, np.asarray(X)[pos]]), np.concatenate([y, np.asarray(y)[pos]])


def test_samplers_see_only_fit_rows_and_never_validation_or_test_rows() -> None:
    X, y = _frame(600, seed=3)
    fit, val, test = np.arange(0, 400), np.arange(400, 500), np.arange(500, 600)
    SpySampler.seen = []
    pipe = build_pipeline(
        ["amount", "count_1d"],
        ["channel"],
        sampler=SpySampler(),
        encoding="onehot",
        xgb_params={"n_estimators": 5, "max_depth": 2, "early_stopping_rounds": 3},
    )
    fit_pipeline(pipe, X.iloc[fit], y[fit], X.iloc[val], y[val])
    pipe.predict_proba(X.iloc[test])
    pipe.predict_proba(X.iloc[val])
    # The sampler ran exactly once, on exactly the fit rows (as preprocessed).
    assert len(SpySampler.seen) == 1
    expected = pipe.named_steps["preprocess"].transform(X.iloc[fit])
    np.testing.assert_allclose(SpySampler.seen[0], expected)
    # The synthetic rows went to the classifier only: its eval set is the untouched validation rows.
    clf = pipe.named_steps["classifier"]
    assert clf.n_features_in_ == expected.shape[1]
    assert sampler_stats(pipe)["n_synthetic"] == y[fit].sum()
    assert len(clf.evals_result()["validation_0"]["aucpr"]) >= 1


def test_encoders_are_fitted_on_fit_rows_only() -> None:
    X, y = _frame(300)
    X_fit, X_test = X.iloc[:200].copy(), X.iloc[200:].copy()
    X_fit["channel"] = "online"
    X_test.loc[X_test.index[:5], "channel"] = "never_seen"
    pipe = build_pipeline(
        ["amount", "count_1d"],
        ["channel"],
        sampler=None,
        encoding="onehot",
        xgb_params={"n_estimators": 3},
    )
    fit_pipeline(pipe, X_fit, y[:200], X.iloc[200:250], y[200:250])
    enc = pipe.named_steps["preprocess"].named_transformers_["categorical"]
    assert [list(c) for c in enc.categories_] == [["online"]]
    assert pipe.predict_proba(X_test).shape == (100, 2)


def _long_tailed(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A merchant category code (numbers, some missing) and a device model (text, many missing),
    each with hundreds of values of a long tail, and an amount."""
    rng = np.random.default_rng(seed)
    mcc = (5000 + rng.zipf(1.5, n) % 900).astype(float)
    mcc[rng.random(n) < 0.05] = np.nan
    device = np.array([f"model-{k}" for k in rng.zipf(1.3, n) % 2000], dtype=object)
    device[rng.random(n) < 0.3] = None
    y = (rng.random(n) < 0.05).astype(int)
    return pd.DataFrame({"mcc": mcc, "device": device, "amount": rng.normal(size=n) + y}), y


@pytest.mark.parametrize("kind", ["none", "smotenc"])
def test_capped_categories_share_one_column_and_score_as_scikit_learn(kind: str) -> None:
    """`max_categories`: 9 own columns and a shared one per column, in the one-hot and the
    SMOTE-NC codes alike; the compiled scorer, its per-row path and its side-file rules give
    scikit-learn's matrix, a value of the shared column is no unseen category."""
    X, y = _long_tailed()
    categorical, cap = ["mcc", "device"], 10
    cardinalities = category_cardinalities(X, categorical, cap)
    assert cardinalities == [cap, cap]
    assert category_cardinalities(X.iloc[:3], categorical, cap) == [
        X["mcc"].iloc[:3].nunique(),
        X["device"].iloc[:3].nunique(),
    ]
    context = StrategyContext(
        random_state=0,
        n_positive=int(y.sum()),
        n_negative=int((y == 0).sum()),
        categorical_indices=(0, 1),
    )
    strategy = build_strategy(kind, {}, context)
    pipe = build_pipeline(
        ["amount"],
        categorical,
        sampler=strategy.sampler,
        encoding=strategy.encoding,
        xgb_params={"n_estimators": 10, "max_depth": 3},
        cardinalities=cardinalities,
        max_categories=cap,
    )
    pipe.fit(X, y)
    scorer = FraudScorer.from_pipeline(
        pipe,
        numeric=["amount"],
        categorical=categorical,
        threshold=0.5,
        dtypes=X.dtypes.to_dict(),
        check_frame=X,
    )
    assert scorer.layout is not None  # compiled, and equal to scikit-learn on the training rows
    assert scorer.n_features == 2 * cap + 1
    names = scorer.layout.feature_names()
    assert names[cap - 1] == "mcc=<other>" and names[2 * cap - 1] == "device=<other>"
    for block in scorer.layout.categorical:
        assert block.pooled and block.pooled_index == cap - 1 and block.width == cap
        assert len(block.known) == X[block.column].nunique()
    # rare, missing and never-seen values (a code and a device of no training row)
    rows = X.iloc[:400].copy()
    rare = [scorer.layout.categorical[k].pooled[-1] for k in range(2)]
    rows.iloc[:5, :2] = rare
    rows.iloc[5:10, :2] = np.nan
    rows.iloc[10:15, :2] = [1234.0, "model-never"]
    fast = scorer.matrix(rows)
    slow = scorer._sklearn_matrix(scorer.validate(rows)).astype(np.float32)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(scorer.matrix(rows.iloc[:20]), slow[:20])  # value by value
    assert fast[:5, [cap - 1, 2 * cap - 1]].tolist() == [[1.0, 1.0]] * 5
    assert fast[10:15, : 2 * cap].sum() == 0
    # the side file's rules rebuild the one-hot blocks
    rebuilt = np.zeros((len(rows), 2 * cap), dtype=np.float32)
    for entry in scorer.layout.describe()[: 2 * cap]:
        values = rows[entry["column"]]
        if "values" in entry:
            hit = values.isin(entry["values"]) | (values.isna() & ("missing" in entry["rule"]))
        elif "value" in entry:
            hit = values.isna() if entry["value"] is None else values == entry["value"]
        else:
            continue
        rebuilt[:, entry["index"]] = hit.to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(rebuilt, fast[:, : 2 * cap])
    unseen = scorer.unseen_categories(rows)
    assert unseen["mcc"][1:] == (5, [1234.0]) and unseen["device"][1:] == (5, ["model-never"])


def test_ratio_below_the_data_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"fewer minority rows.*from 0.1111 to 1"):
        build_strategy("smote", {"sampling_strategy": 0.05}, CTX)
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\]"):
        build_strategy("ros", {"sampling_strategy": 2.0}, CTX)


class WeightingSpy(BaseEstimator):
    """Duplicates every positive row at weight 0.25 on the input columns, as a GAN would."""

    seen: list[pd.DataFrame] = []

    def fit_resample(self, X, y):
        WeightingSpy.seen.append(X.copy())
        pos = np.asarray(y) == 1
        self.sample_weight_ = np.r_[np.ones(len(y)), np.full(int(pos.sum()), 0.25)]
        return pd.concat([X, X[pos]], ignore_index=True), np.concatenate([y, np.asarray(y)[pos]])


def test_generative_samplers_come_first_and_their_weights_reach_the_classifier() -> None:
    from xgboost import XGBClassifier

    X, y = _frame(600, seed=4)
    fit, val = np.arange(0, 400), np.arange(400, 500)
    WeightingSpy.seen = []
    params = {"n_estimators": 5, "max_depth": 2, "random_state": 0}
    pipe = build_pipeline(
        ["amount", "count_1d"],
        ["channel"],
        sampler=WeightingSpy(),
        encoding="onehot",
        xgb_params=params,
        sampler_first=True,
    )
    assert [name for name, _ in pipe.steps] == ["sampler", "preprocess", "classifier"]
    fit_pipeline(pipe, X.iloc[fit], y[fit], X.iloc[val], y[val])
    # the sampler saw the columns as they are (text categories, raw amounts): the fit rows only
    (seen,) = WeightingSpy.seen
    pd.testing.assert_frame_equal(seen, X.iloc[fit])
    # XGBoost trained on the real and synthetic rows with the sampler's weights, and the
    # validation rows went through the preprocessing only
    X_aug, y_aug = WeightingSpy().fit_resample(X.iloc[fit], y[fit])
    pre = pipe.named_steps["preprocess"]
    by_hand = XGBClassifier(eval_metric="aucpr", **params).fit(
        pre.transform(X_aug),
        y_aug,
        sample_weight=np.r_[np.ones(len(fit)), np.full(len(y_aug) - len(fit), 0.25)],
    )
    np.testing.assert_allclose(
        pipe.predict_proba(X.iloc[val]), by_hand.predict_proba(pre.transform(X.iloc[val]))
    )
    unweighted = XGBClassifier(eval_metric="aucpr", **params).fit(pre.transform(X_aug), y_aug)
    assert not np.allclose(
        pipe.predict_proba(X.iloc[val]), unweighted.predict_proba(pre.transform(X.iloc[val]))
    )


def test_the_smote_family_needs_more_minority_rows_than_neighbours() -> None:
    """Each kind's neighbour count, its class's default when unset, against the fewest
    minority rows it fits on; at the limit the sampler fits (imblearn agrees with the check)."""
    X, y = _frame()
    keep = np.r_[np.flatnonzero(y == 1)[:8], np.flatnonzero(y == 0)[:292]]
    X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    n = int(y.sum())

    def fit(kind: str, option: str, k: int) -> None:
        strategy = build_strategy(kind, {"sampling_strategy": 0.5, option: k}, CTX)
        pipe = build_pipeline(
            ["amount", "count_1d"],
            ["channel"],
            sampler=strategy.sampler,
            encoding=strategy.encoding,
            xgb_params={"n_estimators": 5, "max_depth": 2},
            cardinalities=category_cardinalities(X, ["channel"]),
        )
        fit_pipeline(pipe, X, y)

    for kind, option in [
        ("smote", "k_neighbors"),
        ("borderline", "k_neighbors"),
        ("smotenc", "k_neighbors"),
        ("smote_tomek", "k_neighbors"),
        ("adasyn", "n_neighbors"),
    ]:
        check_neighbors(kind, {option: n - 1}, n, "the fold")
        fit(kind, option, n - 1)
        with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
            fit(kind, option, n)
        with pytest.raises(
            ConfigError,
            match=rf"strategy '{kind}': {option} {n} needs more than {n} fraud rows in every part "
            rf"it fits on, and the fold has {n}: set strategies\.{kind}\.{option} to at most "
            rf"{n - 1}, or remove the strategy",
        ):
            check_neighbors(kind, {option: n}, n, "the fold")
    with pytest.raises(ConfigError, match=r"k_neighbors 5 needs more than 5 fraud rows"):
        check_neighbors("smote_0.5", {"kind": "smote"}, 5, "window 2")  # SMOTE's default
    with pytest.raises(
        ConfigError, match=r"set tuning\.sampler_space\.smote\.k_neighbors to at most 7"
    ):
        check_neighbors(
            "smote", {"k_neighbors": 9}, 8, "w", "tuning.sampler_space.smote.k_neighbors"
        )
    with pytest.raises(ConfigError, match=r"has 1: give it more fraud rows"):
        check_neighbors("adasyn", {}, 1, "window 2")
    for kind in ("ros", "none", "cgan"):
        check_neighbors(kind, {}, 1, "window 2")


def test_an_over_sampler_needs_a_minority_and_a_ratio_above_the_data_s() -> None:
    check_ratio("smote", 0.2, 10, 100)  # 0.1 now: 0.2 adds rows
    check_ratio("smote", 0.1, 10, 100)  # the ratio the data has: no row to add, no error
    with pytest.raises(
        ConfigError,
        match=r"sampling_strategy 0.05 asks for fewer minority rows "
        r"than there are already in fold 3 \(minority/majority 0.1000\); set a "
        r"value from 0.1000 to 1",
    ):
        check_ratio("smote", 0.05, 10, 100, part="fold 3")
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\]"):
        check_ratio("smote", 1.5, 10, 100)
    # positives as many as negatives: refused whatever the ratio, a chosen one (None) included
    for ratio in (1.0, None, "auto"):
        with pytest.raises(
            ConfigError,
            match=r"as many positive \(1\) rows as negative ones or "
            r"more in the training fold \(60 and 60\): no minority",
        ):
            check_ratio("cgan", ratio, 60, 60)
    check_ratio("cgan", None, 59, 60)
