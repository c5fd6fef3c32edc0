"""TabularTransformer: layout, exact round trip of columns and dtypes, and bad input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError
from models.transformer import Span, TabularTransformer


def _table(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3, 1, n), 2),
            "hour": rng.integers(0, 24, n),
            "visits": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.integers(0, 5, n)), dtype="Int64"
            ),
            "score": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "ratio": rng.normal(size=n).astype(np.float32),
            "channel": pd.Series(rng.choice(["atm", "online", "pos"], n), dtype="str"),
            "country": pd.Series(np.where(rng.random(n) < 0.1, None, rng.choice(["FR", "DE"], n))),
            "is_night": rng.random(n) < 0.3,
            "tier": pd.Categorical(rng.choice(["gold", "basic"], n)),
        }
    )


@pytest.mark.parametrize("continuous", ["quantile", "modes"])
def test_round_trip_reproduces_columns_dtypes_and_values(continuous):
    df = _table()
    t = TabularTransformer(continuous=continuous, random_state=0).fit(df, ["channel", "country"])
    encoded = t.transform(df)
    assert encoded.dtype == np.float32 and encoded.shape == (len(df), t.output_dim_)
    back = t.inverse_transform(encoded)
    assert list(back.columns) == list(df.columns)
    pd.testing.assert_series_equal(back.dtypes, df.dtypes)
    for col in ["hour", "visits"]:  # integers exactly, missing entries restored
        pd.testing.assert_series_equal(back[col], df[col])
    for col in ["amount", "score", "ratio"]:
        np.testing.assert_allclose(back[col], df[col], rtol=1e-5, atol=1e-4)
        assert (back[col].isna() == df[col].isna()).all()
    for col in ["channel", "country", "is_night", "tier"]:
        pd.testing.assert_series_equal(back[col], df[col])


def test_layout_spans_and_activations():
    df = _table()
    t = TabularTransformer(continuous="modes", max_modes=4, random_state=0).fit(
        df, ["channel", "country"]
    )
    assert t.columns_ == list(df.columns)
    kinds = {(s.column, s.kind) for s in t.output_info_}
    assert ("amount", "scalar") in kinds and ("amount", "mode") in kinds
    assert ("score", "missing") in kinds and ("amount", "missing") not in kinds
    assert ("country", "category") in kinds and ("country", "missing") in kinds
    assert all(
        s.activation == ("tanh" if s.kind == "scalar" else "softmax") for s in t.output_info_
    )
    assert all(s.dim <= 4 for s in t.output_info_ if s.kind == "mode" and s.column == "score")
    starts = [s.start for s in t.output_info_]
    assert starts == sorted(starts)
    last: Span = t.output_info_[-1]
    assert last.start + last.dim == t.output_dim_
    start, dim, categories = t.categorical_span("channel")
    assert categories == ["atm", "online", "pos"] and dim == 3
    encoded = t.transform(df)
    np.testing.assert_array_equal(encoded[:, start : start + dim].sum(axis=1), 1.0)
    assert t.column_kinds_["is_night"] == "categorical"  # bool columns need no declaration
    with pytest.raises(DataError, match="not categorical"):
        t.categorical_span("amount")


@pytest.mark.parametrize("continuous", ["quantile", "modes"])
def test_inverse_clips_to_the_observed_range_and_rounds_integers(continuous):
    df = pd.DataFrame({"n": np.arange(10, 60, dtype=np.int32), "x": np.linspace(1.0, 2.0, 50)})
    t = TabularTransformer(continuous=continuous, random_state=0).fit(df)
    noisy = t.transform(df)
    scalars = [s.start for s in t.output_info_ if s.kind == "scalar"]
    noisy[:, scalars] = np.random.default_rng(0).uniform(-9, 9, (len(df), len(scalars)))
    out = t.inverse_transform(noisy)
    assert out["n"].dtype == np.int32
    assert out["n"].between(10, 59).all() and out["x"].between(1.0, 2.0).all()


def test_point_masses_get_exact_modes():
    rng = np.random.default_rng(2)
    n = 1000
    rate = np.where(rng.random(n) < 0.7, 0.0, rng.beta(2, 5, n))  # zero-inflated
    weekday = rng.integers(0, 7, n)  # seven values, each a point mass
    df = pd.DataFrame({"rate": rate, "weekday": weekday})
    t = TabularTransformer(continuous="modes", max_modes=3, max_discrete=0, random_state=0).fit(df)
    spans = {s.column: s for s in t.output_info_ if s.kind == "mode"}
    assert spans["weekday"].dim == 7 and spans["rate"].dim <= 3 + 1
    encoded = t.transform(df)
    # Decoding any scalar with a point-mass mode gives that exact value.
    encoded[:, [s.start for s in t.output_info_ if s.kind == "scalar"]] = 0.7
    back = t.inverse_transform(encoded)
    assert (back["rate"][rate == 0.0] == 0.0).all()
    np.testing.assert_array_equal(back["weekday"], weekday)


def test_few_valued_numeric_columns_are_categories_of_their_values():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "weekday": rng.integers(0, 7, 500).astype(np.int8),
            "fee": rng.choice([0.0, 0.5, 2.5], 500),
            "x": rng.normal(size=500),
        }
    )
    t = TabularTransformer(random_state=0).fit(df)
    assert t.categories_ == {"weekday": list(range(7)), "fee": [0.0, 0.5, 2.5]}
    assert t.column_kinds_["x"] == "continuous"
    # any generated one-hot decodes to a value seen in fit, in the column's dtype
    noise = rng.random((200, t.output_dim_)).astype(np.float32)
    back = t.inverse_transform(noise)
    assert back["weekday"].dtype == np.int8 and set(back["weekday"]) <= set(range(7))
    assert set(back["fee"]) <= {0.0, 0.5, 2.5}
    pd.testing.assert_frame_equal(
        t.inverse_transform(t.transform(df))[["weekday", "fee"]], df[["weekday", "fee"]]
    )


def test_point_masses_of_the_rare_stratum_get_exact_modes():
    rng = np.random.default_rng(4)
    n = 20_000
    fraud = np.zeros(n, dtype=int)
    fraud[:200] = 1
    # 100.0 is the amount of 40 % of fraud rows and 0.4 % of all rows
    amount = np.where(
        fraud == 1,
        np.where(rng.random(n) < 0.4, 100.0, rng.lognormal(4, 1, n)),
        rng.lognormal(3, 1, n),
    )
    df = pd.DataFrame({"amount": amount})
    plain = TabularTransformer(continuous="modes", random_state=0).fit(df)
    stratified = TabularTransformer(continuous="modes", random_state=0).fit(df, stratify=fraud)
    assert 100.0 not in plain._columns[0].spikes
    assert 100.0 in stratified._columns[0].spikes
    encoded = stratified.transform(df)
    encoded[:, [s.start for s in stratified.output_info_ if s.kind == "scalar"]] = 0.3
    back = stratified.inverse_transform(encoded)["amount"].to_numpy()
    assert (back[amount == 100.0] == 100.0).all()


def test_subsample_bounds_the_mixture_fit_and_stratify_keeps_rare_rows():
    rng = np.random.default_rng(1)
    n = 5000
    rare = np.zeros(n, dtype=int)
    rare[:25] = 1
    x = np.where(rare == 1, 1000.0 + rng.normal(size=n), rng.normal(size=n))
    df = pd.DataFrame({"x": x})
    t = TabularTransformer(continuous="modes", subsample=200, random_state=0).fit(df, stratify=rare)
    back = t.inverse_transform(t.transform(df))
    # The rare cluster got a mode of its own: its values survive the round trip.
    np.testing.assert_allclose(back["x"].to_numpy()[:25], x[:25], rtol=1e-4)


def test_constant_column_is_passed_through(caplog):
    df = pd.DataFrame({"c": [7] * 20, "x": np.arange(20.0), "s": ["k"] * 20})
    with caplog.at_level(logging.INFO):
        t = TabularTransformer(random_state=0).fit(df, ["s"])
    assert "single value" in caplog.text
    assert t.column_kinds_["c"] == "constant" and t.column_kinds_["s"] == "constant"
    assert all(s.column == "x" for s in t.output_info_)
    back = t.inverse_transform(t.transform(df))
    pd.testing.assert_frame_equal(back, df)


@pytest.mark.parametrize("continuous", ["quantile", "modes"])
def test_same_seed_same_encoding(continuous):
    df = _table(seed=3)
    t = TabularTransformer(continuous=continuous, random_state=5)
    a = t.fit(df, ["channel", "country"]).transform(df)
    b = t.fit(df, ["channel", "country"]).transform(df)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("frame", "categorical", "message"),
    [
        (pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]}), [], "not declared categorical"),
        (pd.DataFrame({"x": [1.0, np.inf, 2.0]}), [], "infinite"),
        (pd.DataFrame({"t": pd.to_datetime(["2026-01-01", "2026-01-02"])}), [], "datetime64"),
        (pd.DataFrame({"x": [1.0, 2.0]}), ["nope"], "not in the data"),
        (pd.DataFrame({"x": []}, dtype=float), [], "no rows"),
    ],
)
def test_bad_input_at_fit(frame, categorical, message):
    with pytest.raises(DataError, match=message):
        TabularTransformer().fit(frame, categorical)


def test_bad_input_at_transform():
    df = pd.DataFrame({"x": np.arange(10.0), "s": list("ab" * 5)})
    t = TabularTransformer(random_state=0).fit(df, ["s"])
    with pytest.raises(DataError, match=r"never seen in fit: \['z'\]"):
        t.transform(df.assign(s=["z"] + list("ab" * 4) + ["a"]))
    with pytest.raises(DataError, match="had none"):
        t.transform(df.assign(x=[np.nan] + list(range(9))))
    with pytest.raises(DataError, match="missing"):
        t.transform(df[["x"]])
    with pytest.raises(DataError, match="width"):
        t.inverse_transform(np.zeros((2, t.output_dim_ + 1)))


# ---- the quantile encoding


def test_quantile_encoding_is_one_normal_score_per_column_and_inverts_exactly():
    rng = np.random.default_rng(6)
    n = 3000
    df = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3, 1.5, n), 2),  # heavy tail, some ties
            "gap": np.where(rng.random(n) < 0.4, 0, rng.integers(1, 10_000, n)),  # zero spike
            "v": rng.standard_t(2, n),
        }
    )
    t = TabularTransformer(continuous="quantile", subsample=1000, random_state=0).fit(df)
    assert [(s.column, s.kind, s.dim, s.activation) for s in t.output_info_] == [
        (c, "scalar", 1, "linear") for c in df.columns
    ]
    encoded = t.transform(df)
    # the scores are standard normal whatever the column's shape, point masses included
    np.testing.assert_allclose(encoded.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(encoded.std(axis=0), 1.0, atol=0.1)
    back = t.inverse_transform(encoded)
    pd.testing.assert_series_equal(back["gap"], df["gap"])  # rows outside the subsample too
    for col in ("amount", "v"):
        np.testing.assert_allclose(back[col], df[col], rtol=1e-5, atol=1e-4)


def test_quantile_decoding_follows_the_fitted_distribution():
    rng = np.random.default_rng(7)
    x = np.where(rng.random(5000) < 0.3, 0.0, rng.lognormal(2, 1, 5000))
    t = TabularTransformer(continuous="quantile", random_state=0).fit(pd.DataFrame({"x": x}))
    scores = rng.standard_normal((20_000, 1)).astype(np.float32)
    back = t.inverse_transform(scores)["x"].to_numpy()
    # normal scores decode to the column's quantiles: its point mass exactly, its tail in range
    assert abs((back == 0.0).mean() - 0.3) < 0.02
    np.testing.assert_allclose(
        np.quantile(back, [0.5, 0.9, 0.99]), np.quantile(x, [0.5, 0.9, 0.99]), rtol=0.08
    )
    extreme = t.inverse_transform(np.array([[-40.0], [40.0]], dtype=np.float32))["x"]
    assert extreme.tolist() == [x.min(), x.max()]


def test_unknown_continuous_encoding_is_refused():
    with pytest.raises(ValueError, match="'modes' or 'quantile'"):
        TabularTransformer(continuous="splines").fit(pd.DataFrame({"x": np.arange(30.0)}))


def _merchants(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """4,000 rows, 2 % fraud; 300 merchants of legitimate rows; half the fraud at `f0`..`f4`,
    each rare overall, the other half at 40 merchants `x0`..`x39` seen in fraud rows only."""
    rng = np.random.default_rng(seed)
    fraud = (rng.random(4_000) < 0.02).astype(int)
    legit = [f"m{i:03d}" for i in range(300)]
    values = np.where(
        fraud == 1,
        np.where(
            rng.random(4_000) < 0.5,
            rng.choice(["f0", "f1", "f2", "f3", "f4"], 4_000),
            rng.choice([f"x{i}" for i in range(40)], 4_000),
        ),
        rng.choice(legit, 4_000),
    )
    values[:3] = ["f0", "f1", "f2"]  # in a legitimate row or two as well
    return pd.DataFrame({"merchant": values, "amount": rng.lognormal(3, 1, 4_000)}), fraud


def test_rare_categories_share_one_slot_and_decode_to_themselves():
    df, fraud = _merchants()
    t = TabularTransformer(max_categories=20, random_state=0).fit(df, ["merchant"], stratify=fraud)
    span = next(s for s in t.output_info_ if s.column == "merchant")
    assert span.dim == 20 and len(t.categories_["merchant"]) == 19
    kept, pooled = set(t.categories_["merchant"]), set(t.pooled_["merchant"])
    assert kept | pooled == set(df["merchant"]) and not kept & pooled
    # a class's own frequent categories keep their slots, however rare overall
    assert {"f0", "f1", "f2", "f3", "f4"} <= kept
    encoded = t.transform(df)
    back = t.inverse_transform(encoded, rng=np.random.default_rng(1))
    in_kept = df["merchant"].isin(kept)
    pd.testing.assert_series_equal(back["merchant"][in_kept], df["merchant"][in_kept])
    assert back["merchant"][~in_kept].isin(pooled).all()
    pd.testing.assert_series_equal(back["amount"], df["amount"], rtol=1e-6)


def test_a_pooled_slot_draws_by_the_frequencies_of_the_stratum_asked_for():
    df, fraud = _merchants()
    t = TabularTransformer(max_categories=20, random_state=0).fit(df, ["merchant"], stratify=fraud)
    span = next(s for s in t.output_info_ if s.column == "merchant")
    rare = np.zeros((5_000, t.output_dim_), dtype=np.float32)
    rare[:, span.start + span.dim - 1] = 1.0  # every row in the pooled slot
    only_fraud = {f"x{i}" for i in range(40)} & set(t.pooled_["merchant"])
    assert only_fraud  # the fraud-only merchants that were pooled
    as_fraud = t.inverse_transform(rare, rng=np.random.default_rng(0), stratum=1)["merchant"]
    as_legit = t.inverse_transform(rare, rng=np.random.default_rng(0), stratum=0)["merchant"]
    assert set(as_fraud) <= only_fraud | {"f0", "f1", "f2", "f3", "f4"}
    assert not set(as_legit) & only_fraud and as_legit.nunique() > 200
    # the same draws again from the same generator; every row's frequencies without a stratum
    again = t.inverse_transform(rare, rng=np.random.default_rng(0), stratum=1)["merchant"]
    pd.testing.assert_series_equal(as_fraud, again)
    assert t.inverse_transform(rare)["merchant"].isin(t.pooled_["merchant"]).all()


def test_a_pooled_column_cannot_be_the_condition_and_max_categories_is_checked():
    df, fraud = _merchants()
    t = TabularTransformer(max_categories=20).fit(df, ["merchant"], stratify=fraud)
    with pytest.raises(
        DataError, match=r"'merchant' has 330 categories, more than max_categories \(20\)"
    ):
        t.categorical_span("merchant")
    assert t.category_codes(df, "merchant").max() == 19  # the pooled slot
    with pytest.raises(ValueError, match="max_categories must be >= 2, got 1"):
        TabularTransformer(max_categories=1).fit(df, ["merchant"])
    unseen = df.head(2).assign(merchant=["nowhere", "f0"])
    with pytest.raises(DataError, match=r"categories never seen in fit: \['nowhere'\]"):
        t.transform(unseen)
