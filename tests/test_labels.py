"""Labels from a file of fraud reports (`data.labels`): the join by id, the report delays, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.errors import ConfigError, DataError
from pipeline.config import DataConfig
from pipeline.data.labels import LabelFile
from pipeline.data.sources import build_source, id_keys, load_dataset

DAY = 86_400
SCHEMA = {"label": "y", "time": "t", "time_unit": "seconds", "id": "tx", "amount": "amount"}


def transactions(tmp_path: Path, ids: list | None = None) -> Path:
    """Ten transactions a day apart, ids 1..10 unless given."""
    frame = pd.DataFrame(
        {
            "tx": ids if ids is not None else list(range(1, 11)),
            "t": np.arange(10) * DAY + 3_600.0,
            "amount": np.arange(10) + 1.5,
        }
    )
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    return path


def load(path: Path, labels: dict, schema: dict | None = None):
    spec = LabelFile.of(labels)
    return build_source("csv", path=str(path), schema=schema or SCHEMA, labels=spec).load()


def test_reported_ids_are_fraud_and_their_delays_counted_from_each_transaction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Hand values: ids 3 and 7 reported (7 twice: its first report counts), 9 reported without
    a date, 5 reported two days before its transaction; an id no transaction has, and a report
    row without an id. The reports' ids are text, the transactions' numbers."""
    path = transactions(tmp_path)
    reports = pd.DataFrame(
        {
            "txn": ["0003", "7", "7", "9", "5", "X42", None],  # text: "0003" is transaction 3
            "at": [
                2 * DAY + 3_600 + 1.5 * DAY,  # 1.5 days after transaction 3 (t = 2 days)
                6 * DAY + 3_600 + 10 * DAY,
                6 * DAY + 3_600 + 4 * DAY,  # 7's first report: 4 days after
                None,
                4 * DAY + 3_600 - 2 * DAY,  # two days before transaction 5
                DAY,
                DAY,
            ],
        }
    )
    reports.to_csv(tmp_path / "reports.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="pipeline.data.labels"):
        data = load(path, {"path": tmp_path / "reports.csv", "id": "txn", "reported_at": "at"})
    assert data.frame["y"].tolist() == [0, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert data.reports is not None
    assert (data.reports.reported, data.reports.matched) == (5, 4)
    fraud = np.array([2, 4, 6, 8])
    np.testing.assert_allclose(data.reports.delays[fraud], [1.5, 0.0, 4.0, np.nan])
    assert np.isnan(np.delete(data.reports.delays, fraud)).all()
    assert "1 report row(s) have no id in 'txn' (e.g. row 6)" in caplog.text
    assert "1 of the 5 ids reported match no transaction" in caplog.text
    assert "'X42'" in caplog.text
    assert (
        "1 fraud(s) reported more than a day before their transaction (e.g. id '5', reported "
        "176400 seconds, its transaction at 349200 seconds)" in caplog.text
    )
    assert data.reports.params() == {
        "data.labels.reported": 5,
        "data.labels.matched": 4,
        "data.labels.delay_median_days": 1.5,
        "data.labels.delay_p90_days": 3.5,
    }
    line = data.reports.summary("y", 2.0)
    assert "5 ids reported in" in line and "4 among the transactions -> 'y'" in line
    assert "reported 0.0 .. 4.0 days after the transaction, median 1.5, 90 % within 3.5" in line
    assert line.endswith(
        "; 33% later than features.label_delay_days (2), known from their report on"
    )
    assert ", labels from " in data.name


def test_dated_reports_and_a_parquet_folder_of_them(tmp_path: Path) -> None:
    """Dates written day first, transactions as datetimes; the reports a folder of Parquet files."""
    times = pd.date_range("2026-03-01 10:00", periods=10, freq="D")
    pd.DataFrame({"tx": [f"T{i}" for i in range(10)], "t": times, "amount": 1.0}).to_csv(
        tmp_path / "tx.csv", index=False
    )
    folder = tmp_path / "reports"
    folder.mkdir()
    pd.DataFrame({"tx": ["T1"], "day": ["05/03/2026"]}).to_parquet(folder / "a.parquet")
    pd.DataFrame({"tx": ["T8 "], "day": ["20/03/2026"]}).to_parquet(folder / "b.parquet")
    schema = {"label": "y", "time": "t", "id": "tx"}
    data = load(tmp_path / "tx.csv", {"path": folder, "reported_at": "day"}, schema)
    assert data.frame["y"].tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    # T1 at 2026-03-02 10:00, reported on the 5th; T8 at the 9th 10:00, reported on the 20th
    np.testing.assert_allclose(data.reports.delays[[1, 8]], [3 - 10 / 24, 11 - 10 / 24])


def test_reported_19_digit_ids_with_a_missing_one_match_their_transactions(
    tmp_path: Path,
) -> None:
    """A report file whose id column has a gap is read as floats by pandas, and 19-digit ids
    there lose their last digits: they would match no transaction, or the wrong one."""
    base = 4_000_000_000_000_000_000
    path = transactions(tmp_path, [base + i for i in range(1, 11)])
    reported = pd.array([base + 3, base + 8, None], dtype="Int64")
    pd.DataFrame({"tx": reported}).to_csv(tmp_path / "reports.csv", index=False)
    data = load(path, {"path": tmp_path / "reports.csv"})
    assert data.frame["y"].tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 0, 0]


def test_ids_match_as_written_save_numbers_and_leading_zeros() -> None:
    numbers = pd.Series([42.0, 7.0, np.nan, 2.5])
    assert id_keys(numbers, as_number=False).tolist() == ["42", "7", pd.NA, "2.5"]
    cards = pd.Series([4_000_123_456_789_011, 4_000_123_456_789_012])  # apart beyond 2**53
    assert id_keys(cards, as_number=False).tolist() == ["4000123456789011", "4000123456789012"]
    beyond_int64 = pd.Series(np.array([9_300_000_000_000_000_001], dtype=np.uint64))
    assert id_keys(beyond_int64, as_number=False).tolist() == ["9300000000000000001"]
    text = pd.Series(["0042", " T7 ", "", "-007", None, "1053.0", "+12", "4.5"])
    assert id_keys(text, as_number=True).tolist() == [
        *["42", "T7", pd.NA, "-7", pd.NA, "1053", "12", "4.5"]
    ]
    assert id_keys(text, as_number=False).tolist() == [
        *["0042", "T7", pd.NA, "-007", pd.NA, "1053.0", "+12", "4.5"]
    ]


def test_bad_reports_are_named_before_any_work(tmp_path: Path) -> None:
    path = transactions(tmp_path)
    reports = tmp_path / "reports.csv"
    pd.DataFrame({"id": [3, 4], "when": ["x", "y"]}).to_csv(reports, index=False)
    with pytest.raises(DataError, match=r"data.labels.id column 'txn' missing\. Available"):
        load(path, {"path": reports, "id": "txn"})
    with pytest.raises(
        DataError, match=r"'tx' \(the schema's id, as data.labels.id is not set\) missing"
    ):
        load(path, {"path": reports})
    with pytest.raises(DataError, match="data.labels.reported_at column 'date' missing"):
        load(path, {"path": reports, "id": "id", "reported_at": "date"})
    with pytest.raises(DataError, match=r"report date \(seconds\) column 'when' must be numeric"):
        load(path, {"path": reports, "id": "id", "reported_at": "when"})
    pd.DataFrame({"id": ["A3", "A4"]}).to_csv(reports, index=False)
    with pytest.raises(
        DataError,
        match=r"none of the 2 ids in column 'id' is among the transactions' 'tx' .*"
        r"reports 'A3', 'A4', transactions '1', '2', '3', .* '10'; are the ids written the same way",
    ):
        load(path, {"path": reports, "id": "id"})
    with pytest.raises(DataError, match="every one of the 10 transactions of .* is among the"):
        load(path, {"path": path})
    with pytest.raises(DataError, match="file not found"):
        load(path, {"path": tmp_path / "nowhere.csv"})
    labelled = pd.read_csv(path).assign(y=0)
    labelled.to_csv(path, index=False)
    pd.DataFrame({"tx": [3]}).to_csv(reports, index=False)
    with pytest.raises(DataError, match=r"has a column 'y' \(data.schema.label\) and data.labels"):
        load(path, {"path": reports})
    with pytest.raises(ConfigError, match="declare the transactions' id column as data.schema.id"):
        load(path, {"path": reports}, {"label": "y", "time": "t", "time_unit": "seconds"})
    with pytest.raises(ConfigError, match="reported_at .* declare data.schema.time"):
        load(path, {"path": reports, "reported_at": "at"}, {"label": "y", "id": "tx"})
    with pytest.raises(ValueError, match="the simulator labels its own rows"):
        DataConfig(labels={"path": str(reports)})


def test_the_configs_labels_load_as_the_source_reads_them(tmp_path: Path) -> None:
    path = transactions(tmp_path)
    pd.DataFrame({"tx": [2, 5]}).to_csv(tmp_path / "reports.csv", index=False)
    spec = DataConfig(
        kind="csv", path=str(path), schema=SCHEMA, labels={"path": str(tmp_path / "reports.csv")}
    )
    data = load_dataset(spec)
    assert data.frame["y"].tolist() == [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert data.digest == load(path, {"path": tmp_path / "reports.csv"}).digest
    assert data.reports.delays is None
    with pytest.raises(ConfigError, match="unknown key"):
        LabelFile.of({"path": "r.csv", "date": "d"})
    with pytest.raises(ConfigError, match="a mapping with a path"):
        LabelFile.of("r.csv")
