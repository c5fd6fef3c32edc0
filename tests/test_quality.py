"""The synthetic-data quality report against hand-made cases with known answers."""

from __future__ import annotations

import base64
import math
import re

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError
from models.two_sample import FrameEncoding, c2st_auc
from pipeline.quality import (
    METRIC_DESCRIPTIONS,
    correlation_difference,
    count_exact_copies,
    dcr_share_threshold,
    distance_to_closest_record,
    ks_statistic,
    quality_report,
    total_variation_distance,
)
from pipeline.quality.measures import encoded_copies

CATEGORICAL = ("channel", "category")


def fraud_like(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Fraud-like rows: a log-normal amount, a correlated count, an hour, two categoricals."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "amount": np.round(np.exp(3.0 + shift + 0.8 * z), 2),
            "n_tx_24h": rng.poisson(np.exp(1.0 + 0.5 * z)).astype("int64"),
            "hour": rng.uniform(0, 24, size=n) + shift * 4,
            "risk": 0.6 * z + 0.8 * rng.normal(size=n),
            "channel": rng.choice(["online", "card_present", "atm"], size=n, p=[0.6, 0.3, 0.1]),
            "category": rng.choice(["grocery", "travel", "electronics", "fuel"], size=n),
        }
    )


def legit_like(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "amount": np.round(np.exp(2.0 + 0.8 * z), 2),
            "n_tx_24h": rng.poisson(np.exp(0.3 + 0.3 * z)).astype("int64"),
            "hour": rng.uniform(6, 22, size=n),
            "risk": -0.5 + rng.normal(size=n),
            "channel": rng.choice(["online", "card_present", "atm"], size=n, p=[0.2, 0.7, 0.1]),
            "category": rng.choice(["grocery", "travel", "electronics", "fuel"], size=n),
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return fraud_like(300, seed=1)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return fraud_like(150, seed=2)


# ---- fidelity ----------------------------------------------------------------------------------


def test_identical_data_has_zero_fidelity_gaps(real):
    rep = quality_report(real, real.copy(), categorical=CATEGORICAL)
    assert set(rep.per_column["column"]) == set(real.columns)
    assert (rep.per_column["statistic"] == 0.0).all()
    assert rep.metrics["quality_ks_mean"] == 0.0
    assert rep.metrics["quality_tvd_mean"] == 0.0
    assert rep.metrics["quality_corr_diff"] == pytest.approx(0.0, abs=1e-12)
    assert dict(zip(rep.per_column["column"], rep.per_column["kind"], strict=True)) == {
        "amount": "continuous",
        "n_tx_24h": "continuous",
        "hour": "continuous",
        "risk": "continuous",
        "channel": "categorical",
        "category": "categorical",
    }


def test_tvd_hand_computed():
    real = pd.Series(["a", "a", "b", "c"])
    synthetic = pd.Series(["a", "b", "b", "d"])
    # p = a .5, b .25, c .25; q = a .25, b .5, d .25 -> |diff| .25 each over a, b, c, d -> 0.5
    assert total_variation_distance(real, synthetic) == pytest.approx(0.5)
    assert total_variation_distance(real, real) == 0.0
    assert total_variation_distance(pd.Series(["x"]), pd.Series(["y"])) == pytest.approx(1.0)


def test_tvd_counts_missing_as_a_category():
    real = pd.Series(["a", None, "a", None])
    synthetic = pd.Series(["a", "a", "a", "a"])
    assert total_variation_distance(real, synthetic) == pytest.approx(0.5)


def test_ks_hand_computed_and_missing_values():
    assert ks_statistic(pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 2.0, 3.0])) == 0.0
    assert ks_statistic(pd.Series([0.0, 1.0]), pd.Series([5.0, 6.0])) == pytest.approx(1.0)
    # [1, 2] vs [2, 3]: largest CDF gap 0.5 (at 1)
    assert ks_statistic(pd.Series([1.0, 2.0, np.nan]), pd.Series([2.0, 3.0])) == pytest.approx(0.5)
    assert ks_statistic(pd.Series([np.nan]), pd.Series([1.0])) == 1.0


def test_correlation_difference_is_nan_safe_for_constant_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    real = pd.DataFrame({"x": x, "y": x + 0.1 * rng.normal(size=200), "c": 1.0})
    synthetic = real.assign(y=rng.normal(size=200))
    diff = correlation_difference(real, synthetic, ["x", "y", "c"])
    assert math.isfinite(diff)
    # only the (x, y) pair changes: from ~0.995 to ~0; pairs with the constant column count as 0
    assert diff == pytest.approx(0.995 / 3, abs=0.05)
    assert correlation_difference(real, real, ["x", "y", "c"]) == 0.0
    assert math.isnan(correlation_difference(real, synthetic, ["x"]))


def test_c2st_same_distribution_is_near_half():
    auc = c2st_auc(fraud_like(300, seed=10), fraud_like(300, seed=11), categorical=CATEGORICAL)
    assert auc < 0.62


def test_c2st_different_distribution_is_near_one():
    auc = c2st_auc(
        fraud_like(300, seed=10), fraud_like(300, seed=11, shift=2.0), categorical=CATEGORICAL
    )
    assert auc > 0.9


# ---- privacy -----------------------------------------------------------------------------------


def test_copied_rows_are_counted_and_flagged(real, holdout):
    copied = real.sample(200, random_state=0).reset_index(drop=True)
    rep = quality_report(real, copied, categorical=CATEGORICAL, holdout=holdout)
    assert rep.metrics["quality_exact_copies"] == 200.0
    assert rep.metrics["quality_exact_copy_share"] == 1.0
    assert rep.metrics["quality_dcr_synthetic_median"] == 0.0
    assert rep.metrics["quality_dcr_share_below_holdout_p05"] == 1.0
    assert rep.memorization_flag
    assert rep.metrics["quality_memorization_flag"] == 1.0
    assert len(rep.memorization_reasons) == 2


def test_near_copies_are_flagged_by_distance(real, holdout):
    rng = np.random.default_rng(3)
    jittered = real.assign(
        amount=real["amount"] + rng.normal(0, 0.01, len(real)),
        hour=real["hour"] + rng.normal(0, 0.001, len(real)),
    )
    rep = quality_report(real, jittered, categorical=CATEGORICAL, holdout=holdout)
    assert rep.metrics["quality_exact_copies"] == 0.0
    assert rep.metrics["quality_dcr_median_ratio"] < 0.2
    assert rep.memorization_flag
    assert "closer" in rep.memorization_reasons[0]


def test_independent_draw_is_not_flagged(real, holdout):
    rep = quality_report(real, fraud_like(300, seed=7), categorical=CATEGORICAL, holdout=holdout)
    assert rep.metrics["quality_exact_copies"] == 0.0
    assert not rep.memorization_flag
    assert rep.metrics["quality_memorization_flag"] == 0.0
    assert rep.metrics["quality_dcr_share_below_holdout_p05"] < 0.10
    assert 0.7 < rep.metrics["quality_dcr_median_ratio"] < 1.4


def test_without_holdout_the_training_rows_are_their_own_reference(real, holdout):
    copied = quality_report(real, real.iloc[:50], categorical=CATEGORICAL)
    assert copied.metrics["quality_holdout_leave_one_out"] == 1.0
    assert copied.metrics["quality_n_holdout"] == len(real)
    assert copied.metrics["quality_holdout_exact_copy_share"] == 0.0  # no training row repeats
    assert len(copied.memorization_reasons) == 2  # copies, and too close
    assert "leave one out" in copied.memorization_reasons[0]
    drawn = quality_report(real, fraud_like(300, seed=7), categorical=CATEGORICAL)
    assert not drawn.memorization_flag
    assert drawn.metrics["quality_dcr_share_below_holdout_p05"] < 0.10
    # leave one out, the training rows sit as far from the others as unseen rows do
    given = quality_report(real, fraud_like(300, seed=7), categorical=CATEGORICAL, holdout=holdout)
    assert given.metrics["quality_holdout_leave_one_out"] == 0.0
    ratio = (
        drawn.metrics["quality_dcr_holdout_median"] / given.metrics["quality_dcr_holdout_median"]
    )
    assert 0.85 < ratio < 1.15
    rng = np.random.default_rng(3)
    jittered = real.assign(amount=real["amount"] + rng.normal(0, 0.01, len(real)))
    near = quality_report(real, jittered, categorical=CATEGORICAL)
    assert near.metrics["quality_exact_copies"] == 0.0 and near.memorization_flag
    assert "closer" in near.memorization_reasons[0]


def test_leave_one_out_distances_and_copies_skip_the_row_itself():
    ref = pd.DataFrame({"x": [0.0, 0.0, 3.0, 4.0], "c": ["a", "a", "a", "b"]})
    dist = distance_to_closest_record(ref, categorical=["c"])
    std = ref["x"].std(ddof=0)  # each row to its closest other: the duplicates at 0, rows 2 and
    apart = math.hypot(1.0 / std, math.sqrt(2.0))  # 3 to each other (3 / std to rows 0-1 is more)
    expected = [0.0, 0.0, apart, apart]
    assert dist == pytest.approx(expected)
    enc = FrameEncoding.fit(ref, [ref], ["x"], ["c"])
    assert encoded_copies(enc, ref) == 2  # the two rows that repeat each other
    with pytest.raises(DataError, match="reference"):
        distance_to_closest_record(ref.iloc[:1], categorical=["c"])


def test_exact_copies_round_continuous_values():
    ref = pd.DataFrame({"x": [1.0, 2.0, np.nan], "c": ["a", "b", "a"]})
    query = pd.DataFrame(
        {"x": [1.0 + 1e-9, 2.0, np.nan, 2.0, 1.001], "c": ["a", "a", "a", "b", "a"]}
    )
    # matches: row 0 (rounding), row 2 (missing equals missing), row 3; not row 1 nor row 4
    assert count_exact_copies(ref, query, categorical=["c"]) == 3


def test_dcr_uses_standardised_continuous_and_one_hot():
    ref = pd.DataFrame({"x": [0.0, 2.0], "c": ["a", "b"]})  # mean 1, std 1
    query = pd.DataFrame({"x": [0.0, 0.0], "c": ["a", "b"]})
    dist = distance_to_closest_record(ref, query, categorical=["c"])
    assert dist[0] == pytest.approx(0.0)
    # row 1: to ref row 0 -> category differs (sqrt 2); to ref row 1 -> 2 std apart + sqrt 2
    assert dist[1] == pytest.approx(math.sqrt(2.0))


def test_dcr_share_threshold():
    assert dcr_share_threshold(10_000, 10_000) == pytest.approx(0.10)
    assert dcr_share_threshold(30, 1000) > 0.15


# ---- utility and the report --------------------------------------------------------------------


def test_utility_tstr_against_trtr(real):
    train_legit = legit_like(1500, seed=20)
    test = pd.concat([fraud_like(60, seed=21), legit_like(600, seed=22)], ignore_index=True)
    y = np.r_[np.ones(60), np.zeros(600)].astype(int)
    good = quality_report(
        real,
        fraud_like(300, seed=23),
        categorical=CATEGORICAL,
        train_legit=train_legit,
        test=test,
        test_label=y,
    )
    m = good.metrics
    assert m["quality_utility_trtr_auprc"] > 0.5  # prevalence 0.09
    assert m["quality_utility_ratio"] > 0.85
    assert m["quality_utility_prevalence"] == pytest.approx(60 / 660)
    # synthetic "fraud" that looks like legit rows carries no signal
    useless = quality_report(
        real,
        legit_like(300, seed=24),
        categorical=CATEGORICAL,
        train_legit=train_legit,
        test=test.assign(label=y),
        test_label="label",
    )
    assert useless.metrics["quality_utility_ratio"] < 0.3


def test_report_writes_html_and_pngs(real, holdout, tmp_path):
    rep = quality_report(real, fraud_like(300, seed=5), categorical=CATEGORICAL, holdout=holdout)
    path = rep.to_html(tmp_path / "sub" / "quality.html")
    text = path.read_text(encoding="utf-8")
    assert "<img" in text
    assert text.count("data:image/png;base64,") == 3
    assert "quality_c2st_auc" in text
    pngs = rep.save_pngs(tmp_path / "png")
    assert [p.name for p in pngs] == [
        "quality_distributions.png",
        "quality_projection.png",
        "quality_dcr.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # the page embeds the very PNGs written (drawn once for both)
    assert all(base64.b64encode(p.read_bytes()).decode("ascii") in text for p in pngs)


def test_metric_keys_are_mlflow_safe_and_documented(real, holdout):
    rep = quality_report(real, fraud_like(300, seed=5), categorical=CATEGORICAL, holdout=holdout)
    for key, value in rep.metrics.items():
        assert re.fullmatch(r"quality_[a-z0-9_]+", key)
        assert key in METRIC_DESCRIPTIONS
        assert isinstance(value, float)
    assert rep.metrics["quality_c2st_auc"] < 0.65


def test_a_missing_share_the_generator_gets_wrong_is_shown(real, tmp_path):
    """KS compares the values present: a synthetic column never missing where the real one is
    missing in 80 % of rows has a KS of 0, and its missing shares say what differs."""
    holey = real.copy()
    holey.loc[holey.index[: int(0.8 * len(holey))], "risk"] = np.nan
    filled = holey.copy()
    filled.loc[filled["risk"].isna(), "risk"] = (
        holey["risk"]
        .dropna()
        .sample(int(holey["risk"].isna().sum()), replace=True, random_state=0)
        .to_numpy()
    )
    rep = quality_report(holey, filled, categorical=CATEGORICAL)
    risk = rep.per_column.set_index("column").loc["risk"]
    assert (risk["missing_real"], risk["missing_synthetic"]) == (pytest.approx(0.8, abs=0.01), 0.0)
    assert rep.metrics["quality_missing_diff_max"] == pytest.approx(0.8, abs=0.01)
    same = quality_report(holey, holey.copy(), categorical=CATEGORICAL)
    assert same.metrics["quality_missing_diff_max"] == 0.0
    text = rep.to_html(tmp_path / "q.html").read_text(encoding="utf-8")
    assert "<th>missing (real)</th>" in text and "<td>80.0%</td>" in text


def test_many_columns_missing_values_and_continuous_only(tmp_path):
    rng = np.random.default_rng(0)
    real = pd.DataFrame(rng.normal(size=(60, 30)), columns=[f"v{i}" for i in range(30)])
    real.loc[::7, "v3"] = np.nan
    synthetic = pd.DataFrame(rng.normal(size=(40, 30)), columns=real.columns)
    rep = quality_report(real, synthetic)
    assert math.isnan(rep.metrics["quality_tvd_mean"])
    assert len(rep.per_column) == 30
    text = rep.to_html(tmp_path / "q.html").read_text(encoding="utf-8")
    assert "<img" in text
    assert all(f"<td>v{i}</td>" in text for i in range(30))  # the table lists every column


def test_label_column_shared_with_real_is_left_out_of_utility(real):
    fraud, legit = real.assign(label=1), legit_like(800, seed=30).assign(label=0)
    test = pd.concat([fraud_like(40, seed=31), legit_like(400, seed=32)], ignore_index=True)
    test["label"] = np.r_[np.ones(40), np.zeros(400)].astype(int)
    rep = quality_report(
        fraud,
        legit_like(300, seed=33).assign(label=1),
        categorical=CATEGORICAL,
        train_legit=legit,
        test=test,
        test_label="label",
    )
    # with the label as a feature, both would score a perfect 1.0
    assert rep.metrics["quality_utility_tstr_auprc"] < 0.5


# ---- bad input ---------------------------------------------------------------------------------


def test_column_mismatch_names_the_columns(real):
    synthetic = real.drop(columns=["hour"]).assign(extra=1.0)
    with pytest.raises(DataError, match=r"missing from synthetic: \['hour'\].*only in synthetic: "):
        quality_report(real, synthetic, categorical=CATEGORICAL)


def test_empty_and_too_few_rows(real):
    with pytest.raises(DataError, match="synthetic has no rows"):
        quality_report(real, real.iloc[:0], categorical=CATEGORICAL)
    with pytest.raises(DataError, match="at least 5 rows"):
        quality_report(real, real.iloc[:3], categorical=CATEGORICAL)


def test_bad_columns_and_values(real):
    with pytest.raises(DataError, match="'channel'.*not numeric"):
        quality_report(real, real, categorical=["category"])
    with pytest.raises(DataError, match=r"categorical columns not in real: \['nope'\]"):
        quality_report(real, real, categorical=["channel", "category", "nope"])
    bad = real.assign(amount=real["amount"].where(real.index != 3, np.inf))
    with pytest.raises(DataError, match="'amount' holds 1 infinite"):
        quality_report(real, bad, categorical=CATEGORICAL)


def test_utility_inputs_must_come_together(real):
    with pytest.raises(DataError, match=r"missing \['test', 'test_label'\]"):
        quality_report(real, real, categorical=CATEGORICAL, train_legit=real)
    test = real.assign(label=1)
    with pytest.raises(DataError, match="both classes"):
        quality_report(
            real, real, categorical=CATEGORICAL, train_legit=real, test=test, test_label="label"
        )
    with pytest.raises(DataError, match=r"holdout lacks columns of the real rows: \['hour'\]"):
        quality_report(real, real, categorical=CATEGORICAL, holdout=real.drop(columns="hour"))
