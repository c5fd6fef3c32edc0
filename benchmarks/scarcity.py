"""The scarcity curve: where does augmentation pay, by the number of labelled frauds?

    python benchmarks/scarcity.py --tables sim_default,page_blocks0 --positives 25,50,100,250,all
    python benchmarks/scarcity.py --tables satimage --strategies cgan --gan epochs=300 --resume

For each suite table (`benchmarks/suite_tables.py`, read through the user's sources) and each
number of training positives P, every strategy runs through the real pipeline
(`pipeline.runner.run_experiment` on the table's file, a throwaway MLflow store, XGBoost with 2
threads, `experiments/default.yaml`'s classifier and validation, no tuning) with
`split.max_train_positives: P`: each training fold keeps P of its positive rows (a random subset
drawn per fold) and every negative row; the inner validation windows are cut from that reduced
fold, so selection sees only the frauds a user with P labels has; the test folds are untouched.
`all` keeps every training positive. Tables with stratified outer folds get stratified inner
windows too (their time column, if any, is not declared): at 25 positives three windows of the
most recent rows hold about two frauds each, and often none.

Strategies: `none`; the resamplers `ros`, `smote`, `borderline` at the suite's share
(`benchmarks.suite.strategy_params`); `cgan` at its defaults (it chooses its share, weight and
checkpoint on the validation windows, share 0 included: `pipeline.augment`), with `--gan` GAN
settings for a smaller budget; `smote_auto` when named (SMOTE choosing its share over cgan's
grid by the same rule: the fair match for cgan's choice, as in the suite). The results' points are
`none`, `best_resampler` (the resampler with the best mean validation AUPRC at that table and P,
never the test folds), `cgan` and `smote_auto` where it ran, each with its mean test AUPRC and
its paired difference from `none` over the same (fold, seed) pairs: mean and 95 % t-interval with the folds' variance correction
(`pipeline.report.statistics.paired_test`).

Each (table, P, strategy) launch is one cell per (fold, seed), written to `--out` after the
launch; `--resume` keeps the file's cells and runs the missing ones, so the grid builds up in
slices (`--tables`, `--positives`, `--strategies`); each run appends its command and commit to
`slices`. `scarcity.md` and the figure `scarcity.png` (uplift against training positives) are
rebuilt from every cell.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit  # noqa: E402
from benchmarks.suite import (  # noqa: E402
    CHOOSING,
    XGB_THREADS,
    error_text,
    library_messages_to,
    mlflow_store,
    parse_gan,
    quiet_benchmark,
    subsample,
)
from benchmarks.suite import strategy_params as suite_share  # noqa: E402
from benchmarks.suite_tables import SuiteTable, load_table  # noqa: E402
from models.errors import ConfigError  # noqa: E402

log = logging.getLogger("scarcity")

POSITIVES = ("25", "50", "100", "250", "all")
RESAMPLERS = ("ros", "smote", "borderline")
STRATEGIES = ("none", *RESAMPLERS, "cgan")
OPTIONAL = tuple(CHOOSING)
"""Strategies run only when named: SMOTE choosing its share over cgan's grid (`smote_auto`)."""
CHOOSERS = ("cgan", *OPTIONAL)
BEST_RESAMPLER = "best_resampler"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scarcity.json"


# --------------------------------------------------------------------------------------------
# one launch


def launch_config(
    table: SuiteTable,
    path: Path,
    strategy: str,
    positives: str,
    args: argparse.Namespace,
) -> Any:
    """The experiment of one (table, positives, strategy) launch."""
    from pipeline.config import config_from_mapping, load_config

    base = load_config(ROOT / "experiments" / "default.yaml")
    schema = {
        k: v for k, v in table.schema.to_dict().items() if v is not None and v != [] and v != ()
    }
    split: dict[str, Any] = {"kind": "stratified", "n_splits": args.folds, "seeds": args.seeds}
    if table.temporal:
        split = {k: v for k, v in table.split.items() if v is not None}
    elif schema.get("time"):
        # stratified inner windows: three windows of recent rows hold ~2 of 25 frauds each, and
        # often none (the time column is not a model input either way)
        schema["drop"] = [*schema.get("drop", []), schema.pop("time")]
        schema.pop("time_unit", None)
    if positives != "all":
        split["max_train_positives"] = int(positives)
    params = dict(args.gan) if strategy == "cgan" else suite_share(strategy, table, {})
    raw = {
        "name": f"scarcity-{table.name}",
        # the suite's tables, as benchmarks/suite.py runs them (no leak check)
        "data": {"kind": "parquet", "path": str(path), "schema": schema, "leak_check": False},
        "features": {"enabled": False, **table.features},
        "split": split,
        "validation": base.validation.model_dump(),
        "classifier": {**base.classifier.model_dump(), "n_jobs": XGB_THREADS},
        "strategies": {strategy: params},
        "tuning": {"enabled": False},
        "report": {"metric": "average_precision", "quality": False},
    }
    return config_from_mapping(raw, where=f"scarcity table {table.name}")


def launch_cells(
    table: SuiteTable, positives: str, strategy: str, args: argparse.Namespace, directory: Path
) -> list[dict[str, Any]]:
    """One `run_experiment` launch: a cell per (fold, seed); a failed launch is failed cells."""
    from pipeline.runner import prepare, run_experiment

    path = directory / f"{table.name}.parquet"
    if not path.exists():
        table.frame.to_parquet(path, index=False)
    cfg = launch_config(table, path, strategy, positives, args)
    base = {"table": table.name, "cap": positives, "strategy": strategy}
    started = time.perf_counter()
    try:
        prepared = prepare(cfg)
        result = run_experiment(cfg)
    except Exception as exc:  # a failed launch is a failed cell per (fold, seed)
        log.error("%s P=%s %s: %s", table.name, positives, strategy, error_text(exc))
        return [{**base, "fold": None, "seed": None, "error": error_text(exc)}]
    seconds = time.perf_counter() - started
    term = prepared.folds.correction.term
    frame = result.results
    cells = []
    for fold in prepared.folds:
        rows = frame[(frame["fold"] == fold.fold) & (frame["seed"] == fold.seed)]
        cell: dict[str, Any] = {
            **base,
            "fold": fold.fold,
            "seed": fold.seed,
            "train_positives": int(prepared.y[fold.train].sum()),
            "correction_term": term,
            "seconds": round(seconds / len(prepared.folds), 1),
        }
        if rows.empty:
            cell["error"] = "error: no result for this fold"
        else:
            row = rows.iloc[0]
            cell["error"] = None
            for key, name in (
                ("auprc", "average_precision"),
                ("val_auprc", "val_average_precision"),
                ("choice_share", "choice_share"),
                ("choice_weight", "choice_weight"),
                ("gan_train_seconds", "gan/train_seconds"),
            ):
                if name in row and pd.notna(row[name]):
                    cell[key] = float(row[name])
        cells.append(cell)
    return cells


# --------------------------------------------------------------------------------------------
# points from cells


def _series(cells: list[dict[str, Any]], strategy: str, key: str = "auprc") -> pd.Series:
    got = {
        (c["fold"], c["seed"]): c[key]
        for c in cells
        if c["strategy"] == strategy and c.get("error") is None and key in c
    }
    return pd.Series(got, dtype=float)


def points(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The curve: per (table, cap), `none`, `best_resampler` and `cgan` with their paired
    difference from `none` (mean, 95 % t-interval with the folds' correction)."""
    from pipeline.report.statistics import paired_test

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in payload["cells"]:
        groups.setdefault((c["table"], c["cap"]), []).append(c)
    out = []
    for (table, cap), cells in sorted(
        groups.items(), key=lambda kv: (kv[0][0], _cap_order(kv[0][1]))
    ):
        none = _series(cells, "none")
        if none.empty:
            continue
        ok = [c for c in cells if c.get("error") is None]
        positives = int(round(np.mean([c["train_positives"] for c in ok]))) if ok else None
        term = next((c["correction_term"] for c in ok if "correction_term" in c), None)
        base = {"table": table, "positives": positives, "cap": cap}
        out.append(
            {
                **base,
                "strategy": "none",
                "auprc": round(float(none.mean()), 4),
                "delta_vs_none": 0.0,
                "ci_low": 0.0,
                "ci_high": 0.0,
                "n": int(none.size),
            }
        )
        val = {s: _series(cells, s, "val_auprc") for s in RESAMPLERS}
        ranked = sorted(
            ((float(v.mean()), s) for s, v in val.items() if not v.empty),
            key=lambda t: (-t[0], t[1]),
        )
        chosen = [(BEST_RESAMPLER, ranked[0][1])] if ranked else []
        for label, strategy in [*chosen, *((s, s) for s in CHOOSERS)]:
            values = _series(cells, strategy)
            if values.empty:
                continue
            r = paired_test(values, none, ref_name="none", correction=term)
            point = {
                **base,
                "strategy": label,
                "auprc": round(float(values.mean()), 4),
                "delta_vs_none": _round(r.diff),
                "ci_low": _round(r.ci_low),
                "ci_high": _round(r.ci_high),
                "n": r.n,
                "p": _round(r.p),
                "verdict": r.verdict,
            }
            if label == BEST_RESAMPLER:
                point["chosen"] = strategy
            if label in CHOOSERS:
                shares = _series(cells, label, "choice_share")
                point["shares_chosen"] = [float(v) for v in shares.to_numpy()]
            out.append(point)
    return out


def _round(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 4)


def _cap_order(cap: str) -> float:
    return math.inf if cap == "all" else float(cap)


# --------------------------------------------------------------------------------------------
# reports


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "# The scarcity curve: AUPRC by number of training positives",
        "",
        f"Written by `{payload['command']}` at commit {payload['commit']} "
        f"(slices: {len(payload['slices'])}; every slice's command and commit in scarcity.json).",
        "",
        f"Protocol: {_protocol_text(payload)}",
        "",
        "Δ: the strategy's test AUPRC minus `none`'s on the same (fold, seed) pairs, with the 95 % "
        "t-interval of the paired differences (the folds' variance correction). `best_resampler`: "
        "the resampler (ros, smote, borderline) with the best mean validation AUPRC. `cgan` "
        "(and `smote_auto`, SMOTE over the same grid) chooses its synthetic share on validation "
        "(share 0: no synthetic rows); shares chosen per (fold, seed) in the last column. "
        "positives: mean training positives per fold.",
        "",
        "| table | cap | positives | strategy | AUPRC | Δ vs none [95 % CI] | n | verdict | shares |",
        "|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for p in payload["points"]:
        if p["strategy"] == "none":
            delta = "reference"
        else:
            lo = "n/a" if p["ci_low"] is None else f"{p['ci_low']:+.3f}"
            hi = "n/a" if p["ci_high"] is None else f"{p['ci_high']:+.3f}"
            delta = f"{p['delta_vs_none']:+.3f} [{lo}, {hi}]"
        name = p["strategy"] + (f" ({p['chosen']})" if "chosen" in p else "")
        shares = ", ".join(f"{s:g}" for s in p.get("shares_chosen", []))
        lines.append(
            f"| {p['table']} | {p['cap']} | {p['positives']} | {name} | {p['auprc']:.3f} | "
            f"{delta} | {p['n']} | {p.get('verdict', '')} | {shares} |"
        )
    failed = [c for c in payload["cells"] if c.get("error")]
    if failed:
        lines += ["", "Failed cells:", ""]
        lines += [
            f"- {c['table']} cap {c['cap']} {c['strategy']} fold {c['fold']}: {c['error']}"
            for c in failed
        ]
    return "\n".join(lines) + "\n"


def _protocol_text(payload: dict[str, Any]) -> str:
    proto = payload.get("protocol") or {}
    folds, seeds = proto.get("folds"), proto.get("seeds") or []
    text = (
        f"stratified {folds}-fold x {len(seeds)} seed(s) ({folds * len(seeds) if folds else '?'} "
        "(fold, seed) pairs per point, each with its own random subset of training positives and "
        "its own test fold, untouched); inner validation windows cut from the reduced training "
        "fold; XGBoost as experiments/default.yaml, 2 threads, no tuning"
    )
    if proto.get("rows"):
        text += f"; simulator/stress tables at {proto['rows']:,} rows"
    if payload.get("gan"):
        text += "; cgan with " + ", ".join(f"{k}={v}" for k, v in payload["gan"].items())
    return text + "."


def figure(payload: dict[str, Any], path: Path) -> None:
    """Uplift (Δ AUPRC vs none, 95 % interval) against training positives, one panel per table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pts = [p for p in payload["points"] if p["strategy"] != "none"]
    tables = sorted({p["table"] for p in pts})
    if not tables:
        return
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.4), squeeze=False)
    for ax, table in zip(axes[0], tables, strict=True):
        series = (("cgan", "C3", 0.96), (BEST_RESAMPLER, "C0", 1.04), ("smote_auto", "C2", 1.0))
        for label, color, nudge in series:
            mine = sorted(
                (p for p in pts if p["table"] == table and p["strategy"] == label),
                key=lambda p: p["positives"],
            )
            if not mine:
                continue
            x = np.array([p["positives"] for p in mine], dtype=float) * nudge
            y = np.array([p["delta_vs_none"] for p in mine], dtype=float)
            lo = np.array([np.nan if p["ci_low"] is None else p["ci_low"] for p in mine])
            hi = np.array([np.nan if p["ci_high"] is None else p["ci_high"] for p in mine])
            ax.errorbar(
                x, y, yerr=[y - lo, hi - y], marker="o", capsize=3, color=color, label=label
            )
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xscale("log")
        ticks = sorted({p["positives"] for p in pts if p["table"] == table})
        ax.set_xticks(ticks, [f"{t:.0f}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_title(table)
        ax.set_xlabel("training positives per fold")
    axes[0][0].set_ylabel("Δ AUPRC vs none (95 % CI)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{payload['command']} @ {payload['commit']}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(payload: dict[str, Any], out: Path) -> None:
    payload["points"] = points(payload)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    tmp.replace(out)
    out.with_suffix(".md").write_text(markdown(payload))
    figure(payload, out.with_suffix(".png"))


def load_payload(out: Path, resume: bool) -> dict[str, Any]:
    if out.exists() and not resume:
        raise ConfigError(f"{out} exists: add --resume to keep its cells, or choose another --out")
    if out.exists():
        payload = json.loads(out.read_text())
        if "cells" not in payload or "slices" not in payload:
            raise ConfigError(f"{out}: not a scarcity results file (no cells or slices)")
        return payload
    return {
        "command": None,
        "commit": None,
        "slices": [],
        "protocol": None,
        "points": [],
        "cells": [],
    }


# --------------------------------------------------------------------------------------------
# the grid


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    payload = load_payload(out, args.resume)
    protocol = {
        "folds": args.folds,
        "seeds": args.seeds,
        "rows": args.rows,
        "max_rows": args.max_rows,
    }
    if payload.get("protocol") not in (None, protocol):
        raise ConfigError(
            f"{out} was written with {payload['protocol']}, this run asks for {protocol}; keep "
            "--folds/--seeds/--rows/--max-rows or choose another --out"
        )
    payload["protocol"] = protocol
    if "cgan" in args.strategies:
        known = payload.get("gan")
        if known is not None and known != args.gan:
            raise ConfigError(f"{out}: its cgan cells used --gan {known}, this run {args.gan}")
        payload["gan"] = args.gan
    command = "python benchmarks/scarcity.py " + shlex.join(args.argv)
    payload["command"], payload["commit"] = command, commit()
    payload["slices"].append(
        {"command": command, "commit": payload["commit"], "started": _now(), "finished": None}
    )
    done = {
        (c["table"], c["cap"], c["strategy"])
        for c in payload["cells"]
        if c.get("error") is None or not args.retry_failed
    }
    with tempfile.TemporaryDirectory(prefix="fraudgan-scarcity-") as tmp:
        directory = Path(tmp)
        mlflow_store(directory)
        for name in args.tables:
            table = None
            for cap in args.positives:
                for strategy in args.strategies:
                    if (name, cap, strategy) in done:
                        continue
                    if table is None:
                        table = subsample(load_table(name, rows=args.rows), args.max_rows)
                    most = int(table.y.sum()) * (args.folds - 1) // args.folds
                    if cap != "all" and int(cap) >= most:
                        log.info("%s cap %s: not below the ~%d training positives", name, cap, most)
                        continue
                    log.info("%s cap %s %s ...", name, cap, strategy)
                    cells = launch_cells(table, cap, strategy, args, directory)
                    payload["cells"] = [
                        c
                        for c in payload["cells"]
                        if (c["table"], c["cap"], c["strategy"]) != (name, cap, strategy)
                    ] + cells
                    write(payload, out)
                    log.info("%s cap %s %s done", name, cap, strategy)
    payload["slices"][-1]["finished"] = _now()
    write(payload, out)
    return payload


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _names(text: str, allowed: Sequence[str] | None, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if allowed is not None and n not in allowed]
    if unknown:
        raise ConfigError(
            f"unknown {what}: {', '.join(unknown)}; valid: {', '.join(allowed or ())}"
        )
    return names


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tables", default="sim_default,satimage,page_blocks0,ada")
    p.add_argument("--positives", default=",".join(POSITIVES), help="caps: numbers or 'all'")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--rows", type=int, default=None, help="rows of the stress/simulator tables")
    p.add_argument("--max-rows", type=int, default=None, help="subsample majority rows to this")
    p.add_argument("--gan", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument(
        "--report", action="store_true", help="rebuild the points, .md and .png from --out only"
    )
    args = p.parse_args(list(argv))
    args.argv = list(argv)
    args.gan = parse_gan(args.gan)
    args.tables = _names(args.tables, None, "tables")
    args.strategies = _names(args.strategies, (*STRATEGIES, *OPTIONAL), "strategies")
    args.positives = _names(args.positives, None, "positives")
    for cap in args.positives:
        if cap != "all" and (not cap.isdigit() or int(cap) < 2):
            raise ConfigError(f"--positives: {cap!r} is not a number >= 2 or 'all'")
    if args.folds < 2:
        raise ConfigError(f"--folds must be >= 2, got {args.folds}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    quiet_benchmark()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        library_messages_to(args.out.with_suffix(".log"), gan="cgan" in args.strategies)
        if args.report:
            payload = load_payload(args.out, resume=True)
            write(payload, args.out)
        else:
            payload = run(args)
    except ConfigError as exc:
        sys.exit(f"scarcity: {exc}")
    print(markdown(payload))


if __name__ == "__main__":
    main()
