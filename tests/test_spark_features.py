"""History features built with Spark equal the local engine's (build_features on the whole input)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark not installed (pip install 'fraudgan[spark]')")
if shutil.which("java") is None:
    pytest.skip(
        "no `java` on the PATH: Spark needs a Java 17+ runtime "
        "(e.g. apt-get install openjdk-17-jre-headless)",
        allow_module_level=True,
    )

from pyspark.sql import functions as F

from models.errors import DataError
from pipeline.data.schema import SECONDS_PER_UNIT, SIMULATOR_SCHEMA, Schema
from pipeline.data.simulate import simulate
from pipeline.data.sources import id_keys
from pipeline.features import NO_LABEL_RATE, build_features
from pipeline.score import HistoryFeatures
from pipeline.spark import spark_session
from pipeline.spark_features import _id_key, spark_history_features

WINDOWS = (0.5, 1.0, 7.0)  # 0.5 gives names with a dot: entity_n_0.5d
DELAY = 2.0
SCHEMA = Schema(label="y", time="ts", id="id", amount="amt", entity="card", merchant="shop")
SECONDS = Schema(
    label="y", time="t", time_unit="seconds", id="id", amount="amt", entity="card", merchant="shop"
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session("local[2]", app_name="fraudgan-spark-features")
    yield session
    session.stop()


def history_for(
    frame: pd.DataFrame, schema: Schema, merchant_entities: bool = False
) -> dict[str, Any]:
    """A model's history spec for `frame`, as `pipeline.export.history_spec` builds it."""
    built = build_features(
        frame,
        schema,
        label_delay_days=DELAY,
        windows_days=WINDOWS,
        merchant_entities=merchant_entities,
    )
    raw = [c for c in (*schema.categorical, schema.amount) if c is not None and c in frame]
    raw += [c for c in schema.history_inputs() if c in frame and c not in raw]
    return {
        "schema": schema.to_dict(),
        "label_delay_days": DELAY,
        "windows_days": list(WINDOWS),
        "horizon_days": DELAY + max(WINDOWS),
        "merchant_entities": merchant_entities,
        "raw_columns": raw,
        "engineered": [c for c in built.columns if c not in frame.columns],
    }


def local(frame: pd.DataFrame, history: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """The local engine on the whole frame (`HistoryFeatures`, i.e. `build_features`)."""
    h = HistoryFeatures(history, "input")
    return h.features(frame), h.warnings


def assert_same(got: Any, expected: pd.DataFrame, history: dict[str, Any], key: str) -> None:
    """Same columns in the same order; every engineered column equal row by row (by `key`)."""
    out = got.toPandas().sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    assert list(out.columns) == list(expected.columns)
    np.testing.assert_array_equal(out[key], expected[key])
    for c in history["engineered"]:
        if pd.api.types.is_integer_dtype(expected[c].dtype):
            assert pd.api.types.is_integer_dtype(out[c].dtype), (c, out[c].dtype)
            np.testing.assert_array_equal(out[c].to_numpy(), expected[c].to_numpy(), err_msg=c)
        else:
            assert out[c].dtype == np.float64, (c, out[c].dtype)
            np.testing.assert_allclose(out[c], expected[c], rtol=1e-9, atol=1e-9, err_msg=c)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    # crosses the US daylight-saving change of 2026-03-08
    return simulate(2_000, n_days=20, seed=5, fraud_rate=0.05, start="2026-03-01")


def edge_rows() -> pd.DataFrame:
    """Ties, rows exactly a window / the delay apart, missing keys, amounts and labels."""
    t0 = pd.Timestamp("2026-01-05 23:59:59.999999999")  # a Monday, a nanosecond before midnight
    day = pd.Timedelta(days=1)
    times = [
        t0,
        t0,
        t0,  # three rows of card 1 at shop 7 at the same instant
        t0 + day / 2,  # exactly 0.5 days later
        t0 + day,  # exactly 1 day after the tie
        t0 + day + pd.Timedelta(1, "ns"),
        t0 + 2 * day,  # exactly the delay after the tie: its labels are not known yet
        t0 + 2.5 * day,  # exactly delay + 0.5 days
        t0 + 3 * day,  # exactly delay + 1 day
        t0 + 7 * day,
        t0 + 9 * day,  # exactly delay + 7 days
        t0 + 9 * day,  # a tie with a missing card
        t0 + 9 * day,  # a tie with a missing shop
        t0 + 10 * day,
    ]
    n = len(times)
    return pd.DataFrame(
        {
            "id": np.arange(n) + 10_000,
            "ts": times,
            "card": [1.0] * 11 + [np.nan, 1.0, 2.0],
            "shop": [7.0] * 12 + [np.nan, 7.0],
            "amt": [
                10.0,
                20.0,
                np.nan,
                40.0,
                50.0,
                60.0,
                70.0,
                np.nan,
                90.0,
                0.0,
                110,
                120,
                130,
                1,
            ],
            "y": [1, 0, np.nan, 1, 0, 1, 1, 0, np.nan, 1, 0, 1, 0, 1],
            "note": [f"row {i}" for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def mixed(sim: pd.DataFrame) -> pd.DataFrame:
    """Simulated rows in SCHEMA's names plus the edge rows, with some keys/amounts/labels missing."""
    frame = sim.rename(
        columns={
            "transaction_id": "id",
            "timestamp": "ts",
            "customer_id": "card",
            "merchant_id": "shop",
            "amount": "amt",
            "is_fraud": "y",
        }
    )[["id", "ts", "card", "shop", "amt", "y", "channel"]]
    frame = frame.astype({"card": "float64", "shop": "float64", "y": "float64"})
    rng = np.random.default_rng(0)
    for column in ("card", "shop", "amt", "y"):
        frame.loc[rng.random(len(frame)) < 0.03, column] = np.nan
    frame = frame.drop(columns="channel").assign(note="sim")
    return pd.concat([frame, edge_rows()], ignore_index=True)


# --------------------------------------------------------------------------------------------
# equal to the local engine


def test_id_keys_are_the_local_engines(spark) -> None:
    """Text ids as Spark keys them for the report join and the entity, spelling by spelling, as
    `pipeline.data.sources.id_keys` does."""
    ids = ["0042", " T7 ", "", "-007", None, "1053.0", "+12", "4.5", "1053.", "C001053", "-0"]
    df = spark.createDataFrame(pd.DataFrame({"tx": ids}))
    for as_number in (True, False):
        got = [r[0] for r in df.select(_id_key(df, "tx", as_number=as_number)).collect()]
        local = id_keys(pd.Series(ids), as_number=as_number)
        assert got == [None if pd.isna(k) else k for k in local], as_number


def test_parquet_written_by_pandas(spark, sim, tmp_path: Path) -> None:
    history = history_for(sim, SIMULATOR_SCHEMA)
    # nanoseconds arrive as longs (nanosAsLong), naive microseconds as TIMESTAMP_NTZ
    for unit, spark_type in (("ns", "long"), ("us", "timestamp_ntz")):
        path = tmp_path / f"sim_{unit}.parquet"
        sim.astype({"timestamp": f"datetime64[{unit}]"}).to_parquet(path, index=False)
        df = spark.read.parquet(str(path))
        assert df.schema["timestamp"].dataType.typeName() == spark_type
        built = spark_history_features(df, history, "--input sim.parquet")
        got, warnings = built.frame, built.warnings
        expected, _ = local(pd.read_parquet(path), history)
        assert warnings == []
        assert_same(got, expected, history, "transaction_id")


def test_csv_times_as_text_in_any_session_time_zone(spark, sim, tmp_path: Path) -> None:
    path = tmp_path / "sim.csv"
    sim.to_csv(path, index=False)
    history = history_for(sim, SIMULATOR_SCHEMA)
    expected, _ = local(pd.read_csv(path), history)
    reader = spark.read.option("header", True)
    inferred = reader.option("inferSchema", True).csv(str(path))
    assert inferred.schema["timestamp"].dataType.typeName() == "timestamp"
    got = spark_history_features(inferred, history, "--input sim.csv").frame
    assert_same(got, expected, history, "transaction_id")

    # the time as text, parsed while the session's time zone has a daylight-saving change
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        as_text = spark.read.option("header", True).csv(str(path))  # every column text
        as_text = as_text.select(
            *[
                as_text[c] if c == "timestamp" else as_text[c].cast(t.dataType)
                for c, t in zip(as_text.columns, inferred.schema.fields, strict=True)
            ]
        )
        got = spark_history_features(as_text, history, "--input sim.csv").frame
        assert_same(got, expected, history, "transaction_id")
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)


def test_ties_window_edges_and_missing_values(spark, mixed, tmp_path: Path) -> None:
    path = tmp_path / "mixed.parquet"
    mixed.to_parquet(path, index=False)
    history = history_for(mixed, SCHEMA)
    got = spark_history_features(spark.read.parquet(str(path)), history, "--input m").frame
    expected, _ = local(pd.read_parquet(path), history)
    assert_same(got, expected, history, "id")
    # the hand-made rows: the tie does not see itself, the windows' edges are half-open
    edge = got.where("id >= 10000").toPandas().sort_values("id").reset_index(drop=True)
    assert edge["entity_n_7d"].tolist()[:6] == [0, 0, 0, 3, 4, 5]
    assert edge["entity_n_1d"].tolist()[4:6] == [4, 2]  # [t-1d, t) holds the tie at t - 1d
    assert edge["day_of_week"].tolist()[0] == 0 and edge["hour"][0] == pytest.approx(
        23 + 59 / 60 + 59 / 3600
    )


def test_missing_label_column_and_engineered_columns_in_the_input(
    spark, mixed, tmp_path: Path
) -> None:
    history = history_for(mixed, SCHEMA)
    frame = mixed.drop(columns="y").assign(hour=-1.0, merchant_n_1d=-1)
    path = tmp_path / "unlabelled.parquet"
    frame.to_parquet(path, index=False)
    built = spark_history_features(spark.read.parquet(str(path)), history, "input")
    expected, local_warnings = local(pd.read_parquet(path), history)
    assert built.warnings == local_warnings and len(built.warnings) == 2
    warnings, got = built.warnings, built.frame
    assert "rebuilt" in warnings[0] and "no label column 'y'" in warnings[1]
    assert_same(got, expected, history, "id")
    rates = [c for c in history["engineered"] if c.startswith("merchant_fraud_rate_")]
    assert (got.toPandas()[rates] == NO_LABEL_RATE).all().all()


def with_opening(frame: pd.DataFrame, time: str) -> pd.DataFrame:
    """`frame` plus `opened`: a date before the row's time (some after it, some missing)."""
    rng = np.random.default_rng(3)
    before = pd.to_timedelta(np.round(rng.exponential(400, len(frame)) * 86_400) - 86_400, "s")
    opened = frame[time] - before
    return frame.assign(opened=opened.where(rng.random(len(frame)) > 0.1))


def test_date_columns_become_days_since_them(spark, mixed, tmp_path: Path) -> None:
    frame = with_opening(mixed, "ts")
    schema = dataclasses.replace(SCHEMA, dates=("opened",))
    history = history_for(frame, schema)
    assert "days_since_opened" in history["engineered"] and "opened" in history["raw_columns"]
    parquet, csv = tmp_path / "opened.parquet", tmp_path / "opened.csv"
    frame.to_parquet(parquet, index=False)
    frame[frame["id"] < 10_000].to_csv(csv, index=False)  # text keeps microseconds in Spark
    expected, _ = local(pd.read_parquet(parquet), history)
    days = expected["days_since_opened"]
    assert days.isna().mean() == pytest.approx(0.1, abs=0.03) and (days < 0).any()
    got = spark_history_features(spark.read.parquet(str(parquet)), history, "--input p").frame
    assert_same(got, expected, history, "id")
    as_text = spark.read.option("header", True).option("inferSchema", True).csv(str(csv))
    got = spark_history_features(
        as_text.withColumn("opened", as_text["opened"].cast("string")), history, "--input c"
    ).frame
    assert_same(got, local(pd.read_csv(csv), history)[0], history, "id")
    bad = as_text.withColumn("opened", F.lit("next spring"))
    with pytest.raises(
        DataError, match="date column 'opened' holds value.* not dates .*ISO.*'next spring'"
    ):
        spark_history_features(bad, history, "--input c").frame.collect()


def with_devices(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus `device` (text, shared by about three cards, some missing) and `ip` (a
    number, shared by about five)."""
    card = frame["card"].fillna(-1).astype("int64")
    rng = np.random.default_rng(4)
    device = ("d" + (card // 3).astype(str)).where(rng.random(len(frame)) > 0.05)
    return frame.assign(device=device, ip=(card // 5).astype("float64"))


def test_velocity_columns_counted_as_the_local_engine_does(spark, mixed, tmp_path: Path) -> None:
    frame = with_devices(mixed)
    schema = dataclasses.replace(SCHEMA, velocity=("device", "ip"))
    history = history_for(frame, schema, merchant_entities=True)
    assert {"device_n_0.5d", "ip_secs_since_prev", "ip_fraud_rate_7d"} <= set(history["engineered"])
    assert "merchant_entities_7d" in history["engineered"]
    parquet, csv = tmp_path / "keyed.parquet", tmp_path / "keyed.csv"
    frame.to_parquet(parquet, index=False)
    frame[frame["id"] < 10_000].to_csv(csv, index=False)
    expected, _ = local(pd.read_parquet(parquet), history)
    assert (expected["device_n_7d"] > expected["entity_n_7d"]).any()
    assert (expected["ip_fraud_rate_7d"] > 0).any()
    # a device serves about three cards: its distinct cards are fewer than its rows, and several
    assert (expected["device_entities_7d"] < expected["device_n_7d"]).any()
    assert (expected["device_entities_7d"] > 1).any()
    got = spark_history_features(spark.read.parquet(str(parquet)), history, "--input p").frame
    assert_same(got, expected, history, "id")
    # one join per family (the card; each velocity column, and its distinct cards; the merchant,
    # and its distinct cards), each made of the input: a plan whose families were made of the
    # rows already joined doubled with each (388 joins here, half a minute of analysis)
    plan = got._jdf.queryExecution().analyzed().toString()
    assert (plan.count("Join LeftOuter"), plan.count("Relation [")) == (7, 11)
    as_text = spark.read.option("header", True).option("inferSchema", True).csv(str(csv))
    got = spark_history_features(as_text, history, "--input c").frame
    assert_same(got, local(pd.read_csv(csv), history)[0], history, "id")


def test_an_entity_of_several_columns_as_the_local_engine_keys_it(spark, mixed, tmp_path) -> None:
    from pipeline.data.sources import entity_keys

    card = mixed["card"]
    # the card as a user and its index (text and number; the edge rows' missing card too)
    frame = with_devices(mixed).assign(user="u" + (card // 3).astype("Int64").astype(str))
    frame = frame.assign(user=frame["user"].where(card.notna()), slot=card % 3).drop(columns="card")
    schema = dataclasses.replace(
        SCHEMA, entity="user+slot", entity_columns=("user", "slot"), velocity=("device",)
    )
    history = history_for(
        frame.assign(**{"user+slot": entity_keys(frame, ["user", "slot"])}), schema
    )
    assert {"entity_n_7d", "device_entities_7d"} <= set(history["engineered"])
    assert {"user", "slot"} <= set(history["raw_columns"]) and "user+slot" not in history[
        "raw_columns"
    ]
    path = tmp_path / "split.parquet"
    frame.to_parquet(path, index=False)
    expected, _ = local(pd.read_parquet(path), history)
    original = local(
        with_devices(mixed),
        history_for(with_devices(mixed), dataclasses.replace(SCHEMA, velocity=("device",))),
    )[0]
    np.testing.assert_array_equal(expected["entity_n_7d"], original["entity_n_7d"])
    got = spark_history_features(spark.read.parquet(str(path)), history, "--input p").frame
    assert_same(got, expected, history, "id")


# hours: a scale as seconds are, slow; months: a calendar unit of its own
@pytest.mark.parametrize(
    "unit", ["seconds", pytest.param("hours", marks=pytest.mark.slow), "months"]
)
def test_numeric_time_units(spark, mixed, tmp_path: Path, unit: str) -> None:
    frame = with_devices(with_opening(mixed, "ts"))
    ns = frame["ts"].astype("int64")
    # float seconds (some before 0) on a 1/1024 s grid: exact, so the edge rows stay exactly a
    # window / the delay apart and their boundaries are hit; in hours, both engines read the
    # same numbers back as the same seconds
    seconds = np.round((ns - ns.min()) / 1e9 * 1024) / 1024 - 3_600.5
    frame["t"] = seconds / SECONDS_PER_UNIT[unit]
    opened = (frame["opened"] - frame["ts"].min()).dt.total_seconds()
    frame["opened"] = np.round(opened * 1024) / 1024 / SECONDS_PER_UNIT[unit]
    frame = frame.drop(columns="ts")
    schema = dataclasses.replace(SECONDS, time_unit=unit, dates=("opened",), velocity=("device",))
    history = history_for(frame, schema)
    path = tmp_path / "numbers.csv"
    frame.to_csv(path, index=False)
    df = spark.read.option("header", True).option("inferSchema", True).csv(str(path))
    got = spark_history_features(df, history, "--input numbers.csv").frame
    expected, _ = local(pd.read_csv(path), history)
    assert "day_of_week" not in history["engineered"]
    assert ("hour" in history["engineered"]) == (unit != "months")
    assert_same(got, expected, history, "id")


def fraud_reports(frame: pd.DataFrame, time: str, per_day: float | None) -> pd.DataFrame:
    """Reports of `frame`'s frauds (text ids, some zero-padded), most of them later than DELAY
    after their transaction, some undated, one before its transaction, one of an unknown id, and
    the edge rows' first fraud reported exactly when a later row of its card and shop happens.
    `per_day`: the numbers of a day on a numeric clock (None: datetimes)."""
    fraud = frame[frame["y"] == 1]
    rng = np.random.default_rng(7)
    days = rng.gamma(1.5, 2.5, len(fraud))
    days[:3] = -2.0  # reported before the transaction: counts as at once
    edge = np.flatnonzero(fraud["id"].to_numpy() == 10_000)
    days[edge] = 3.0  # exactly the edge row at t0 + 3 days, delay + 1 day after it
    if per_day is None:
        at: Any = fraud[time] + pd.to_timedelta(days, unit="D")
        at = at.astype(str).astype(object)  # to the nanosecond
    else:
        at = (fraud[time] + days * per_day).astype(object)
    undated = rng.random(len(fraud)) < 0.1
    undated[edge] = False
    at[undated] = None
    ids = [f"{i:07d}" if i % 2 else str(i) for i in fraud["id"]]
    return pd.DataFrame({"tx": [*ids, "X1"], "reported": [*at, at.dropna().iloc[0]]})


@pytest.mark.parametrize("clock", ["datetime", pytest.param("seconds", marks=pytest.mark.slow)])
def test_labels_from_fraud_reports_as_the_local_engine_reads_them(
    spark, mixed, tmp_path: Path, clock: str
) -> None:
    from pipeline.data.labels import LabelFile, ReportBook

    frame = with_devices(mixed)
    schema = dataclasses.replace(SCHEMA, velocity=("device",))
    per_day = None
    if clock == "seconds":
        frame["ts"] = np.round((frame["ts"].astype("int64") - 1.7e18) / 1e9 * 1024) / 1024
        schema, per_day = dataclasses.replace(schema, time_unit="seconds"), 86_400.0
    history = history_for(frame, schema)
    path, reports = tmp_path / "tx.parquet", tmp_path / "reports.csv"
    frame.drop(columns="y").to_parquet(path, index=False)
    fraud_reports(frame, "ts", per_day).to_csv(reports, index=False)
    books = {
        dated: ReportBook.read(LabelFile(reports, "tx", "reported" if dated else None), schema)
        for dated in (True, False)
    }
    for dated, book in books.items():
        h = HistoryFeatures(history, "input", book)
        expected = h.features(pd.read_parquet(path))
        built = spark_history_features(spark.read.parquet(str(path)), history, "input", book)
        assert built.warnings == h.warnings == []
        assert built.reported_rows == h.reported_rows == int((frame["y"] == 1).sum())
        assert_same(built.frame, expected, history, "id")
        if dated:
            late = expected
    # undated, the reports are the labels the file carried: a fraud is known after the delay
    unlabelled = pd.read_parquet(path).assign(y=(frame["y"] == 1).astype(float))
    undated = local(unlabelled, history)[0].drop(columns="y")
    assert_same(built.frame, undated, history, "id")
    for rate in ("merchant_fraud_rate_7d", "device_fraud_rate_7d"):
        assert (late[rate] < undated[rate]).any() and not (late[rate] > undated[rate]).any()


# --------------------------------------------------------------------------------------------
# errors


def test_errors_name_the_column(spark, mixed) -> None:
    history = history_for(mixed, SCHEMA)
    small = mixed.tail(20).drop(columns="note").astype({"ts": "str"})
    df = spark.createDataFrame(small)

    with pytest.raises(
        DataError,
        match=r"^where: missing 1 column\(s\) the model needs: amt \(its history features ",
    ):
        spark_history_features(df.drop("amt"), history, "where")

    bad_label = df.withColumn("y", df["y"] * 2)
    with pytest.raises(DataError, match=r"^where: label column 'y' must be 0/1, found \[2\.0\]"):
        spark_history_features(bad_label, history, "where")
    maybe = df.withColumn("y", F.when(df["id"] % 2 == 0, "maybe").otherwise(" "))
    with pytest.raises(DataError, match=r"^where: label column 'y' must be 0/1, found \['maybe'\]"):
        spark_history_features(maybe, history, "where")
    # yes/no read as the local engine reads them, blanks as unknown labels
    words = small.assign(y=np.where(small["y"] == 1, " Yes", np.where(small["y"] == 0, "no", "")))
    got = spark_history_features(spark.createDataFrame(words), history, "where").frame
    got = got.toPandas().sort_values("id")
    expected = local(words, history)[0].sort_values("id")
    rates = [c for c in history["engineered"] if c.startswith("merchant_fraud_rate_")]
    np.testing.assert_allclose(got[rates], expected[rates], rtol=1e-12)
    assert expected[rates].to_numpy().max() > 0  # the labels were read

    # amounts written as text are read as numbers, as the local engine reads them
    text = small.assign(amt=[f" {a} " if i % 2 else repr(a) for i, a in enumerate(small["amt"])])
    got = spark_history_features(spark.createDataFrame(text), history, "where").frame
    got = got.toPandas().sort_values("id")
    amounts = [c for c in history["engineered"] if "amount" in c]
    np.testing.assert_allclose(got[amounts], expected[amounts], rtol=1e-12)
    money = text.assign(amt=text["amt"].where(text["id"] != 10_003, "$1,234.50"))
    with pytest.raises(
        DataError,
        match=r"^where: amount column 'amt' must be numeric; 1 value\(s\) are not numbers, e\.g\. "
        r"'\$1,234\.50'; they carry a currency sign",
    ):
        spark_history_features(spark.createDataFrame(money), history, "where")

    bad_time = df.withColumn("ts", F.when(df["id"] == 10_003, "not a date").otherwise(df["ts"]))
    with pytest.raises(DataError, match=r"^where: time column 'ts' .*'not a date'\)$"):
        spark_history_features(bad_time, history, "where")
    day_first = df.withColumn("ts", F.date_format(F.to_timestamp("ts"), "dd/MM/yyyy HH:mm"))
    with pytest.raises(DataError, match=r"not dates \(e\.g\. '\d\d/\d\d/20\d\d .*ISO dates"):
        spark_history_features(day_first, history, "where")
