"""The transaction simulator: exact shape, determinism, fraud rate, and the trace of each pattern."""

from __future__ import annotations

import hashlib
import io
import time

import numpy as np
import pandas as pd
import pytest

from models.errors import ConfigError
from pipeline.data.simulate import COLUMNS, FRAUD_PATTERNS, simulate

EXPECTED_DTYPES = {
    "transaction_id": "int64",
    "timestamp": "datetime64[ns]",
    "customer_id": "int64",
    "merchant_id": "int64",
    "amount": "float64",
    "is_fraud": "int8",
}
TEXT_COLUMNS = ("merchant_category", "channel", "country", "customer_country", "fraud_pattern")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate(20_000, n_days=30, seed=7, fraud_rate=0.02)


def _values_hash(df: pd.DataFrame) -> str:
    return hashlib.sha256(
        pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
    ).hexdigest()


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_columns_and_dtypes(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == COLUMNS
    for col, dtype in EXPECTED_DTYPES.items():
        assert str(frame[col].dtype) == dtype, col
    for col in TEXT_COLUMNS:
        assert pd.api.types.is_string_dtype(frame[col]), col
        assert not frame[col].isna().any(), col
    assert isinstance(frame.index, pd.RangeIndex)


def test_values_are_well_formed(frame: pd.DataFrame) -> None:
    n = len(frame)
    np.testing.assert_array_equal(frame["transaction_id"].to_numpy(), np.arange(n))
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].min() >= pd.Timestamp("2026-01-01")
    assert frame["timestamp"].max() < pd.Timestamp("2026-01-31")
    amount = frame["amount"].to_numpy()
    assert (amount > 0).all()
    np.testing.assert_allclose(amount, np.round(amount, 2))
    assert set(frame["channel"]) == {"card_present", "online", "atm"}
    assert set(frame["fraud_pattern"]) == {"legit", *FRAUD_PATTERNS}
    np.testing.assert_array_equal(
        frame["is_fraud"].to_numpy(), (frame["fraud_pattern"] != "legit").to_numpy()
    )
    assert frame["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert frame["customer_country"].str.fullmatch(r"[A-Z]{2}").all()
    # A customer keeps one home country.
    assert (frame.groupby("customer_id")["customer_country"].nunique() == 1).all()
    # A merchant has one category, one channel and one country.
    per_merchant = frame.groupby("merchant_id")[["merchant_category", "channel", "country"]]
    assert (per_merchant.nunique() == 1).all().all()


@pytest.mark.parametrize(
    ("n_rows", "n_days", "fraud_rate"),
    [(100, 1, 0.003), (101, 90, 0.001), (1_234, 7, 0.3), (5_000, 45, 0.01)],
)
def test_exact_row_count_and_fraud_count(n_rows: int, n_days: int, fraud_rate: float) -> None:
    df = simulate(n_rows, n_days=n_days, seed=1, fraud_rate=fraud_rate)
    assert len(df) == n_rows
    assert int(df["is_fraud"].sum()) == max(1, round(n_rows * fraud_rate))


def test_default_fraud_rate_is_about_point_three_percent() -> None:
    df = simulate(10_000, seed=3)
    assert df["is_fraud"].mean() == pytest.approx(0.003, abs=0.0005)


def test_same_seed_same_bytes() -> None:
    a = simulate(3_000, n_days=20, seed=11, fraud_rate=0.02)
    b = simulate(3_000, n_days=20, seed=11, fraud_rate=0.02)
    pd.testing.assert_frame_equal(a, b)
    assert _values_hash(a) == _values_hash(b)
    assert _parquet_bytes(a) == _parquet_bytes(b)


def test_different_seed_different_data() -> None:
    a = simulate(3_000, n_days=20, seed=11, fraud_rate=0.02)
    b = simulate(3_000, n_days=20, seed=12, fraud_rate=0.02)
    assert _values_hash(a) != _values_hash(b)
    assert not np.array_equal(a["amount"].to_numpy(), b["amount"].to_numpy())


def test_start_date() -> None:
    df = simulate(500, n_days=3, start="2025-06-10")
    assert df["timestamp"].min().normalize() == pd.Timestamp("2025-06-10")
    assert df["timestamp"].max() < pd.Timestamp("2025-06-13")


def test_every_pattern_present_and_injected_on_existing_customers(frame: pd.DataFrame) -> None:
    counts = frame["fraud_pattern"].value_counts()
    for name in FRAUD_PATTERNS:
        assert counts.get(name, 0) >= 40, name
    legit_customers = set(frame.loc[frame["is_fraud"] == 0, "customer_id"])
    fraud = frame[frame["is_fraud"] == 1]
    # Fraud rows are extra rows on real customers' cards, interleaved with their legit rows.
    assert fraud["customer_id"].isin(legit_customers).mean() > 0.9
    # Fraud rows are scattered over the stream, not appended at the end.
    assert fraud["transaction_id"].min() < len(frame) * 0.2
    assert fraud["transaction_id"].max() > len(frame) * 0.8


def _gaps_seconds(rows: pd.DataFrame) -> pd.Series:
    rows = rows.sort_values(["customer_id", "timestamp"])
    gap = rows.groupby("customer_id")["timestamp"].diff().dt.total_seconds()
    return gap.dropna()


def test_stolen_card_is_a_burst_at_many_merchants(frame: pd.DataFrame) -> None:
    rows = frame[frame["fraud_pattern"] == "stolen_card"]
    assert _gaps_seconds(rows).median() < 30 * 60
    per_card = rows.groupby("customer_id")["merchant_id"].nunique()
    assert per_card.median() >= 4
    legit = frame[frame["is_fraud"] == 0]
    assert _gaps_seconds(rows).median() < _gaps_seconds(legit).median() / 20
    assert rows["amount"].median() > legit["amount"].median()


def test_compromised_terminal_concentrates_on_few_merchants(frame: pd.DataFrame) -> None:
    rows = frame[frame["fraud_pattern"] == "compromised_terminal"]
    assert (rows["channel"] == "card_present").all()
    assert rows["merchant_id"].nunique() <= len(rows) / 5
    assert rows["customer_id"].nunique() >= len(rows) * 0.7  # many different cards
    span = rows.groupby("merchant_id")["timestamp"].agg(lambda t: t.max() - t.min())
    assert span.median() >= pd.Timedelta(days=3)


def test_account_takeover_is_large_online_at_night_abroad(frame: pd.DataFrame) -> None:
    rows = frame[frame["fraud_pattern"] == "account_takeover"]
    legit = frame[frame["is_fraud"] == 0]
    assert (rows["channel"] == "online").all()
    assert (rows["timestamp"].dt.hour < 6).mean() > 0.5
    assert (legit["timestamp"].dt.hour < 6).mean() < 0.15
    assert (rows["country"] != rows["customer_country"]).mean() > 0.6
    usual = legit.groupby("customer_id")["amount"].median()
    ratio = rows["amount"].to_numpy() / usual.reindex(rows["customer_id"]).to_numpy()
    assert np.nanmedian(ratio) > 4


def test_card_testing_is_tiny_online_amounts_then_a_large_one(frame: pd.DataFrame) -> None:
    rows = frame[frame["fraud_pattern"] == "card_testing"]
    assert (rows["channel"] == "online").all()
    assert (rows["amount"] <= 3.0).mean() > 0.6
    assert _gaps_seconds(rows).median() < 5 * 60
    last = rows.sort_values("timestamp").groupby("customer_id").tail(1)
    assert (last["amount"] > 10).mean() > 0.6


def test_legit_behaviour_overlaps_with_fraud(frame: pd.DataFrame) -> None:
    legit = frame[frame["is_fraud"] == 0]
    assert (legit["country"] != legit["customer_country"]).mean() > 0.05
    assert (legit["timestamp"].dt.hour < 6).mean() > 0.01
    assert (legit["amount"] <= 3.0).mean() > 0.005
    assert (_gaps_seconds(legit) < 30 * 60).mean() > 0.03


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_rows": 99}, "n_rows"),
        ({"n_rows": 1000.0}, "n_rows"),
        ({"n_rows": 1000, "n_days": 0}, "n_days"),
        ({"n_rows": 1000, "fraud_rate": 0.0}, "fraud_rate"),
        ({"n_rows": 1000, "fraud_rate": 0.5}, "fraud_rate"),
        ({"n_rows": 1000, "fraud_rate": float("nan")}, "fraud_rate"),
        ({"n_rows": 1000, "seed": -1}, "seed"),
        ({"n_rows": 1000, "start": "not a date"}, "start"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        simulate(**kwargs)


@pytest.mark.slow
def test_a_million_rows_is_fast() -> None:
    t0 = time.perf_counter()
    df = simulate(1_000_000)
    assert len(df) == 1_000_000
    assert time.perf_counter() - t0 < 60


def test_the_command_writes_the_same_bytes_for_the_same_seed(tmp_path) -> None:
    """`fraudgan simulate` as the README runs it: CSV or Parquet, the same rows, the same bytes
    again for the same seed; bad options named as the command spells them."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["simulate", "--rows", "500", "--days", "5", *args])
        return result.exit_code, " ".join(result.output.split())

    for name in ("a.csv", "b.csv", "c.parquet"):
        code, text = run("--seed", "3", "--out", str(tmp_path / name))
        assert code == 0 and f"wrote 500 rows to {tmp_path / name}" in text, text
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    parquet = pd.read_parquet(tmp_path / "c.parquet")
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "a.csv", parse_dates=["timestamp"]),
        parquet,
        check_dtype=False,
    )
    for name in ("1/e.csv.gz", "2/e.csv.gz", "1/g.csv.xz"):  # compressed: the same bytes too
        (tmp_path / name).parent.mkdir(exist_ok=True)
        assert run("--seed", "3", "--out", str(tmp_path / name))[0] == 0
        assert pd.read_csv(tmp_path / name).equals(pd.read_csv(tmp_path / "a.csv"))
    assert (tmp_path / "1/e.csv.gz").read_bytes() == (tmp_path / "2/e.csv.gz").read_bytes()
    code, _ = run("--seed", "4", "--out", str(tmp_path / "d.csv"))
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "d.csv").read_bytes()
    for args, said in (
        (["--rows", "50"], "error: --rows must be an integer >= 100, got 50"),
        (["--fraud-rate", "0.7"], "error: --fraud-rate must be a number with 0 < --fraud-rate"),
        (["--out", str(tmp_path / "x.xlsx")], "a compressed CSV), not '.xlsx'"),
        (["--out", str(tmp_path / "no" / "x.csv")], f"the folder {tmp_path / 'no'} does not"),
    ):
        out = [] if "--out" in args else ["--out", str(tmp_path / "e.csv")]
        code, text = run(*args, *out)
        assert code == 2 and said in text, text
    # an existing file (a user's own transactions, named by a slip) is kept unless --overwrite
    kept = (tmp_path / "d.csv").read_bytes()
    code, text = run("--seed", "3", "--out", str(tmp_path / "d.csv"))
    assert code == 2 and "d.csv exists; choose another name, or pass --overwrite" in text, text
    assert (tmp_path / "d.csv").read_bytes() == kept
    assert run("--seed", "3", "--out", str(tmp_path / "d.csv"), "--overwrite")[0] == 0
    assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
