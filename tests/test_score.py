"""The scorer's input checks and reason codes, and batch scoring of CSV and Parquet files."""

from __future__ import annotations

import copy
import math
import zipfile
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import models.scorer.model as scorer_module
from models.errors import DataError, FraudganError
from models.scorer import ALERT, BIAS, PROBABILITY, reason_columns
from models.scorer.unseen import UnseenCategories
from pipeline import tracking
from pipeline.cli import app
from pipeline.config import load_config
from pipeline.data.sources import whole_numbers_as_integers
from pipeline.export import (
    build_scorer,
    retraining_runner,
    scorer_code_paths,
    scoring_requirements,
)
from pipeline.runner import prepare
from pipeline.score import (
    DEFAULT_CHUNK_ROWS,
    HistoryFeatures,
    batch_note,
    score_file,
)

# Short windows and delay (3-day horizon on 30 days of data): chunks must carry history across.
OVERRIDES = ["features.windows_days=[0.5, 2]", "features.label_delay_days=1"]
THRESHOLD = 0.3


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A scorer trained once on the quick data, logged in a module store, and the raw files."""
    root = tmp_path_factory.mktemp("score")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    cfg = load_config("experiments/quick.yaml", OVERRIDES)
    prepared = prepare(cfg)
    runner = retraining_runner(cfg, prepared)
    fitted = runner.fit("none", {}, {})
    scorer = build_scorer(cfg, runner, fitted.pipe, THRESHOLD)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        code = root / "code"
        code.mkdir()
        # an experiment of its own: the default one keeps its artifacts under ./mlruns (the repo)
        with mlflow.start_run(experiment_id=tracking.experiment_id("score")):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=scorer,
                signature=scorer.signature(),
                input_example=scorer.signature_frame(
                    prepared.frame[["transaction_id", *scorer.columns]].head(3)
                ),
                code_paths=scorer_code_paths(code),
                pip_requirements=scoring_requirements(),
            )
    raw = prepared.dataset.frame
    raw.to_parquet(root / "raw.parquet", index=False)
    raw.to_csv(root / "raw.csv", index=False)
    return SimpleNamespace(
        uri=uri,
        model_uri=info.model_uri,
        scorer=scorer,
        pipe=fitted.pipe,
        prepared=prepared,
        raw=raw,
        root=root,
        expected=fitted.pipe.predict_proba(prepared.X)[:, 1],
    )


@pytest.fixture
def store(trained: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.uri)
    mlflow.set_tracking_uri(trained.uri)
    return trained


def model_rows(trained: SimpleNamespace, n: int = 50) -> pd.DataFrame:
    """Model input rows: the id column plus the model's columns (raw and engineered)."""
    cols = ["transaction_id", *trained.scorer.columns]
    return trained.prepared.frame[cols].iloc[:n]


# --------------------------------------------------------------------------------------------
# the scorer


def test_scores_equal_the_pipeline_and_alert_uses_the_threshold(trained):
    rows = model_rows(trained, 500)
    out = trained.scorer.score(rows)
    assert list(out.columns) == ["transaction_id", PROBABILITY, ALERT]
    np.testing.assert_array_equal(out["transaction_id"], rows["transaction_id"])
    np.testing.assert_allclose(out[PROBABILITY], trained.expected[:500], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(out[ALERT], (out[PROBABILITY] >= THRESHOLD).astype(int))


def test_a_few_rows_score_as_in_a_large_frame(trained):
    # a few rows (a REST call) take the per-value path and the one-thread booster
    rows = model_rows(trained, 200)
    whole = trained.scorer.score(rows)
    for start in (0, 7, 150):
        part = trained.scorer.score(rows.iloc[start : start + 3])
        pd.testing.assert_frame_equal(part, whole.iloc[start : start + 3])


def test_reason_codes_and_bias_sum_to_the_logit(trained):
    rows = model_rows(trained, 200)
    contrib = trained.scorer.contributions(rows)
    assert list(contrib.columns) == [*trained.scorer.columns, BIAS]
    p = trained.scorer.predict_proba(rows)
    logit = np.log(p / (1 - p))
    np.testing.assert_allclose(contrib.sum(axis=1), logit, rtol=0, atol=1e-4)

    out = trained.scorer.score(rows, explain=True)
    assert [c for c in out.columns if c.startswith("reason_")] == reason_columns()
    own = contrib[trained.scorer.columns].to_numpy()
    top = np.sort(own, axis=1)[:, ::-1][:, :3]
    np.testing.assert_allclose(out[["reason_1_value", "reason_2_value", "reason_3_value"]], top)
    for k in (1, 2, 3):
        assert set(out[f"reason_{k}"]) <= set(trained.scorer.columns)
        picked = [contrib.iloc[i][name] for i, name in enumerate(out[f"reason_{k}"])]
        np.testing.assert_allclose(picked, out[f"reason_{k}_value"])


def test_importance_is_the_mean_absolute_contribution_of_each_column(trained):
    rows = model_rows(trained, 300)
    contrib = trained.scorer.contributions(rows).drop(columns=[BIAS])
    imp = trained.scorer.importance(rows)
    assert list(imp.columns) == ["feature", "mean_abs_contribution", "share"]
    assert sorted(imp["feature"]) == sorted(trained.scorer.columns)
    expected = contrib.abs().mean().sort_values(ascending=False)
    np.testing.assert_allclose(imp["mean_abs_contribution"], expected.to_numpy())
    assert list(imp["feature"]) == list(expected.index)
    assert imp["share"].sum() == pytest.approx(1.0)
    assert "mean_contribution_fraud" not in imp
    # over known fraud rows: each column's mean signed contribution, beside the overall view
    fraud = rows.iloc[:40]
    with_fraud = trained.scorer.importance(rows, fraud_rows=fraud)
    pd.testing.assert_frame_equal(with_fraud[list(imp.columns)], imp)
    signed = trained.scorer.contributions(fraud).drop(columns=[BIAS]).mean()
    np.testing.assert_allclose(
        with_fraud["mean_contribution_fraud"], signed[with_fraud["feature"]].to_numpy()
    )
    none = trained.scorer.importance(rows, fraud_rows=fraud.iloc[:0])
    assert none["mean_contribution_fraud"].isna().all()
    assert list(trained.scorer.contributions(rows.iloc[:0]).columns) == [*contrib.columns, BIAS]
    with pytest.raises(DataError, match="no rows"):
        trained.scorer.importance(rows.iloc[:0])


def test_a_calibrated_scorer_moves_probabilities_and_threshold_together(trained):
    rows = model_rows(trained, 400)
    raw = trained.scorer.score(rows, explain=True)
    calibrated = copy.deepcopy(trained.scorer)
    calibrated.set_calibration(0.5, -1.0)
    out = calibrated.score(rows, explain=True)
    p = raw[PROBABILITY].to_numpy()
    expected = 1 / (1 + np.exp(-(0.5 * np.log(p / (1 - p)) - 1.0)))
    np.testing.assert_allclose(out[PROBABILITY], expected, rtol=1e-9)
    assert calibrated.threshold == pytest.approx(
        1 / (1 + np.exp(-(0.5 * math.log(THRESHOLD / (1 - THRESHOLD)) - 1.0)))
    )
    np.testing.assert_array_equal(out[ALERT], raw[ALERT])  # the same alerts
    assert list(out["reason_1"]) == list(raw["reason_1"])  # the same reasons, rescaled
    contrib = calibrated.contributions(rows)
    logit = np.log(out[PROBABILITY] / (1 - out[PROBABILITY]))
    np.testing.assert_allclose(contrib.sum(axis=1), logit, rtol=0, atol=1e-4)
    pd.testing.assert_series_equal(
        calibrated.importance(rows)["share"], trained.scorer.importance(rows)["share"]
    )
    assert calibrated.feature_spec()["calibration"] == {
        "method": "platt",
        "slope": 0.5,
        "intercept": -1.0,
    }
    with pytest.raises(ValueError, match="calibrated already"):
        calibrated.set_calibration(1.0, 0.0)
    silent = copy.deepcopy(trained.scorer)  # a threshold no validation score reached
    silent.threshold = float(np.nextafter(1.0, 2.0))
    silent.set_calibration(0.5, -1.0)
    assert silent.threshold > 1 and not silent.score(rows)[ALERT].any()
    with pytest.raises(ValueError, match="slope > 0"):
        copy.deepcopy(trained.scorer).set_calibration(-0.5, 0.0)
    # a model exported before calibration existed has no such attribute: its own probabilities
    old = copy.deepcopy(trained.scorer)
    del old.calibration
    pd.testing.assert_frame_equal(old.score(rows, explain=True), raw)


def test_a_batch_is_held_against_the_validation_slices_alert_rate() -> None:
    def scorer(calibrated: bool = True) -> SimpleNamespace:
        validation = {"rows": 5000, "alert_rate": 0.01, "fraud_rate": 0.004}
        return SimpleNamespace(metadata={"validation": {**validation, "calibrated": calibrated}})

    # a model exported before the slice's figures were kept, or nothing scored: nothing said
    assert batch_note(SimpleNamespace(metadata={}), 10_000, 100, 40.0) == ("", None)
    assert batch_note(scorer(), 0, 0, 0.0) == ("", None)
    note, drift = batch_note(scorer(), 10_000, 110, 41.5)
    assert note == (
        "; 1.100% alerted (the validation slice: 1.000%), 41.5 fraud rows expected (the sum of "
        "fraud_probability)"
    )
    assert drift is None
    assert "expected" not in batch_note(scorer(calibrated=False), 10_000, 110, 41.5)[0]
    # five times the rate on 10,000 rows: far beyond chance
    _, drift = batch_note(scorer(), 10_000, 500, 300.0)
    assert drift.startswith("500 alerts in 10,000 rows (5.000%), where the validation slice's")
    assert "gives 100: the input may differ" in drift
    _, drift = batch_note(scorer(), 10_000, 0, 1.0)  # none where 100 were due
    assert drift is not None and drift.startswith("0 alerts in 10,000 rows")
    # five times the rate where one alert was due: chance can do that
    assert batch_note(scorer(), 100, 5, 1.0)[1] is None
    # beyond chance but within a factor of two: a batch of another day, not another population
    assert batch_note(scorer(), 1_000_000, 15_000, 4000.0)[1] is None


def test_a_scoring_server_holds_each_window_of_requests_against_the_slice(caplog) -> None:
    from models.scorer.drift import SERVED_EXPECTED_ALERTS, ServedAlerts

    served = ServedAlerts({"rows": 5000, "alert_rate": 0.01})
    window = int(SERVED_EXPECTED_ALERTS / 0.01)
    # requests at the slice's rate: windows close without a word
    with caplog.at_level("WARNING", logger="models.scorer.drift"):
        for _ in range(2 * window // 100):
            assert served.count(100, 1) is None
        assert served.rows == 0  # the second window closed
        # five times the rate: said when the window closes, not before
        for _ in range(window // 100 - 1):
            assert served.count(100, 5) is None
        said = served.count(100, 5)
    assert said is not None and said.startswith(
        f"REST input: in the latest requests, {5 * window // 100:,} alerts in {window:,} rows"
    )
    assert [r.getMessage() for r in caplog.records] == [said]
    # a window counts its own requests: back at the slice's rate, nothing more is said
    assert all(served.count(100, 1) is None for _ in range(window // 100))
    # no alerts where 25 were due, in one request as large as a window
    assert served.count(window, 0) is not None
    # a model exported before the slice's figures were kept counts nothing
    old = ServedAlerts(None)
    assert old.count(1_000_000, 1_000_000) is None and old.rows == 0


def test_missing_columns_are_all_named(trained):
    rows = model_rows(trained).drop(columns=["amount", "channel", "entity_n_2d"])
    with pytest.raises(DataError) as err:
        trained.scorer.score(rows)
    text = str(err.value)
    assert "missing 3 column(s)" in text
    for name in ("amount", "channel", "entity_n_2d"):
        assert name in text
    assert "fraudgan score" in text  # engineered columns: says where they come from


def test_wrong_types_name_the_column_and_value(trained):
    rows = model_rows(trained, 5).astype({"amount": object})
    rows.loc[rows.index[3], "amount"] = "12,50 EUR"
    with pytest.raises(DataError, match=r"'amount'.*'12,50 EUR'"):
        trained.scorer.score(rows)
    rows = model_rows(trained, 5).astype({"amount": "datetime64[ns]"})
    with pytest.raises(DataError, match="'amount' must be numeric"):
        trained.scorer.score(rows)
    rows = model_rows(trained, 5).astype({"amount": float})
    rows.loc[rows.index[1], "amount"] = math.inf
    with pytest.raises(DataError, match="infinite"):
        trained.scorer.score(rows)
    # finite in float64, infinite in the model's float32 (found by the random-frames test)
    rows.loc[rows.index[1], "amount"] = 1.7e39
    for frame in (rows, rows.head(2)):  # the column-wise and the few-rows paths
        with pytest.raises(DataError, match=r"'amount' holds 1\.7e\+39.*float32"):
            trained.scorer.score(frame)


def test_numbers_as_text_are_coerced(trained):
    rows = model_rows(trained, 20)
    as_text = rows.astype({c: str for c in ("amount", "entity_n_2d", "hour")})
    as_text.loc[as_text.index[0], "amount"] = "  "  # blank = missing
    expected = rows.astype({"amount": float})
    expected.loc[expected.index[0], "amount"] = np.nan
    pd.testing.assert_frame_equal(trained.scorer.score(as_text), trained.scorer.score(expected))


def test_empty_frame_gives_an_empty_result(trained):
    out = trained.scorer.score(model_rows(trained, 0))
    assert len(out) == 0
    assert list(out.columns) == ["transaction_id", PROBABILITY, ALERT]
    no_id = model_rows(trained, 0).drop(columns="transaction_id")
    out = trained.scorer.score(no_id, explain=True)
    assert list(out.columns) == [PROBABILITY, ALERT, *reason_columns()]


def test_a_frame_without_the_models_columns_is_an_error_not_an_empty_result(trained):
    # what MLflow hands over for {"instances": [1, 2, 3]}: every unknown column dropped
    for frame in (pd.DataFrame(), pd.DataFrame(index=range(3)), pd.DataFrame({0: [1, 2, 3]})):
        with pytest.raises(DataError, match=r"none of the model's \d+ columns.*amount"):
            trained.scorer.score(frame)


def test_unknown_categories_nan_and_extra_columns(trained):
    rows = model_rows(trained, 30).copy()
    rows["channel"] = "teleport"
    rows.loc[rows.index[:10], "merchant_category"] = None
    rows.loc[rows.index[5:15], "amount"] = np.nan
    rows["note"] = "extra column, ignored"
    rows = rows.set_index(pd.Index([7] * len(rows)))  # repeated index labels are kept as they are
    out = trained.scorer.score(rows, explain=True)
    assert len(out) == len(rows)
    assert (out.index == 7).all()
    assert np.isfinite(out[PROBABILITY]).all()
    assert ((out[PROBABILITY] >= 0) & (out[PROBABILITY] <= 1)).all()
    np.testing.assert_array_equal(out["transaction_id"], rows["transaction_id"])
    # an unseen category scores like a missing one (both all-zero in the one-hot block)
    unseen = trained.scorer.score(rows.assign(channel="nope"))
    missing = trained.scorer.score(rows.assign(channel=None))
    np.testing.assert_allclose(unseen[PROBABILITY], missing[PROBABILITY])


def test_other_inputs_are_clear_errors(trained):
    rows = model_rows(trained, 3)
    with pytest.raises(DataError, match="repeated column"):
        trained.scorer.score(pd.concat([rows, rows[["amount"]]], axis=1))
    with pytest.raises(DataError, match="expected a table"):
        trained.scorer.score("amount=3")
    records = rows.to_dict(orient="records")
    pd.testing.assert_frame_equal(
        trained.scorer.score(records), trained.scorer.score(rows.reset_index(drop=True))
    )


def test_loaded_pyfunc_scores_and_explains(store):
    model = mlflow.pyfunc.load_model(store.model_uri)
    rows = store.scorer.signature_frame(model_rows(store, 40))  # integers as the doubles declared
    out = model.predict(rows, params={"explain": True})
    np.testing.assert_allclose(out[PROBABILITY], store.expected[:40], rtol=0, atol=1e-7)
    assert "reason_3_value" in out
    with pytest.raises(DataError, match="amount, entity_n_0.5d"):
        model.predict(rows.drop(columns=["amount", "entity_n_0.5d"]))


POOL = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["1.5", " 2 ", "nan", "", "online", "FR", "1e400", "-0"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.binary(max_size=3),
    st.datetimes().map(pd.Timestamp),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_frames_give_a_result_or_a_data_error(trained, data):
    scorer = trained.scorer
    n = data.draw(st.integers(0, 6), label="rows")
    frame = model_rows(trained, n).reset_index(drop=True)
    columns = list(frame.columns)
    dropped = data.draw(st.sets(st.sampled_from(columns), max_size=2), label="dropped")
    replaced = data.draw(st.sets(st.sampled_from(columns), max_size=3), label="replaced")
    for column in [*replaced, "extra"]:
        frame[column] = pd.Series(data.draw(st.lists(POOL, min_size=n, max_size=n)), dtype=object)
    frame = frame.drop(columns=sorted(dropped))
    explain = data.draw(st.booleans(), label="explain")
    try:
        out = scorer.predict(None, frame, params={"explain": explain})
    except DataError:
        event("DataError")
        return
    event("scored")
    # the few-rows path (REST calls) gives exactly what the column-wise path gives
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scorer_module, "SMALL_FRAME", 0)
        pd.testing.assert_frame_equal(scorer.predict(None, frame, params={"explain": explain}), out)
    assert len(out) == n
    assert out[PROBABILITY].between(0, 1).all()
    assert set(out[ALERT]) <= {0, 1}


# --------------------------------------------------------------------------------------------
# batch files


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize(
    ("source", "target"), [("raw.parquet", "out.parquet"), ("raw.csv", "out.csv")]
)
def test_cli_score_builds_history_features_and_matches_training(store, tmp_path, source, target):
    out_path = tmp_path / target
    result = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            store.model_uri,
            "--input",
            str(store.root / source),
            "--output",
            str(out_path),
            "--chunk-rows",
            "1500",
            "--explain",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "scored 8,000 rows" in result.output
    out = read(out_path)
    assert list(out.columns) == ["transaction_id", PROBABILITY, ALERT, *reason_columns()]
    np.testing.assert_array_equal(out["transaction_id"], store.raw["transaction_id"])
    # history features rebuilt from the file in chunks == the training features
    np.testing.assert_allclose(out[PROBABILITY], store.expected, rtol=0, atol=1e-7)


def test_decimal_parquet_amounts_score_as_their_floats(store, tmp_path):
    """A warehouse's NUMERIC(18, 2) amount, in chunks (Arrow batches) and whole."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(store.raw, preserve_index=False)
    cents = [decimal.Decimal(f"{v:.2f}") for v in store.raw["amount"]]
    table = table.set_column(
        table.schema.get_field_index("amount"), "amount", pa.array(cents, pa.decimal128(18, 2))
    )
    pq.write_table(table, tmp_path / "numeric.parquet")
    store.raw.assign(amount=[float(c) for c in cents]).to_parquet(tmp_path / "floats.parquet")
    for rows in (0, 3000):
        for name in ("numeric", "floats"):
            score_file(
                store.model_uri,
                tmp_path / f"{name}.parquet",
                tmp_path / f"{name}-{rows}.csv",
                chunk_rows=rows,
                progress=False,
            )
        pd.testing.assert_frame_equal(
            read(tmp_path / f"numeric-{rows}.csv"), read(tmp_path / f"floats-{rows}.csv")
        )


def test_chunked_equals_unchunked(store, tmp_path):
    whole = score_file(
        store.model_uri,
        store.root / "raw.parquet",
        tmp_path / "whole.parquet",
        chunk_rows=0,
        progress=False,
    )
    parts = score_file(
        store.model_uri,
        store.root / "raw.parquet",
        tmp_path / "parts.parquet",
        chunk_rows=613,
        progress=False,
    )
    assert (whole.chunks, parts.chunks) == (1, math.ceil(8000 / 613))
    pd.testing.assert_frame_equal(
        read(tmp_path / "whole.parquet"), read(tmp_path / "parts.parquet")
    )
    # a folder partitioned by channel, as Spark or pandas write it (the key in folder names
    # only), is not in time order: it is refused in chunks, and scored whole (chunk_rows 0, as
    # the refusal advises) it equals the file, Parquet and CSV alike
    by_channel = tmp_path / "by_channel"
    store.raw.to_parquet(by_channel, partition_cols=["channel"], index=False)
    csv_by_channel = tmp_path / "csv_by_channel"
    for channel, rows in store.raw.groupby("channel"):
        (csv_by_channel / f"channel={channel}").mkdir(parents=True)
        rows.drop(columns="channel").to_csv(
            csv_by_channel / f"channel={channel}/0.csv", index=False
        )
    ids = store.raw["transaction_id"]
    whole_scores = read(tmp_path / "whole.parquet").set_axis(ids.astype(str)).sort_index()
    for folder in (by_channel, csv_by_channel):
        with pytest.raises(DataError, match=rf"{folder.name}.*ascending time order.*chunk-rows 0"):
            score_file(store.model_uri, folder, tmp_path / "o.parquet", progress=False)
        result = score_file(
            store.model_uri,
            folder,
            tmp_path / f"{folder.name}.parquet",
            chunk_rows=0,
            progress=False,
        )
        assert result.chunks == 1
        folder_scores = read(tmp_path / f"{folder.name}.parquet")
        # a CSV's ids are text, written out as read; a Parquet file's keep their type
        folder_scores = folder_scores.set_index(folder_scores["transaction_id"].astype(str))
        folder_scores = folder_scores.sort_index()
        pd.testing.assert_series_equal(
            folder_scores[PROBABILITY], whole_scores[PROBABILITY], check_names=False
        )


@pytest.mark.parametrize("name", ["raw.csv.gz", "raw.csv.xz", "kaggle.zip", "finder.zip"])
def test_a_compressed_csv_scores_as_the_plain_one(store, tmp_path, name):
    path = tmp_path / name
    if name == "finder.zip":  # a folder entry and macOS's resource-fork copy beside the CSV
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("raw/", "")
            archive.writestr("raw/raw.csv", store.raw.to_csv(index=False))
            archive.writestr("__MACOSX/raw/._raw.csv", b"\x00\x05\x16\x07")
    else:
        store.raw.to_csv(path, index=False)  # pandas compresses by the name
    score_file(store.model_uri, path, tmp_path / "o.parquet", chunk_rows=3000, progress=False)
    out = read(tmp_path / "o.parquet")
    np.testing.assert_array_equal(out["transaction_id"], store.raw["transaction_id"])
    np.testing.assert_allclose(out[PROBABILITY], store.expected, rtol=0, atol=1e-7)


def test_a_csvs_ids_are_written_out_as_the_file_writes_them(store, tmp_path):
    """Ids with leading zeros (account-style '00001234') join back to their rows: pandas would
    read them as 1234. Plain integer ids stay integers, a missing one without turning the rest
    into '12.0'."""
    padded = store.raw.assign(transaction_id=store.raw["transaction_id"].map("{:08d}".format))
    padded.to_csv(tmp_path / "padded.csv", index=False)
    for name in ("padded_out.csv", "padded_out.parquet"):
        score_file(
            store.model_uri,
            tmp_path / "padded.csv",
            tmp_path / name,
            chunk_rows=3000,
            progress=False,
        )
        got = pd.read_parquet(tmp_path / name) if name.endswith("parquet") else None
        if got is None:
            got = pd.read_csv(tmp_path / name, dtype={"transaction_id": str})
        assert got["transaction_id"].tolist() == padded["transaction_id"].tolist()
        np.testing.assert_allclose(got[PROBABILITY], store.expected, rtol=0, atol=1e-7)
    gap = store.raw.assign(transaction_id=store.raw["transaction_id"].astype("Int64"))
    gap.loc[5, "transaction_id"] = pd.NA
    gap.to_csv(tmp_path / "gap.csv", index=False)
    score_file(store.model_uri, tmp_path / "gap.csv", tmp_path / "gap_out.csv", progress=False)
    lines = (tmp_path / "gap_out.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[5:8]] == ["4", "", "6"]
    score_file(store.model_uri, tmp_path / "gap.csv", tmp_path / "gap.parquet", progress=False)
    ids = pd.read_parquet(tmp_path / "gap.parquet")["transaction_id"]
    assert ids.dtype == np.int64 or str(ids.dtype) == "Int64"
    assert ids.iloc[4] == 4 and pd.isna(ids.iloc[5]) and ids.iloc[6] == 6


def test_long_card_numbers_with_a_missing_one_score_as_short_ones(store, tmp_path):
    """19-digit customer and merchant ids, one of each missing, in a CSV (3,000-row chunks: one
    holds the gap, the others not) and in a Parquet file without pandas' metadata: the same
    scores as short ids with the same gap. Read as floats, the chunk with the gap made the cards
    one, and most of its rows alerts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    short, long = store.raw.copy(), store.raw.copy()
    for column in ("customer_id", "merchant_id", "transaction_id"):
        short[column] = short[column].astype("Int64")
        long[column] = pd.array(4_000_000_000_000_000_000 + store.raw[column], dtype="Int64")
        short.loc[4000, column] = long.loc[4000, column] = pd.NA
    short.to_csv(tmp_path / "short.csv", index=False)
    long.to_csv(tmp_path / "long.csv", index=False)
    table = pa.Table.from_pandas(long, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, tmp_path / "long.parquet")
    got = {}
    for name in ("short.csv", "long.csv", "long.parquet"):
        score_file(
            store.model_uri,
            tmp_path / name,
            tmp_path / f"{name}.out.csv",
            chunk_rows=3000,
            progress=False,
        )
        out = pd.read_csv(tmp_path / f"{name}.out.csv", dtype={"transaction_id": "Int64"})
        got[name] = out[PROBABILITY]
        assert out["transaction_id"].equals(
            long["transaction_id"] if "long" in name else short["transaction_id"]
        )
    np.testing.assert_allclose(got["short.csv"].iloc[:3000], store.expected[:3000], atol=1e-7)
    score_file(store.model_uri, tmp_path / "short.csv", tmp_path / "whole.csv", progress=False)
    whole = pd.read_csv(tmp_path / "whole.csv")[PROBABILITY]  # the chunks carry the cards
    np.testing.assert_allclose(got["short.csv"], whole, rtol=0, atol=1e-7)
    np.testing.assert_allclose(got["long.csv"], got["short.csv"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(got["long.parquet"], got["short.csv"], rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", ["o.csv.gz", "o.csv.bz2", "o.csv.xz"])
def test_a_compressed_csv_output(store, tmp_path, name):
    """Written chunk by chunk into one compressed stream, read back as the plain output."""
    out = tmp_path / name
    score_file(store.model_uri, store.root / "raw.parquet", out, chunk_rows=3000, progress=False)
    assert out.read_bytes()[:2] != b"tr"  # compressed, not text
    got = pd.read_csv(out)  # pandas decompresses by the name
    np.testing.assert_array_equal(got["transaction_id"], store.raw["transaction_id"])
    np.testing.assert_allclose(got[PROBABILITY], store.expected, rtol=0, atol=1e-7)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no partial file left


def test_a_folder_of_csv_files_scores_as_one_file(store, tmp_path):
    """Daily exports in name order (one compressed, one with a header only), each in chunks:
    every row once, history carried from file to file."""
    folder = tmp_path / "days"
    folder.mkdir()
    cuts = [0, 2500, 2500, 5100, 8000]
    names = ["d1.csv", "d2.csv", "d3.csv.gz", "d4.csv"]
    for name, lo, hi in zip(names, cuts[:-1], cuts[1:], strict=True):
        store.raw.iloc[lo:hi].to_csv(folder / name, index=False)
    (folder / "_SUCCESS").write_text("")
    result = score_file(store.model_uri, folder, tmp_path / "o.csv", chunk_rows=700, progress=False)
    assert result.rows == 8000
    out = read(tmp_path / "o.csv")
    np.testing.assert_array_equal(out["transaction_id"], store.raw["transaction_id"])
    np.testing.assert_allclose(out[PROBABILITY], store.expected, rtol=0, atol=1e-7)
    store.raw.iloc[7000:].to_csv(folder / "d0.csv", index=False)  # named before d1.csv
    with pytest.raises(DataError, match=r"rows of d1\.csv are earlier than rows of the folder"):
        score_file(store.model_uri, folder, tmp_path / "x.csv", progress=False)
    (folder / "d0.csv").unlink()
    typo = store.raw.iloc[5100:].astype({"amount": object})
    typo.iloc[4, typo.columns.get_loc("amount")] = "12,5"
    typo.to_csv(folder / "d4.csv", index=False)
    said = r"days: amount column 'amount' must be numeric.*'12,5' \(the first in row 4 of d4\.csv"
    for chunk_rows in (DEFAULT_CHUNK_ROWS, 0):  # 0: the folder read whole
        with pytest.raises(DataError, match=said):
            score_file(
                store.model_uri, folder, tmp_path / "x.csv", chunk_rows=chunk_rows, progress=False
            )
    store.raw.iloc[5100:].to_csv(folder / "d4.csv", index=False)
    store.raw.iloc[:10].drop(columns="amount").to_csv(folder / "d2.csv", index=False)
    with pytest.raises(DataError, match=r"d2\.csv: its columns differ from those of d1\.csv"):
        score_file(store.model_uri, folder, tmp_path / "x.csv", progress=False)
    store.raw.iloc[2500:2510].to_csv(folder / "d2.csv", index=False)
    # a download cut short: the damaged file is named
    gz = (folder / "d3.csv.gz").read_bytes()
    (folder / "d3.csv.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match=r"days: d3\.csv\.gz: cannot read the file \("):
        score_file(store.model_uri, folder, tmp_path / "x.csv", progress=False)


@pytest.mark.parametrize("dtype", ["str", object])
def test_a_whole_number_key_has_one_spelling_other_text_stays_as_written(dtype):
    written = ["1053", "1053.0", "001053", "+1053", " 1053 ", "1053.", "-0042.00", "-0", "000"]
    keys = pd.Series(
        [*written, "C001053", "10.5", "1e3", "4000000000000000001.0", None], dtype=dtype
    )
    got = whole_numbers_as_integers(keys).tolist()
    assert got[: len(written)] == ["1053"] * 6 + ["-42", "0", "0"]
    assert got[len(written) : -1] == ["C001053", "10.5", "1e3", "4000000000000000001"]
    assert pd.isna(got[-1])
    plain = pd.Series(["1053", "77", None], dtype=dtype)
    assert whole_numbers_as_integers(plain) is plain  # nothing to rewrite: the column as read


def test_whole_number_keys_written_another_way_are_the_same_card(store, tmp_path):
    """Daily exports: a day with a missing card is written by pandas with every card and
    merchant as a float (`1053.0`), another pads them (`001053`); each card's history runs on
    across the days, as training (and the Spark engine) read a column of numbers: the same
    scores as the file that writes them one way, in chunks and whole."""
    folder = tmp_path / "days"
    folder.mkdir()
    keys = ["customer_id", "merchant_id"]
    raw = store.raw
    raw.iloc[:3000].to_csv(folder / "d1.csv", index=False)
    floats = raw.iloc[3000:6000].astype(dict.fromkeys(keys, float))
    floats.to_csv(folder / "d2.csv", index=False)
    assert f",{raw['customer_id'].iloc[3000]}.0," in (folder / "d2.csv").read_text()
    padded = raw.iloc[6000:].astype(dict.fromkeys(keys, object))
    for key in keys:
        padded[key] = [f"{v:06d}" for v in raw[key].iloc[6000:]]
    padded.to_csv(folder / "d3.csv", index=False)
    for chunk_rows in (700, 0):
        out = tmp_path / f"o{chunk_rows}.csv"
        score_file(store.model_uri, folder, out, chunk_rows=chunk_rows, progress=False)
        got = read(out)
        np.testing.assert_array_equal(got["transaction_id"], raw["transaction_id"])
        np.testing.assert_allclose(got[PROBABILITY], store.expected, rtol=0, atol=1e-7)


def test_reports_match_transaction_ids_written_as_floats(store, tmp_path):
    """A transactions export whose id column has a gap is written by pandas as floats (`17.0`);
    the fraud reports name the ids as integers. They match, as in training, which reads such a
    column as the numbers it holds: the scores of the file whose ids are written as integers."""
    from pipeline.data.labels import LabelFile

    raw = store.raw.drop(columns="is_fraud")
    reports = tmp_path / "reports.csv"
    store.raw.loc[store.raw["is_fraud"] == 1, ["transaction_id"]].to_csv(reports, index=False)
    raw.to_csv(tmp_path / "ints.csv", index=False)
    floats = raw.astype({"transaction_id": float})
    floats.to_csv(tmp_path / "floats.csv", index=False)
    assert f"\n{raw['transaction_id'].iloc[0]}.0," in (tmp_path / "floats.csv").read_text()
    got = {}
    for name in ("ints", "floats"):
        summary = score_file(
            store.model_uri,
            tmp_path / f"{name}.csv",
            tmp_path / f"{name}_scores.csv",
            chunk_rows=3000,
            progress=False,
            labels=LabelFile(reports),
        )
        assert summary.reported_rows == int(store.raw["is_fraud"].sum())
        got[name] = read(tmp_path / f"{name}_scores.csv")[PROBABILITY]
    np.testing.assert_allclose(got["floats"], got["ints"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(got["ints"], store.expected, rtol=0, atol=1e-7)


def test_file_problems_name_the_file(store, tmp_path):
    raw = store.raw
    unsorted = tmp_path / "unsorted.parquet"
    pd.concat([raw.iloc[4000:], raw.iloc[:4000]]).to_parquet(unsorted, index=False)
    with pytest.raises(DataError, match=r"unsorted\.parquet.*ascending time order"):
        score_file(
            store.model_uri, unsorted, tmp_path / "o.parquet", chunk_rows=1000, progress=False
        )
    # ...and scored whole it is fine
    score_file(store.model_uri, unsorted, tmp_path / "o.parquet", chunk_rows=0, progress=False)

    no_amount = tmp_path / "no_amount.csv"
    raw.drop(columns=["amount", "channel"]).to_csv(no_amount, index=False)
    result = CliRunner().invoke(
        app,
        ["score", "--model", store.model_uri, "-i", str(no_amount), "-o", str(tmp_path / "o.csv")],
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "no_amount.csv" in text
    assert "amount (its history features are built from it); channel (model feature)" in text
    assert not (tmp_path / "o.csv").exists()  # no partial output

    with pytest.raises(DataError, match="no such file"):
        score_file(store.model_uri, tmp_path / "absent.csv", tmp_path / "o.csv", progress=False)
    folder = tmp_path / "exported"  # CSV files or Parquet files, not both
    folder.mkdir()
    raw.iloc[:50].to_csv(folder / "part-0.csv", index=False)
    raw.iloc[50:90].to_parquet(folder / "part-1.parquet", index=False)
    with pytest.raises(DataError, match=r"exported: part-1\.parquet is a Parquet file among CSV"):
        score_file(store.model_uri, folder, tmp_path / "o.csv", progress=False)
    misnamed = tmp_path / "export.csv"  # Parquet under a .csv name
    raw.iloc[:100].to_parquet(misnamed, index=False)
    with pytest.raises(DataError, match=r"export\.csv: cannot read as CSV.*name it \.parquet$"):
        score_file(store.model_uri, misnamed, tmp_path / "o.csv", progress=False)
    latin = tmp_path / "latin.csv"  # a Windows-1252 byte in the second chunk
    text = raw.iloc[:300].to_csv(index=False)
    latin.write_bytes(
        text.encode() + text.splitlines()[-1].replace(",", ",\xe9", 1).encode("cp1252")
    )
    with pytest.raises(
        DataError, match=r"latin\.csv: cannot read row 200 onwards \(not UTF-8 text"
    ):
        score_file(store.model_uri, latin, tmp_path / "o.csv", progress=False, chunk_rows=200)
    assert not (tmp_path / "o.csv").exists()
    with pytest.raises(DataError, match=r"\.csv or \.parquet"):
        score_file(store.model_uri, store.root / "raw.csv", tmp_path / "o.json", progress=False)
    with pytest.raises(FraudganError, match="cannot load model"):
        score_file("models:/no-such-model@champion", store.root / "raw.csv", tmp_path / "o.csv")


def test_unlabelled_and_empty_files(store, tmp_path):
    unlabelled = tmp_path / "new.csv"
    store.raw.drop(columns=["is_fraud", "fraud_pattern"]).iloc[:300].to_csv(unlabelled, index=False)
    summary = score_file(store.model_uri, unlabelled, tmp_path / "new_scores.csv", progress=False)
    assert summary.rows == 300
    assert any("no label column" in w for w in summary.warnings)
    # the command prints the summary's warning and its result line, once each (the function
    # also logs them, for callers without the command)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(unlabelled), "-o", str(tmp_path / "cli.csv")
    )
    assert code == 0, text
    assert text.count("no label column") == 1 and text.count("scored 300 rows") == 1, text

    empty = tmp_path / "empty.csv"
    store.raw.iloc[:0].to_csv(empty, index=False)
    summary = score_file(store.model_uri, empty, tmp_path / "empty_scores.parquet", progress=False)
    assert summary.rows == 0
    assert list(read(tmp_path / "empty_scores.parquet").columns) == [
        "transaction_id",
        PROBABILITY,
        ALERT,
    ]


def test_a_categorical_column_written_another_way_is_a_warning(store, tmp_path):
    """Channels in capitals: every value a category the model never saw, scored silently as
    unseen; the command says so once, naming the column and examples. A few new values are
    the normal course of things and give no warning."""
    raw = store.raw.iloc[:2000]
    shouting = tmp_path / "shouting.csv"
    raw.assign(channel=raw["channel"].str.upper()).to_csv(shouting, index=False)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(shouting), "-o", str(tmp_path / "s.csv")
    )
    assert code == 0, text
    assert text.count("categorical column 'channel': 2,000 of its 2,000 values (100%)") == 1, text
    assert any(f"'{value}'" in text for value in raw["channel"].str.upper().unique())
    assert "is the column written as in training" in text
    assert "merchant_category" not in text
    few = raw.assign(channel=raw["channel"].where(raw.index % 50 != 0, "crypto_kiosk"))
    few.to_csv(tmp_path / "few.csv", index=False)
    summary = score_file(store.model_uri, tmp_path / "few.csv", tmp_path / "f.csv", progress=False)
    assert not [w for w in summary.warnings if "categorical column" in w]


def test_repeated_ids_are_a_warning_naming_the_first_pair_across_chunks(store, tmp_path):
    """Ids repeated in chunks far apart (a file appended twice, an id written "0042" in one row
    and 42 in another is two ids): every row is scored, the command says how many rows repeat an
    earlier id and names the first pair; missing ids repeat nothing."""
    raw = store.raw.iloc[:3000].copy()
    ids = raw["transaction_id"].astype("Int64")
    ids.iloc[2500] = ids.iloc[20]
    ids.iloc[2900] = ids.iloc[2500]
    ids.iloc[2700] = ids.iloc[1200]
    ids.iloc[[100, 101]] = pd.NA
    raw["transaction_id"] = ids
    raw.to_csv(tmp_path / "dup.csv", index=False)
    raw.to_parquet(tmp_path / "dup.parquet", index=False)
    for name, chunk in (("dup.csv", 1000), ("dup.parquet", 700), ("dup.csv", 0)):
        summary = score_file(
            store.model_uri,
            tmp_path / name,
            tmp_path / f"out_{chunk}.csv",
            progress=False,
            chunk_rows=chunk,
            overwrite=True,
        )
        assert summary.rows == 3000
        found = [w for w in summary.warnings if "repeats" in w]
        assert found == [
            f"--input {tmp_path / name}: id column 'transaction_id' repeats: 3 row(s) have the "
            "id of an earlier row (e.g. row 20 and row 2500); each is scored as a transaction "
            "of its own (one listed twice counts twice in its card's history features), and "
            "their scores cannot be joined back by the id alone"
        ], summary.warnings
    padded = raw.assign(
        transaction_id=raw["transaction_id"].map(lambda i: f"{i:08d}" if i is not pd.NA else "")
    )
    padded.loc[2900, "transaction_id"] = str(raw["transaction_id"].iloc[2500])
    padded.loc[2500, "transaction_id"] = "x"
    padded.loc[2700, "transaction_id"] = "y"
    padded.to_csv(tmp_path / "text.csv", index=False)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(tmp_path / "text.csv"), "-o", str(tmp_path / "t.csv")
    )
    assert code == 0 and "repeats" not in text, text
    code, text = run_score(
        "--model", store.model_uri, "-i", str(tmp_path / "dup.csv"), "-o", str(tmp_path / "d.csv")
    )
    assert code == 0 and "repeats: 3 row(s)" in text, text
    # a chunk of plain integers, read as integers, and a later one with a text id, read as text
    mixed = store.raw.iloc[:3000].astype({"transaction_id": object})
    mixed.loc[2500, "transaction_id"] = "C1"
    mixed.loc[2900, "transaction_id"] = mixed.loc[20, "transaction_id"]
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    summary = score_file(
        store.model_uri, tmp_path / "mixed.csv", tmp_path / "m.csv", progress=False, chunk_rows=1000
    )
    assert [w for w in summary.warnings if "repeats: 1 row(s)" in w and "row 20 and row 2900" in w]
    # a folder of daily files: the rows are named in their files
    folder = tmp_path / "days"
    folder.mkdir()
    store.raw.iloc[:1500].to_csv(folder / "a.csv", index=False)
    later = store.raw.iloc[1500:3000].copy()
    later.iloc[7, later.columns.get_loc("transaction_id")] = store.raw["transaction_id"].iloc[20]
    later.to_csv(folder / "b.csv", index=False)
    for chunk in (500, 0):
        summary = score_file(
            store.model_uri, folder, tmp_path / f"f{chunk}.csv", progress=False, chunk_rows=chunk
        )
        assert [w for w in summary.warnings if "(e.g. row 20 of a.csv and row 7 of b.csv)" in w]


def test_a_servers_count_starts_again_after_its_window(store):
    """A server that scored 400 values well before a client began writing channels in capitals:
    counted since the start, 40 such values are 9 %, below the warning; counted in windows of
    at most 300 values, they are noticed."""
    good = store.raw.iloc[:200]
    shouting = store.raw.iloc[200:240].assign(channel=lambda d: d["channel"].str.upper())
    for window, warned in ((None, False), (300, True)):
        unseen = UnseenCategories(store.scorer, window=window)
        for frame in (good, good, shouting):
            unseen.count(frame)
            found = unseen.warnings("REST input")
        assert bool(found) is warned, (window, found)
    assert "'channel': 40 of its 40 values (100%)" in found[0]


def run_score(*args: str) -> tuple[int, str]:
    """`fraudgan score ARGS` in-process: (exit code, output with rich's wrapping undone)."""
    result = CliRunner().invoke(app, ["score", "--no-progress", *args])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_epoch_numbers_for_a_datetime_model_are_refused(store, tmp_path, unit):
    raw = store.raw.iloc[:500].copy()
    raw["timestamp"] = raw["timestamp"].astype(f"datetime64[{unit}]").astype("int64")
    path = tmp_path / "epoch.csv"
    raw.to_csv(path, index=False)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(path), "-o", str(tmp_path / "o.csv")
    )
    assert code == 2, text
    assert "epoch.csv" in text and "'timestamp'" in text and "datetime" in text
    assert not (tmp_path / "o.csv").exists()


def test_dates_for_a_seconds_model_are_refused(store):
    history = {**store.scorer.history}
    history["schema"] = {**history["schema"], "time_unit": "seconds"}
    with pytest.raises(DataError, match=r"in\.csv: time column 'timestamp' holds dates.*seconds"):
        HistoryFeatures(history, "in.csv").features(store.raw.iloc[:100])


@pytest.mark.parametrize(
    ("labels", "found"),
    [
        (["legit", "fraud"], "'fraud', 'legit'"),
        ([0, 2], "2"),
        (["0", "x"], "'x'"),
        (["1", "y"], "'y'"),
    ],
)
def test_a_label_column_that_is_not_binary_is_refused_when_scoring(store, tmp_path, labels, found):
    raw = store.raw.iloc[:400].copy()
    raw["is_fraud"] = (labels * 200)[:400]
    path = tmp_path / "labelled.csv"
    raw.to_csv(path, index=False)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(path), "-o", str(tmp_path / "o.csv")
    )
    assert code == 2, text
    assert "labelled.csv" in text and "label column 'is_fraud'" in text and found in text


def test_an_input_refused_in_its_first_chunk_shows_no_progress_bar(store, tmp_path):
    """The refusal alone, not a bar at 0 rows above it; a file that scores shows its bar."""
    raw = store.raw.iloc[:400].copy()
    raw.to_csv(tmp_path / "good.csv", index=False)
    raw.assign(is_fraud=2).to_csv(tmp_path / "bad.csv", index=False)
    runner = CliRunner()
    for name, code in (("good.csv", 0), ("bad.csv", 2)):
        args = ["score", "-m", store.model_uri, "-i", str(tmp_path / name)]
        result = runner.invoke(app, [*args, "-o", str(tmp_path / f"out_{name}")])
        assert result.exit_code == code, result.output
        assert (f"scoring {name}" in result.output) == (code == 0), result.output


def test_labels_as_text_and_unknown_labels_are_accepted(store, tmp_path):
    raw = store.raw.iloc[:400]
    text_labels = raw.astype({"is_fraud": str})
    text_labels.loc[text_labels.index[:50], "is_fraud"] = ""  # not known yet
    path = tmp_path / "text_labels.csv"
    text_labels.to_csv(path, index=False)
    summary = score_file(store.model_uri, path, tmp_path / "o.csv", progress=False)
    assert summary.rows == 400


def test_an_existing_output_is_kept_unless_overwrite(store, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("precious\n")
    args = ("--model", store.model_uri, "-i", str(store.root / "raw.parquet"), "-o", str(out))
    code, text = run_score(*args)
    assert code == 2
    assert "scores.csv" in text and "exists" in text and "--overwrite" in text
    assert out.read_text() == "precious\n"
    code, text = run_score(*args, "--overwrite")
    assert code == 0, text
    assert len(pd.read_csv(out)) == len(store.raw)
    # a folder is no output file, even with --overwrite
    code, text = run_score(*args[:-1], str(tmp_path), "--overwrite")
    assert code == 2 and f"--output {tmp_path} is a folder: name the file to write in it" in text


@pytest.mark.parametrize(
    "uri", ["s3://bucket/model", "runs:/0123456789abcdef/model", "https://example.com/m"]
)
def test_only_store_models_and_named_local_folders_are_loaded(store, tmp_path, uri):
    code, text = run_score(
        "--model", uri, "-i", str(store.root / "raw.csv"), "-o", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert uri in text and "models:/" in text and "pickled" in text


def test_a_local_model_folder_named_by_the_user_is_accepted(store, tmp_path):
    folder = Path(mlflow.artifacts.download_artifacts(store.model_uri, dst_path=str(tmp_path)))
    code, text = run_score(
        "--model", str(folder), "-i", str(store.root / "raw.csv"), "-o", str(tmp_path / "o.csv")
    )
    assert code == 0, text
    not_a_model = tmp_path / "empty_dir"
    not_a_model.mkdir()
    code, text = run_score(
        "--model",
        str(not_a_model),
        "-i",
        str(store.root / "raw.csv"),
        "-o",
        str(tmp_path / "p.csv"),
    )
    assert code == 2 and "MLmodel" in text


def test_help_says_a_model_folder_is_code():
    for command in ("score", "serve"):
        result = CliRunner().invoke(app, [command, "--help"])
        text = " ".join(result.output.split())
        assert "pickled Python" in text and "models:/" in text


# --------------------------------------------------------------------------------------------
# times: offsets, units and the range the model was trained on


def test_the_exported_scorer_records_the_time_it_was_trained_on(store):
    spec = store.scorer.metadata["time"]
    frame = store.prepared.dataset.frame
    assert spec == {
        "column": "timestamp",
        "unit": "datetime",
        "min": frame["timestamp"].min().isoformat(),
        "max": frame["timestamp"].max().isoformat(),
        "offsets": False,
    }


def with_offsets(times: pd.Series, hours: list[int]) -> list[str]:
    """Each (naive UTC) time written with the offset of `hours` (cycled): same instants."""
    out = []
    for k, t in enumerate(times):
        h = hours[k % len(hours)]
        local = (t + pd.Timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S")
        out.append(local + ("Z" if h == 0 else f"{h:+03d}:00"))
    return out


def test_mixed_utc_offsets_are_scored_as_the_same_instants_in_utc(store, tmp_path):
    raw = store.raw.copy()
    raw["timestamp"] = with_offsets(raw["timestamp"], [0, 1])  # "...Z" and "...+01:00"
    path = tmp_path / "mixed.csv"
    raw.to_csv(path, index=False)
    summary = score_file(
        store.model_uri, path, tmp_path / "o.parquet", chunk_rows=2500, progress=False
    )
    np.testing.assert_allclose(
        read(tmp_path / "o.parquet")[PROBABILITY], store.expected, rtol=0, atol=1e-7
    )
    # the model was trained on times without an offset: the file's convention is named
    assert any("UTC offset" in w and "without an offset" in w for w in summary.warnings)


def test_offsets_for_a_model_trained_on_naive_times_are_a_warning_on_the_cli(store, tmp_path):
    raw = store.raw.iloc[:600].copy()
    raw["timestamp"] = with_offsets(raw["timestamp"], [5])
    path = tmp_path / "offset.csv"
    raw.to_csv(path, index=False)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(path), "-o", str(tmp_path / "o.csv")
    )
    assert code == 0, text
    assert "warning:" in text and "'timestamp'" in text and "+05:00" in text
    assert "trained on times without an offset" in text


def seconds_scorer(store, low: float, high: float, unit: str = "seconds"):
    """The store's scorer without history features, told it trained on numbers of `unit` (low..high
    in seconds, as the export records them)."""
    import copy

    scorer = copy.copy(store.scorer)
    scorer.history = None
    spec = {"column": "secs", "unit": unit, "min": low, "max": high, "offsets": False}
    scorer.metadata = {**store.scorer.metadata, "time": spec}
    return scorer


def test_epoch_milliseconds_for_a_model_of_epoch_seconds_are_refused(store, tmp_path):
    rows = model_rows(store, 400).copy()
    start = 1.7e9
    scorer = seconds_scorer(store, start, start + 30 * 86_400)
    rows["secs"] = (start + np.arange(len(rows)) * 60.0) * 1000  # milliseconds
    path = tmp_path / "ms.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"ms\.csv: time column 'secs' looks like milliseconds"):
        score_file("unused", path, tmp_path / "o.csv", progress=False, scorer=scorer)
    assert not (tmp_path / "o.csv").exists()
    # seconds since the start of the data, trained on 2 days, scored in milliseconds
    scorer = seconds_scorer(store, 0.0, 172_800.0)
    rows["secs"] = np.arange(len(rows)) * 400.0 * 1000
    rows.to_csv(path, index=False)
    with pytest.raises(DataError, match="looks like milliseconds"):
        score_file("unused", path, tmp_path / "o.csv", progress=False, scorer=scorer)
    # ... the other way round: a model of epoch milliseconds given epoch seconds
    scorer = seconds_scorer(store, start, start + 30 * 86_400, unit="milliseconds")
    rows["secs"] = start + np.arange(len(rows)) * 60.0
    rows.to_csv(path, index=False)
    with pytest.raises(DataError, match="looks like seconds where the model has milliseconds"):
        score_file("unused", path, tmp_path / "o.csv", progress=False, scorer=scorer)
    # ... and given milliseconds, it scores them
    rows["secs"] = (start + np.arange(len(rows)) * 60.0) * 1000
    rows.to_csv(path, index=False)
    score_file("unused", path, tmp_path / "o.csv", progress=False, scorer=scorer)
    assert len(pd.read_csv(tmp_path / "o.csv")) == len(rows)
    # a model of hours given numbers 1000 times larger: no unit of that size to name
    scorer = seconds_scorer(store, 0.0, 30 * 86_400.0, unit="hours")
    rows["secs"] = np.arange(len(rows)) * 1.8 * 1000  # 0 .. 720 hours, times 1000
    rows.to_csv(path, index=False)
    with pytest.raises(DataError, match="looks like another unit where the model has hours"):
        score_file("unused", path, tmp_path / "o2.csv", progress=False, scorer=scorer)


def test_seconds_in_a_plausible_range_are_scored_and_far_ones_warned(store, tmp_path):
    rows = model_rows(store, 400).copy()
    start = 1.7e9
    scorer = seconds_scorer(store, start, start + 30 * 86_400)
    rows["secs"] = start + 40 * 86_400 + np.arange(len(rows)) * 60.0  # 10 days later: fine
    path = tmp_path / "s.csv"
    rows.to_csv(path, index=False)
    summary = score_file("unused", path, tmp_path / "o.csv", progress=False, scorer=scorer)
    assert summary.rows == 400 and summary.warnings == []
    rows["secs"] = 1.0e4 + np.arange(len(rows))  # seconds since some start, not epoch seconds
    rows.to_csv(path, index=False)
    summary = score_file(
        "unused", path, tmp_path / "o2.csv", progress=False, scorer=scorer, overwrite=True
    )
    assert any("far outside the range" in w for w in summary.warnings)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_repeated_column_name_is_refused_when_scoring(store, tmp_path, suffix):
    raw = store.raw.iloc[:300]
    bogus = pd.DataFrame({"amount": np.full(len(raw), 1e6)})  # the copy that would be used
    frame = pd.concat([bogus, raw], axis=1)
    path = tmp_path / f"twice.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_arrays(
            [pa.array(frame.iloc[:, k]) for k in range(frame.shape[1])], names=list(frame.columns)
        )
        pq.write_table(table, path)
    code, text = run_score(
        "--model", store.model_uri, "-i", str(path), "-o", str(tmp_path / "o.csv")
    )
    assert code == 2, text
    assert f"twice.{suffix}" in text and "duplicated column name(s)" in text and "'amount'" in text
    assert not (tmp_path / "o.csv").exists()


def test_a_semicolon_separated_file_gets_a_separator_hint(store, tmp_path):
    path = tmp_path / "semi.csv"
    store.raw.iloc[:50].to_csv(path, index=False, sep=";")
    code, text = run_score(
        "--model", store.model_uri, "-i", str(path), "-o", str(tmp_path / "o.csv")
    )
    assert code == 2, text
    assert "semi.csv" in text and "separated by semicolons (';')" in text


def test_history_in_chunks_carries_each_velocity_value_latest_row(store):
    # devices seen again after more than the horizon: their previous row must be carried over
    raw = store.raw[store.raw["timestamp"] < store.raw["timestamp"].min() + pd.Timedelta(days=12)]
    device = np.random.default_rng(0).integers(0, 600, len(raw))  # not tied to the card
    raw = raw.assign(device=pd.Series(device, index=raw.index).where(raw.index % 13 != 0))
    history = {**store.scorer.history}
    history["schema"] = {**history["schema"], "velocity": ["device"]}
    history["raw_columns"] = [*history["raw_columns"], "device"]
    velocity = [
        "device_n_0.5d",
        "device_secs_since_prev",
        "device_fraud_rate_2d",
        "device_entities_2d",
    ]
    history["engineered"] = [*history["engineered"], *velocity]
    whole = HistoryFeatures(history, "in.csv").features(raw)
    gaps = whole["device_secs_since_prev"]
    assert (gaps > 86_400 * history["horizon_days"]).sum() > 20  # beyond the carried horizon
    assert (whole["device_fraud_rate_2d"] > 0).any()
    assert (whole["device_entities_2d"] > 1).any()
    chunked = HistoryFeatures(history, "in.csv")
    parts = [chunked.features(raw.iloc[i : i + 150]) for i in range(0, len(raw), 150)]
    pd.testing.assert_frame_equal(pd.concat(parts), whole)
