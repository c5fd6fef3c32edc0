"""The `fraudgan` command line."""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from models.errors import FraudganError
from models.progress import GANProgress
from models.progress import listening as gan_progress
from pipeline.console import (
    console,
    err_console,
    friendly_errors,
    import_quietly,
    library_log,
    print_warning,
    route_chatter,
    setup_logging,
)
from pipeline.servers import check_port_free, child_env, mlflow_ui_command, run_server
from pipeline.serving_cli import register

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.fold import Prepared

app = typer.Typer(
    help="Does a conditional GAN beat SMOTE for your fraud classifier? Run, compare, export, score.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log = logging.getLogger("fraudgan")


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """fraudgan: leak-proof comparison of imbalance strategies for fraud detection."""
    setup_logging(verbose)


@app.command()
@friendly_errors
def simulate(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output file (.csv, .csv.gz, .csv.bz2, .csv.xz or .parquet)."
        ),
    ],
    rows: Annotated[int, typer.Option(help="Number of transactions.")] = 300_000,
    days: Annotated[int, typer.Option(help="Days the stream spans.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    fraud_rate: Annotated[float, typer.Option(help="Share of fraudulent transactions.")] = 0.003,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
) -> None:
    """Write a simulated card-transaction stream to a CSV or Parquet file."""
    from pipeline.data.simulate import simulate as run_simulation
    from pipeline.data.sources import OUTPUT_COMPRESSIONS, open_csv_text, output_compression

    suffix = out.suffix.lower()
    compression = output_compression(out)
    if suffix not in (".csv", ".parquet") and compression is None:
        raise FraudganError(
            f"--out {out}: the file must end in .csv or .parquet (or "
            f"{', '.join(OUTPUT_COMPRESSIONS)}, a compressed CSV), not {suffix!r}"
        )
    if not out.parent.exists():
        raise FraudganError(f"--out {out}: the folder {out.parent} does not exist")
    if out.exists() and not overwrite:  # a typo must not replace a file of real transactions
        raise FraudganError(
            f"--out {out} exists; choose another name, or pass --overwrite to replace it"
        )
    try:
        frame = run_simulation(rows, n_days=days, seed=seed, fraud_rate=fraud_rate)
    except FraudganError as exc:  # the function's argument names, as the command's options
        text = str(exc)
        for argument, option in SIMULATE_OPTIONS.items():
            text = re.sub(rf"\b{argument}\b", option, text)
        raise FraudganError(text.removeprefix("simulate: ")) from None
    if compression is not None:
        with open_csv_text(out, compression) as handle:
            frame.to_csv(handle, index=False)
    elif suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    _print_data_summary(frame)
    console.print(f"wrote {len(frame):,} rows to {out}")


SIMULATE_OPTIONS = {
    "n_rows": "--rows",
    "n_days": "--days",
    "seed": "--seed",
    "fraud_rate": "--fraud-rate",
}
"""`simulate`'s arguments by the `fraudgan simulate` options that set them, for its messages."""


def _print_data_summary(frame: Any) -> None:
    from rich.table import Table

    n = len(frame)
    fraud = int(frame["is_fraud"].sum())
    table = Table(title="simulated transactions", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows", f"{n:,}")
    table.add_row("fraud rows", f"{fraud:,} ({fraud / n:.3%})")
    table.add_row("customers", f"{frame['customer_id'].nunique():,}")
    table.add_row("merchants", f"{frame['merchant_id'].nunique():,}")
    table.add_row("period", f"{frame['timestamp'].min()} .. {frame['timestamp'].max()}")
    for pattern, count in frame["fraud_pattern"].value_counts().items():
        if pattern != "legit":
            table.add_row(f"  pattern {pattern}", f"{count:,}")
    console.print(table)


ConfigArg = Annotated[Path, typer.Argument(help="Experiment YAML, e.g. experiments/default.yaml.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: --set split.n_splits=5 (repeatable)."),
]


def _time_span(prepared: Prepared) -> str | None:
    """The time column, its unit and its first and last value, with the span in days."""
    import pandas as pd

    from pipeline.data.schema import SECONDS_PER_UNIT
    from pipeline.data.sources import number_text

    schema = prepared.dataset.schema
    if schema.time is None:
        return None
    t = prepared.frame[schema.time]
    first, last = t.min(), t.max()
    if schema.numeric_time:
        days = (last - first) / 86_400
        per = SECONDS_PER_UNIT[schema.time_unit]
        shown = f"in {schema.time_unit}, {number_text(first / per)} .. {number_text(last / per)}"
    else:
        days = (last - first) / pd.Timedelta(days=1)
        shown = f"{first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}"
    return f"time: {schema.time!r} {shown} ({days:,.1f} days)"


def _missing_text(values: pd.Series) -> str:
    """How many of a column's values are missing, as a share, or a count where the share would
    round to 0.0 % (a few missing values are not none)."""
    missing = int(values.isna().sum())
    if missing >= len(values) / 1000:
        return f"{missing / len(values):.1%} missing"
    return f"{missing:,} row{'' if missing == 1 else 's'} missing"


def _date_lines(prepared: Prepared) -> list[str]:
    """Per date column (`Schema.dates`): the order its dates were read in, and its feature's
    spread in days, so a misread date shows before a launch."""
    from pipeline.features import days_since_column

    dataset = prepared.dataset
    lines = []
    for date in dataset.schema.dates:
        feature = days_since_column(date)
        if feature not in prepared.frame:
            continue  # features disabled
        days = prepared.frame[feature]
        order = {True: ", read day first", False: ", read month first"}.get(
            dataset.dates_day_first.get(date), ""
        )
        q = days.quantile([0.0, 0.5, 1.0]).to_numpy()
        lines.append(
            f"date: {date!r}{order} -> {feature}: {q[0]:,.1f} .. {q[2]:,.1f} days, median "
            f"{q[1]:,.1f}; {_missing_text(days)}"
        )
    return lines


def _category_line(prepared: Prepared, max_categories: int | None) -> str | None:
    """The categorical columns' one-hot width over all rows (each column capped by
    `classifier.max_categories`) and the widest column, so that an id or free text declared
    categorical shows before a launch."""
    from pipeline.features import category_levels, one_hot_width

    if not prepared.categorical:
        return None
    levels = category_levels(prepared.frame, prepared.categorical)
    widest = max(levels, key=levels.__getitem__)
    capped = "" if max_categories is None else f", at most {max_categories} each"
    return (
        f"categorical: {len(levels)} column{'s' if len(levels) > 1 else ''} -> "
        f"{one_hot_width(levels, max_categories):,} one-hot columns{capped}; the widest "
        f"{widest!r}: {levels[widest]:,} distinct values, {_missing_text(prepared.frame[widest])}"
    )


def _key_lines(prepared: Prepared) -> list[str]:
    """Per key whose history becomes features (the entity, each velocity column, the merchant):
    its distinct values, the busiest one's rows, for a velocity column the most entities one
    value served, and its missing share, so that a column that names no card (a card's index
    within its user) or a placeholder many rows share ('unknown', 0) shows before a launch."""
    from pipeline.data.sources import key_text
    from pipeline.features import (
        entity_count_column,
        entity_distinct_column,
        fraud_rate_column,
        key_counts,
    )

    frame, schema = prepared.frame, prepared.dataset.schema
    keys = {schema.entity: ("entity", "entity_secs_since_prev, ...")} if schema.entity else {}
    for key in schema.velocity:
        others = [f"{key}_secs_since_prev", fraud_rate_column("<window>", key)]
        if schema.entity is not None:
            others.append(entity_distinct_column("<window>", key))
        keys[key] = ("velocity", ", ".join(others))
    if schema.merchant is not None:
        keys[schema.merchant] = ("merchant", fraud_rate_column("<window>"))
    lines = []
    for key, (role, others) in keys.items():
        named = key if role == "velocity" else role
        counted = entity_count_column("<window>", named)
        if not any(c.startswith(counted.removesuffix("<window>")) for c in frame.columns):
            continue  # features disabled, or no time column
        counts = key_counts(frame[key])
        busiest = (
            f", the busiest {key_text(counts.index[0])!r} on {counts.iloc[0]:,} rows"
            if len(counts) and counts.iloc[0] > 1
            else " (none repeats: its counts are all 0)"
        )
        shared = ""
        if role == "velocity" and schema.entity is not None and len(counts):
            cards = frame.groupby(key, observed=True, sort=False)[schema.entity].nunique()
            shared = (
                f"; the most {schema.entity} values on one, {cards.max():,}, on "
                f"{key_text(cards.idxmax())!r}"
            )
        lines.append(
            f"{role}: {key!r} {len(counts):,} distinct values{busiest}{shared}; "
            f"{_missing_text(frame[key])} -> {counted}, {others}"
        )
    return lines


@app.command()
@friendly_errors
def check(
    config: ConfigArg,
    set_: SetOption = None,
) -> None:
    """Check an experiment without training: config, data, leaks, features, folds, strategies."""
    from rich.table import Table

    from pipeline import tracking
    from pipeline.config import load_config
    from pipeline.runner import preflight
    from pipeline.split import known_labels

    cfg = load_config(config, set_ or [])
    checked = preflight(cfg)
    p = checked.prepared
    n, fraud = len(p.y), int(p.y.sum())
    console.print(
        f"data: {p.dataset.name}, {n:,} rows, {fraud:,} fraud ({fraud / n:.3%}), "
        f"{p.dataset.n_duplicates_dropped:,} duplicate rows dropped; features: "
        f"{len(p.numeric)} numeric, {len(p.categorical)} categorical",
        highlight=False,
        markup=False,
    )
    if (span := _time_span(p)) is not None:
        console.print(span, highlight=False, markup=False)
    if p.dataset.reports is not None:
        console.print(
            p.dataset.reports.summary(p.dataset.schema.label, cfg.features.label_delay_days),
            highlight=False,
            markup=False,
        )
    category = _category_line(p, cfg.classifier.max_categories)
    for line in (*_date_lines(p), *([category] if category else []), *_key_lines(p)):
        console.print(line, highlight=False, markup=False)
    table = Table(title=f"{cfg.split.kind} folds and their inner validation windows")
    for col in (
        "fold",
        "seed",
        "train rows",
        "train fraud",
        "window fraud",
        "test rows",
        "test fraud",
    ):
        table.add_column(col, justify="right")
    for fold, windows in zip(p.folds, checked.windows, strict=True):
        known = known_labels(p.y, fold)
        per_window = ", ".join(str(int(known[w.val].sum())) for w in windows)
        later = f" (+{len(fold.unreported):,} reported later)" if len(fold.unreported) else ""
        table.add_row(
            str(fold.fold),
            str(fold.seed),
            f"{len(fold.train):,}",
            f"{int(known[fold.train].sum()):,}{later}",
            per_window,
            f"{len(fold.test):,}",
            f"{int(p.y[fold.test].sum()):,}",
        )
    console.print(table)
    children = len(p.folds) * len(cfg.strategies)
    console.print(
        f"strategies: {', '.join(cfg.strategies)}; {children} child runs "
        f"({len(p.folds)} folds x {len(cfg.strategies)} strategies)",
        highlight=False,
        markup=False,
    )
    for text in checked.warnings:
        print_warning(text)
    command = tracking.run_command(str(config), set_ or [])
    console.print(f"ready: {command}", highlight=False, markup=False)


@app.command()
@friendly_errors
def run(
    config: ConfigArg,
    set_: SetOption = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Parent run id of an interrupted launch: reuse its finished children."),
    ] = None,
) -> None:
    """Run an experiment: every strategy on the same folds and seeds, tracked in MLflow."""
    from pipeline.config import load_config
    from pipeline.runner import run_experiment

    cfg = load_config(config, set_ or [])
    log.info("experiment %r (config %s)", cfg.name, cfg.config_hash())
    _quiet_libraries(cfg)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=err_console,
        transient=False,
    )
    task: list[Any] = []
    running = [""]

    def on_start(total: int) -> None:
        task.append(progress.add_task("children", total=total, last=""))

    def on_child_start(label: str) -> None:
        running[0] = label
        progress.update(task[0], last=f"running {label}")

    def on_done(label: str) -> None:
        progress.update(task[0], advance=1, last=f"done {label}")

    def on_gan(state: GANProgress) -> None:  # a GAN child: its steps and latest two-sample test
        progress.update(task[0], last=f"running {running[0]}: {state}")

    started_ms = int(time.time() * 1000) - 1000
    jvm: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if cfg.engine == "spark":
        from pipeline.spark import jvm_console_to

        jvm = jvm_console_to(library_log())  # Spark's start-up lines
    try:
        with progress, gan_progress(on_gan), jvm:
            result = run_experiment(
                cfg,
                resume=resume,
                on_start=on_start,
                on_child_start=on_child_start,
                on_child_done=on_done,
            )
    except KeyboardInterrupt:
        from pipeline import tracking

        parent = resume or tracking.launch_started_since(cfg.name, started_ms)
        if parent is None:
            raise  # interrupted before the launch started: nothing to resume
        command = tracking.resume_command(parent, str(config), set_ or [])
        err_console.print(
            f"[yellow]interrupted[/]: launch {parent} is incomplete; its finished children are "
            "kept. Resume it with:",
            highlight=False,
        )
        err_console.print(f"  {command}", highlight=False, markup=False)
        raise typer.Exit(130) from None
    _print_comparison(result.comparison)
    console.print(f"parent run: {result.parent_run_id} (experiment {result.experiment_name!r})")
    console.print("browse it with: fraudgan ui")
    if result.failed:
        # the comparison above lacks these children: the launch did not do what was asked
        err_console.print(
            f"[bold red]error:[/] {len(result.failed)} child run(s) failed; the comparison "
            "above leaves them out:"
        )
        for line in result.failed:
            err_console.print(f"  {line}", highlight=False, markup=False)
        raise typer.Exit(1)


def _quiet_libraries(cfg: Any) -> None:
    """Library chatter to the log file beside the store, not the terminal (TensorFlow's start-up
    lines, imported before a GAN strategy needs it, and Python warnings)."""
    from models.samplers import REGISTRY, strategy_kind

    path = library_log()
    route_chatter(path)
    kinds = [strategy_kind(name, params) for name, params in cfg.strategies.items()]
    if any(REGISTRY[kind].family == "gan" for kind in kinds):
        import_quietly("tensorflow", path)
    log.info("library messages: %s", path)


def _print_comparison(comparison: Any, wide: bool = False) -> None:
    console.print(comparison.to_rich_table(wide=wide))
    console.print(comparison.summary(), highlight=False, markup=False)
    best = comparison.strategies[0] if comparison.strategies else None
    leaning = comparison.leaning(best) if best is not None else None
    if leaning is not None:
        console.print(
            f"{best} leans most on: {leaning} (shares of its contributions to the log-odds; "
            "every strategy's in the launch's comparison/feature_importance.csv)",
            highlight=False,
            markup=False,
        )


LatestOption = Annotated[bool, typer.Option("--latest", help="Use the most recent launch.")]
ExperimentOption = Annotated[
    str | None, typer.Option(help="With --latest: only this MLflow experiment.")
]


def _launch_id(run_id: str | None, latest: bool, experiment: str | None) -> str:
    """The run id given, or with `latest` the newest launch's (of `experiment`)."""
    from pipeline import tracking

    if run_id is None and not latest:
        raise FraudganError("give a parent RUN_ID or --latest")
    if run_id is not None and latest:
        raise FraudganError("give either a RUN_ID or --latest, not both")
    if experiment is not None and not latest:
        raise FraudganError("--experiment picks the launch of --latest; give --latest with it")
    if run_id is None:
        return tracking.latest_parent_run(experiment)
    tracking.refuse_a_file(run_id)
    return run_id


@app.command()
@friendly_errors
def compare(
    run_id: Annotated[str | None, typer.Argument(help="Parent run id.")] = None,
    latest: LatestOption = False,
    experiment: ExperimentOption = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every metric, interval and timing (wide terminal).")
    ] = False,
) -> None:
    """Reprint the comparison of a launch from its MLflow runs."""
    from pipeline import tracking
    from pipeline.runner import load_comparison

    tracking.setup()
    run_id = _launch_id(run_id, latest, experiment)
    incomplete = tracking.incomplete_reason(tracking.get_parent_run(run_id))
    comparison, frame, tags = load_comparison(run_id)
    data = tags.get(tracking.TAG_DATA_NAME)
    console.print(f"run {run_id}: {len(frame)} finished children, data {data}")
    if incomplete is not None:
        err_console.print(
            f"[yellow]warning:[/] launch {run_id} is incomplete ({incomplete}): the table covers "
            "only its finished children. Resume it with the YAML and --set options of the "
            "launch:",
            highlight=False,
        )
        err_console.print(f"  {tracking.resume_command(run_id)}", highlight=False, markup=False)
    _print_comparison(comparison, wide=wide)


QUALITY_COLUMNS = {
    "ks_mean": "KS mean",
    "tvd_mean": "TVD mean",
    "corr_diff": "corr. diff",
    "c2st_auc": "C2ST AUC",
    "utility_tstr_auprc": "TSTR AUPRC",
    "utility_trtr_auprc": "TRTR AUPRC",
    "dcr_median_ratio": "DCR synth/holdout",
    "exact_copies": "exact copies",
    "memorization_flag": "memorized?",
}
"""Quality metrics (without the `quality/` prefix) that `fraudgan quality` shows."""


@app.command()
@friendly_errors
def quality(
    run_id: Annotated[
        str | None, typer.Argument(help="A parent run id, or one GAN child run id.")
    ] = None,
    latest: LatestOption = False,
    experiment: ExperimentOption = None,
) -> None:
    """Show the synthetic-data quality of a launch's GAN children (fidelity, utility, privacy)."""
    from rich.table import Table

    from pipeline import tracking

    tracking.setup()
    run_id = _launch_id(run_id, latest, experiment)
    run = tracking.get_run(run_id)
    runs = (
        tracking.child_runs(run_id)
        if run.data.tags.get(tracking.TAG_RUN_TYPE) == tracking.RUN_EXPERIMENT
        else [run]
    )
    q = tracking.QUALITY_PREFIX
    runs = [r for r in runs if f"{q}c2st_auc" in r.data.metrics]
    if not runs:
        raise FraudganError(
            f"run {run_id} has no synthetic-data quality report: only GAN strategies (e.g. `cgan`) "
            "get one, with report.quality: true"
        )
    table = Table(title="synthetic fraud rows vs real training fraud rows")
    for col in ("strategy", "fold", "seed", *QUALITY_COLUMNS.values()):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    ids = (tracking.TAG_STRATEGY, tracking.TAG_FOLD, tracking.TAG_SEED)
    for r in sorted(runs, key=lambda r: tuple(r.data.tags.get(t, "") for t in ids[:2])):
        m, t = r.data.metrics, r.data.tags
        cells = [f"{m[q + k]:.3f}" if q + k in m else "n/a" for k in QUALITY_COLUMNS]
        cells[-1] = "YES" if m.get(f"{q}memorization_flag") else "no"
        table.add_row(*(t.get(tag, "?") for tag in ids), *cells)
    console.print(table)
    console.print(
        "C2ST AUC 0.5 = indistinguishable; TSTR = AUPRC when the classifier trains on synthetic "
        "fraud; DCR ratio < 1 = synthetic rows closer to training rows than real unseen fraud is "
        "(without unseen fraud rows: than the training rows are to each other)."
    )
    for r in runs:
        console.print(f"report: {r.info.artifact_uri}/quality/quality_report.html", highlight=False)


@app.command()
@friendly_errors
def ui(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the project's store."""
    from pipeline import tracking

    uri = tracking.setup()
    if not 0 < port < 65536:
        raise FraudganError(f"--port must be between 1 and 65535, found {port}")
    check_port_free(port)
    base = f"http://127.0.0.1:{port}"
    console.print(f"MLflow UI on {base} (store {uri}); Ctrl-C stops it")
    try:
        latest = tracking.latest_parent_run()
    except FraudganError:
        console.print(f"no launch yet; experiments: {tracking.ui_url(base, 'experiments')}")
    else:
        console.print(
            f"latest launch, its strategies best first: {tracking.launch_url(base, latest)}"
        )
        console.print(f"the same as charts: {tracking.launch_url(base, latest, charts=True)}")
    from pipeline.ui_app import plugin_path

    with tempfile.TemporaryDirectory(prefix="fraudgan-ui-") as plugin:
        cmd, env = mlflow_ui_command(uri, port, plugin_path(Path(plugin)))
        run_server(cmd, child_env(**env), "mlflow server")


register(app)  # export, score, serve

if __name__ == "__main__":
    app()
