"""Label leaks and copies of the time: a column that alone separates the classes, or that is the
time again, stops the launch (pipeline/data/leaks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError
from pipeline.data.leaks import (
    MIN_POSITIVES,
    ROW_ID_MIN_ROWS,
    TIME_COPY_ROWS,
    categorical_ids,
    check_categorical_ids,
    check_label_leaks,
    check_long_numbers,
    check_row_ids,
    check_time_copies,
    label_leaks,
    long_numbers,
    row_ids,
    time_copies,
)


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.05).astype(np.int8)
    fraud = y == 1
    frame = pd.DataFrame(
        {
            "strong": rng.normal(size=n) + 3.0 * y,  # a genuine signal: ROC-AUC ~0.98, not 1
            "scenario_code": np.where(fraud, rng.integers(1, 4, n), 0),
            "negated": np.where(fraud, -1.0, 0.0) + rng.uniform(0, 0.5, n),  # fraud all below
            "chargeback_days": np.where(fraud, rng.uniform(0, 60, n), np.nan),
            "sometimes_missing": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
            "scenario": np.where(fraud, rng.choice(["theft", "skimming"], n), "none"),
            "tx_ref": [f"T{i:06d}" for i in range(n)],  # a new value on every row
            "case_note": [f"case {i}" if f else None for i, f in enumerate(fraud)],
            "channel": rng.choice(["web", "pos", "atm"], n),
        }
    )
    return frame, y


NUMERIC = ["strong", "scenario_code", "negated", "chargeback_days", "sometimes_missing"]
CATEGORICAL = ["scenario", "tx_ref", "case_note", "channel"]


def test_perfect_separators_are_found_and_genuine_or_id_like_columns_are_not(rows):
    frame, y = rows
    leaks = {leak.column: leak.how for leak in label_leaks(frame, NUMERIC, CATEGORICAL, y)}
    assert set(leaks) == {"scenario_code", "negated", "chargeback_days", "scenario", "case_note"}
    assert leaks["scenario_code"] == "every fraud row is above every legitimate row"
    assert leaks["negated"] == "every legitimate row is above every fraud row"
    assert "missing values taken as the lowest" in leaks["chargeback_days"]
    assert "learned on half the rows" in leaks["scenario"]


def test_one_fraud_row_across_the_line_is_no_leak(rows):
    frame, y = rows
    code = frame["scenario_code"].copy()
    code.iloc[int(np.flatnonzero(y == 1)[0])] = 0  # a fraud row without a scenario code
    note = frame["case_note"].copy()
    note.iloc[int(np.flatnonzero(y == 0)[0])] = "case reopened"  # a legitimate row with a note
    found = label_leaks(frame.assign(scenario_code=code, case_note=note), NUMERIC, CATEGORICAL, y)
    assert {leak.column for leak in found} == {"negated", "chargeback_days", "scenario"}


def test_too_few_fraud_rows_to_judge(rows):
    frame, y = rows
    few = y.copy()
    few[np.flatnonzero(y == 1)[MIN_POSITIVES - 1 :]] = 0
    assert label_leaks(frame, NUMERIC, CATEGORICAL, few) == []


def test_the_error_names_the_file_columns_and_the_way_out(rows):
    frame, y = rows
    with pytest.raises(DataError) as error:
        check_label_leaks(frame, ["strong", "scenario_code"], ["scenario"], y, where="data file x")
    text = str(error.value)
    assert text.startswith("data file x: 2 input column(s) separate fraud")
    assert "data.schema.drop: [scenario_code, scenario]" in text
    assert "data.leak_check: false" in text
    check_label_leaks(frame, ["strong"], ["channel", "tx_ref"], y, where="data file x")  # none


def timed(n: int, seed: int = 1) -> pd.DataFrame:
    """Transactions over 60 days with the columns a time copy hides in, and genuine ones."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, 60 * 86_400, n))
    return pd.DataFrame(
        {
            "event_time": pd.Timestamp("2026-01-01") + pd.to_timedelta(seconds, unit="s"),
            "row_number": np.arange(n),  # a file's index, written in time order
            "unix_time": 1_325_376_000 + seconds.astype(np.int64),  # the time in another unit
            "day": (seconds // 86_400).astype(int),  # 60 steps
            "days_left": 60 - seconds / 86_400,  # falls with the time
            "after_launch": (seconds > 30 * 86_400).astype(int),  # a before/after flag: 0.87
            "amount": rng.lognormal(3, 1, n),
            "drifting": seconds / 86_400 + rng.normal(0, 15, n),  # a trend under noise: ~0.75
        }
    )


def test_columns_that_are_the_time_again_are_found_and_others_are_not():
    frame = timed(3000)
    frame.loc[frame.index[::7], "unix_time"] = np.nan  # missing values are left out, not judged
    columns = [c for c in frame.columns if c != "event_time"]
    found = dict(time_copies(frame, columns, "event_time"))
    assert set(found) == {"row_number", "unix_time", "day", "days_left"}
    assert found["days_left"] < -0.99 < 0.99 < found["unix_time"]
    # a time column in seconds (numeric) is read the same way
    numeric = frame.assign(event_time=np.arange(len(frame)) * 17.0)
    assert {name for name, _ in time_copies(numeric, columns, "event_time")} == set(found)
    shuffled = frame.sample(frac=1.0, random_state=0)  # the file's order does not matter
    assert dict(time_copies(shuffled, columns, "event_time")).keys() == found.keys()


def test_large_frames_are_judged_on_a_sample():
    frame = timed(TIME_COPY_ROWS + 5000, seed=2)
    # a copy missing on 99.7 % of rows: too few rows to judge in the first look, judged after
    sparse = frame["unix_time"].where(np.random.default_rng(3).random(len(frame)) < 0.003)
    found = time_copies(
        frame.assign(sparse=sparse), ["row_number", "amount", "sparse"], "event_time"
    )
    assert [name for name, _ in found] == ["row_number", "sparse"]


def test_the_time_copy_error_names_the_columns_and_the_way_out():
    frame = timed(500)
    with pytest.raises(DataError) as error:
        check_time_copies(frame, ["amount", "unix_time", "days_left"], "event_time", where="f.csv")
    text = str(error.value)
    assert text.startswith("f.csv: 2 input column(s) rise or fall with the time column")
    assert "'unix_time' (Spearman +1.000), 'days_left' (Spearman -1.000)" in text
    assert "data.schema.drop: [unix_time, days_left]" in text
    assert "data.leak_check: false" in text
    check_time_copies(frame, ["amount", "after_launch"], "event_time", where="f.csv")  # none


def test_row_numbers_and_sequential_ids_are_found_and_other_whole_numbers_are_not():
    rng = np.random.default_rng(4)
    n = 1000
    frame = pd.DataFrame(
        {
            "policy_number": np.arange(1, n + 1),  # 1..n in file order
            "claim_id": rng.permutation(n) + 50_000.0,  # shuffled, as floats, from 50,000
            "gaps": np.sort(rng.choice(2 * n - 1, n, replace=False)),  # span 2n - 1: still an id
            "user_id": rng.choice(10**6, n, replace=False),  # distinct, but a wide range
            "one_repeat": np.r_[np.arange(n - 1), 0],
            "one_missing": np.r_[np.arange(n - 1), np.nan],
            "halves": np.arange(n) / 2,
            "flag": np.arange(n) % 2 == 0,
        }
    )
    assert row_ids(frame, list(frame.columns)) == ["policy_number", "claim_id", "gaps"]
    assert row_ids(frame.assign(gaps=frame["gaps"] * 2), ["gaps"]) == []  # span 4n
    assert row_ids(frame.iloc[: ROW_ID_MIN_ROWS - 1], ["policy_number"]) == []
    with pytest.raises(DataError) as error:
        check_row_ids(frame, ["user_id", "policy_number"], where="data file claims.csv")
    text = str(error.value)
    assert text.startswith("data file claims.csv: 1 input column(s) hold a different whole")
    assert "'policy_number' (1 .. 1000 over 1,000 rows)" in text and "user_id" not in text
    assert "data.schema.id" in text and "drop: [policy_number]" in text and "leak_check" in text
    check_row_ids(frame, ["user_id"], where="f")  # nothing to say


def test_a_categorical_column_with_a_value_per_row_is_refused_naming_it() -> None:
    """A transaction reference or free text declared categorical: a value per row, none a test
    row can share with training; a categorical of many values that repeat passes."""
    n = 1000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "reference": [f"R{i:06d}" for i in rng.permutation(n)],
            "note": [f"call {i}" for i in range(n - 1)] + [None],  # one missing: not every row
            "device": [f"dev-{i}" for i in rng.integers(0, 900, n)],  # many values, repeating
            "channel": rng.choice(["web", "pos"], n),
        }
    )
    columns = list(frame.columns)
    assert categorical_ids(frame, columns) == ["reference"]
    assert categorical_ids(frame.iloc[: ROW_ID_MIN_ROWS - 1], columns) == []
    with pytest.raises(DataError) as error:
        check_categorical_ids(frame, columns, where="data file tx.csv")
    text = str(error.value)
    assert text.startswith(
        "data file tx.csv: 1 categorical column(s) hold a different value on every one of the "
        f"1,000 rows: 'reference' (e.g. {frame['reference'].iloc[0]!r}, "
    )
    assert "data.schema.id" in text and "drop: [reference]" in text and "leak_check" in text
    check_categorical_ids(frame, ["device", "channel", "note"], where="f")  # nothing to say


def test_identifiers_read_as_numbers_are_found_and_quantities_are_not():
    rng = np.random.default_rng(5)
    n = 400
    cards = rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, 40)
    frame = pd.DataFrame(
        {
            "cc_num": rng.choice(cards, n),  # 16 digits, repeated per card
            "phone": np.where(rng.random(n) < 0.03, np.nan, rng.integers(10**11, 10**12, n)),
            "account": np.r_[rng.integers(10**11, 10**12, n - 10), np.arange(10)],  # 97.5 %
            "amount_cents": rng.integers(100, 10**7, n),
            "big_measure": rng.uniform(1e11, 1e12, n),  # large, but no whole numbers
            "mostly_small": np.r_[rng.integers(10**11, 10**12, n - 40), np.arange(40)],  # 90 %
        }
    )
    assert long_numbers(frame, list(frame.columns)) == ["cc_num", "phone", "account"]
    with pytest.raises(DataError) as error:
        check_long_numbers(frame, ["cc_num", "amount_cents"], where="data file cards.csv")
    text = str(error.value)
    assert text.startswith("data file cards.csv: 1 input column(s) hold whole numbers of 12")
    assert f"'cc_num' (e.g. {frame['cc_num'].iloc[0]}, 40 distinct values)" in text
    assert "data.schema.entity" in text and "drop: [cc_num]" in text and "leak_check" in text
    check_long_numbers(frame, ["amount_cents", "big_measure"], where="f")  # nothing to say
