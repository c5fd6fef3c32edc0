"""Data sources: loading, validation errors, duplicates, presets, schemas, round trips."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from models.errors import ConfigError, DataError
from pipeline.config import DataConfig
from pipeline.data.schema import (
    CREDITCARD_SCHEMA,
    PRESETS,
    SIMULATOR_SCHEMA,
    Schema,
    schema_from_mapping,
    yaml_list,
)
from pipeline.data.simulate import simulate
from pipeline.data.sources import (
    HIVE_NULL,
    CsvSource,
    Dataset,
    ParquetSource,
    SimulatorSource,
    build_source,
    coerce_time,
    folder_keys,
    frame_digest,
    load_dataset,
    parquet_folder,
    validate_frame,
)

SMALL = {"rows": 2_000, "days": 10, "seed": 5, "fraud_rate": 0.02}
TINY_SCHEMA = {"label": "y", "time": "t", "id": "tx", "amount": "amount"}


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate(SMALL["rows"], n_days=SMALL["days"], seed=SMALL["seed"], fraud_rate=0.02)


def tiny_frame(n: int = 8) -> pd.DataFrame:
    """A small valid table for TINY_SCHEMA, time in reverse order, two positives."""
    return pd.DataFrame(
        {
            "tx": np.arange(n),
            "t": pd.date_range("2026-01-01", periods=n, freq="h")[::-1].astype(str),
            "amount": np.linspace(1.0, 80.0, n).round(2),
            "kind": ["a", "b"] * (n // 2),
            "y": [1, 0] + [0] * (n - 3) + [1],
        }
    )


def write_csv(tmp_path: Path, df: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def creditcard_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"Time": np.sort(rng.integers(0, 172_800, n)).astype(float)}
    for i in range(1, 29):
        cols[f"V{i}"] = rng.normal(size=n)
    cols["Amount"] = rng.gamma(2.0, 40.0, n).round(2)
    cols["Class"] = np.where(np.arange(n) % 10 == 3, "1", "0")
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------------- schema


def test_presets() -> None:
    assert PRESETS["simulator"] is SIMULATOR_SCHEMA
    assert PRESETS["creditcard"] is CREDITCARD_SCHEMA
    assert CREDITCARD_SCHEMA.label == "Class"
    assert (CREDITCARD_SCHEMA.time, CREDITCARD_SCHEMA.time_unit) == ("Time", "seconds")
    assert CREDITCARD_SCHEMA.amount == "Amount"
    assert CREDITCARD_SCHEMA.id is None and CREDITCARD_SCHEMA.entity is None
    assert CREDITCARD_SCHEMA.categorical == ()
    assert SIMULATOR_SCHEMA.drop == ("fraud_pattern",)


def test_schema_from_mapping() -> None:
    s = schema_from_mapping(
        {"label": "y", "time": "t", "time_unit": "seconds", "categorical": ["a", "b"]}, "test"
    )
    assert s == Schema(label="y", time="t", time_unit="seconds", categorical=("a", "b"))
    dated = schema_from_mapping({"label": "y", "time": "t", "dates": "opened"}, "test")
    assert dated.dates == ("opened",) and Schema.from_dict(dated.to_dict()) == dated
    assert dated.roles() == {"y", "t", "opened"}
    keyed = schema_from_mapping({"label": "y", "time": "t", "velocity": ["ip", "dev"]}, "test")
    assert keyed.velocity == ("ip", "dev") and Schema.from_dict(keyed.to_dict()) == keyed
    assert keyed.roles() == {"y", "t", "ip", "dev"} and keyed.history_inputs() == ["t", "ip", "dev"]
    older = {k: v for k, v in keyed.to_dict().items() if k != "velocity"}  # an older export
    assert Schema.from_dict(older).velocity == ()


def test_column_names_as_a_yaml_list_to_paste() -> None:
    names = ["amount", "Use Chip", "Is Fraud?", "Unnamed: 0", "2nd", "yes", "a,b", 'q"u', " x"]
    text = yaml_list(names)
    assert text.startswith('[amount, Use Chip, "Is Fraud?", "Unnamed: 0", "2nd", "yes"')
    assert yaml.safe_load(text) == names


def test_schema_from_mapping_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(
        ConfigError, match="unknown schema key 'lable'.*'label'.*Valid keys:.*entity"
    ):
        schema_from_mapping({"lable": "y"}, "exp.yaml")


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"time": "t"}, "needs a 'label'"),
        ({"label": "y", "time_unit": "hour"}, "time_unit.*datetime, seconds, .*hours.*'hour'"),
        ({"label": "y", "categorical": 3}, "categorical.*list"),
        ({"label": 1}, "'label' must be a column name"),
        ({"label": "y", "dates": ["opened"]}, r"'dates' \(opened\) needs a 'time' column"),
        ({"label": "y", "time": "t", "dates": ["t"]}, "'t' is under both 'dates' and 'time'"),
        (
            {"label": "y", "time": "t", "entity": "c", "dates": "o", "drop": ["o"]},
            "'o' is under both 'dates' and 'drop'",
        ),
        ({"label": "y", "velocity": ["ip"]}, r"'velocity' \(ip\) needs a 'time' column"),
        # an amount that is the label would build the features from the label
        ({"label": "y", "amount": "y"}, "column 'y' is both the schema's label and its amount"),
        ({"label": "y", "entity": "c", "merchant": "c"}, "'c' is both the schema's entity and"),
        (
            {"label": "y", "merchant": "m", "entity": ["u", "m"]},
            "'m' is both the schema's merchant and its entity",
        ),
        ({"label": "y", "amount": "a", "categorical": ["a"]}, "'a' is the schema's amount and"),
        ({"label": "y", "categorical": ["k", "y"]}, "'y' is the schema's label and is listed"),
        ({"label": "y", "drop": ["y"]}, "the label column 'y' is listed under 'drop'"),
        (
            {"label": "y", "time": "t", "entity": "ip", "velocity": "ip"},
            "'ip' is under both 'velocity' and 'entity'",
        ),
        (
            {"label": "y", "time": "t", "dates": ["d"], "velocity": ["ip", "d"]},
            "'d' is under both 'dates' and 'velocity'",
        ),
        ({"label": "y", "time": "t", "velocity": ["merchant"]}, "rename the column"),
        ({"label": "y", "time": "t", "velocity": ["ip", "d", "ip"]}, "'ip' is listed twice"),
    ],
)
def test_schema_from_mapping_errors(mapping: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        schema_from_mapping(mapping, "exp.yaml")


# ------------------------------------------------------------------------------------- simulator


def test_simulator_source(sim: pd.DataFrame) -> None:
    ds = build_source("simulator", **SMALL).load()
    assert isinstance(ds, Dataset)
    assert ds.schema == SIMULATOR_SCHEMA
    assert ds.name == "simulator(rows=2000,days=10,seed=5,fraud_rate=0.02)"
    assert ds.source_path is None
    assert ds.n_duplicates_dropped == 0
    pd.testing.assert_frame_equal(ds.frame, sim)
    again = SimulatorSource(**SMALL).load()
    assert again.digest == ds.digest
    assert len(ds.digest) == 64
    other = SimulatorSource(**{**SMALL, "seed": 6}).load()
    assert other.digest != ds.digest


def test_digest_definition(sim: pd.DataFrame) -> None:
    expected = hashlib.sha256(
        pd.util.hash_pandas_object(sim, index=False).values.tobytes()
    ).hexdigest()
    assert frame_digest(sim) == expected
    assert frame_digest(sim.set_axis(np.arange(len(sim)) + 10)) == expected  # index ignored


def test_build_source_none_params_take_defaults() -> None:
    src = build_source("simulator", rows=500, days=None, seed=None, fraud_rate=None)
    assert (src.rows, src.days, src.seed, src.fraud_rate) == (500, 90, 0, 0.003)


@pytest.mark.parametrize(
    ("kind", "params", "match"),
    [
        ("excel", {}, "unknown data source kind 'excel'.*simulator, csv, parquet"),
        ("simulator", {"n_rows": 5}, "unknown parameter.*n_rows.*rows, days, seed, fraud_rate"),
        ("csv", {"preset": "creditcard"}, "needs a path"),
        ("csv", {"path": "x.csv"}, "needs a schema"),
        ("csv", {"path": "x.csv", "preset": "kaggle"}, "unknown preset 'kaggle'.*creditcard"),
        ("parquet", {"path": "x.parquet", "schema": {"labl": "y"}}, "unknown schema key"),
    ],
)
def test_build_source_config_errors(kind: str, params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_source(kind, **params)


# ------------------------------------------------------------------------------ files, round trip


def test_csv_round_trip_of_simulated_data(tmp_path: Path, sim: pd.DataFrame) -> None:
    path = write_csv(tmp_path, sim, "sim.csv")
    ds = build_source("csv", path=str(path), schema=SIMULATOR_SCHEMA).load()
    pd.testing.assert_frame_equal(ds.frame, sim)
    assert ds.frame["timestamp"].dtype == "datetime64[ns]"
    assert ds.frame["is_fraud"].dtype == np.int8
    assert ds.source_path == str(path) and ds.name == str(path)
    assert ds.digest == frame_digest(sim)


def test_parquet_round_trip(tmp_path: Path, sim: pd.DataFrame) -> None:
    path = tmp_path / "sim.parquet"
    sim.to_parquet(path, index=False)
    ds = ParquetSource(path, SIMULATOR_SCHEMA.to_dict()).load()
    pd.testing.assert_frame_equal(ds.frame, sim)
    assert ds.digest == SimulatorSource(**SMALL).load().digest


def long_keys(sim: pd.DataFrame) -> pd.DataFrame:
    """`sim` with 19-digit customer, merchant and transaction ids (beyond float64's exact
    integers) and one of each missing: pandas reads such a column as floats."""
    out = sim.copy()
    for column in ("transaction_id", "customer_id", "merchant_id"):
        out[column] = pd.array(4_000_000_000_000_000_000 + sim[column], dtype="Int64")
        out.loc[3, column] = pd.NA
    return out


@pytest.mark.parametrize("kind", ["csv", "csv folder", "parquet"])
def test_long_numeric_keys_with_a_missing_one_keep_every_digit(
    tmp_path: Path, sim: pd.DataFrame, kind: str
) -> None:
    """19-digit card numbers in a column with a missing one: as floats, cards 4e18 + 1 and
    4e18 + 2 would be one card and every history feature wrong."""
    long = long_keys(sim)
    if kind == "csv":
        path = write_csv(tmp_path, long, "long.csv")
    elif kind == "csv folder":  # the missing ids in the first file, none in the second
        path = tmp_path / "days"
        path.mkdir()
        long.iloc[:1000].to_csv(path / "a.csv", index=False)
        long.iloc[1000:].to_csv(path / "b.csv", index=False)
    else:  # as a warehouse writes it: int64 with nulls, no pandas metadata
        path = tmp_path / "long.parquet"
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(long).replace_schema_metadata(None), path)
    source = CsvSource if kind.startswith("csv") else ParquetSource
    frame = source(path, SIMULATOR_SCHEMA.to_dict()).load().frame
    for column in ("transaction_id", "customer_id", "merchant_id"):
        assert frame[column].nunique() == long[column].nunique(), column
        assert frame[column].isna().sum() == 1
    cards = frame["customer_id"].astype("string")
    assert set(cards.dropna()) == {str(v) for v in long["customer_id"].dropna()}


def test_preset_simulator_for_files(tmp_path: Path, sim: pd.DataFrame) -> None:
    path = tmp_path / "sim.parquet"
    sim.to_parquet(path, index=False)
    ds = build_source("parquet", path=str(path), preset="simulator").load()
    assert ds.schema == SIMULATOR_SCHEMA


def test_load_dataset_from_data_config(tmp_path: Path) -> None:
    ds = load_dataset(DataConfig(kind="simulator", rows=300, days=5, seed=1, fraud_rate=0.05))
    assert len(ds.frame) == 300
    path = write_csv(tmp_path, tiny_frame())
    cfg = DataConfig.model_validate(
        {"kind": "csv", "path": str(path), "schema": {"label": "y", "time": "t"}}
    )
    ds = load_dataset(cfg)
    assert ds.schema == Schema(label="y", time="t")
    ds = load_dataset({"kind": "csv", "path": str(path), "schema": TINY_SCHEMA})
    assert ds.schema.id == "tx"


def test_sorted_by_time_and_index_reset(tmp_path: Path) -> None:
    ds = CsvSource(write_csv(tmp_path, tiny_frame()), TINY_SCHEMA).load()
    frame = ds.frame
    assert frame["t"].is_monotonic_increasing
    assert frame["t"].dtype == "datetime64[ns]"
    assert list(frame.index) == list(range(len(frame)))
    assert list(frame["tx"]) == list(range(7, -1, -1))


def test_sort_is_stable_for_equal_times(tmp_path: Path) -> None:
    df = tiny_frame()
    df["t"] = ["2026-01-02"] * 4 + ["2026-01-01"] * 4
    ds = CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    assert list(ds.frame["tx"]) == [4, 5, 6, 7, 0, 1, 2, 3]


def test_timezone_aware_times_become_utc(tmp_path: Path) -> None:
    df = tiny_frame(4)
    df["t"] = ["2026-01-01T10:00:00+02:00"] * 4
    ds = CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    assert ds.frame["t"].dtype == "datetime64[ns]"
    assert ds.frame["t"].iloc[0] == pd.Timestamp("2026-01-01 08:00:00")


def test_duplicates_dropped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    df = tiny_frame()
    dup = df.iloc[[1, 2, 2]].copy()
    dup["tx"] = [100, 101, 102]  # ids differ: still the same transaction
    near = df.iloc[[3]].copy()
    near["amount"] += 0.01  # not an exact duplicate
    path = write_csv(tmp_path, pd.concat([df, dup, near]))
    with caplog.at_level(logging.INFO, logger="pipeline.data.sources"):
        ds = CsvSource(path, TINY_SCHEMA).load()
    assert ds.n_duplicates_dropped == 3
    assert len(ds.frame) == len(df) + 1
    assert not ds.frame["tx"].isin([100, 101, 102]).any()  # the first occurrence is kept
    assert "dropped 3 exact duplicate" in caplog.text
    # without a time column, rows alike but for their id are distinct records
    timeless = {**TINY_SCHEMA, "time": None}
    ds = CsvSource(path, timeless).load()
    assert ds.n_duplicates_dropped == 0 and len(ds.frame) == len(df) + 4
    ds = CsvSource(write_csv(tmp_path, pd.concat([df, df.iloc[[0]]]), "twice.csv"), timeless).load()
    assert ds.n_duplicates_dropped == 1  # a row written twice, id included
    # times that are dates only cannot tell two purchases of one day apart: the ids do
    daily = pd.concat([df, dup]).assign(t=lambda d: d["t"].str[:10])
    ds = CsvSource(write_csv(tmp_path, daily, "daily.csv"), TINY_SCHEMA).load()
    assert ds.n_duplicates_dropped == 0 and len(ds.frame) == len(df) + 3
    days = daily.assign(t=pd.to_datetime(daily["t"]).astype("int64") // 10**9 // 86_400)
    in_days = {**TINY_SCHEMA, "time_unit": "days"}
    ds = CsvSource(write_csv(tmp_path, days, "days.csv"), in_days).load()
    assert ds.n_duplicates_dropped == 0
    in_days = {**TINY_SCHEMA, "time_unit": "hours"}  # whole hours: a transaction logged twice
    assert (
        CsvSource(write_csv(tmp_path, days, "days.csv"), in_days).load().n_duplicates_dropped == 3
    )


def test_a_folder_whose_names_are_not_in_time_order_gets_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    df = tiny_frame(12).sort_values("t")
    folder = tmp_path / "days"
    folder.mkdir()
    df.iloc[:6].to_csv(folder / "tx-2026-1-9.csv", index=False)
    df.iloc[6:].to_csv(folder / "tx-2026-1-10.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        ds = CsvSource(folder, TINY_SCHEMA).load()
    assert ds.n_rows == 12  # training sorts the rows
    assert "not in time order by name: tx-2026-1-9.csv starts at 2026-01-01 00:00:00" in caplog.text
    caplog.clear()
    (folder / "tx-2026-1-9.csv").rename(folder / "tx-2026-01-09.csv")
    (folder / "tx-2026-1-10.csv").rename(folder / "tx-2026-01-10.csv")
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        CsvSource(folder, TINY_SCHEMA).load()
    assert "time order" not in caplog.text


def test_a_transaction_with_both_labels_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    df = tiny_frame().assign(memo=[np.nan, 1.0] * 4)  # missing equals missing here
    relabelled = df.iloc[[2, 5]].assign(y=lambda d: 1 - d["y"], tx=[200, 205])
    path = write_csv(tmp_path, pd.concat([df, relabelled]))
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        ds = CsvSource(path, TINY_SCHEMA).load()
    assert len(ds.frame) == len(df) + 2  # kept: a warning, not a refusal
    assert "4 row(s) are alike in every column but the label 'y', which differs" in caplog.text
    assert "(e.g. row 2 and row 8)" in caplog.text and "keep='last'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        CsvSource(write_csv(tmp_path, df, "clean.csv"), TINY_SCHEMA).load()
        CsvSource(path, {**TINY_SCHEMA, "time": None}).load()  # the ids differ: two records
    assert "alike in every column" not in caplog.text


def test_ids_that_repeat_are_named_once_exact_duplicates_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    df = tiny_frame()
    df.loc[[5, 7], "tx"] = df.loc[1, "tx"]  # other transactions under one id
    path = write_csv(tmp_path, pd.concat([df, df.iloc[[3]]]))  # row 3 logged twice: dropped
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        ds = CsvSource(path, TINY_SCHEMA).load()
    assert len(ds.frame) == len(df)
    assert (
        "id column 'tx' repeats: 2 row(s) have the id of an earlier row (e.g. row 1 and row 5)"
        in caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        CsvSource(
            write_csv(tmp_path, pd.concat([tiny_frame(), tiny_frame().iloc[[3]]]), "once.csv"),
            TINY_SCHEMA,
        ).load()
    assert "repeats" not in caplog.text


def test_creditcard_preset(tmp_path: Path) -> None:
    df = creditcard_frame()
    shuffled = df.sample(frac=1.0, random_state=1)
    path = write_csv(tmp_path, pd.concat([shuffled, df.iloc[:5]]), "creditcard.csv")
    ds = build_source("csv", path=str(path), preset="creditcard").load()
    assert ds.schema == CREDITCARD_SCHEMA
    assert ds.n_duplicates_dropped == 5
    assert list(ds.frame.columns) == ["Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class"]
    assert len(ds.frame) == len(df)
    assert ds.frame["Time"].is_monotonic_increasing
    assert ds.frame["Class"].dtype == np.int8
    assert int(ds.frame["Class"].sum()) == 4


def test_creditcard_preset_with_partial_override(tmp_path: Path) -> None:
    path = write_csv(tmp_path, creditcard_frame(), "creditcard.csv")
    ds = build_source(
        "csv", path=str(path), preset="creditcard", schema={"drop": ["V28"], "time": None}
    ).load()
    assert ds.schema == Schema(
        label="Class", time="Time", time_unit="seconds", amount="Amount", drop=("V28",)
    )


def test_string_labels_are_coerced(tmp_path: Path) -> None:
    df = creditcard_frame(20)
    path = tmp_path / "cc.parquet"
    df.to_parquet(path, index=False)  # Class stays text in Parquet
    ds = ParquetSource(path, preset="creditcard").load()
    assert ds.frame["Class"].dtype == np.int8
    assert set(ds.frame["Class"]) == {0, 1}


@pytest.mark.parametrize(
    "words", [("No", "Yes"), (" n", "Y "), ("F", "T"), ("false", "TRUE"), ("0", "1")]
)
def test_label_words_are_read_as_0_and_1(tmp_path: Path, words: tuple[str, str]) -> None:
    df = tiny_frame()
    expected = df["y"].tolist()
    df["y"] = [words[v] for v in expected]
    ds = CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    assert ds.frame.sort_values("tx")["y"].tolist() == expected


def test_boolean_labels_are_coerced(tmp_path: Path) -> None:
    df = tiny_frame()
    df["y"] = df["y"].astype(bool)
    path = tmp_path / "b.parquet"
    df.to_parquet(path, index=False)
    ds = ParquetSource(path, TINY_SCHEMA).load()
    assert ds.frame["y"].dtype == np.int8
    assert int(ds.frame["y"].sum()) == 2


def test_schema_object_accepted() -> None:
    df = tiny_frame()
    out = validate_frame(df, Schema(label="y", time="t"), "frame")
    assert out["t"].dtype == "datetime64[ns]"
    assert df["t"].dtype != out["t"].dtype  # the input is not modified


# -------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        CsvSource(path, TINY_SCHEMA).load()


@pytest.mark.parametrize("name", ["tx.csv.gz", "tx.csv.bz2", "tx.csv.xz", "tx.zip", "gzip.csv"])
def test_a_compressed_csv_reads_as_the_plain_one(tmp_path: Path, name: str) -> None:
    df = tiny_frame()
    plain = CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    path = tmp_path / name
    df.to_csv(path, index=False, compression="gzip" if name == "gzip.csv" else "infer")
    packed = CsvSource(path, TINY_SCHEMA).load()
    pd.testing.assert_frame_equal(packed.frame, plain.frame)


def test_workbooks_and_archives_of_several_files_are_refused(tmp_path: Path) -> None:
    xlsx = tmp_path / "tx.xlsx"
    with zipfile.ZipFile(xlsx, "w") as archive:  # the parts every workbook has
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    xls = tmp_path / "tx.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    for path in (xlsx, xls):
        with pytest.raises(DataError, match=r"an Excel workbook, not a CSV file; .*to_csv"):
            CsvSource(path, TINY_SCHEMA).load()
        with pytest.raises(DataError, match=r"cannot read as Parquet .*it is an Excel workbook"):
            ParquetSource(path, TINY_SCHEMA).load()
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("train.csv", "y\n1\n")
        archive.writestr("test.csv", "y\n0\n")
    with pytest.raises(DataError, match=r"a zip archive of 2 files \('train.csv', 'test.csv'\)"):
        CsvSource(two, TINY_SCHEMA).load()
    # a zip made by macOS's Finder: a folder entry and a resource-fork copy beside the one CSV
    finder = tmp_path / "finder.zip"
    with zipfile.ZipFile(finder, "w") as archive:
        archive.writestr("tx/", "")
        archive.writestr("tx/tx.csv", tiny_frame().to_csv(index=False))
        archive.writestr("__MACOSX/tx/._tx.csv", b"\x00\x05\x16\x07 resource fork")
    plain = CsvSource(write_csv(tmp_path, tiny_frame()), TINY_SCHEMA).load()
    pd.testing.assert_frame_equal(CsvSource(finder, TINY_SCHEMA).load().frame, plain.frame)
    zst = tmp_path / "tx.csv.zst"
    zst.write_bytes(b"(\xb5/\xfd" + bytes(20))
    with pytest.raises(DataError, match=r"compressed with zstd; decompress it first"):
        CsvSource(zst, TINY_SCHEMA).load()


def test_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "_SUCCESS").write_text("")
    for source in (CsvSource, ParquetSource):
        with pytest.raises(DataError, match="the folder holds no data file"):
            source(tmp_path, TINY_SCHEMA).load()


def test_a_folder_of_csv_files_is_one_table(
    tmp_path: Path, sim: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """Daily exports: the files in name order, one compressed, one nested, Spark's marker."""
    folder = tmp_path / "days"
    (folder / "2026-01").mkdir(parents=True)
    parts = np.array_split(np.arange(len(sim)), 4)
    names = ["2026-01/a.csv", "2026-01/b.csv.gz", "c.csv", "d.csv"]
    for name, rows in zip(names, parts, strict=True):
        sim.iloc[rows].to_csv(folder / name, index=False)
    (folder / "_SUCCESS").write_text("")
    loaded = build_source("csv", path=str(folder), schema=SIMULATOR_SCHEMA).load()
    whole = build_source("csv", path=str(write_csv(tmp_path, sim)), schema=SIMULATOR_SCHEMA)
    pd.testing.assert_frame_equal(loaded.frame, whole.load().frame)
    assert loaded.digest == frame_digest(sim) and loaded.source_path == str(folder)
    assert loaded.name == f"{folder} (4 CSV files: 2026-01/a.csv .. d.csv)"
    # a column of digits in one file and text in another is text as written in both
    coded = sim.assign(zone=np.where(np.arange(len(sim)) < len(parts[0]), "0042", "B7"))
    for name, rows in zip(names, parts, strict=True):
        coded.iloc[rows].to_csv(folder / name, index=False)
    schema = dataclasses.replace(
        SIMULATOR_SCHEMA, categorical=(*SIMULATOR_SCHEMA.categorical, "zone")
    )
    zones = CsvSource(folder, schema).load().frame["zone"]
    assert sorted(set(zones)) == ["0042", "B7"]
    # the last transaction of c.csv exported again in d.csv after its chargeback
    for name, rows in zip(names, parts, strict=True):
        sim.iloc[rows].to_csv(folder / name, index=False)
    again = sim.iloc[parts[2][-1:]].assign(is_fraud=lambda d: 1 - d["is_fraud"])
    pd.concat([again, sim.iloc[parts[3]]]).to_csv(folder / "d.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="pipeline.data.sources"):
        CsvSource(folder, SIMULATOR_SCHEMA).load()
    last = len(parts[2]) - 1
    assert f"(e.g. row {last} of c.csv and row 0 of d.csv)" in caplog.text
    for name, rows in zip(names, parts, strict=True):
        sim.iloc[rows].to_csv(folder / name, index=False)
    # a message about a row names the file and its row there
    bad = sim.iloc[parts[2]].reset_index(drop=True)
    bad.loc[7, "amount"] = np.inf
    bad.to_csv(folder / "c.csv", index=False)
    with pytest.raises(DataError, match=r"infinite value \(inf\) at row 7 of c\.csv"):
        CsvSource(folder, SIMULATOR_SCHEMA).load()
    bad = sim.iloc[parts[2]].reset_index(drop=True).astype({"is_fraud": float})
    bad.loc[[3, 8], "is_fraud"] = np.nan
    bad.to_csv(folder / "c.csv", index=False)
    with pytest.raises(
        DataError, match=r"2 missing value\(s\) \(row 3 of c\.csv, row 8 of c\.csv\)"
    ):
        CsvSource(folder, SIMULATOR_SCHEMA).load()
    bad.drop(columns="amount").assign(Amount=1.0).to_csv(folder / "c.csv", index=False)
    with pytest.raises(DataError, match=r"c\.csv: its columns differ from those of 2026-01/a\.csv"):
        CsvSource(folder, SIMULATOR_SCHEMA).load()
    with pytest.raises(DataError, match=r"\(lacking: 'amount'; extra: 'Amount'\)"):
        CsvSource(folder, SIMULATOR_SCHEMA).load()
    (folder / "c.csv").unlink()
    sim.iloc[parts[2]].to_parquet(folder / "c.parquet")
    with pytest.raises(DataError, match=r"c\.parquet is a Parquet file among CSV files"):
        CsvSource(folder, SIMULATOR_SCHEMA).load()
    with pytest.raises(DataError, match=r"a folder of CSV files is data\.kind: csv"):
        ParquetSource(folder, SIMULATOR_SCHEMA).load()


def test_decimal_parquet_columns_load_as_floats(tmp_path: Path) -> None:
    """A warehouse export types amounts NUMERIC(18, 2): pandas would hold `Decimal` objects, a
    column neither numeric nor categorical; they load as the floats they are, file or folder."""
    import decimal

    import pyarrow.parquet as pq

    df = tiny_frame(12).assign(fee=np.linspace(0.001, 0.5, 12).round(3))
    df.loc[3, "fee"] = np.nan
    table = pa.Table.from_pandas(df, preserve_index=False)
    for name, digits in (("amount", 2), ("fee", 3)):
        column = [None if pd.isna(v) else decimal.Decimal(f"{v:.{digits}f}") for v in df[name]]
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(column, pa.decimal128(18, digits))
        )
    path = tmp_path / "numeric.parquet"
    pq.write_table(table, path)
    df.to_parquet(tmp_path / "floats.parquet", index=False)
    schema = {**TINY_SCHEMA, "categorical": ["kind"]}
    expected = ParquetSource(tmp_path / "floats.parquet", schema).load().frame
    for source in (path, tmp_path / "folder"):
        if source.name == "folder":
            source.mkdir()
            pq.write_table(table, source / "part-0.parquet")
        frame = ParquetSource(source, schema).load().frame
        assert frame["fee"].dtype == frame["amount"].dtype == np.float64
        pd.testing.assert_frame_equal(frame, expected)


def test_a_folder_of_parquet_files_is_one_dataset(tmp_path: Path) -> None:
    df = tiny_frame(12).assign(part=lambda d: np.where(d["tx"] < 6, "a", "b"))
    folder = tmp_path / "tx"
    df.to_parquet(folder, partition_cols=["part"], index=False)  # tx/part=a/..., tx/part=b/...
    (folder / "_SUCCESS").write_text("")  # Spark's marker and checksums are skipped
    (folder / "part=a" / ".part-0.crc").write_bytes(b"\x00")
    loaded = ParquetSource(folder, {**TINY_SCHEMA, "categorical": ["kind", "part"]}).load()
    assert loaded.n_rows == 12 and loaded.n_positive == 2
    assert sorted(loaded.frame["tx"]) == list(range(12))
    # the hive partition is a column again, text as written
    assert sorted(set(loaded.frame["part"].astype(str))) == ["a", "b"]
    path = tmp_path / "whole.parquet"
    df.to_parquet(path, index=False)
    whole = ParquetSource(path, {**TINY_SCHEMA, "categorical": ["kind", "part"]})
    pd.testing.assert_frame_equal(
        loaded.frame.drop(columns="part").reset_index(drop=True),
        whole.load().frame.drop(columns="part").reset_index(drop=True),
        check_dtype=False,
    )
    (folder / "part=b" / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"1 of the folder's 3 file\(s\) are not Parquet, e.g. "):
        ParquetSource(folder, TINY_SCHEMA).load()


def test_every_file_of_a_parquet_folder_is_read_and_holds_every_column(tmp_path: Path) -> None:
    df = tiny_frame(12)
    folder = tmp_path / "days"
    folder.mkdir()
    df.iloc[:4].to_parquet(folder / "1.parquet", index=False)
    df.iloc[4:8].to_parquet(folder / "2.parquet", index=False)
    df.iloc[8:].drop(columns=["amount"]).to_parquet(folder / "3.parquet", index=False)
    # read as one dataset, the third file's amounts would be missing values: refused, named
    with pytest.raises(
        DataError,
        match=r"days: 3\.parquet lacks 1 of the folder's columns \('amount', in 1\.parquet\): "
        "every file of a folder must hold the same columns",
    ):
        ParquetSource(folder, TINY_SCHEMA).load()
    df.iloc[8:].to_parquet(folder / "3.parquet", index=False)
    assert ParquetSource(folder, TINY_SCHEMA).load().n_rows == 12
    # a damaged file is named before anything is read
    (folder / "2.parquet").write_bytes((folder / "2.parquet").read_bytes()[:200])
    with pytest.raises(DataError, match=r"days: 2\.parquet: not a readable Parquet file \("):
        ParquetSource(folder, TINY_SCHEMA).load()


@pytest.mark.parametrize("key", ["kind", "y"])
def test_a_folder_key_that_is_also_a_column_is_refused(tmp_path: Path, key: str) -> None:
    """`kind=a/` folders holding files with a `kind` column: read as hive partitions, the column
    would be there twice. pyarrow fails to merge a text key with a text column; an int32 column
    it reads, silently taking the folder's values over the file's."""
    df = tiny_frame(12).astype({"y": "int32"})
    for fmt in ("parquet", "csv"):
        folder = tmp_path / f"{fmt}_{key}"
        for value, part in df.groupby(key):
            (folder / f"{key}={value}").mkdir(parents=True)
            file = folder / f"{key}={value}" / f"part-0.{fmt}"
            part.to_parquet(file, index=False) if fmt == "parquet" else part.to_csv(
                file, index=False
            )
        said = (
            rf"{fmt}_{key}: {key}=\w+/part-0\.{fmt}: its folder {key}=\.\.\. makes '{key}' a column"
        )
        source = ParquetSource if fmt == "parquet" else CsvSource
        with pytest.raises(DataError, match=said):
            source(folder, TINY_SCHEMA).load()


def test_a_csv_folder_partitioned_as_spark_writes_it_reads_its_keys(tmp_path: Path) -> None:
    """`key=value` folders are columns, as pyarrow reads a Parquet folder and Spark either: typed
    as numbers where every value is one, text otherwise; Hive's null folder a missing value."""
    df = tiny_frame(12).assign(
        region=["north", "south", "east"] * 4,
        mcc=["0742", "5411", "0042"] * 4,
        shard=[1, 2] * 6,
        note=["a b", "x/y", None] * 4,
    )
    folder = tmp_path / "parts"
    for (mcc, shard, note), rows in df.groupby(["mcc", "shard", "note"], dropna=False):
        value = HIVE_NULL if pd.isna(note) else quote(note, safe="")
        part = folder / f"mcc={mcc}" / f"shard={shard}" / f"note={value}"
        part.mkdir(parents=True)
        rows.drop(columns=["mcc", "shard", "note"]).to_csv(part / "0.csv", index=False)
    read = CsvSource(folder, TINY_SCHEMA).load().frame.set_index("tx").sort_index()
    expected = df.set_index("tx").assign(mcc=df["mcc"].astype(int).to_numpy())
    assert read["shard"].dtype.kind == "i" and read["mcc"].dtype.kind == "i"  # 742, as pyarrow
    pd.testing.assert_series_equal(read["mcc"], expected["mcc"])
    pd.testing.assert_series_equal(read["shard"], expected["shard"])
    pd.testing.assert_series_equal(read["note"], expected["note"])  # decoded; the null missing
    assert folder_keys(
        [folder / "mcc=0042/shard=1/note=a%20b/0.csv"], folder, text_columns=["mcc"]
    ) == [{"mcc": "0042", "shard": 1, "note": "a b"}]
    # a key written as text somewhere is text everywhere, as a CSV column is
    (folder / "mcc=none/shard=1/note=a%20b").mkdir(parents=True)
    df.iloc[:1].drop(columns=["mcc", "shard", "note"]).assign(tx=99).to_csv(
        folder / "mcc=none/shard=1/note=a%20b/0.csv", index=False
    )
    read = CsvSource(folder, TINY_SCHEMA).load().frame
    assert set(read["mcc"]) == {"0742", "5411", "0042", "none"}
    # a file outside the key folders would have its rows' keys missing: refused, as Spark does
    df.iloc[:1].drop(columns=["mcc", "shard", "note"]).assign(tx=98).to_csv(
        folder / "extra.csv", index=False
    )
    with pytest.raises(DataError, match=r"parts: mcc=.*/0\.csv: its key=value folders \('mcc', "):
        CsvSource(folder, TINY_SCHEMA).load()
    # ...and a Parquet folder's such file is named with a file that has the key
    df.to_parquet(tmp_path / "pq", partition_cols=["mcc"], index=False)
    df.iloc[:1].drop(columns="mcc").to_parquet(tmp_path / "pq" / "0.parquet", index=False)
    with pytest.raises(DataError, match=r"pq: 0\.parquet lacks 1 .*\('mcc', in mcc=0042/"):
        ParquetSource(tmp_path / "pq", TINY_SCHEMA).load()


def test_a_folder_key_of_digits_stays_text_when_asked(tmp_path: Path) -> None:
    """Partitioned by merchant code (`mcc=0742/`): pyarrow makes the key an integer (742); a
    model whose codes are text scores the folder as the flat file only with the text back."""
    df = tiny_frame(12).assign(mcc=["0742", "5411", "0042"] * 4)
    df.to_parquet(tmp_path / "by_mcc", partition_cols=["mcc"], index=False)
    inferred = parquet_folder(tmp_path / "by_mcc", "by_mcc").to_table().column("mcc")
    assert sorted(inferred.unique().to_pylist()) == [42, 742, 5411]
    read = parquet_folder(tmp_path / "by_mcc", "by_mcc", text_columns=["mcc", "kind"])
    table = read.to_table()
    assert sorted(table.column("mcc").unique().to_pylist()) == ["0042", "0742", "5411"]
    assert table.num_rows == 12 and table.schema.field("amount").type == pa.float64()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        CsvSource(path, TINY_SCHEMA).load()


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("tx,t,amount,y\n")
    with pytest.raises(DataError, match=r"header\.csv: no rows"):
        CsvSource(path, TINY_SCHEMA).load()


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot read as Parquet") as info:
        ParquetSource(path, TINY_SCHEMA).load()
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "CSV" not in str(info.value)  # a Parquet file, if a broken one: no hint to change kind


def test_not_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("caf\xe9,y\n1,0\n".encode("latin-1"))
    utf8 = r"not UTF-8 text: .*save it as UTF-8, e\.g\. iconv -f cp1252"
    with pytest.raises(DataError, match=r"latin\.csv: cannot read as CSV \(" + utf8):
        CsvSource(path, {"label": "y"}).load()
    # a Latin-1 byte far below the header: pandas, not the header check, meets it
    rows = "".join(f"{i},{i % 2}\n" for i in range(20_000))
    path.write_bytes(f"n,y\n{rows}caf\xe9,0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: cannot read as CSV \(" + utf8):
        CsvSource(path, {"label": "y"}).load()


def test_a_file_of_the_other_kind_is_named_as_such(tmp_path: Path) -> None:
    parquet = tmp_path / "export.csv"  # a Parquet file under a .csv name
    tiny_frame().to_parquet(parquet, index=False)
    with pytest.raises(DataError, match=r"it is a Parquet file: set data\.kind: parquet$"):
        CsvSource(parquet, TINY_SCHEMA).load()
    text = write_csv(tmp_path, tiny_frame(), "export.parquet")
    with pytest.raises(DataError, match=r"it is no Parquet file: a CSV is data\.kind: csv$"):
        ParquetSource(text, TINY_SCHEMA).load()


def test_missing_columns_all_listed_with_available(tmp_path: Path) -> None:
    path = write_csv(tmp_path, tiny_frame().drop(columns=["t", "amount"]))
    schema = {**TINY_SCHEMA, "categorical": ["kind", "shop"]}
    with pytest.raises(DataError) as info:
        CsvSource(path, schema).load()
    msg = str(info.value)
    assert str(path) in msg
    assert "'t'" in msg and "'amount'" in msg and "'shop'" in msg
    assert "Available columns: 'tx', 'kind', 'y'" in msg
    assert "differ only" not in msg
    # a header written with other case or stray spaces is named beside the declared name
    path = write_csv(tmp_path, tiny_frame().rename(columns={"amount": "Amount ", "t": "T"}))
    with pytest.raises(DataError, match="The file has 'T' for 't', 'Amount ' for 'amount', which"):
        CsvSource(path, TINY_SCHEMA).load()


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, 1, 2, 0, 1, 0, 0, 0], r"label column 'y' must be binary.*0, 1, 2; 2 in row 2$"),
        ([0, 1, 2, 0, 1, 2, 3, 3], r"must be binary.*0, 1, 2, 3$"),  # no few stray values
        (
            ["legit", "fraud"] * 4,
            r"must be binary.*'fraud', 'legit'; write it as 0/1 with 1 for fraud, e\.g\. in "
            r"pandas: df\['y'\] = \(df\['y'\] == 'fraud'\)\.astype\(int\) if 'fraud' means",
        ),
        (
            ["no", "yes", "y"] * 2 + ["No ", "maybe"],
            r"must be binary.*5 distinct.*'No ', 'maybe', 'no', 'y', 'yes'; 'y', 'maybe' in rows 2, 5, 7$",
        ),
        ([0.0, 1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0], r"must be binary.*0\.5"),
    ],
)
def test_label_not_binary(tmp_path: Path, labels: list, match: str) -> None:
    df = tiny_frame()
    df["y"] = labels
    with pytest.raises(DataError, match=match):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_label_with_missing_values(tmp_path: Path) -> None:
    df = tiny_frame()
    df["y"] = [1, 0, None, 0, 0, 0, 0, 1]
    with pytest.raises(DataError, match=r"label column 'y' has 1 missing value\(s\) \(row 2\)"):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    df["y"] = [1, None, None, 0, 0, None, 0, 1]
    with pytest.raises(DataError, match=r"has 3 missing value\(s\) \(rows 1, 2, 5\)"):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_no_positive_rows(tmp_path: Path) -> None:
    df = tiny_frame()
    df["y"] = 0
    with pytest.raises(DataError, match=r"data\.csv: label column 'y' has no positive"):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_only_positive_rows(tmp_path: Path) -> None:
    df = tiny_frame()
    df["y"] = 1
    with pytest.raises(DataError, match="only positive"):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_all_nan_column(tmp_path: Path) -> None:
    df = tiny_frame()
    df["notes"] = np.nan
    path = write_csv(tmp_path, df)
    with pytest.raises(DataError, match=r"no values at all.*'notes'"):
        CsvSource(path, TINY_SCHEMA).load()
    ds = CsvSource(path, {**TINY_SCHEMA, "drop": ["notes"]}).load()  # allowed when dropped
    assert "notes" in ds.frame


def test_duplicated_column_names_in_csv_header(tmp_path: Path) -> None:
    path = tmp_path / "dups.csv"
    path.write_text("tx,t,amount,amount,y\n0,2026-01-01,1.0,2.0,1\n1,2026-01-02,3.0,4.0,0\n")
    with pytest.raises(DataError, match=r"dups\.csv: duplicated column name.*'amount'"):
        CsvSource(path, TINY_SCHEMA).load()


def test_a_csv_without_its_header_line_is_named_so(tmp_path: Path) -> None:
    """Spark writes CSV without a header unless asked: the first row is no column names."""
    path = tmp_path / "part-0.csv"
    tiny_frame(6).to_csv(path, index=False, header=False)
    said = r"part-0\.csv: the first line looks like a row of data, not column names \('0', '2026"
    with pytest.raises(DataError, match=said):
        CsvSource(path, TINY_SCHEMA).load()
    # column names that are whole numbers (pandas writes a frame's default columns so) are names
    wide = tmp_path / "wide.csv"
    tiny_frame(6).rename(columns={"amount": "0", "kind": "1"}).to_csv(wide, index=False)
    assert CsvSource(wide, {**TINY_SCHEMA, "amount": "0"}).load().frame.shape[0] == 6


def test_duplicated_column_names_in_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array([0, 1]), pa.array([1, 0]), pa.array([0, 1])], names=["y", "a", "a"])
    path = tmp_path / "dups.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError, match=r"dups\.parquet: duplicated column name.*'a'"):
        ParquetSource(path, {"label": "y"}).load()


def test_duplicated_column_names_in_frame() -> None:
    df = pd.DataFrame([[1, 0, 2]], columns=["y", "a", "a"])
    with pytest.raises(DataError, match="duplicated column name.*'a'"):
        validate_frame(df, Schema(label="y"), "frame")


def test_time_not_parseable(tmp_path: Path) -> None:
    df = tiny_frame()
    df.loc[2, "t"] = "yesterday"
    df.loc[5, "t"] = "soon"
    with pytest.raises(
        DataError, match=r"time column 't' has 2 value.*not dates.*'yesterday'.* \(rows 2, 5\)"
    ):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


@pytest.mark.parametrize(
    ("unit", "per_second"),
    [
        ("milliseconds", 1000.0),
        ("seconds", 1.0),
        ("minutes", 1 / 60),
        ("hours", 1 / 3600),
        ("weeks", 1 / 604_800),
        ("months", 1 / 2_629_746),
    ],
)
def test_numeric_times_are_read_as_seconds_in_any_unit(
    tmp_path: Path, unit: str, per_second: float
) -> None:
    df = tiny_frame()
    seconds = 1.7e9 + np.arange(len(df))[::-1] * 7_200.0  # epoch seconds, two hours apart
    df["t"] = seconds * per_second
    loaded = CsvSource(write_csv(tmp_path, df), {**TINY_SCHEMA, "time_unit": unit}).load()
    np.testing.assert_allclose(loaded.frame["t"].to_numpy(), np.sort(seconds))
    assert loaded.schema.numeric_time and loaded.schema.time_unit == unit


@pytest.mark.parametrize(
    ("values", "unit", "match"),
    [
        # epoch milliseconds declared as seconds: year 55,000
        (
            1.7e12 + np.arange(8) * 6e4,
            "seconds",
            r"reaches 17000\d+ \(row 7\), 53,\d{3} years from 0"
            r".*if its numbers are milliseconds, set time_unit",
        ),
        # milliseconds since the first row, 120 days, as seconds: 328 years from 0
        (np.arange(8) * 1.5e9, "seconds", r"reaches 10500000000 \(row 7\)"),
        # epoch seconds as hours
        (
            1.7e9 + np.arange(8) * 60.0,
            "hours",
            r"reaches .*if its numbers are minutes, seconds or milliseconds",
        ),
        # seconds before and after the epoch, 190 years apart
        (
            np.linspace(-3e9, 3e9, 8),
            "seconds",
            r"spans 190 years \(row 0: -3000000000, row 7: 3000000000\)",
        ),
    ],
)
def test_numeric_times_too_far_for_their_unit_are_refused(
    tmp_path: Path, values: np.ndarray, unit: str, match: str
) -> None:
    df = tiny_frame()
    df["t"] = values
    with pytest.raises(DataError, match=f"time column 't' in {unit}, as the schema says, {match}"):
        CsvSource(write_csv(tmp_path, df), {**TINY_SCHEMA, "time_unit": unit}).load()


@pytest.mark.parametrize(
    "writing", ["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M", "%d-%m-%Y %H:%M"]
)
def test_dates_with_the_day_or_the_month_first_are_read_in_one_order(
    tmp_path: Path, writing: str
) -> None:
    df = tiny_frame(16)
    times = pd.date_range("2026-01-25 08:00", periods=16, freq="D")  # days 25..31, then 1..9
    df["t"] = times.strftime(writing)
    loaded = CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    np.testing.assert_array_equal(loaded.frame["t"].to_numpy(), times.to_numpy())
    assert loaded.time_day_first is writing.startswith("%d")


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        # every row could be either: 01/02 is January 2 or February 1
        (
            ["01/02/2026 10:00"] * 4 + ["03/04/2026 11:00"] * 4,
            r"both numbers 12 or less in every row \(e\.g\. row 0: '01/02/2026 10:00'\)",
        ),
        # ISO and day first in one column
        (
            ["2026-01-25 10:00"] * 4 + ["26/01/2026 11:00"] * 4,
            r"two ways \(row 4: '26/01/2026 11:00', row 0: '2026-01-25 10:00'\)",
        ),
        # a row of each order
        (
            ["25/01/2026 10:00"] * 4 + ["01/25/2026 11:00"] * 4,
            r"both day first \(row 0: '25/01/2026 10:00'\) "
            r"and month first \(row 4: '01/25/2026 11:00'\)",
        ),
    ],
)
def test_dates_whose_order_cannot_be_told_are_refused(
    tmp_path: Path, texts: list[str], match: str
) -> None:
    df = tiny_frame()
    df["t"] = texts
    with pytest.raises(DataError, match=r"time column 't' writes dates .*" + match):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_words_among_day_first_dates_are_named_as_no_dates(tmp_path: Path) -> None:
    df = tiny_frame()
    df["t"] = ["25/01/2026 10:00"] * 7 + ["next week"]
    with pytest.raises(
        DataError, match="time column 't' has 1 value.* not dates, e.g. 'next week'"
    ):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_a_model_reads_dates_in_the_order_it_was_trained_with() -> None:
    one_day = pd.Series(["05/03/2026 10:00", "05/03/2026 11:30"])  # either order alone
    read = coerce_time(one_day, "t", "datetime", "new.csv", model=True, day_first=True)
    assert read.dt.month.tolist() == [3, 3] and read.dt.day.tolist() == [5, 5]
    read = coerce_time(one_day, "t", "datetime", "new.csv", model=True, day_first=False)
    assert read.dt.month.tolist() == [5, 5]
    with pytest.raises(
        DataError, match="month first .*'03/25/2026 10:00'.* trained on dates written day first"
    ):
        coerce_time(
            pd.Series(["03/25/2026 10:00"]), "t", "datetime", "new.csv", model=True, day_first=True
        )
    iso = coerce_time(
        pd.Series(["2026-03-05 10:00"]), "t", "datetime", "new.csv", model=True, day_first=True
    )
    assert iso.dt.month.tolist() == [3] and iso.dt.day.tolist() == [5]


def test_numeric_time_with_datetime_unit(tmp_path: Path) -> None:
    df = tiny_frame()
    df["t"] = np.arange(len(df)) * 10.0
    with pytest.raises(
        DataError, match="time column 't' is numeric.*set time_unit to the numbers' unit"
    ):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


def test_seconds_time_not_numeric(tmp_path: Path) -> None:
    df = creditcard_frame(20).astype({"Time": object})
    df.loc[4, "Time"] = "noon"
    path = write_csv(tmp_path, df, "cc.csv")
    with pytest.raises(DataError, match=r"cc\.csv: time \(seconds\) column 'Time' must be numeric"):
        build_source("csv", path=str(path), preset="creditcard").load()


def test_missing_time_values(tmp_path: Path) -> None:
    df = tiny_frame()
    df.loc[3, "t"] = None
    with pytest.raises(DataError, match=r"time column 't' has 1 missing value\(s\) \(row 3\)"):
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        (["12,50 EUR"], False),
        (["12,50"], False),  # a decimal comma: dropping the comma would make it 1250
        (["$134.09", "$-77.00", " € 1,234.50"], True),
        (["$1,23.00"], False),
    ],
)
def test_amount_not_numeric(tmp_path: Path, written: list[str], hint: bool) -> None:
    df = tiny_frame().astype({"amount": object})
    df.loc[1 : len(written), "amount"] = written
    with pytest.raises(DataError, match=r"amount column 'amount' must be numeric") as error:
        CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    assert repr(written[0]) in str(error.value)
    assert ("carry a currency sign or thousands separators" in str(error.value)) == hint


def test_a_negative_amount_is_refused_naming_its_rows(tmp_path: Path) -> None:
    """Refunds in a transaction log: the amount-caught metric failed every fold after training."""
    df = tiny_frame()
    df.loc[[2, 5], "amount"] *= -1
    path = write_csv(tmp_path, df)
    with pytest.raises(DataError, match=r"amount column 'amount' is negative in rows 2, 5; "):
        CsvSource(path, TINY_SCHEMA).load()
    plain = {k: v for k, v in TINY_SCHEMA.items() if k != "amount"}  # a plain feature: loads
    assert (CsvSource(path, plain).load().frame["amount"] < 0).sum() == 2


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("amount", 1e308, r"column 'amount' holds 1e\+308 at row \d, beyond the float32 range"),
        ("score", -1e39, r"column 'score' holds -1e\+39 at row \d, beyond the float32 range"),
        ("score", np.inf, r"column 'score' holds an infinite value \(inf\) at row \d"),
    ],
)
def test_numbers_beyond_float32_are_refused_at_load(
    tmp_path: Path, column: str, value: float, match: str
) -> None:
    df = tiny_frame()
    df["score"] = np.linspace(0, 1, len(df))
    df.loc[3, column] = value
    path = write_csv(tmp_path, df)
    with pytest.raises(DataError, match=match) as err:
        CsvSource(path, TINY_SCHEMA).load()
    assert str(path) in str(err.value)


def test_big_ids_and_dropped_columns_are_not_features(tmp_path: Path) -> None:
    df = tiny_frame()
    df["tx"] = np.arange(len(df)) + 9_000_000_000_000_000_000
    df["note"] = 1e308
    loaded = CsvSource(write_csv(tmp_path, df), {**TINY_SCHEMA, "drop": ["note"]}).load()
    assert loaded.n_rows == len(df)


def test_mixed_utc_offsets_become_utc(tmp_path: Path) -> None:
    df = tiny_frame(4)
    df["t"] = [
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:00:00+01:00",
        "2026-01-01T12:30:00-02:00",
        "2026-01-01T08:00:00.500+0000",
    ]
    ds = CsvSource(write_csv(tmp_path, df), TINY_SCHEMA).load()
    assert ds.frame["t"].dtype == "datetime64[ns]"
    assert sorted(ds.frame["t"]) == [
        pd.Timestamp("2026-01-01 08:00:00.5"),
        pd.Timestamp("2026-01-01 09:00:00"),
        pd.Timestamp("2026-01-01 10:00:00"),
        pd.Timestamp("2026-01-01 14:30:00"),
    ]
    assert ds.time_offsets
    assert not CsvSource(write_csv(tmp_path, tiny_frame(4)), TINY_SCHEMA).load().time_offsets


def test_times_with_and_without_an_offset_are_refused_naming_rows(tmp_path: Path) -> None:
    df = tiny_frame(4)
    df["t"] = ["2026-01-01 10:00:00", "2026-01-01T10:00:00+01:00"] * 2
    path = write_csv(tmp_path, df)
    with pytest.raises(DataError) as err:
        CsvSource(path, TINY_SCHEMA).load()
    text = str(err.value)
    assert str(path) in text and "'t'" in text
    assert "row 1: '2026-01-01T10:00:00+01:00'" in text and "row 0: '2026-01-01 10:00:00'" in text


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_with_another_separator_gets_a_hint(tmp_path: Path, sep: str, name: str) -> None:
    path = tmp_path / "data.csv"
    tiny_frame().to_csv(path, index=False, sep=sep)
    with pytest.raises(DataError, match=f"{path}: the header is one column.*separated by {name}"):
        CsvSource(path, TINY_SCHEMA).load()
