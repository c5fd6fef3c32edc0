"""The production commands of the `fraudgan` CLI: export, score, serve.

`pipeline.cli` calls `register(app)` to add them; they live here so that the experiment CLI and the
serving side can change independently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from models.errors import FraudganError
from pipeline.config import DEFAULT_MODEL_URI
from pipeline.console import (
    console,
    err_console,
    friendly_errors,
    library_log,
    print_warning,
    route_chatter,
)
from pipeline.servers import check_port_free, child_env, run_server, serve_command

MODEL_HELP = (
    "A model of the MLflow store (models:/NAME@ALIAS, models:/NAME/VERSION) or a local model "
    "folder you name. An MLflow pyfunc model is pickled Python: loading it runs its code, so "
    "name only folders you trust; other URIs (runs:/, s3://, https://) are refused."
)


@friendly_errors
def export(
    run_id: Annotated[
        str | None, typer.Argument(help="Parent run id of a finished experiment.")
    ] = None,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest",
            help="Use the newest complete launch (finished, every child finished); newer "
            "interrupted or failed launches are skipped and named.",
        ),
    ] = False,
    strategy: Annotated[
        str | None,
        typer.Option(help="Export this strategy instead of the best one."),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Export a named launch although it was interrupted, failed or has failed "
            "children (the champion is then chosen on part of the folds).",
        ),
    ] = False,
    calibration: Annotated[
        str,
        typer.Option(
            help="platt: calibrate fraud_probability on the validation slice (the alerts do not "
            "change); none: the classifier's own probabilities, which resampling distorts.",
        ),
    ] = "platt",
) -> None:
    """Retrain the champion of an experiment, register it and move the `champion` alias."""
    from pipeline.export import export_champion

    if run_id is None and not latest:
        raise FraudganError("give a parent RUN_ID or --latest")
    if run_id is not None and latest:
        raise FraudganError("give either a parent RUN_ID or --latest, not both")
    result = export_champion(
        run_id,
        strategy=strategy,
        progress=lambda text: err_console.print(f"· {text}", highlight=False, markup=False),
        allow_incomplete=allow_incomplete,
        calibration=calibration,
    )
    console.print(
        f"exported {result.strategy!r} from run {result.source_run_id} as "
        f"{result.model_name} version {result.version}"
    )
    moved = (
        f"alias {result.alias!r} moved from version {result.previous_version} "
        f"(still available as models:/{result.model_name}/{result.previous_version})"
        if result.previous_version and result.previous_version != result.version
        else f"alias {result.alias!r} set (no previous {result.alias})"
    )
    console.print(moved)
    m = result.metrics
    console.print(
        f"threshold {result.threshold:.4g} ({result.threshold_policy} policy) on "
        f"{result.n_validation:,} validation rows: "
        f"AUPRC {m.get('average_precision', float('nan')):.4f}, "
        f"precision {m.get('precision_tuned', float('nan')):.3f}, "
        f"recall {m.get('recall_tuned', float('nan')):.3f}"
    )
    console.print(f"evaluation: {result.evaluation}")
    for text in result.warnings:
        print_warning(text)
    console.print(
        f"export run: {result.run_id}; score with: fraudgan score --model {result.alias_uri} ..."
    )


@friendly_errors
def score(
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="Transactions to score: a .csv or .parquet file, or a folder of either "
            "(its files in name order).",
        ),
    ],
    output_path: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write scores (.csv, .csv.gz, .csv.bz2, .csv.xz or .parquet).",
        ),
    ],
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = DEFAULT_MODEL_URI,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the top three reason codes per row.")
    ] = False,
    chunk_rows: Annotated[
        int,
        typer.Option(
            help="Rows per chunk (0: read the file, or the folder, whole: a folder not in time "
            "order, such as one partitioned by channel, needs it for history features)."
        ),
    ] = 200_000,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing --output file (the Spark engine never writes into a "
            "non-empty folder).",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="local: this process, in chunks; spark: Apache Spark (--input a file or "
            "directory, --output a Parquet directory; history features built with Spark)."
        ),
    ] = "local",
    master: Annotated[
        str, typer.Option(help="Spark master URL (with --engine spark).")
    ] = "local[*]",
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Fraud reports (CSV or Parquet, a file or a folder) that give the input's "
            "labels to the model's fraud rates: a transaction is fraud when its id is reported.",
        ),
    ] = None,
    labels_id: Annotated[
        str | None,
        typer.Option(help="The reports' column of transaction ids (default: the model's id)."),
    ] = None,
    reported_at: Annotated[
        str | None,
        typer.Option(help="The reports' dates: a fraud is known from its report on."),
    ] = None,
) -> None:
    """Score CSV/Parquet transactions with an exported model: in chunks here, or on Spark."""
    from pipeline.data.labels import LabelFile
    from pipeline.score import score_file

    if engine not in ("local", "spark"):
        raise FraudganError(f"--engine must be 'local' or 'spark', found {engine!r}")
    if labels is None and (labels_id is not None or reported_at is not None):
        raise FraudganError("--labels-id and --reported-at describe the reports --labels names")
    reports = None if labels is None else LabelFile(labels, labels_id, reported_at)
    if engine == "spark":
        from pipeline.spark import jvm_console_to, score_spark

        chatter = library_log()
        route_chatter(chatter)  # pyspark's Python warnings (pandas versions, Arrow)
        with jvm_console_to(chatter):  # Spark's start-up lines
            result = score_spark(
                model, input_path, output_path, master=master, explain=explain, labels=reports
            )
        for text in result.warnings:
            print_warning(text)
        parts = (
            f" partitioned by {', '.join(result.partition_columns)}"
            if result.partition_columns
            else ""
        )
        console.print(
            f"scored {result.rows:,} rows ({result.alerts:,} alerts) on Spark {result.master} "
            f"in {result.seconds:.1f} s -> {result.output_dir}{parts}{_reported(result)}"
            f"{result.note}"
        )
        return
    summary = score_file(
        model,
        input_path,
        output_path,
        explain=explain,
        chunk_rows=chunk_rows,
        progress=not no_progress,
        overwrite=overwrite,
        labels=reports,
    )
    for text in summary.warnings:
        print_warning(text)
    reported = _reported(summary)
    console.print(
        f"scored {summary.rows:,} rows ({summary.alerts:,} alerts) in {summary.seconds:.1f} s "
        f"-> {summary.output_path}{reported}{summary.note}"
    )


def _reported(summary: Any) -> str:
    """How many scored rows the reports of --labels made fraud, for the summary line."""
    n = summary.reported_rows
    return f"; {n:,} of them reported as fraud (--labels)" if n else ""


@friendly_errors
def serve(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = DEFAULT_MODEL_URI,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5001,
) -> None:
    """Serve a model over REST on 127.0.0.1 (`mlflow models serve`, local environment)."""
    from pipeline import tracking
    from pipeline.score import check_model_uri

    check_model_uri(model)
    uri = tracking.setup()
    if not 0 < port < 65536:
        raise FraudganError(f"--port must be between 1 and 65535, found {port}")
    check_port_free(port)
    console.print(
        f"serving {model} on http://127.0.0.1:{port}/invocations (store {uri}); Ctrl-C stops it"
    )
    run_server(
        serve_command(model, port), child_env(MLFLOW_TRACKING_URI=uri), "mlflow models serve"
    )


def register(app: typer.Typer) -> None:
    """Add `export`, `score` and `serve` to the fraudgan Typer app."""
    for command in (export, score, serve):
        app.command()(command)
