"""Apache Spark engine: distributed batch scoring and distributed XGBoost training.

Optional: needs the `spark` extra (`pip install 'fraudgan[spark]'`) and a Java 17+ runtime.

Scoring (`score_spark`) reads Parquet or CSV (a file or a directory) with Spark and scores it with
`mlflow.pyfunc.spark_udf` of the exported model, so each executor runs the same `FraudScorer` as
`fraudgan score`: the output has the same columns and values (id, `fraud_probability`, `alert`,
reason codes with `explain`). It is written as Parquet, partitioned like the input when the input
is a partitioned directory (`key=value/` folders; the partition columns are kept in the output).

History features: when the model uses them, they are rebuilt from the raw columns with Spark
window aggregates (`pipeline.spark_features.spark_history_features`), equal to what the local
engine builds from the same rows (`pipeline.features.build_features` semantics); engineered
columns already in the input are ignored, with a warning, as in the local engine. The whole input
is one history, so it needs no time order and no chunking.

Training (`SparkEngine`, the runner's engine for `engine: spark`, and `fit_spark_pipeline`): the
strategies `none`, `class_weight`, `threshold` and `cgan` train XGBoost with `xgboost.spark.SparkXGBClassifier` on the same
fit/validation/test rows as the local engine (the experiment's folds and validation slices). The
preprocessing (one-hot, imputation) is fitted on the driver on the fit rows, as in the local
pipeline, then the matrix is distributed over `num_workers` Spark tasks for boosting, with early
stopping on the validation rows. The booster comes back into the local pipeline, so scoring,
metrics, thresholds and MLflow logging are those of the local engine.

The GAN on Spark: the generator is trained on the driver on a sample of the fit rows' input
columns (`gan_training_rows`: every fraud row first, legitimate rows drawn to fill
`spark_gan_sample_rows`); how many rows to add is `sampling_strategy` applied to all fit rows.
The trained generator is shipped to the executors in its saved form and the synthetic rows are
generated there in seeded chunks (`generate_on_executors`), preprocessed there (with the
preprocessing fitted on the real fit rows: unlike the local pipeline, it does not see the
synthetic rows), weighted by `synthetic_weight`, and joined to the real rows for boosting. The
GAN's filters need every generated row at once and are refused, like the SMOTE family (it needs
every row's neighbours on one machine), with a `ConfigError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.errors import ConfigError, DataError, FraudganError
from pipeline.console import RETURNED, stderr_to
from pipeline.data.sources import csv_folder, data_files, folder_key_names, parquet_folder

if TYPE_CHECKING:
    from models.classifier import FraudPipeline
    from pipeline.config import ExperimentConfig

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install the Spark extra with `pip install 'fraudgan[spark]'` and a Java 17+ runtime "
    "(e.g. `apt-get install openjdk-17-jre-headless`)"
)
SPARK_STRATEGIES = ("none", "class_weight", "threshold", "cgan")
GAN_CHUNK_ROWS = 25_000
"""Synthetic rows one executor task generates (each chunk has its own seed)."""
# XGBClassifier parameters that xgboost.spark sets itself or refuses
_NOT_FOR_SPARK = {
    "n_jobs",
    "nthread",
    "missing",
    "kwargs",
    "callbacks",
    "enable_categorical",
    "objective",  # binary:logistic, set by SparkXGBClassifier
}


def spark_available() -> str | None:
    """None when pyspark and java are there, else why not (with how to get them)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return f"pyspark is not installed; {INSTALL_HINT}"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (
        java_home and (Path(java_home) / "bin" / "java").exists()
    ):
        return f"no `java` on the PATH (and no JAVA_HOME); {INSTALL_HINT}"
    return None


SPARK_PAGE_SIZE = "2m"
"""Spark's memory page size (`spark.buffer.pageSize`) in fraudgan's sessions."""


G1_REGION_SIZE = "8m"
"""The G1 heap region of a local session's JVM: more than twice a memory page
(`SPARK_PAGE_SIZE`). G1 gives an object of half a region or more regions of its own; at the
regions the JVM picks for a heap under 16 GiB (1 to 4 MB), each 2 MB page took 1.5 to 2 times its
size, and `score --engine spark` of 5,000,000 rows on `local[2]` ran out of a 5 GiB heap."""


def _user_set(key: str, flag: str) -> bool:
    """Whether the user set the driver's `key` (`spark-defaults.conf` in SPARK_CONF_DIR or
    SPARK_HOME) or its spark-submit `flag` (PYSPARK_SUBMIT_ARGS)."""
    if flag in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return True
    conf_dirs = [os.environ.get("SPARK_CONF_DIR"), os.environ.get("SPARK_HOME")]
    for folder in filter(None, conf_dirs):
        for defaults in (
            Path(folder) / "spark-defaults.conf",
            Path(folder) / "conf" / "spark-defaults.conf",
        ):
            if defaults.is_file() and key in defaults.read_text(errors="replace"):
                return True
    return False


def _local_driver_memory() -> str | None:
    """The heap for a local session's JVM: a quarter of this machine's memory, 1 to 8 GiB.

    In local mode the driver's heap is the whole cluster's memory, and Spark's default (1 GiB)
    left the tests' feature plans short of it (a broadcast failed) while another JVM ran beside
    them. None where the user set the driver's memory (PYSPARK_SUBMIT_ARGS, spark-defaults.conf)
    or the machine's memory is unknown.
    """
    if _user_set("spark.driver.memory", "driver-memory"):
        return None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None
    gib = min(8, max(1, total // 4 // 2**30))
    return f"{gib}g"


def _local_java_options() -> str | None:
    """The JVM options of a local session's driver (`G1_REGION_SIZE`); None where the user set
    them (PYSPARK_SUBMIT_ARGS' --driver-java-options, spark-defaults.conf)."""
    if _user_set("spark.driver.extraJavaOptions", "driver-java-options"):
        return None
    return f"-XX:G1HeapRegionSize={G1_REGION_SIZE}"


_jvm_console: list[Path] = []


@contextlib.contextmanager
def jvm_console_to(path: Path) -> Iterator[None]:
    """Within the block, a JVM that `spark_session` starts prints its console lines (Spark's
    start-up notes, the JVM's warnings, later its log) to `path`, not the terminal."""
    _jvm_console.append(path)
    try:
        yield
    finally:
        _jvm_console.pop()


def spark_session(master: str = "local[*]", app_name: str = "fraudgan") -> Any:
    """A SparkSession (the active one if there is one) with loopback binding for local masters.

    An already active session is returned as it is (its master is not changed). Raises
    `FraudganError` when pyspark or java is missing.
    """
    missing = spark_available()
    if missing is not None:
        raise FraudganError(f"the Spark engine is not available: {missing}")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # bigger Arrow batches for the scoring UDF: the scorer's fixed cost per batch is amortised
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        .config("spark.sql.session.timeZone", "UTC")
        # pandas writes nanosecond timestamps, which Spark reads only as longs
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        # small memory pages: a history-features plan holds dozens of window, sort and aggregate
        # operators in one task, each holding a page; at Spark's size (the heap / cores / 16)
        # they ran out of execution memory (AGGREGATE_OUT_OF_MEMORY) on a few thousand rows
        .config("spark.buffer.pageSize", SPARK_PAGE_SIZE)
    )
    if master.startswith("local"):
        # never listen on anything but loopback when the cluster is this process
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # the Python workers must see this interpreter's packages (mlflow, xgboost), not
        # whatever `python3` is first on the PATH; a user's own PYSPARK_PYTHON wins
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
        memory, options = _local_driver_memory(), _local_java_options()
        if memory is not None:  # both read only when this call starts the JVM
            builder = builder.config("spark.driver.memory", memory)
        if options is not None:
            builder = builder.config("spark.driver.extraJavaOptions", options)

    from pyspark import SparkContext

    quiet = _jvm_console[-1] if _jvm_console and SparkContext._gateway is None else None
    logged = quiet.stat().st_size if quiet is not None and quiet.is_file() else 0
    try:
        with stderr_to(quiet) if quiet is not None else contextlib.nullcontext():
            spark = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up failures have many types
        said = ""
        if quiet is not None:
            with open(quiet, "rb") as log_file:
                log_file.seek(logged)
                lines = log_file.read().decode(errors="replace").splitlines()
            last = [line.strip() for line in lines if line.strip()][-3:]
            said = f"; its last lines in {quiet}: " + " | ".join(last) if last else ""
        raise FraudganError(
            f"cannot start Spark (master {master!r}): {str(exc).rstrip('.')}{said}"
        ) from None
    # a failed task's Java stack goes to the console at ERROR; fraudgan's error names the
    # file and the cause, so a session of this process keeps only fatal messages
    spark.sparkContext.setLogLevel("FATAL" if master.startswith("local") else "ERROR")
    return spark


# --------------------------------------------------------------------------------------------
# scoring


@dataclass
class SparkScoreSummary:
    """What `score_spark` did."""

    model_uri: str
    input_path: str
    output_dir: str
    master: str
    rows: int
    alerts: int
    seconds: float
    partition_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reported_rows: int | None = None  # rows labelled fraud by the reports of `labels`
    note: str = ""  # the batch against the validation slice (`pipeline.score.batch_note`)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


SPARK_CSV = (".csv", ".csv.gz", ".csv.bz2")
"""The CSV files Spark reads, plain or compressed (by their names)."""


SPARK_CSV_ORDER = (
    "Spark reads a folder's CSV files by position, under the first file's header: write every "
    "file's columns in one order, or score the folder with the local engine, which reads them "
    "by name"
)


def _input_format(path: Path) -> str:
    """'parquet' or 'csv' from a file's suffix or a directory's data files."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = data_files(path, f"--input {path}")
    else:
        raise DataError(f"--input {path}: no such file or directory")
    kinds = {".csv" if p.name.lower().endswith(SPARK_CSV) else p.suffix.lower() for p in files}
    if kinds <= {".parquet"} or (path.is_dir() and kinds <= {".parquet", ""}):
        if path.is_dir():  # every file readable and holding every column, as the local engine
            parquet_folder(path, f"--input {path}")
        return "parquet"
    if kinds <= {".csv"}:
        if path.is_dir():  # Spark reads each file by position, under the first file's header
            csv_folder(path, f"--input {path}", in_order=SPARK_CSV_ORDER)
        return "csv"
    raise DataError(
        f"--input {path}: expected .parquet or .csv files (or {', '.join(SPARK_CSV[1:])}), found "
        f"{', '.join(sorted(kinds))}"
    )


_EXTRA = "__fraudgan_extra_fields__"
"""A CSV row's fields beyond the header's (Spark drops them silently; `_check_input` names them)."""
_FILE = "__fraudgan_file__"


def _read(spark: Any, path: Path, fmt: str, scorer: Any, keys: list[str]) -> Any:
    """The input; a CSV's with one more text column, `_EXTRA`, for fields beyond the header's.
    `keys`: its folder's partition keys (`folder_key_names`)."""
    from pyspark.sql.types import StringType, StructField, StructType

    # string categoricals stay text ("0042" must not become 42), as in the local engine, and
    # so do a CSV's ids, written out as read
    text = set(scorer.text_categoricals())
    if fmt == "parquet":  # the files type their columns; Spark types the folder names' keys
        df = spark.read.parquet(str(path))
        as_text = set(keys) & text
        if not any(f.name in as_text and f.dataType != StringType() for f in df.schema):
            return df
        fields = [StructField(f.name, StringType()) if f.name in as_text else f for f in df.schema]
        return spark.read.schema(StructType(fields)).parquet(str(path))
    reader = spark.read.option("header", True).option("mode", "FAILFAST")
    inferred = reader.option("inferSchema", True).csv(str(path)).schema
    if scorer.id_column is not None:
        text.add(scorer.id_column)
    fields = [StructField(f.name, StringType() if f.name in text else f.dataType) for f in inferred]
    return reader.schema(StructType([*fields, StructField(_EXTRA, StringType())])).csv(str(path))


def _check_input(df: Any, scorer: Any, where: str, folder: Path) -> Any:
    """`df` without `_EXTRA`, once one aggregate found no CSV row with more fields than the
    header and no numeric model column whose text is no number (`DataError` naming the file);
    no Spark job when there is nothing to check. A CSV's ids, read as text, become integers
    where every one is written plainly (`pipeline.score.ids_as_read`)."""
    from pyspark.sql import functions as F

    from pipeline.score import PLAIN_INTEGER
    from pipeline.spark_features import file_in, number_checks, raise_bad_numbers

    history = scorer.history or {}
    engineered = set(history.get("engineered", ()))
    amount = history.get("schema", {}).get("amount")
    numbers = [c for c in scorer.numeric if c in df.columns and c not in engineered]
    checks = [
        check
        for c in numbers
        for check in number_checks(df, c, "amount" if c == amount else "model", _FILE)
    ]
    extra = F.col(_EXTRA)
    ids = scorer.id_column
    text_ids = _EXTRA in df.columns and ids is not None and ids in df.columns  # a CSV's, as text
    if text_ids:
        plain = F.col(ids).rlike(f"^{PLAIN_INTEGER}$")
        checks.append(F.count(F.when(F.col(ids).isNotNull() & ~plain, 1)).alias("n_text_ids"))
    if _EXTRA in df.columns:
        checks += [
            F.count(extra).alias("n_extra"),
            F.min(F.when(extra.isNotNull(), F.col(_FILE))).alias("extra_file"),
            F.min(extra).alias("extra"),
        ]
    if not checks:
        return df
    values = df.withColumn(_FILE, F.input_file_name()).agg(*checks).first().asDict()
    if values.get("n_extra"):
        name = file_in(values["extra_file"], folder)
        at = f"{where}: {name}" if name and name not in where else where
        raise DataError(
            f"{at}: {values['n_extra']:,} row(s) have more fields than the header's "
            f"{len(df.columns) - 1} (one holds {values['extra']!r} past its last column): a "
            "value holding the separator without quotes? Quote such values, or fix the rows"
        )
    raise_bad_numbers(values, where, folder)
    if text_ids and not values["n_text_ids"]:  # as the local engine's `ids_as_read`
        df = df.withColumn(ids, F.col(ids).cast("long"))
    return df.drop(_EXTRA) if _EXTRA in df.columns else df


UNSEEN_SAMPLE_ROWS = 10_000
"""The rows whose categorical values `score --engine spark` compares with the model's categories
(the first read: a column written another way shows in any of them, without a pass over a
large input)."""


def _unseen_categories(df: Any, scorer: Any, where: str) -> list[str]:
    """`models.scorer.unseen.UnseenCategories`' warnings, counted on the input's first
    `UNSEEN_SAMPLE_ROWS` rows."""
    from models.scorer.unseen import UnseenCategories

    columns = [c for c in scorer.categorical if c in df.columns]
    if not columns:
        return []
    unseen = UnseenCategories(scorer, log_extra=RETURNED)
    sample = df.select(*columns).limit(UNSEEN_SAMPLE_ROWS).toPandas()
    unseen.count(sample)
    sampled = f" in the first {len(sample):,} rows" if len(sample) == UNSEEN_SAMPLE_ROWS else ""
    return unseen.warnings(where, sampled=sampled)


def _repeated_ids(out: Any, column: str, where: str) -> str | None:
    """The local engine's warning for ids that repeat (`pipeline.score.RepeatedIds`), counted on
    the scored rows, with the smallest repeated id and its rows as the example (a Spark table has
    no first pair of rows); None when every id is one row's."""
    from pyspark.sql import functions as F

    from pipeline.data.sources import repeated_ids_warning
    from pipeline.score import REPEATED_SCORES

    ids = out.select(F.col(column).alias("id")).where(F.col("id").isNotNull())
    counts = ids.groupBy("id").count().where(F.col("count") > 1)
    row = counts.agg(
        F.sum(F.col("count") - 1).alias("repeats"),
        F.min(F.struct("id", "count")).alias("example"),
    ).collect()[0]
    if not row["repeats"]:
        return None
    value, n = row["example"]["id"], row["example"]["count"]
    return repeated_ids_warning(
        where, column, int(row["repeats"]), f"id {value!r} on {n:,} rows", REPEATED_SCORES
    )


def _result_type(explain: bool) -> Any:
    from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

    from models.scorer import ALERT, N_REASONS, PROBABILITY

    fields = [StructField(PROBABILITY, DoubleType()), StructField(ALERT, IntegerType())]
    if explain:
        for r in range(1, N_REASONS + 1):
            fields += [
                StructField(f"reason_{r}", StringType()),
                StructField(f"reason_{r}_value", DoubleType()),
            ]
    return StructType(fields)


def score_spark(
    model_uri: str,
    input_path: str | Path,
    output_dir: str | Path,
    *,
    master: str = "local[*]",
    explain: bool = False,
    spark: Any = None,
    labels: Any = None,
) -> SparkScoreSummary:
    """Score Parquet/CSV (file or directory) with Spark into a Parquet directory.

    `spark` reuses a session (else `spark_session(master)`). `labels` (a
    `pipeline.data.labels.LabelFile`): the fraud reports that give the input's labels to the
    model's fraud rates, as `pipeline.score.score_file` reads them.
    """
    from pipeline.data.sources import OUTPUT_COMPRESSIONS
    from pipeline.score import batch_note, load_scorer, report_book

    input_path, output_dir = Path(input_path), Path(output_dir)
    fmt = _input_format(input_path)
    if output_dir.name.lower().endswith((".csv", *OUTPUT_COMPRESSIONS)):
        plain = output_dir.with_name(output_dir.name[: output_dir.name.lower().rfind(".csv")])
        raise DataError(
            f"--output {output_dir}: score --engine spark writes a folder of Parquet files, which "
            f"this name would call CSV; name the folder otherwise (e.g. {plain}), or score with "
            "the local engine for a CSV file"
        )
    if output_dir.exists() and (output_dir.is_file() or any(output_dir.iterdir())):
        raise DataError(f"--output {output_dir}: exists and is not an empty directory")
    if not output_dir.parent.is_dir():
        raise DataError(f"--output {output_dir}: the folder {output_dir.parent} does not exist")
    scorer = load_scorer(model_uri)  # clear errors for bad URIs, before Spark starts
    reports = None if labels is None else report_book(scorer, labels)
    spark = spark if spark is not None else spark_session(master)
    started = time.perf_counter()
    where = f"--input {input_path}"
    try:
        rows, alerts, p_sum, warnings, reported_rows, parts = _score(
            spark, model_uri, input_path, output_dir, fmt, scorer, reports, explain, where
        )
    except FraudganError:
        raise
    except Exception as exc:  # Py4J and PySpark raise many types; their text names the cause
        raise _spark_error(exc, where, input_path) from None
    seconds = time.perf_counter() - started
    note, drift = batch_note(scorer, rows, alerts, p_sum)
    if drift is not None:
        log.warning(drift, extra=RETURNED)
        warnings.append(drift)
    log.info(
        "spark scored %d rows (%d alerts) in %.1f s -> %s",
        rows,
        alerts,
        seconds,
        output_dir,
        extra=RETURNED,
    )
    return SparkScoreSummary(
        model_uri=model_uri,
        input_path=str(input_path),
        output_dir=str(output_dir),
        master=spark.sparkContext.master,
        rows=rows,
        alerts=alerts,
        seconds=seconds,
        partition_columns=parts,
        warnings=warnings,
        reported_rows=reported_rows,
        note=note,
    )


def _score(
    spark: Any,
    model_uri: str,
    input_path: Path,
    output_dir: Path,
    fmt: str,
    scorer: Any,
    reports: Any,
    explain: bool,
    where: str,
) -> tuple[int, int, float, list[str], int | None, list[str]]:
    """`score_spark`'s Spark work: (rows, alerts, the sum of the probabilities, warnings,
    reported rows, partition columns)."""
    import mlflow
    from pyspark.sql import functions as F

    from models.scorer import ALERT, PROBABILITY
    from pipeline.spark_features import spark_history_features

    keys = folder_key_names(input_path)
    df = _read(spark, input_path, fmt, scorer, keys)
    parts = [c for c in keys if c in df.columns]
    warnings: list[str] = []
    reported_rows = None
    df = _check_input(df, scorer, where, input_path)
    new_categories = _unseen_categories(df, scorer, where)  # on the input, not the features' plan
    if scorer.history:
        built = spark_history_features(df, scorer.history, where, reports, input_path)
        df, warnings, reported_rows = built.frame, built.warnings, built.reported_rows
    warnings += new_categories
    missing = [c for c in scorer.columns if c not in df.columns]
    if missing:
        raise DataError(f"{where}: missing {len(missing)} model column(s): {', '.join(missing)}")
    with_id = scorer.id_column is not None and scorer.id_column in df.columns
    # env_manager="local" on purpose: the executors run the scorer in this environment, and
    # MLflow's warning that it does not recreate the training one (use conda) would mislead
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    pyfunc_log.setLevel(logging.ERROR)
    try:
        udf = mlflow.pyfunc.spark_udf(
            spark,
            model_uri,
            result_type=_result_type(explain),
            env_manager="local",
            params={"explain": True} if explain else None,
        )
    finally:
        pyfunc_log.setLevel(level)
    keep = ([scorer.id_column] if with_id else []) + parts
    # the model's columns only: the id is kept beside the scores, in whatever type it has
    columns = _udf_inputs(df, scorer)
    scored = df.select(*keep, udf(F.struct(*columns)).alias("_scores"))
    scored = scored.select(*keep, "_scores.*").withColumn(ALERT, F.col(ALERT).cast("tinyint"))
    writer = scored.write.mode("errorifexists")
    if parts:
        writer = writer.partitionBy(*parts)
    writer.parquet(str(output_dir))
    out = spark.read.parquet(str(output_dir))
    row = out.agg(
        F.count(F.lit(1)).alias("n"), F.sum(ALERT).alias("alerts"), F.sum(PROBABILITY).alias("p")
    ).collect()[0]
    repeated = _repeated_ids(out, scorer.id_column, where) if with_id else None
    if repeated is not None:
        log.warning("%s", repeated, extra=RETURNED)
        warnings.append(repeated)
    return (
        int(row["n"]),
        int(row["alerts"] or 0),
        float(row["p"] or 0.0),
        warnings,
        reported_rows,
        parts,
    )


def _udf_inputs(df: Any, scorer: Any) -> list[Any]:
    """The model's columns in the types its signature declares, as the local engine reads
    them: numbers (and categories of numbers) as double, other categories as text (booleans
    'True' and 'False', as Python writes them, where Spark's cast would write lower case)."""
    from pyspark.sql import functions as F

    from pipeline.spark_features import spark_number

    doubles = set(scorer.double_columns())
    types = {f.name: f.dataType.typeName() for f in df.schema}
    columns = []
    for name in scorer.columns:
        c = F.col(name)
        if name in doubles:
            c = spark_number(df, name)
        elif types[name] == "boolean":
            c = F.when(c, F.lit("True")).when(~c, F.lit("False"))
        elif types[name] != "string":
            c = c.cast("string")
        columns.append(c.alias(name))
    return columns


_CONDITION = re.compile(r"\[([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)\] (.*?)(?:\s*SQLSTATE: \w+)?\s*$")
"""Spark's error line: `[ERROR_CLASS.SUBCLASS] message. SQLSTATE: code`."""
_SCHEMA_ENFORCEMENT = re.compile(
    r"Failed to enforce schema of data .*? with schema .*?\. Error: (?P<reason>[^\n]+)", re.DOTALL
)
"""MLflow's schema enforcement failure inside the scoring UDF: the data, the schema, the reason."""
_READ_FILE = re.compile(r"while reading file (\S+?)\.?(?:\s|$)")
_TYPE_MISMATCH = re.compile(
    r"Parquet column \[(?P<column>[^\]]+)\]\. Expected Spark type (?P<expected>\w+), "
    r"actual Parquet type (?P<actual>\w+)"
)


def _spark_error(exc: Exception, where: str, input_path: Path) -> FraudganError:
    """What failed, from a Spark failure's text: the scorer's own message when a task failed on
    bad input; for a file Spark could not read, the file and why (`DataError`); else Spark's
    error class and message."""
    text = str(exc)
    schema = _SCHEMA_ENFORCEMENT.search(text)
    if schema is not None:  # MLflow's message holds a dump of the data before its reason
        return DataError(
            f"{where}: the model's input schema refused the data: {schema['reason'][:500]} "
            "(is the column stored with the type it had in training? the local engine converts)"
        )
    for marker in ("ScoringInputError: ", "DataError: ", "MlflowException: "):
        if marker in text:
            line = text.split(marker, 1)[1].splitlines()[0]
            return DataError(f"{where}: {line}")
    if "SparkContext was shut down" in text:  # the JVM died mid-job, most often of its heap
        log = f" ('OutOfMemoryError' in {_jvm_console[-1]}?)" if _jvm_console else ""
        return FraudganError(
            f"{where}: Spark stopped in the middle of the job: its context was shut down, most "
            f"often because the JVM ran out of memory{log}; give it more (a local session: "
            "PYSPARK_SUBMIT_ARGS='--driver-memory 12g pyspark-shell'; a cluster: "
            "spark.executor.memory) or fewer cores, or score the input in parts"
        )
    lines = text.splitlines()
    found = next((m for m in map(_CONDITION.search, lines) if m), None)
    if found is None:
        first = next((line.strip() for line in lines if line.strip()), type(exc).__name__)
        return FraudganError(f"{where}: Spark scoring failed: {first[:500]}")
    condition, message = found.groups()
    if not condition.startswith("FAILED_READ_FILE"):
        return FraudganError(f"{where}: Spark scoring failed: [{condition}] {message[:500]}")
    file = _READ_FILE.search(message)
    at = where
    if file is not None:
        from pipeline.spark_features import file_in

        at = f"{where}: {file_in(file.group(1), input_path)}" if input_path.is_dir() else where
    mismatch = _TYPE_MISMATCH.search(message)
    if mismatch is not None:
        return DataError(
            f"{at}: column {mismatch['column']!r} is stored as Parquet {mismatch['actual']} here "
            f"but read as {mismatch['expected']}, its type in the file Spark took the folder's "
            "schema from: Spark reads a folder under one schema, so write the column with one "
            "type in every file, or score the folder with the local engine, which converts each "
            "file's columns"
        )
    causes = [line.split(": ", 1)[-1].strip() for line in lines if line.startswith("Caused by:")]
    reason = causes[-1] if causes else message
    return DataError(f"{at}: Spark cannot read this file: {reason[:500]}")


# --------------------------------------------------------------------------------------------
# training


class SparkEngine:
    """The runner's engine for `engine: spark`: XGBoost boosts with xgboost.spark on
    `cfg.spark_master`, the GAN trains on the driver on at most `cfg.spark_gan_sample_rows` fit
    rows and generates its rows on the executors (`fit_spark_pipeline`)."""

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.master = cfg.spark_master
        self.gan_sample_rows = cfg.spark_gan_sample_rows

    def check(self, cfg: ExperimentConfig) -> None:
        """`ConfigError` for the strategies Spark does not distribute (the SMOTE family) and for the
        GAN options that need every generated row on the driver."""
        from models.samplers import strategy_kind

        bad = [
            name
            for name, params in cfg.strategies.items()
            if strategy_kind(name, params) not in SPARK_STRATEGIES
        ]
        if bad:
            raise ConfigError(
                f"engine: spark trains only the strategies {', '.join(SPARK_STRATEGIES)} (the "
                f"SMOTE family needs every row's neighbours on one machine); remove "
                f"{', '.join(bad)} or use engine: local"
            )
        driver_only = ("filter_realism", "filter_easy", "match_scores", "checkpoint")
        filtered = [
            name
            for name, params in cfg.strategies.items()
            if any(params.get(key) for key in driver_only)
        ]
        if filtered:
            raise ConfigError(
                "engine: spark generates the GAN's rows on the executors with the kept generator "
                f"and cannot filter them: leave {', '.join(driver_only)} unset in "
                f"{', '.join(filtered)} or use engine: local"
            )

    def fit(
        self,
        pipe: FraudPipeline,
        X_fit: pd.DataFrame,
        y_fit: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> FraudPipeline:
        """`fit_spark_pipeline` on this engine's master."""
        return fit_spark_pipeline(
            pipe,
            X_fit,
            y_fit,
            X_val,
            y_val,
            master=self.master,
            gan_sample_rows=self.gan_sample_rows,
        )


def _spark_params(classifier: Any, num_workers: int) -> dict[str, Any]:
    params = {
        k: v
        for k, v in classifier.get_params().items()
        if v is not None and k not in _NOT_FOR_SPARK
    }
    params["num_workers"] = num_workers
    params["verbose"] = False  # no per-round evaluation lines from the executors
    return params


def fit_spark_pipeline(
    pipe: Any,
    X_fit: pd.DataFrame,
    y_fit: np.ndarray,
    X_val: pd.DataFrame | None = None,
    y_val: np.ndarray | None = None,
    *,
    master: str = "local[*]",
    num_workers: int | None = None,
    gan_sample_rows: int = 200_000,
) -> Any:
    """Fit a `models.classifier.build_pipeline` pipeline, boosting on Spark; returns `pipe`.

    The preprocessing is fitted on the driver on the (real) fit rows; XGBoost trains with
    `SparkXGBClassifier` on `num_workers` tasks (default: Spark's default parallelism); with
    validation rows, the classifier's `ValidationRounds` stops boosting on them and the booster
    is cut to the trees it chooses, as `models.classifier.fit_pipeline` does locally. The fitted
    booster becomes the pipeline's classifier. A GAN sampler is trained on the driver on at
    most `gan_sample_rows` fit rows (`gan_training_rows`); its synthetic rows are generated and
    preprocessed on the executors (`generate_on_executors`), with their sample weight. Other
    samplers raise `ConfigError`.
    """
    from pyspark.ml.feature import VectorAssembler
    from sklearn.base import clone
    from xgboost.spark import SparkXGBClassifier

    from models.classifier import VALIDATION_METRIC, keep_trees, rounds_callback
    from models.gan import CGANOverSampler

    names = [n for n, _ in pipe.steps]
    step = pipe.named_steps.get("sampler")
    if step is not None and not isinstance(step.sampler, CGANOverSampler):
        raise ConfigError(
            f"engine: spark cannot train with {type(step.sampler).__name__} (the SMOTE family "
            "needs every row's neighbours on one machine); use engine: local for it"
        )
    xgb_log = logging.getLogger("XGBoost-PySpark")
    if xgb_log.level == logging.NOTSET:
        xgb_log.setLevel(logging.WARNING)  # its INFO lines repeat every parameter per fit
    spark = spark_session(master)
    workers = num_workers or max(1, int(spark.sparkContext.defaultParallelism))
    has_val = X_val is not None and y_val is not None
    y_val = np.asarray(y_val) if has_val else np.zeros(0)
    head = []
    m_fit, m_val = X_fit, X_val
    for name, step_i in pipe.steps[:-1]:
        if name == "sampler":
            continue
        fitted = clone(step_i).fit(m_fit)
        m_fit = fitted.transform(m_fit)
        m_val = fitted.transform(m_val) if has_val else None
        pipe.steps[names.index(name)] = (name, fitted)
        head.append(fitted)
    m_fit = np.asarray(m_fit, dtype=np.float64)
    m_val = np.asarray(m_val if has_val else m_fit[:0], dtype=np.float64)
    cols = [f"f{j}" for j in range(m_fit.shape[1])]
    table = pd.DataFrame(np.vstack([m_fit, m_val]), columns=cols)
    table["label"] = np.concatenate([y_fit, y_val]).astype(np.float64)
    table["is_val"] = np.r_[np.zeros(len(y_fit), bool), np.ones(len(y_val), bool)]
    table["weight"] = 1.0
    sdf = spark.createDataFrame(table)
    synthetic = None
    if step is not None:
        synthetic = _spark_oversample(
            spark, step, X_fit, np.asarray(y_fit), sample_rows=gan_sample_rows, head=head
        )
        sdf = sdf.unionByName(synthetic)
    sdf = VectorAssembler(inputCols=cols, outputCol="features", handleInvalid="keep").transform(sdf)
    classifier = pipe.steps[-1][1]
    params = _spark_params(classifier, workers)
    rounds = rounds_callback(classifier)
    options: dict[str, Any] = {}
    if has_val:
        options["validation_indicator_col"] = "is_val"
        if rounds is not None:
            options["callbacks"] = [rounds]
    if step is not None and step.sampler.synthetic_weight != 1.0:
        options["weight_col"] = "weight"
    model = SparkXGBClassifier(features_col="features", label_col="label", **options, **params).fit(
        sdf.select("features", "label", "is_val", "weight")
    )
    if synthetic is not None:
        synthetic.unpersist()
    booster = model.get_booster()
    local = clone(classifier)
    local.load_model(bytearray(booster.save_raw("json")))
    if has_val and rounds is not None:
        history = model.training_summary.validation_objective_history
        keep_trees(local, rounds.choose(history[VALIDATION_METRIC]))
    elif getattr(local, "best_iteration", None) is not None:
        keep_trees(local, local.best_iteration + 1)
    pipe.steps[-1] = (pipe.steps[-1][0], local)
    return pipe


def gan_training_rows(y: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of the rows the GAN trains on when the fit rows exceed `cap`.

    Every row when there are at most `cap`; else every row of the rarer classes (each capped at
    `cap // n_classes`, sampled without replacement) and the majority class filling the rest.
    """
    y = np.asarray(y)
    if len(y) <= cap:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    majority = classes[np.argmax(counts)]
    keep: list[np.ndarray] = []
    for cls in classes:
        if cls == majority:
            continue
        rows = np.flatnonzero(y == cls)
        limit = cap // len(classes)
        keep.append(rows if len(rows) <= limit else rng.choice(rows, limit, replace=False))
    taken = sum(len(k) for k in keep)
    rows = np.flatnonzero(y == majority)
    keep.append(rng.choice(rows, min(len(rows), cap - taken), replace=False))
    return np.sort(np.concatenate(keep))


def _spark_oversample(
    spark: Any, step: Any, X: pd.DataFrame, y: np.ndarray, *, sample_rows: int, head: list[Any]
) -> Any:
    """The GAN's synthetic rows, preprocessed by `head`, as a cached Spark DataFrame with the
    fit table's columns (`f*`, `label`, `is_val`, `weight`).

    The generator trains on the driver on `gan_training_rows`; the number of rows to add comes
    from the sampler's `sampling_strategy` applied to *all* fit rows, as in the local engine.
    Sets the `TimedSampler` attributes the runner reads (seconds, rows added, appended rows).
    """
    from imblearn.utils import check_sampling_strategy

    sampler = step.sampler
    started = time.perf_counter()
    wanted = check_sampling_strategy(sampler.sampling_strategy, y, "over-sampling")
    seed = sampler.random_state if isinstance(sampler.random_state, int) else 0
    rows = gan_training_rows(y, sample_rows, seed)
    log.info(
        "cgan on Spark: training the generator on the driver on %d of %d fit rows "
        "(%d fraud); generating %d rows on the executors",
        len(rows),
        len(y),
        int((y[rows] == 1).sum()),
        sum(wanted.values()),
    )
    sampler.fit_synthesizer(X.iloc[rows], y[rows], wanted)
    raw = generate_on_executors(spark, sampler).cache()
    features = _preprocess_on_executors(raw, X.dtypes, head, sampler.synthetic_weight).cache()
    n_added = features.count()
    step.seconds_ = time.perf_counter() - started
    step.n_input_ = len(y)
    step.n_added_ = int(n_added)
    sampler.n_generated_ = sampler.n_kept_ = int(n_added)
    if step.keep_appended:
        step.appended_ = _as_dtypes(raw.drop("label").toPandas(), X.dtypes)
    raw.unpersist()
    return features


def _spark_schema(names: list[str], text: list[str], extra: dict[str, Any]) -> Any:
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    fields = [StructField(n, StringType() if n in set(text) else DoubleType()) for n in names]
    return StructType(fields + [StructField(n, t) for n, t in extra.items()])


def _as_dtypes(frame: pd.DataFrame, dtypes: pd.Series) -> pd.DataFrame:
    """Rows back from Spark (text and doubles) in the training frame's dtypes."""
    out = frame[list(dtypes.index)].copy()
    for name, dtype in dtypes.items():
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            try:
                out[name] = out[name].astype(dtype)
            except (TypeError, ValueError):  # an integer column with missing values
                out[name] = out[name].astype("float64")
        else:
            out[name] = out[name].astype(dtype)
    return out


def generate_on_executors(spark: Any, sampler: Any, chunk_rows: int = GAN_CHUNK_ROWS) -> Any:
    """The fitted `CGANOverSampler`'s synthetic rows, generated by Spark tasks.

    Each block of `sampler.sample_plan()` is cut into chunks of `chunk_rows`, each with its own
    seed (from the block's seed and the chunk number), so the rows do not depend on how Spark
    schedules the tasks. The generator travels in its own save format (`CGANSynthesizer.save`).
    Columns: the sampler's input columns (categories as text, numbers as doubles) and `label`
    (double).
    """
    import io
    import pickle
    import tempfile
    import zipfile

    from pyspark.sql.types import DoubleType

    synth = sampler.synthesizer_
    if synth is None:
        raise ValueError("generate_on_executors: the sampler has no fitted GAN (no rows wanted)")
    if sampler.filter_realism or sampler.filter_easy or sampler.match_scores:
        raise ConfigError(
            "engine: spark generates the GAN's rows on the executors without filtering them; "
            "set filter_realism and filter_easy to 0 and match_scores to false, or use engine: "
            "local"
        )
    # the saved generator is the checkpoint the sampler draws from (a saved GAN keeps no other)
    with tempfile.TemporaryDirectory() as tmp, synth.generator_of(sampler.epoch_):
        synth.save(tmp)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for f in Path(tmp).iterdir():
                zf.write(f, f.name)
    shell = pickle.loads(pickle.dumps(sampler))  # the sampler without its Keras model
    shell.synthesizer_ = None
    shell.checkpoint = None  # the kept generator
    payload = spark.sparkContext.broadcast((pickle.dumps(shell), buffer.getvalue()))
    chunks = [(float(cls), n, seed) for cls, n, seed in chunk_plan(sampler, chunk_rows)]
    probe = sampler.sample_block(1, chunks[0][0], 0)
    names = [str(n) for n in probe.columns]
    text = [n for n in names if not pd.api.types.is_numeric_dtype(probe[n].dtype)]
    schema = _spark_schema(names, text, {"label": DoubleType()})
    specs = spark.createDataFrame(
        pd.DataFrame(chunks, columns=["cls", "n", "seed"]).astype({"n": "int64", "seed": "int64"})
    ).repartition(max(1, min(len(chunks), spark.sparkContext.defaultParallelism)))

    def generate(batches: Any) -> Any:
        local = _executor_sampler(payload.value)
        for spec in batches:
            for cls, n, chunk_seed in spec.itertuples(index=False):
                label = int(cls) if float(cls).is_integer() else cls
                block = local.sample_block(int(n), label, int(chunk_seed))
                for name in names:
                    if name in text:
                        present = block[name].notna()
                        block[name] = block[name].astype(str).where(present, None)
                    else:
                        block[name] = block[name].astype("float64")
                block["label"] = float(cls)
                yield block

    return specs.mapInPandas(generate, schema)


def chunk_plan(sampler: Any, chunk_rows: int = GAN_CHUNK_ROWS) -> list[tuple[Any, int, int]]:
    """(class, rows, seed) of each executor task: `sampler.sample_plan()` cut into chunks."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    out = []
    for cls, n, seed in sampler.sample_plan():
        for j, lo in enumerate(range(0, n, chunk_rows)):
            chunk_seed = int(np.random.SeedSequence([seed, j]).generate_state(1)[0])
            out.append((cls, min(chunk_rows, n - lo), chunk_seed))
    return out


_EXECUTOR_SAMPLERS: dict[int, Any] = {}


def _executor_sampler(payload: tuple[bytes, bytes]) -> Any:
    """The sampler rebuilt in a Python worker, loaded once per worker process."""
    import io
    import pickle
    import tempfile
    import zipfile

    from models.gan.synthesizer import CGANSynthesizer

    key = hash(payload[1])
    if key not in _EXECUTOR_SAMPLERS:
        sampler = pickle.loads(payload[0])
        with tempfile.TemporaryDirectory() as tmp:
            zipfile.ZipFile(io.BytesIO(payload[1])).extractall(tmp)
            sampler.synthesizer_ = CGANSynthesizer.load(tmp)
        _EXECUTOR_SAMPLERS.clear()
        _EXECUTOR_SAMPLERS[key] = sampler
    return _EXECUTOR_SAMPLERS[key]


def _preprocess_on_executors(raw: Any, dtypes: pd.Series, head: list[Any], weight: float) -> Any:
    """Generated rows through the fitted preprocessing `head`: the fit table's columns."""
    from pyspark.sql.types import BooleanType, DoubleType, StructField, StructType

    sample = _as_dtypes(raw.limit(1).toPandas().drop(columns="label"), dtypes)
    for step in head:
        sample = step.transform(sample)
    cols = [f"f{j}" for j in range(np.asarray(sample).shape[1])]
    schema = StructType(
        [StructField(c, DoubleType()) for c in cols]
        + [
            StructField("label", DoubleType()),
            StructField("is_val", BooleanType()),
            StructField("weight", DoubleType()),
        ]
    )

    def encode(batches: Any) -> Any:
        for batch in batches:
            matrix = _as_dtypes(batch.drop(columns="label"), dtypes)
            for step in head:
                matrix = step.transform(matrix)
            out = pd.DataFrame(np.asarray(matrix, dtype=np.float64), columns=cols)
            out["label"] = batch["label"].to_numpy()
            out["is_val"] = False
            out["weight"] = float(weight)
            yield out

    return raw.mapInPandas(encode, schema)
