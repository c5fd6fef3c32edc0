"""The Spark engine on local[2]: scoring equals the local engine, Spark training matches it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

pytest.importorskip("pyspark", reason="pyspark not installed (pip install 'fraudgan[spark]')")
if shutil.which("java") is None:
    pytest.skip(
        "no `java` on the PATH: Spark needs a Java 17+ runtime "
        "(e.g. apt-get install openjdk-17-jre-headless)",
        allow_module_level=True,
    )

from models.classifier import n_trees
from models.errors import ConfigError, DataError, FraudganError
from pipeline import evaluate
from pipeline.cli import app
from pipeline.config import load_config
from pipeline.data.simulate import simulate
from pipeline.engines import engine_for
from pipeline.export import export_champion
from pipeline.runner import FoldRunner, prepare, run_experiment
from pipeline.score import HistoryFeatures, load_scorer, score_file
from pipeline.spark import (
    G1_REGION_SIZE,
    SPARK_PAGE_SIZE,
    _check_input,
    _local_driver_memory,
    _local_java_options,
    _read,
    _spark_error,
    _udf_inputs,
    chunk_plan,
    fit_spark_pipeline,
    gan_training_rows,
    generate_on_executors,
    jvm_console_to,
    score_spark,
    spark_session,
)

MASTER = "local[2]"


@pytest.fixture(scope="module")
def spark():
    session = spark_session(MASTER, app_name="fraudgan-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The `none` strategy of the quick experiment, exported (with history features)."""
    root = tmp_path_factory.mktemp("spark_export")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        cfg = load_config("experiments/quick.yaml", ["strategies=[none]"])
        experiment = run_experiment(cfg)
        result = export_champion(experiment.parent_run_id)
        scorer = load_scorer(result.alias_uri)
    # raw transactions of another simulation (each engine builds the history features from
    # them) with a day column to partition by; `featured` has the features the model sees
    frame = simulate(1500, n_days=20, seed=7, fraud_rate=0.02)
    frame["day"] = frame["timestamp"].dt.strftime("%Y-%m-%d")
    featured = HistoryFeatures(scorer.history, "test").features(frame)
    path = root / "transactions.parquet"
    frame.to_parquet(path, index=False)
    return SimpleNamespace(
        uri=uri,
        model=result.alias_uri,
        scorer=scorer,
        frame=frame,
        featured=featured,
        path=path,
        root=root,
    )


@pytest.fixture
def store(exported: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", exported.uri)
    mlflow.set_tracking_uri(exported.uri)
    return exported


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("transaction_id").reset_index(drop=True)


def test_a_local_session_gets_a_quarter_of_memory_unless_the_user_set_it(
    spark, monkeypatch, tmp_path
):
    jvm = spark.sparkContext._jvm
    heap = jvm.java.lang.Runtime.getRuntime().maxMemory()
    assert heap > 0.9 * int(_local_driver_memory().rstrip("g")) * 2**30  # not Spark's 1 GiB
    # G1 regions of more than two memory pages: a page of half a region took a whole one
    options = list(
        jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    )
    assert f"-XX:G1HeapRegionSize={G1_REGION_SIZE}" in options
    assert _bytes(G1_REGION_SIZE) > 2 * _bytes(SPARK_PAGE_SIZE)
    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    (tmp_path / "spark-defaults.conf").write_text("spark.executor.cores 2\n")
    assert _local_driver_memory() is not None and _local_java_options() is not None
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.memory 12g\n")
    assert _local_driver_memory() is None and _local_java_options() is not None
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.extraJavaOptions -XX:+UseZGC\n")
    assert _local_driver_memory() is not None and _local_java_options() is None
    monkeypatch.delenv("SPARK_CONF_DIR")
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 3g pyspark-shell")
    assert _local_driver_memory() is None and _local_java_options() is not None
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-java-options -Xss4m pyspark-shell")
    assert _local_driver_memory() is not None and _local_java_options() is None


def _bytes(size: str) -> int:
    return int(size[:-1]) * {"k": 2**10, "m": 2**20, "g": 2**30}[size[-1]]


def test_a_job_the_jvm_died_in_says_so_with_what_to_do(tmp_path):
    """A JVM out of heap shuts its context down; py4j's error named neither (real text: 5,000,000
    rows on local[2] with G1's default regions)."""
    text = (
        "An error occurred while calling o1259.parquet.\n: org.apache.spark.SparkException: "
        "[STAGE_MATERIALIZATION_MULTIPLE_FAILURES] Multiple failures (2) in stage "
        "materialization: \n  1. SparkException: Job 9 cancelled because SparkContext was shut "
        "down\n  2. SparkException: Job 10 cancelled because SparkContext was shut down SQLSTATE: "
        "XX000\n"
    )
    log = tmp_path / "fraudgan.log"
    with jvm_console_to(log):
        error = _spark_error(Exception(text), "--input big", tmp_path)
    assert type(error) is FraudganError
    message = str(error)
    assert message.startswith("--input big: Spark stopped in the middle of the job")
    assert "ran out of memory" in message and f"'OutOfMemoryError' in {log}" in message
    assert "--driver-memory" in message and "o1259" not in message


def test_the_udfs_input_is_what_the_local_engine_reads(spark, tmp_path):
    """Categorical booleans as Python writes them ('True', not Spark's 'true'), a text category
    stored as numbers as their text, a number category as double; a CSV's true/false of a
    boolean category is read as booleans (`text_categoricals` leaves it to the reader)."""
    csv = tmp_path / "input.csv"
    pd.DataFrame(
        {
            "tx": ["007", "8", "9"],
            "flag": ["true", "False", ""],
            "code": [742, 5411, 1],
            "mcc": [5411, 5812, 5411],
        }
    ).to_csv(csv, index=False)
    scorer = SimpleNamespace(
        columns=["flag", "code", "mcc"],
        double_columns=lambda: ["mcc"],
        text_categoricals=lambda: ["code"],
        id_column="tx",
        numeric=[],
        history=None,
    )
    df = _read(spark, csv, "csv", scorer, [])
    assert dict(df.dtypes)["flag"] == "boolean" and dict(df.dtypes)["code"] == "string"
    # a CSV's ids as the local engine's `ids_as_read`: text where an integer would lose a
    # leading zero, integers where every id is written plainly
    ids = _check_input(df, scorer, "input", tmp_path).select("tx").toPandas()["tx"]
    assert ids.tolist() == ["007", "8", "9"]
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"tx": ["7", "8", None], "flag": [True] * 3}).to_csv(plain, index=False)
    df = _check_input(_read(spark, plain, "csv", scorer, []), scorer, "plain", tmp_path)
    assert dict(df.dtypes)["tx"] == "bigint"
    assert df.select("tx").toPandas()["tx"].tolist()[:2] == [7, 8]
    parquet = tmp_path / "input.parquet"
    pd.DataFrame(
        {"flag": [True, False, None], "code": [742, 5411, 1], "mcc": [5411, 5812, 5411]}
    ).to_parquet(parquet, index=False)
    df = spark.read.parquet(str(parquet))
    rows = df.select(*_udf_inputs(df, scorer)).toPandas()
    assert rows["flag"].tolist()[:2] == ["True", "False"] and rows["flag"].isna().iloc[2]
    assert rows["code"].tolist() == ["742", "5411", "1"]
    assert rows["mcc"].tolist() == [5411.0, 5812.0, 5411.0]


def test_the_model_schemas_refusal_in_the_udf_gives_its_reason_not_the_data(tmp_path):
    """MLflow's enforcement inside the UDF dumps the rows before its reason (real text, of a
    boolean column sent to a string one before the engine converted it)."""
    text = (
        "org.apache.spark.api.python.PythonException: mlflow.exceptions.MlflowException: "
        "Failed to enforce schema of data '   transaction_id  ...  merchant_fraud_rate_30d\n"
        "0            7200  ...                 0.000000\n\n[5 rows x 29 columns]' with schema "
        "'['transaction_id': long (optional), 'is_3ds': string (optional)]'. Error: "
        "Incompatible input types for column is_3ds. Can not safely convert bool to <U0.\n"
    )
    error = _spark_error(Exception(text), "--input x.parquet", tmp_path)
    assert type(error) is DataError
    assert str(error).startswith(
        "--input x.parquet: the model's input schema refused the data: Incompatible input types "
        "for column is_3ds. Can not safely convert bool to <U0."
    )
    assert "7200" not in str(error)


def test_a_folder_key_of_digits_that_the_model_reads_as_text_stays_text(spark, tmp_path):
    """`mcc=0742/` folders: Spark types the key as an integer (742); a model's text codes are
    read back as text, as the local engine reads them; other keys keep Spark's types."""
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0], "mcc": ["0742", "5411", "0042"]})
    frame.assign(hour=[1, 2, 3]).to_parquet(
        tmp_path / "by_mcc", partition_cols=["mcc", "hour"], index=False
    )
    inferred = spark.read.parquet(str(tmp_path / "by_mcc")).schema
    assert inferred["mcc"].dataType.typeName() == "integer"
    model = SimpleNamespace(text_categoricals=lambda: ["mcc"])
    df = _read(spark, tmp_path / "by_mcc", "parquet", model, ["mcc", "hour"])
    assert df.schema["mcc"].dataType.typeName() == "string"
    assert df.schema["hour"].dataType.typeName() == "integer"
    assert sorted(r.mcc for r in df.collect()) == ["0042", "0742", "5411"]


def test_a_categorical_column_written_another_way_is_a_warning(spark, store, tmp_path):
    """As the local engine warns (tests/test_score.py), on the first rows Spark reads."""
    shouting = tmp_path / "shouting.csv"
    written = store.frame.assign(channel=store.frame["channel"].str.upper())
    # and a transaction listed three times (the local engine's warning: tests/test_score.py)
    ids = written["transaction_id"].to_numpy().copy()
    ids[[40, 70]] = ids[9]
    written.assign(transaction_id=ids).to_csv(shouting, index=False)
    summary = score_spark(store.model, shouting, tmp_path / "out", spark=spark)
    n = min(len(store.frame), 10_000)
    said = [w for w in summary.warnings if "categorical column 'channel'" in w]
    assert len(said) == 1 and f"{n:,} of its {n:,} values" in said[0], summary.warnings
    assert not [w for w in summary.warnings if "'merchant_category'" in w]
    repeats = [w for w in summary.warnings if "repeats" in w]
    assert repeats == [
        f"--input {shouting}: id column 'transaction_id' repeats: 2 row(s) have the id of an "
        f"earlier row (e.g. id {int(ids[9])} on 3 rows); each is scored as a transaction of its own "
        "(one listed twice counts twice in its card's history features), and their scores "
        "cannot be joined back by the id alone"
    ]
    # stored as integers, the text categories are read as the text of those numbers, unseen
    # categories, as the local engine reads them: the same warning and the same scores; ids
    # written as text where the model's were numbers pass through, as on the local engine
    numbered = tmp_path / "numbered.parquet"
    head = store.frame.head(2000)
    codes = head["channel"].astype("category").cat.codes.astype("int64")
    ids = "T" + head["transaction_id"].astype(str)
    head.assign(channel=codes, transaction_id=ids).to_parquet(numbered, index=False)
    summary = score_spark(store.model, numbered, tmp_path / "numbered", spark=spark)
    said = [w for w in summary.warnings if "categorical column 'channel'" in w]
    assert len(said) == 1 and "(e.g. '" in said[0], summary.warnings
    local = score_file(store.model, numbered, tmp_path / "numbered.csv", progress=False)
    assert [w for w in local.warnings if "categorical column 'channel'" in w]
    np.testing.assert_allclose(
        _by_id(pd.read_parquet(tmp_path / "numbered"))["fraud_probability"],
        _by_id(pd.read_csv(tmp_path / "numbered.csv"))["fraud_probability"],
        rtol=1e-6,
    )


def test_spark_scoring_equals_local_scoring_row_for_row(spark, store, tmp_path):
    local = tmp_path / "local.parquet"
    own = score_file(store.model, store.path, local, chunk_rows=0, progress=False)
    summary = score_spark(store.model, store.path, tmp_path / "spark", spark=spark)
    assert summary.note == own.note and "alerted (the validation slice:" in summary.note
    assert not [w for w in summary.warnings if "repeats" in w]
    expected = _by_id(pd.read_parquet(local))
    got = _by_id(pd.read_parquet(tmp_path / "spark"))
    assert summary.rows == len(expected) == len(store.frame)
    assert summary.alerts == int(expected["alert"].sum())
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got["transaction_id"], expected["transaction_id"])
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], rtol=1e-6)
    np.testing.assert_array_equal(got["alert"].astype(int), expected["alert"].astype(int))


def test_partitioned_input_gives_partitioned_output_with_reasons(spark, store, tmp_path):
    source = tmp_path / "by_day"
    store.frame.to_parquet(source, partition_cols=["day"], index=False)
    out = tmp_path / "scored"
    summary = score_spark(store.model, source, out, explain=True, spark=spark)
    assert summary.partition_columns == ["day"]
    days = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert days == sorted(f"day={d}" for d in store.frame["day"].unique())
    got = _by_id(pd.read_parquet(out))
    # the history of every day folder together, as the local engine builds it on the whole file
    expected = _by_id(store.scorer.score(store.featured, explain=True))
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], rtol=1e-6)
    assert (got["reason_1"].astype(str) == expected["reason_1"].astype(str)).all()
    np.testing.assert_allclose(got["reason_1_value"], expected["reason_1_value"], rtol=1e-5)


def test_csv_input_builds_history_from_text_times(spark, store, tmp_path):
    csv = tmp_path / "t.csv"
    store.frame.to_csv(csv, index=False)
    summary = score_spark(store.model, csv, tmp_path / "from_csv", spark=spark)
    assert summary.warnings == []
    got = _by_id(pd.read_parquet(tmp_path / "from_csv"))
    expected = _by_id(store.scorer.score(store.featured))
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], rtol=1e-6)
    folder = tmp_path / "days"  # daily exports, one compressed
    folder.mkdir()
    half = len(store.frame) // 2
    store.frame.iloc[:half].to_csv(folder / "a.csv", index=False)
    store.frame.iloc[half:].to_csv(folder / "b.csv.gz", index=False)
    score_spark(store.model, folder, tmp_path / "from_folder", spark=spark)
    got = _by_id(pd.read_parquet(tmp_path / "from_folder"))
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], rtol=1e-6)
    # partitioned by channel as Spark writes it (the key in folder names only): both engines
    # read the key as the column, and score the folder as the file
    by_channel = tmp_path / "by_channel"
    for channel, rows in store.frame.groupby("channel"):
        (by_channel / f"channel={channel}").mkdir(parents=True)
        rows.drop(columns="channel").to_csv(by_channel / f"channel={channel}/0.csv", index=False)
    score_spark(store.model, by_channel, tmp_path / "spark_by_channel", spark=spark)
    score_file(store.model, by_channel, tmp_path / "local.parquet", chunk_rows=0, progress=False)
    for scored in ("spark_by_channel", "local.parquet"):
        got = _by_id(pd.read_parquet(tmp_path / scored))
        np.testing.assert_allclose(
            got["fraud_probability"], expected["fraud_probability"], rtol=1e-6
        )


def test_bad_input_is_named(spark, store, tmp_path):
    lacking = tmp_path / "lacking.parquet"
    store.frame.drop(columns=["amount"]).to_parquet(lacking, index=False)
    with pytest.raises(DataError, match=r"lacking\.parquet: missing 1 column.*amount"):
        score_spark(store.model, lacking, tmp_path / "never", spark=spark)
    with pytest.raises(DataError, match="not an empty directory"):
        score_spark(store.model, lacking, tmp_path, spark=spark)
    for name in ("scores.csv", "scores.csv.xz"):
        with pytest.raises(DataError, match=rf"{name}: score --engine spark writes a folder of P"):
            score_spark(store.model, lacking, tmp_path / name, spark=spark)
    # a folder of CSV files partitioned by day (each file part-0.csv), one of them with an
    # amount that is no number: the file is named by its path in the folder
    folder = tmp_path / "days"
    day = {d: folder / f"export_date=2026-01-0{d}" / "part-0.csv" for d in (1, 2, 3)}
    for file in day.values():
        file.parent.mkdir(parents=True)
    frame = store.frame.astype({"amount": object})
    frame.iloc[:700].to_csv(day[1], index=False)
    frame.iloc[700:].assign(
        amount=frame["amount"].iloc[700:].where(frame.index[700:] != 900, "$1,234.50")
    ).to_csv(day[2], index=False)
    with pytest.raises(
        DataError,
        match=r"days: export_date=2026-01-02/part-0\.csv: amount column 'amount' must be "
        r"numeric; 1 value\(s\) are not numbers, e\.g\. '\$1,234\.50'",
    ):
        score_spark(store.model, folder, tmp_path / "never", spark=spark)
    # a row with more fields than the header (Spark itself would drop them): the file is named
    lines = day[2].read_text().splitlines()
    day[2].write_text("\n".join([*lines[:40], lines[40] + ",oops"]) + "\n")
    with pytest.raises(
        DataError,
        match=r"days: export_date=2026-01-02/part-0\.csv: 1 row\(s\) have more fields than "
        r"the header's \d+ \(one holds 'oops' past its last column\)",
    ):
        score_spark(store.model, folder, tmp_path / "never", spark=spark)
    # a compressed file cut short fails in a Spark task: the file and Spark's reason are named
    store.frame.iloc[700:].to_csv(day[2], index=False)
    gz = day[3].with_suffix(".csv.gz")
    store.frame.iloc[700:].to_csv(gz, index=False)
    gz.write_bytes(gz.read_bytes()[:2000])
    with pytest.raises(
        DataError,
        match=r"days: export_date=2026-01-03/part-0\.csv\.gz: Spark cannot read this file: .*EOF",
    ):
        score_spark(store.model, folder, tmp_path / "never", spark=spark)
    # a Parquet folder whose files store the amount with two types: Spark reads the folder
    # under one file's schema and fails in a task; the file and the column are named
    parts = tmp_path / "parts"
    parts.mkdir()
    store.frame.iloc[:700].to_parquet(parts / "part-0.parquet", index=False)
    whole = store.frame.iloc[700:].assign(amount=lambda d: d["amount"].round().astype("int64"))
    whole.to_parquet(parts / "part-1.parquet", index=False)
    with pytest.raises(
        DataError,
        match=r"parts: part-1\.parquet: column 'amount' is stored as Parquet INT64 here but read "
        "as double",
    ):
        score_spark(store.model, parts, tmp_path / "never", spark=spark)
    # a damaged file is named before Spark starts
    (parts / "part-1.parquet").write_bytes(b"PAR1 cut short")
    with pytest.raises(DataError, match=r"parts: part-1\.parquet: not a readable Parquet file"):
        score_spark(store.model, parts, tmp_path / "never", spark=spark)
    # engineered columns in the input are rebuilt, as the local engine does, with a warning
    stale = tmp_path / "stale.parquet"
    store.featured.assign(entity_n_1d=999).to_parquet(stale, index=False)
    summary = score_spark(store.model, stale, tmp_path / "stale_out", spark=spark)
    assert any("rebuilt from the raw columns" in w for w in summary.warnings)
    got = _by_id(pd.read_parquet(tmp_path / "stale_out"))
    expected = _by_id(store.scorer.score(store.featured))
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], rtol=1e-6)


@pytest.fixture(scope="module")
def training() -> SimpleNamespace:
    cfg = load_config(
        "experiments/quick.yaml",
        # one validation window: the engines are compared on the same fit and validation rows
        [
            "strategies=[none, threshold]",
            "data.rows=30000",
            f"spark_master={MASTER}",
            "validation.windows=1",
        ],
    )
    return SimpleNamespace(cfg=cfg, prepared=prepare(cfg))


def test_spark_trained_model_matches_the_local_one(spark, training):
    # one Spark task (SparkXGBClassifier, num_workers=1) on the fold's fit/validation rows
    runner = FoldRunner(training.cfg, training.prepared, training.prepared.folds[0])
    fitted = runner.fit("none", {}, {})
    local_ap = runner.score(fitted)[0]["average_precision"]
    pipe = clone(fitted.pipe)  # an unfitted copy: same steps and parameters
    fit_spark_pipeline(
        pipe, runner.X_fit, runner.y_fit, runner.X_val, runner.y_val, master=MASTER, num_workers=1
    )
    p_test = pipe.predict_proba(runner.X_test)[:, 1]
    assert evaluate.average_precision(runner.y_test, p_test) == pytest.approx(local_ap, abs=1e-9)
    assert n_trees(pipe.named_steps["classifier"]) == n_trees(fitted.pipe.named_steps["classifier"])


@pytest.mark.slow
def test_distributed_training_on_two_workers_matches_local_on_average(spark, training):
    # `engine: spark` (two workers on local[2]): distributed quantile sketches, and so the trees
    # the validation keeps and the refit, differ a little per fold; the mean over folds (the
    # comparison table) matches within the noise of ~30 test frauds per fold, far above chance
    cfg, prepared = training.cfg, training.prepared
    local = [
        FoldRunner(cfg, prepared, fold).run("none", {}).metrics["average_precision"]
        for fold in prepared.folds
    ]
    on_spark = cfg.model_copy(update={"engine": "spark"})
    rows = []
    for fold in prepared.folds:
        runner = FoldRunner(on_spark, prepared, fold)
        rows += [runner.run(name, params).row() for name, params in on_spark.strategies.items()]
    results = pd.DataFrame(rows)
    assert set(results["strategy"]) == {"none", "threshold"}
    spark_ap = results.loc[results["strategy"] == "none", "average_precision"].to_numpy()
    assert abs(float(np.mean(spark_ap)) - float(np.mean(local))) < 0.03, (spark_ap, local)
    prevalence = float(np.mean(prepared.y))
    assert np.all(spark_ap > 20 * prevalence), (spark_ap, prevalence)
    assert {"roc_auc", "threshold", "fit_seconds", "n_trees"} <= set(results.columns)


def test_engine_spark_rejects_the_smote_family():
    cfg = load_config("experiments/quick.yaml", ["engine=spark", "strategies=[none, smote]"])
    with pytest.raises(ConfigError, match="remove smote"):
        engine_for(cfg).check(cfg)


def test_engine_spark_rejects_gan_rows_chosen_on_the_driver():
    cfg = load_config(
        "experiments/quick.yaml", ["engine=spark", "strategies={cgan: {match_scores: true}}"]
    )
    with pytest.raises(ConfigError, match="match_scores.*in cgan"):
        engine_for(cfg).check(cfg)


def test_gan_training_rows_keep_every_fraud_row_and_cap_the_rest():
    y = np.r_[np.zeros(9_000, int), np.ones(300, int)]
    rows = gan_training_rows(y, 2_000, seed=3)
    assert len(rows) == 2_000 and np.all(np.diff(rows) > 0)
    assert int(y[rows].sum()) == 300
    assert np.array_equal(rows, gan_training_rows(y, 2_000, seed=3))
    assert np.array_equal(gan_training_rows(y, 10_000, seed=3), np.arange(len(y)))
    # more fraud than half the cap: fraud is sampled down too, legit fills the rest
    many = gan_training_rows(np.r_[np.zeros(5_000, int), np.ones(3_000, int)], 2_000, seed=0)
    assert len(many) == 2_000


GAN_TINY = {"sampling_strategy": 0.2, "epochs": 3, "steps_per_epoch": 5, "eval_every": 0}


@pytest.mark.parametrize(
    "drawn_from",
    [
        {},
        pytest.param(
            {"eval_every": 1, "select": "last", "checkpoint": 0.34}, marks=pytest.mark.slow
        ),
    ],
    ids=["kept generator", "an earlier checkpoint"],
)
def test_gan_rows_generated_on_executors_are_the_drivers_draws(spark, drawn_from):
    from models.gan import CGANOverSampler

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=600),
            "b": rng.lognormal(size=600),
            "n": rng.poisson(3, 600),
            "channel": rng.choice(["atm", "online", "pos"], 600),
        }
    )
    y = (rng.random(600) < 0.3).astype(int)  # enough fraud rows to hold some out for the tests
    sampler = CGANOverSampler(random_state=0, **{**GAN_TINY, **drawn_from})
    sampler.fit_synthesizer(X, y, {1: 95})
    if drawn_from:  # a checkpoint other than the kept generator, which a saved GAN lacks
        assert sampler.epoch_ == 1 != sampler.synthesizer_.best_epoch_
    rows = generate_on_executors(spark, sampler, chunk_rows=40).toPandas()
    plan = chunk_plan(sampler, 40)
    assert [n for _, n, _ in plan] == [40, 40, 15]
    expected = pd.concat(
        [sampler.sample_block(n, cls, seed) for cls, n, seed in plan], ignore_index=True
    )
    key = ["a", "b", "n", "channel"]
    got = rows.sort_values(key).reset_index(drop=True)
    want = expected.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(got[["a", "b", "n"]], want[["a", "b", "n"]], rtol=1e-6)
    assert got["channel"].tolist() == want["channel"].tolist()  # categories travel as text
    assert (rows["label"] == 1.0).all()


def test_engine_spark_trains_the_gan_strategy(spark, training, caplog):
    cfg = training.cfg.model_copy(update={"engine": "spark", "spark_gan_sample_rows": 4_000})
    runner = FoldRunner(cfg, training.prepared, training.prepared.folds[0])
    with caplog.at_level("INFO", logger="pipeline.spark"):
        # one point of the choosing grid: each point is a Spark fit (the grid's search is
        # tested locally, tests/test_augment.py)
        one_point = {"weight": [1.0], "checkpoint": ["best"]}
        result = runner.run("cgan", {**GAN_TINY, "refit_gan": False, "choose": one_point})
    # the selection fit on the fit rows, then the refit on the whole training fold (drawing from
    # the same GAN: the fold's cache serves it without `refit_gan`)
    for y in (runner.y_fit, runner.y_train):
        assert f"on 4000 of {len(y)} fit rows ({int(y.sum())} fraud)" in caplog.text
    n_pos = int(runner.y_train.sum())
    n_neg = len(runner.y_train) - n_pos
    # the scored model: as many rows as the ratio asks of *all* its rows, though the GAN saw a
    # sample
    assert result.metrics["n_synthetic"] == int(0.2 * n_neg) - n_pos
    prevalence = float(runner.y_test.mean())
    assert result.metrics["average_precision"] > 5 * prevalence
    assert result.quality is not None  # the quality report sees the executors' rows
    assert result.metrics["gan_train_seconds"] > 0


def test_cli_score_engine_spark(spark, store, tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        [
            "score",
            "--engine",
            "spark",
            "--master",
            MASTER,
            "--model",
            store.model,
            "--input",
            str(store.path),
            "--output",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "on Spark" in res.output
    assert len(pd.read_parquet(out)) == len(store.frame)


def test_cli_run_with_engine_spark(spark, tmp_path, monkeypatch):
    """`fraudgan run` with `engine: spark` (its JVM's console routed as `score`'s is)."""
    from typer.testing import CliRunner

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    sets = ["engine=spark", f"spark_master={MASTER}", "strategies=[none]", "data.rows=3000"]
    sets += ["data.fraud_rate=0.03", "classifier.n_estimators=10", "validation.windows=1"]
    args = ["run", "experiments/quick.yaml", *(x for s in sets for x in ("--set", s))]
    res = CliRunner().invoke(app, args)
    text = " ".join(res.output.split())
    assert res.exit_code == 0, text
    assert "AUPRC" in text and "Best: none" in text
    assert f"library messages: {tmp_path / 'mlruns' / 'fraudgan.log'}" in text


def test_the_jvm_console_goes_to_the_log_and_a_failed_start_quotes_it(store, tmp_path):
    """`score --engine spark` starts its JVM with stderr in fraudgan.log (Spark's start-up lines
    stay off the terminal); a JVM that cannot start is explained with its last lines."""
    java = tmp_path / "java" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\nfor i in 1 2 3 4 5; do echo jvm line $i >&2; done\nexit 1\n")
    java.chmod(0o755)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store.uri,
        "JAVA_HOME": str(java.parent.parent),
        "PATH": f"{java.parent}{os.pathsep}{os.environ['PATH']}",
    }
    args = ["--input", str(store.path), "--output", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "score", "--engine", "spark", "--master", MASTER]
        + ["--model", store.model, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot start Spark (master 'local[2]')" in said
    assert "jvm line 4 | jvm line 5" in said  # pyspark's launcher may add its own last line
    assert "jvm line 1" not in said  # on the terminal only as the error quotes it
    log_file = Path(store.uri.removeprefix("sqlite:///")).parent / "fraudgan.log"
    assert "jvm line 1" in log_file.read_text()


def test_cli_score_engine_spark_reads_fraud_reports_as_the_local_engine(spark, store, tmp_path):
    """`--labels` with report dates: Spark's scores equal the local engine's, and both name the
    rows the reports made fraud."""
    from typer.testing import CliRunner

    frame = store.frame
    fraud = frame[frame["is_fraud"] == 1]
    days = np.random.default_rng(3).gamma(1.5, 4.0, len(fraud))
    reported = (fraud["timestamp"] + pd.to_timedelta(days, unit="D")).astype(str)
    reports = tmp_path / "reports.csv"
    pd.DataFrame({"tx": fraud["transaction_id"], "at": reported}).to_csv(reports, index=False)
    path = tmp_path / "unlabelled.parquet"
    frame.drop(columns="is_fraud").to_parquet(path, index=False)
    by_report = ["--labels", str(reports), "--labels-id", "tx", "--reported-at", "at"]
    said = {}
    for engine, out in (("local", tmp_path / "local.parquet"), ("spark", tmp_path / "spark")):
        args = ["--engine", engine, "--input", str(path), "--output", str(out), *by_report]
        res = CliRunner().invoke(app, ["score", "--model", store.model, *args])
        assert res.exit_code == 0, res.output
        said[engine] = " ".join(res.output.split())
    for text in said.values():
        assert f"; {len(fraud)} of them reported as fraud (--labels)" in text
    expected = _by_id(pd.read_parquet(tmp_path / "local.parquet"))
    got = _by_id(pd.read_parquet(tmp_path / "spark"))
    np.testing.assert_allclose(got["fraud_probability"], expected["fraud_probability"], atol=1e-6)
    # the labels changed the scores: the same file scored without them differs
    bare = tmp_path / "bare.parquet"
    score_file(store.model, path, bare, chunk_rows=0, progress=False)
    assert not np.allclose(
        _by_id(pd.read_parquet(bare))["fraud_probability"], got["fraud_probability"]
    )
    # an input with its own labels, or without the id the reports name, is refused before Spark
    # builds anything
    lacking = tmp_path / "no_id.parquet"
    frame.drop(columns=["is_fraud", "transaction_id"]).to_parquet(lacking, index=False)
    for source, message in (
        (store.path, "has a label column 'is_fraud' and --labels names reports"),
        (lacking, "--labels joins the reports by the model's id column 'transaction_id'"),
    ):
        args = ["--engine", "spark", "--input", str(source), "--output", str(tmp_path / "x")]
        res = CliRunner().invoke(app, ["score", "--model", store.model, *args, *by_report])
        assert res.exit_code != 0 and message in " ".join(res.output.split()), res.output


def test_missing_pyspark_or_java_is_a_clear_error(monkeypatch):
    import pipeline.spark as sp

    monkeypatch.setattr(sp.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    reason = sp.spark_available()
    assert reason is not None and "Java 17+" in reason and "fraudgan[spark]" in reason


def test_path_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        score_spark("models:/x@y", tmp_path / "nope.parquet", tmp_path / "out")
    Path(tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="the folder holds no data file"):
        score_spark("models:/x@y", tmp_path / "empty", tmp_path / "out")
    # Spark reads a folder's CSV files by position: another order would swap values silently
    folder = tmp_path / "days"
    folder.mkdir()
    (folder / "d1.csv").write_text("a,b\n1,x\n")
    (folder / "d2.csv").write_text("b,a\ny,2\n")
    with pytest.raises(
        DataError, match=r"d2.csv: its columns are those of d1.csv in another order \('b', 'a'"
    ):
        score_spark("models:/x@y", folder, tmp_path / "out")
    (folder / "d2.csv").write_text("a,c\n2,y\n")
    with pytest.raises(DataError, match=r"d2.csv: its columns differ from those of d1.csv"):
        score_spark("models:/x@y", folder, tmp_path / "out")


def test_scorer_uses_the_spark_tasks_cpus(spark, store, monkeypatch):
    import json

    import models.scorer.model as sc

    def in_task(_: object) -> list[int | None]:
        return [sc._spark_task_cpus()]

    assert spark.sparkContext.parallelize([0], 1).flatMap(in_task).collect() == [1]
    assert sc._spark_task_cpus() is None  # the driver is no task
    scorer = load_scorer(store.model)
    monkeypatch.setattr(sc, "_spark_task_cpus", lambda: 1)
    scorer.load_context(None)
    config = json.loads(scorer.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
