"""Causal window features: hand-computed values, causality, label delay, fill values, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.errors import ConfigError, DataError
from pipeline.data.schema import CREDITCARD_SCHEMA, SIMULATOR_SCHEMA, Schema
from pipeline.data.simulate import simulate
from pipeline.features import (
    INDEPENDENT_FEATURES,
    NO_HISTORY_MEAN,
    NO_HISTORY_RATIO,
    NO_LABEL_RATE,
    NO_PREVIOUS_SECONDS,
    Distinct,
    FeatureRules,
    build_features,
    check_category_sizes,
    feature_columns,
    feature_rules,
    key_counts,
    machine_memory,
)

SCHEMA = Schema(label="y", time="ts", id="id", amount="amt", entity="card", merchant="shop")
DAY = pd.Timedelta(days=1)


def engineered(out: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    return out[[c for c in out.columns if c not in frame.columns]]


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate(3_000, n_days=40, seed=3, fraud_rate=0.03)


@pytest.fixture(scope="module")
def sim_features(sim: pd.DataFrame) -> pd.DataFrame:
    return build_features(sim, SIMULATOR_SCHEMA)


KEYED_SCHEMA = dataclasses.replace(SIMULATOR_SCHEMA, velocity=("device",))


@pytest.fixture(scope="module")
def keyed(sim: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulator's rows with a device shared by about three cards (some unknown), and their
    features under `KEYED_SCHEMA`."""
    device = (sim["customer_id"] // 3).astype("float64")
    frame = sim.assign(device=device.where(np.arange(len(sim)) % 23 != 0))
    return frame, build_features(frame, KEYED_SCHEMA)


# --------------------------------------------------------------------------------------------
# hand-computed values


def six_rows() -> pd.DataFrame:
    """One card at one shop; rows 1 and 2 share a timestamp."""
    return pd.DataFrame(
        {
            "id": range(6),
            "ts": pd.to_datetime(
                [
                    "2026-01-01 00:00",  # Thursday
                    "2026-01-01 12:00",
                    "2026-01-01 12:00",
                    "2026-01-03 03:00",  # Saturday
                    "2026-01-10 00:00",
                    "2026-02-15 23:30",
                ]
            ),
            "card": 1,
            "shop": 7,
            "amt": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "y": [1, 0, 0, 1, 0, 0],
        }
    )


def test_hand_computed_values_one_card() -> None:
    frame = six_rows()
    out = build_features(frame, SCHEMA, label_delay_days=1.0, windows_days=(1, 7, 30))
    expected = pd.DataFrame(
        {
            "hour": [0.0, 12.0, 12.0, 3.0, 0.0, 23.5],
            "day_of_week": [3, 3, 3, 5, 5, 6],
            "is_weekend": [0, 0, 0, 1, 1, 1],
            "is_night": [1, 0, 0, 1, 1, 0],
            # rows 1 and 2 share a time: neither sees the other, both see row 0 only
            "entity_n_1d": [0, 1, 1, 0, 0, 0],
            "entity_mean_amount_1d": [0.0, 10.0, 10.0, 0.0, 0.0, 0.0],
            "entity_n_7d": [0, 1, 1, 3, 1, 0],
            "entity_mean_amount_7d": [0.0, 10.0, 10.0, 20.0, 40.0, 0.0],
            "entity_n_30d": [0, 1, 1, 3, 4, 0],
            "entity_mean_amount_30d": [0.0, 10.0, 10.0, 20.0, 25.0, 0.0],
            "entity_amount_ratio_30d": [1.0, 2.0, 3.0, 2.0, 2.0, 1.0],
            "entity_secs_since_prev": [
                NO_PREVIOUS_SECONDS,
                43_200.0,
                43_200.0,
                39 * 3600.0,
                6 * 86_400 + 21 * 3600.0,
                36 * 86_400 + 23.5 * 3600,
            ],
            "merchant_n_1d": [0, 1, 1, 0, 0, 0],
            "merchant_n_7d": [0, 1, 1, 3, 1, 0],
            "merchant_n_30d": [0, 1, 1, 3, 4, 0],
            # labels known one day later: at Jan 3 03:00 rows 0-2 are known (1 fraud of 3);
            # at Jan 10 00:00 the 7-day delayed window [Jan 2, Jan 9) holds row 3 only (a fraud)
            "merchant_fraud_rate_1d": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "merchant_fraud_rate_7d": [0.0, 0.0, 0.0, 1 / 3, 1.0, 0.0],
            "merchant_fraud_rate_30d": [0.0, 0.0, 0.0, 1 / 3, 0.5, 0.0],
        }
    )
    got = engineered(out, frame)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=1e-9)
    pd.testing.assert_frame_equal(out[frame.columns], frame)


def test_output_keeps_input_index_and_order() -> None:
    frame = six_rows()
    shuffled = frame.iloc[[4, 0, 5, 2, 3, 1]].set_index(pd.Index([9, 9, 3, 1, 2, 0]))
    out = build_features(shuffled, SCHEMA, label_delay_days=1.0)
    assert out.index.equals(shuffled.index)
    assert out["id"].tolist() == [4, 0, 5, 2, 3, 1]
    ref = build_features(frame, SCHEMA, label_delay_days=1.0).set_index("id")
    pd.testing.assert_frame_equal(
        out.set_index("id")[ref.columns], ref.loc[out["id"]], check_names=False
    )


def test_input_frame_is_not_modified() -> None:
    frame = six_rows()
    before = frame.copy()
    build_features(frame, SCHEMA)
    pd.testing.assert_frame_equal(frame, before)


def brute_force(frame: pd.DataFrame, delay: float, windows: tuple[float, ...]) -> pd.DataFrame:
    """The definition, row by row (slow reference)."""
    rows = []
    t = frame["ts"]
    for i in range(len(frame)):
        ti = t.iloc[i]
        row = {}
        card = frame[(frame["card"] == frame["card"].iloc[i]) & (t < ti)]
        shop = frame[(frame["shop"] == frame["shop"].iloc[i]) & (t < ti)]
        for w in windows:
            c = card[card["ts"] >= ti - w * DAY]
            row[f"entity_n_{w:g}d"] = len(c)
            row[f"entity_mean_amount_{w:g}d"] = c["amt"].mean() if len(c) else NO_HISTORY_MEAN
        mean = row[f"entity_mean_amount_{max(windows):g}d"]
        amt = frame["amt"].iloc[i]
        row[f"entity_amount_ratio_{max(windows):g}d"] = amt / mean if mean else NO_HISTORY_RATIO
        row["entity_secs_since_prev"] = (
            (ti - card["ts"].max()).total_seconds() if len(card) else NO_PREVIOUS_SECONDS
        )
        for w in windows:
            row[f"merchant_n_{w:g}d"] = int((shop["ts"] >= ti - w * DAY).sum())
        for w in windows:
            known = shop[(shop["ts"] < ti - delay * DAY) & (shop["ts"] >= ti - (delay + w) * DAY)]
            row[f"merchant_fraud_rate_{w:g}d"] = known["y"].mean() if len(known) else NO_LABEL_RATE
        rows.append(row)
    return pd.DataFrame(rows, index=frame.index)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_row_by_row_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 250
    # coarse times (whole hours) so that ties happen
    hours = rng.integers(0, 24 * 20, n)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "ts": pd.Timestamp("2026-03-01") + pd.to_timedelta(hours, unit="h"),
            "card": rng.integers(0, 12, n),
            "shop": rng.integers(0, 5, n),
            "amt": rng.integers(1, 100, n).astype(float),
            "y": (rng.random(n) < 0.2).astype(np.int8),
        }
    )
    windows = (0.5, 2.0, 7.0)
    out = build_features(frame, SCHEMA, label_delay_days=1.5, windows_days=windows)
    ref = brute_force(frame, 1.5, windows)
    got = out[ref.columns]
    pd.testing.assert_frame_equal(got, ref, check_dtype=False, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------------------------
# causality


def test_rows_after_t_never_change_features_at_or_before_t(sim: pd.DataFrame) -> None:
    schema = SIMULATOR_SCHEMA
    t = sim["timestamp"].quantile(0.6)
    base = build_features(sim, schema)
    later = sim["timestamp"] > t
    assert later.sum() > 100 and (~later).sum() > 100

    rng = np.random.default_rng(0)
    changed = sim.copy()
    changed.loc[later, "amount"] = rng.uniform(1, 5_000, int(later.sum())).round(2)
    changed.loc[later, "is_fraud"] = (1 - changed.loc[later, "is_fraud"]).astype(np.int8)
    changed.loc[later, "customer_id"] = rng.permutation(
        changed.loc[later, "customer_id"].to_numpy()
    )
    # extra rows after t, for customers and merchants that exist before t
    extra = sim[~later].sample(300, random_state=1).copy()
    extra["timestamp"] = t + pd.to_timedelta(rng.uniform(1e-3, 86_400 * 3, len(extra)), unit="s")
    extra["transaction_id"] = np.arange(len(extra)) + 10_000_000
    extra["is_fraud"] = np.int8(1)
    # ...and rows exactly at t are "at or before t" for nobody but themselves: not added
    changed = pd.concat([changed, extra]).sample(frac=1.0, random_state=2)
    after = build_features(changed, schema)

    ids = sim.loc[~later, "transaction_id"]
    cols = engineered(base, sim).columns
    a = base.set_index("transaction_id").loc[ids, cols]
    b = after.set_index("transaction_id").loc[ids, cols]
    pd.testing.assert_frame_equal(a, b)  # exact, not approximately equal
    # the change did reach the later rows
    later_ids = sim.loc[later, "transaction_id"]
    a_later = base.set_index("transaction_id").loc[later_ids, cols].to_numpy(dtype=float)
    b_later = after.set_index("transaction_id").loc[later_ids, cols].to_numpy(dtype=float)
    assert not np.array_equal(a_later, b_later)


def test_label_known_only_after_delay() -> None:
    frame = pd.DataFrame(
        {
            "id": range(5),
            "ts": pd.to_datetime(
                [
                    "2026-01-01 00:00",  # 9 days before the last row: label known
                    "2026-01-05 00:00",  # 5 days before: label not known with delay 7
                    "2026-01-09 23:00",  # 1 hour before
                    "2026-01-03 00:00",  # other merchant
                    "2026-01-10 00:00",  # the row at t
                ]
            ),
            "card": [1, 2, 3, 4, 5],
            "shop": [7, 7, 7, 8, 7],
            "amt": 10.0,
            "y": [0, 0, 0, 0, 0],
        }
    )
    cols = [f"merchant_fraud_rate_{w}d" for w in (1, 7, 30)] + ["merchant_n_7d"]

    def at_t(f: pd.DataFrame) -> pd.Series:
        return build_features(f, SCHEMA, label_delay_days=7.0)[cols].iloc[4]

    base = at_t(frame)
    for recent in (1, 2, 3):
        flipped = frame.copy()
        flipped.loc[recent, "y"] = 1
        pd.testing.assert_series_equal(at_t(flipped), base)
    # the same flip on a row older than the delay does show
    flipped = frame.copy()
    flipped.loc[0, "y"] = 1
    got = at_t(flipped)
    assert got["merchant_fraud_rate_30d"] == 1.0 and base["merchant_fraud_rate_30d"] == 0.0
    assert got["merchant_fraud_rate_1d"] == 0.0  # [t-8d, t-7d) holds no row


def test_label_delay_zero_still_excludes_same_time_and_self() -> None:
    frame = six_rows()
    out = build_features(frame, SCHEMA, label_delay_days=0.0)
    # row 0 is a fraud; rows 1, 2 are later and see it, row 0 does not see itself
    assert out["merchant_fraud_rate_1d"].tolist()[:3] == [0.0, 1.0, 1.0]


def test_unknown_labels_and_missing_label_column() -> None:
    frame = six_rows()
    frame["y"] = frame["y"].astype(float)
    frame.loc[0, "y"] = np.nan  # not yet labelled: neither fraud nor legit
    out = build_features(frame, SCHEMA, label_delay_days=1.0)
    assert out.loc[3, "merchant_fraud_rate_7d"] == 0.0  # rows 1, 2 known legit
    no_label = build_features(frame.drop(columns="y"), SCHEMA, label_delay_days=1.0)
    assert "merchant_n_7d" in no_label and "merchant_fraud_rate_7d" not in no_label


# --------------------------------------------------------------------------------------------
# layouts, fills, dtypes


def test_simulator_frame_has_no_nan_and_expected_columns(
    sim: pd.DataFrame, sim_features: pd.DataFrame
) -> None:
    new = engineered(sim_features, sim)
    assert not new.isna().any().any()
    assert np.isfinite(new.to_numpy(dtype=float)).all()
    expected = {"hour", "day_of_week", "is_weekend", "is_night", "entity_secs_since_prev"}
    expected |= {f"entity_n_{w}d" for w in (1, 7, 30)}
    expected |= {f"entity_mean_amount_{w}d" for w in (1, 7, 30)}
    expected |= {"entity_amount_ratio_30d"}
    expected |= {f"merchant_{k}_{w}d" for k in ("n", "fraud_rate") for w in (1, 7, 30)}
    assert set(new.columns) == expected
    assert (new["merchant_fraud_rate_30d"].between(0, 1)).all()
    assert (new["entity_n_1d"] <= new["entity_n_7d"]).all()
    assert (new["entity_n_7d"] <= new["entity_n_30d"]).all()
    first = ~sim.duplicated("customer_id")
    assert (new.loc[first, "entity_secs_since_prev"] == NO_PREVIOUS_SECONDS).all()
    assert (new.loc[first, "entity_amount_ratio_30d"] == NO_HISTORY_RATIO).all()
    assert sim_features.index.equals(sim.index)


def test_feature_columns_on_simulator(sim_features: pd.DataFrame) -> None:
    numeric, categorical = feature_columns(sim_features, SIMULATOR_SCHEMA)
    assert categorical == list(SIMULATOR_SCHEMA.categorical)
    for role in ("is_fraud", "transaction_id", "timestamp", "customer_id", "merchant_id"):
        assert role not in numeric
    assert "fraud_pattern" not in numeric + categorical
    assert "amount" in numeric and "merchant_fraud_rate_7d" in numeric
    assert not set(numeric) & set(categorical)


def test_feature_columns_rejects_undeclared_text_column() -> None:
    frame = six_rows().assign(note="x")
    with pytest.raises(DataError, match=r"note.*schema.categorical or schema.drop"):
        feature_columns(frame, SCHEMA)
    numeric, categorical = feature_columns(
        frame, Schema(label="y", time="ts", categorical=("note",), drop=("id",))
    )
    assert categorical == ["note"] and numeric == ["card", "shop", "amt"]
    many = pd.DataFrame({"ts": pd.Timestamp("2026-01-01"), "y": 0, "dev": np.arange(300) % 60})
    with pytest.raises(DataError, match=r"'dev' has many distinct values.*schema.velocity"):
        feature_columns(many.astype({"dev": str}), SCHEMA)
    with pytest.raises(DataError, match=r"schema.drop$"):  # a category, or no time to count in
        feature_columns(many.assign(dev=many["dev"] % 3).astype({"dev": str}), SCHEMA)
    with pytest.raises(DataError, match=r"schema.drop$"):
        feature_columns(many.astype({"dev": str}), Schema(label="y"))


def test_date_columns_become_the_days_from_them_to_the_time() -> None:
    frame = six_rows()
    opened = frame["ts"] - pd.to_timedelta([2.5, 0, -1, 400, np.nan, 0.25], unit="D")
    frame["opened"] = opened
    schema = dataclasses.replace(SCHEMA, dates=("opened",))
    out = build_features(frame, schema)
    np.testing.assert_allclose(out["days_since_opened"], [2.5, 0, -1, 400, np.nan, 0.25])
    numeric, _ = feature_columns(out, schema)
    assert "days_since_opened" in numeric and "opened" not in numeric
    # numbers of the time's unit, read as seconds
    seconds = frame.assign(
        ts=(frame["ts"] - frame["ts"].min()).dt.total_seconds(),
        opened=(opened - frame["ts"].min()).dt.total_seconds(),
    )
    by_numbers = build_features(seconds, dataclasses.replace(schema, time_unit="hours"))
    np.testing.assert_allclose(by_numbers["days_since_opened"], out["days_since_opened"])
    with pytest.raises(
        DataError, match=r"date column 'opened' holds \w+ values; expected datetimes"
    ):
        build_features(frame.assign(opened="soon"), schema)
    # a date left undeclared: the error says what it is and where it goes
    text = frame.assign(opened=opened.dt.strftime("%d/%m/%Y"))
    with pytest.raises(DataError, match=r"'opened' holds dates \(e.g. '\d\d/.*schema.dates"):
        feature_columns(text, SCHEMA)
    with pytest.raises(DataError, match=r"schema.drop$"):
        feature_columns(text.assign(opened="31/01 or so, x"), SCHEMA)


def test_numbers_with_a_placeholder_text_get_told_which_texts() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": [0, 1] * 50, "score": rng.normal(size=100).round(3).astype(str)})
    frame.loc[[3, 9], "score"] = "-"
    frame.loc[40, "score"] = "?"
    with pytest.raises(
        DataError, match=r"'score' holds numbers except '-' in 2 rows, '\?' in 1 row: if that"
    ):
        feature_columns(frame, Schema(label="y"))
    # numbers with thousands separators: how to write them plainly
    separated = frame.assign(score=[f"{1000 * v:,.1f}" for v in rng.normal(size=100)])
    with pytest.raises(DataError, match=r"'score' holds numbers written as text; they carry a "):
        feature_columns(separated, Schema(label="y"))
    # text that is mostly text gets no such hint
    frame.loc[:20, "score"] = "high"
    with pytest.raises(DataError) as info:
        feature_columns(frame, Schema(label="y"))
    assert "holds numbers except" not in str(info.value)


def test_categories_too_many_to_one_hot_in_memory_are_refused() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "channel": rng.choice(["web", "pos"], 1000),
            "street": [f"{i} Elm St" for i in rng.permutation(1000)[:999]] + [None],
        }
    )
    # 1,000 rows x (2 + 1,000 values, the missing one included) x 4 bytes: 4.0 MB
    check_category_sizes(frame, ["channel", "street"], where="f.csv", memory=8 * 4_008_000)
    with pytest.raises(DataError) as error:
        check_category_sizes(frame, ["channel", "street"], where="f.csv", memory=8 * 4_007_999)
    text = str(error.value)
    assert text.startswith("f.csv: the categorical columns one-hot encode into 1,002 columns")
    assert "'street' (1,000 distinct values), 'channel' (2 distinct values)" in text
    assert "data.schema.entity or merchant" in text and "data.schema.drop" in text
    assert "classifier.max_categories (e.g. 100" in text
    # capped, 'street' takes 100 columns: 1,000 rows x 102 x 4 bytes
    capped = {"where": "f.csv", "max_categories": 100}
    check_category_sizes(frame, ["channel", "street"], memory=8 * 408_000, **capped)
    with pytest.raises(DataError, match="into 102 columns .* lower classifier.max_categories "):
        check_category_sizes(frame, ["channel", "street"], memory=8 * 407_999, **capped)
    check_category_sizes(frame, [], where="f.csv", memory=1)  # no categorical column
    memory = machine_memory()
    assert memory is None or memory > 2**28


def test_seconds_layout_gives_hour_only() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "Time": np.sort(rng.uniform(0, 2 * 86_400, 50)).round(),
            "V1": rng.normal(size=50),
            "Amount": rng.uniform(1, 100, 50),
            "Class": (rng.random(50) < 0.1).astype(int),
        }
    )
    out = build_features(frame, CREDITCARD_SCHEMA)
    assert list(engineered(out, frame).columns) == ["hour"]
    np.testing.assert_allclose(out["hour"], (frame["Time"] % 86_400) / 3600)
    assert feature_columns(out, CREDITCARD_SCHEMA) == (["V1", "Amount", "hour"], [])


def test_velocity_columns_count_earlier_rows_with_the_same_value() -> None:
    frame = six_rows().assign(dev=["a", "a", "a", "b", "a", None])
    schema = dataclasses.replace(SCHEMA, velocity=("dev",))
    out = build_features(frame, schema, label_delay_days=1.0, windows_days=(1, 7, 30))
    assert out["dev_n_1d"].tolist() == [0, 1, 1, 0, 0, 0]  # the tie does not see itself
    assert out["dev_n_7d"].tolist() == [0, 1, 1, 0, 0, 0]
    assert out["dev_n_30d"].tolist() == [0, 1, 1, 0, 3, 0]  # 'b' is not 'a'; unknown: none
    gaps = [NO_PREVIOUS_SECONDS, 43_200.0, 43_200.0, NO_PREVIOUS_SECONDS, 734_400.0]
    assert out["dev_secs_since_prev"].tolist() == [*gaps, NO_PREVIOUS_SECONDS]
    # labels known a day later: on 01-10 rows 0-2 of 'a' (one fraud) are in the 30-day window only
    assert out["dev_fraud_rate_7d"].tolist() == [0.0] * 6
    np.testing.assert_allclose(out["dev_fraud_rate_30d"], [0, 0, 0, 0, 1 / 3, 0])
    assert "dev_mean_amount_1d" not in out and "dev" in out  # counts only; the column is kept
    same = build_features(frame, SCHEMA, label_delay_days=1.0, windows_days=(1, 7, 30))
    pd.testing.assert_frame_equal(out[same.columns], same)  # the card's features unchanged
    assert "dev" not in feature_columns(out, schema)[0] + feature_columns(out, schema)[1]


def test_a_velocity_column_is_counted_as_the_entity_is_and_rated_as_the_merchant(
    sim: pd.DataFrame,
) -> None:
    card = sim["customer_id"].astype("float64").where(np.arange(len(sim)) % 11 != 0)
    shop = sim["merchant_id"].astype("float64").where(np.arange(len(sim)) % 7 != 0)
    frame = sim.assign(customer_id=card, device=card, merchant_id=shop, terminal=shop)
    schema = dataclasses.replace(KEYED_SCHEMA, velocity=("device", "terminal"))
    out = build_features(frame, schema, windows_days=(0.5, 7), label_delay_days=3)
    for suffix in ("n_0.5d", "n_7d", "secs_since_prev"):
        np.testing.assert_array_equal(out[f"device_{suffix}"], out[f"entity_{suffix}"])
    # a device that is the card served one card (itself) whenever it has earlier rows
    np.testing.assert_array_equal(out["device_entities_7d"], out["entity_n_7d"] > 0)
    assert (out["device_n_7d"] > 0).mean() > 0.5
    for suffix in ("n_0.5d", "n_7d", "fraud_rate_0.5d", "fraud_rate_7d"):
        np.testing.assert_array_equal(out[f"terminal_{suffix}"], out[f"merchant_{suffix}"])
    assert (out["terminal_fraud_rate_7d"] > 0).mean() > 0.05
    seconds = pd.DataFrame({"t": [0.0, 3600.0, 90_000.0], "ip": 7, "y": 0})
    schema = Schema(label="y", time="t", time_unit="seconds", velocity=("ip",))
    built = build_features(seconds, schema, windows_days=(1,))
    assert built["ip_secs_since_prev"].tolist() == [NO_PREVIOUS_SECONDS, 3600.0, 86_400.0]


def test_a_velocity_columns_distinct_entities_count_each_card_once() -> None:
    times = ["01 00:00", "01 12:00", "01 12:00", "01 18:00", "02 06:00", "02 13:00", "09 13:00"]
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime([f"2026-01-{t}" for t in [*times, "09 14:00"]]),
            "card": [1, 2, 2, 1, np.nan, 3, 2, 1],  # rows 1 and 2: one card at one instant
            "dev": ["a"] * 7 + ["b"],
            "y": 0,
        }
    )
    schema = Schema(label="y", time="ts", entity="card", velocity=("dev",))
    out = build_features(frame, schema, windows_days=(1, 7))
    assert out["dev_n_1d"].tolist() == [0, 1, 1, 3, 3, 2, 0, 0]
    # row 3: cards 1 and 2 (the tie once); row 4: card 1 again at 18:00, card 2 at 12:00; row 5:
    # card 1's row 3 is in the day, its row 0 not; the unknown card of row 4 is no card
    assert out["dev_entities_1d"].tolist() == [0, 1, 1, 2, 2, 1, 0, 0]
    assert out["dev_n_7d"].tolist() == [0, 1, 1, 3, 4, 5, 1, 0]
    # row 6: row 5, exactly 7 days earlier, is in the window (card 3); 'b' is another device
    assert out["dev_entities_7d"].tolist() == [0, 1, 1, 2, 2, 2, 1, 0]
    no_card = build_features(frame.drop(columns="card"), schema, windows_days=(1, 7))
    assert not no_card.columns.str.contains("entities").any()
    # the same rows at one merchant: with merchant_entities, the merchant's distinct cards are
    # the device's; without it, no such column
    at_shop = Schema(label="y", time="ts", entity="card", merchant="dev")
    shop = build_features(frame, at_shop, windows_days=(1, 7), merchant_entities=True)
    assert shop["merchant_entities_1d"].tolist() == out["dev_entities_1d"].tolist()
    assert shop["merchant_entities_7d"].tolist() == out["dev_entities_7d"].tolist()
    plain = build_features(frame, at_shop, windows_days=(1, 7))
    assert not plain.columns.str.contains("entities").any()


def test_distinct_entities_rule_bounds_them_by_the_counts() -> None:
    rule = Distinct(("n_1d", "n_7d"), ("d_1d", "d_7d"))
    rows = pd.DataFrame(
        {
            "n_1d": [0, 2, 2, 2, 2, 0, 2],
            "n_7d": [3, 3, 3, 3, 3, 0, 5],
            "d_1d": [0, 1, 0, 3, 2, 0, 1],
            "d_7d": [2, 2, 1, 3, 1, 1, 5],
        }
    )
    # fine, fine, a day's rows with no card, more cards than rows, fewer cards in the week than
    # in the day, a card without rows, more new cards than new rows
    assert rule.violations(rows).tolist() == [False, False, True, True, True, True, True]
    back = rule.decode(rule.encode(rows.iloc[:2]))
    pd.testing.assert_frame_equal(back, rows.iloc[:2])


def test_key_counts_leave_out_missing_values_and_unused_categories() -> None:
    keys = pd.Series(pd.Categorical(["a", "b", "a", None], categories=["a", "b", "never"]))
    assert key_counts(keys).to_dict() == {"a": 2, "b": 1}
    assert key_counts(pd.Series([3.0, np.nan, 3.0])).to_dict() == {3.0: 2}


def test_seconds_layout_with_entity_counts_windows_in_seconds() -> None:
    frame = pd.DataFrame({"t": [0.0, 3600.0, 90_000.0], "card": 1, "amt": 5.0, "y": 0})
    schema = Schema(label="y", time="t", time_unit="seconds", amount="amt", entity="card")
    out = build_features(frame, schema, windows_days=(1,))
    assert out["entity_n_1d"].tolist() == [0, 1, 1]
    assert out["entity_secs_since_prev"].tolist() == [NO_PREVIOUS_SECONDS, 3600.0, 86_400.0]


def test_month_indexes_give_no_hour_and_count_windows_in_time() -> None:
    # loading reads months as seconds (30.436875 days each); the hour of month 1 would be 10:29
    month = 2_629_746.0
    frame = pd.DataFrame({"t": [0.0, month, month, 2 * month], "card": 1, "amt": 5.0, "y": 0})
    schema = Schema(label="y", time="t", time_unit="months", amount="amt", entity="card")
    out = build_features(frame, schema, windows_days=(31,))
    assert "hour" not in out and "day_of_week" not in out
    assert out["entity_n_31d"].tolist() == [0, 1, 1, 2]  # rows at the same time never count
    assert "hour" in build_features(frame, dataclasses.replace(schema, time_unit="days"))


def test_tz_aware_times_and_missing_entity() -> None:
    frame = six_rows()
    frame["ts"] = frame["ts"].dt.tz_localize("Europe/Paris")
    frame["card"] = frame["card"].astype(float)
    frame.loc[[1, 3], "card"] = np.nan  # unknown card: no history, not part of anyone's
    out = build_features(frame, SCHEMA, label_delay_days=1.0)
    assert out["hour"].tolist()[:2] == [0.0, 12.0]  # the local clock
    assert out.loc[[1, 3], "entity_n_30d"].tolist() == [0, 0]
    assert out.loc[4, "entity_n_30d"] == 2  # rows 0 and 2
    assert not engineered(out, frame).isna().any().any()


def test_no_time_column_adds_nothing() -> None:
    frame = six_rows().drop(columns="ts")
    out = build_features(frame, SCHEMA)
    pd.testing.assert_frame_equal(out, frame)
    assert out is not frame


def test_empty_frame() -> None:
    frame = six_rows().iloc[:0]
    out = build_features(frame, SCHEMA)
    assert len(out) == 0 and "entity_n_7d" in out


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"windows_days": (1, 0)}, "windows_days must all be > 0"),
        ({"windows_days": ("a",)}, "windows_days must be a list of numbers"),
        ({"label_delay_days": -1.0}, "label_delay_days must be a number >= 0"),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_features(six_rows(), SCHEMA, **kwargs)


def test_bad_data_raises_data_error() -> None:
    with pytest.raises(DataError, match=r"column\(s\) named as features built .*: 'hour'; rename"):
        build_features(six_rows().assign(hour=1), SCHEMA)
    with pytest.raises(DataError, match="amount column 'amt' must be numeric"):
        build_features(six_rows().assign(amt="10"), SCHEMA)
    with pytest.raises(DataError, match="label column 'y' must be 0/1"):
        build_features(six_rows().assign(y=2), SCHEMA)
    with pytest.raises(DataError, match="set time_unit to the numbers. unit"):
        build_features(six_rows().assign(ts=1.0), SCHEMA)
    with pytest.raises(DataError, match="time_unit='seconds'"):
        build_features(six_rows(), Schema(label="y", time="ts", time_unit="seconds"))
    frame = six_rows()
    frame.loc[2, "ts"] = pd.NaT
    with pytest.raises(DataError, match="1 missing time value"):
        build_features(frame, SCHEMA)


# --------------------------------------------------------------------------------------------
# the rules between engineered columns


def _model_rows(features: pd.DataFrame) -> tuple[pd.DataFrame, FeatureRules]:
    numeric, categorical = feature_columns(features, KEYED_SCHEMA)
    rows = features[categorical + numeric]
    rules = feature_rules(
        rows.columns, amount="amount", windows_days=(1, 7, 30), velocity=KEYED_SCHEMA.velocity
    )
    return rows, rules


def test_every_engineered_column_is_ruled_or_declared_independent(keyed):
    # A new feature must be tied to the others by a rule, or declared independent: a generator
    # of synthetic rows then cannot break a relation nobody wrote down.
    frame, features = keyed
    _, rules = _model_rows(features)
    ruled = {c for r in rules.rules for c in r.reads}
    for column in engineered(features, frame).columns:
        independent = INDEPENDENT_FEATURES.fullmatch(column) is not None
        assert column in ruled or independent, f"{column}: no rule and not declared independent"


def test_real_rows_obey_every_rule_and_round_trip_exactly(keyed):
    rows, rules = _model_rows(keyed[1])
    assert [(type(r).__name__, r.reads[0]) for r in rules.rules] == [
        ("Windows", "entity_n_1d"),
        ("Windows", "merchant_n_1d"),
        ("Recency", "entity_secs_since_prev"),
        ("Flag", "is_weekend"),
        ("Flag", "is_night"),
        ("Ratio", "entity_amount_ratio_30d"),
        ("Windows", "device_n_1d"),
        ("Recency", "device_secs_since_prev"),
        ("Distinct", "device_entities_1d"),
    ]
    assert set(rules.violations(rows).values()) == {0}
    free = rules.encode(rows)
    assert not set(rules.derived) & set(free.columns)  # derived columns are not generated
    assert (free["entity_n_7d"] >= 0).all()  # nested counts as increments
    back = rules.decode(free, rows.columns)
    pd.testing.assert_series_equal(back.dtypes, rows.dtypes)
    for column in rows.columns:
        if pd.api.types.is_numeric_dtype(rows[column].dtype):
            np.testing.assert_allclose(back[column], rows[column], rtol=1e-9, atol=1e-9)
        else:
            assert back[column].equals(rows[column])


def test_decoding_any_generated_values_obeys_every_rule(keyed):
    rows, rules = _model_rows(keyed[1])
    free = rules.encode(rows).reset_index(drop=True)
    rng = np.random.default_rng(0)
    noisy = free.copy()
    for column in free.columns:
        if pd.api.types.is_float_dtype(free[column].dtype):  # scramble, negate, punch holes
            values = rng.permutation(free[column].to_numpy()) * rng.choice([-1, 1, 3], len(free))
            noisy[column] = np.where(rng.random(len(free)) < 0.1, np.nan, values)
        elif pd.api.types.is_integer_dtype(free[column].dtype):
            noisy[column] = rng.permutation(free[column].to_numpy()) - rng.integers(0, 3, len(free))
    decoded = rules.decode(noisy, rows.columns)
    assert set(rules.violations(decoded).values()) == {0}


def test_rules_a_users_data_breaks_are_not_enforced(keyed):
    rows, rules = _model_rows(keyed[1])
    broken = rows.assign(is_night=1 - rows["is_night"])  # a different night in this data
    kept = rules.holding(broken)
    assert "is_night = (hour < 6)" not in {r.name for r in kept.rules}
    assert len(kept.rules) == len(rules.rules) - 1
    # a rule needs all its columns; the seconds layout has none of these features
    assert feature_rules(["hour", "V1"], amount="Amount", windows_days=(1, 7, 30)).rules == ()


def test_a_fraud_reported_late_counts_in_the_fraud_rates_from_its_report_on() -> None:
    """Hand values. Delay 2 days; merchant m's rows on days 0, 1, 2, 3, 10, 15 and 20; frauds on
    day 1 (reported on day 15, 14 days later) and day 2 (reported on day 3). At day 10 the 7-day
    window [1, 8) holds days 1-3, and only day 2's fraud is reported: 1/3 (2/3 assumed). At day
    15 the 30-day window [-17, 13) holds days 0-10: day 1's report comes at 15, not before, 1/5;
    at day 20 it has come: 2/6 in [-12, 18)."""
    days = np.array([0.0, 1, 2, 3, 10, 15, 20])
    delays = np.array([np.nan, 14.0, 1.0, np.nan, np.nan, np.nan, np.nan])
    schema = Schema(label="y", time="t", time_unit="seconds", merchant="m", velocity=("d",))
    frame = pd.DataFrame({"t": days * 86_400, "m": "m", "d": "dev", "y": [0, 1, 1, 0, 0, 0, 0]})
    kwargs = {"label_delay_days": 2.0, "windows_days": (7, 30)}
    late = build_features(frame, schema, label_delays=delays, **kwargs)
    assumed = build_features(frame, schema, **kwargs)
    np.testing.assert_allclose(late["merchant_fraud_rate_7d"], [0, 0, 0, 0, 1 / 3, 0, 0])
    np.testing.assert_allclose(assumed["merchant_fraud_rate_7d"], [0, 0, 0, 0, 2 / 3, 0, 0])
    np.testing.assert_allclose(late["merchant_fraud_rate_30d"], [0, 0, 0, 0, 1 / 4, 1 / 5, 2 / 6])
    np.testing.assert_allclose(
        assumed["merchant_fraud_rate_30d"], [0, 0, 0, 0, 2 / 4, 2 / 5, 2 / 6]
    )
    np.testing.assert_allclose(late["d_fraud_rate_30d"], late["merchant_fraud_rate_30d"])
    # the same on a datetime clock (integer nanoseconds)
    dated = frame.assign(t=pd.Timestamp("2026-01-01") + pd.to_timedelta(days, unit="D"))
    on_dates = build_features(
        dated, dataclasses.replace(schema, time_unit="datetime"), label_delays=delays, **kwargs
    )
    for column in ("merchant_fraud_rate_7d", "merchant_fraud_rate_30d"):
        np.testing.assert_allclose(on_dates[column], late[column])
    # a report within the delay changes nothing
    early = build_features(frame, schema, label_delays=np.where(delays > 2, 1.5, delays), **kwargs)
    pd.testing.assert_frame_equal(early, assumed)


def test_an_entity_of_several_columns_counts_the_history_of_each_combination() -> None:
    """A customer split into a user and the index of their card (`entity: [user, card]`, as in
    IBM-style exports): the pair is the customer again, so the features are the customer's; the
    user alone would mix cards. A missing part leaves the row without history."""
    from pipeline.data.schema import schema_from_mapping
    from pipeline.data.sources import entity_keys, validate_frame

    frame = simulate(2_000, n_days=20, seed=11, fraud_rate=0.05)
    number = frame["customer_id"].to_numpy()
    split = frame.assign(user=number // 3, card=(number % 3).astype(float))  # float: 1.0 is "1"
    split = split.drop(columns="customer_id")
    mapping = {**SIMULATOR_SCHEMA.to_dict(), "entity": ["user", "card"]}
    schema = schema_from_mapping(mapping, "schema")
    assert (schema.entity, schema.entity_columns) == ("user+card", ("user", "card"))
    assert {"user", "card"} <= schema.roles() and schema.history_inputs()[1:3] == ["user", "card"]
    valid = validate_frame(split, schema, "split.csv")
    assert valid["user+card"].nunique() == frame["customer_id"].nunique()
    got = build_features(valid, schema)
    expected = build_features(frame, SIMULATOR_SCHEMA)
    entity = [c for c in expected.columns if c.startswith("entity_")]
    assert len(entity) == 8
    pd.testing.assert_frame_equal(got[entity], expected[entity])
    by_user = build_features(split, dataclasses.replace(SIMULATOR_SCHEMA, entity="user"))
    assert (by_user["entity_n_30d"] > expected["entity_n_30d"]).any()
    # a missing part: that row has no history, and no other row counts it
    holes = split.assign(card=split["card"].where(split.index != 5))
    counts = build_features(validate_frame(holes, schema, "holes.csv"), schema)["entity_n_30d"]
    assert counts[5] == 0
    with pytest.raises(DataError, match=r"has a column 'user\+card', the name of the entity made"):
        validate_frame(split.assign(**{"user+card": 1}), schema, "split.csv")
    with pytest.raises(DataError, match=r"declared column\(s\) missing: 'card'"):
        validate_frame(split.drop(columns="card"), schema, "split.csv")
    with pytest.raises(ConfigError, match="schema key 'entity' names a column twice"):
        schema_from_mapping({**mapping, "entity": ["user", "user"]}, "schema")
    assert Schema.from_dict(schema.to_dict()) == schema
    assert schema_from_mapping({"entity": "user"}, "s", base=schema).entity_columns == ()
    # parts holding the separator never make one key of two pairs; whole numbers match their text
    parts = pd.DataFrame({"a": ["x|y", "x", "7", None], "b": ["z", "y|z", "1", "q"]})
    keys = entity_keys(parts, ["a", "b"])
    assert keys[0] != keys[1] and keys[2] == "7|1" and keys.isna()[3]
    numbers = pd.DataFrame({"a": [7.0, np.nan], "b": [1, 2]})
    assert entity_keys(numbers, ["a", "b"]).tolist()[0] == "7|1"
