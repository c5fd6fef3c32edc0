"""How decisive is the `decisive` preset? Its Δ-AUPRC intervals against `none`, and its wall time.

Runs `experiments/decisive.yaml` (what `fraudgan run experiments/decisive.yaml` runs) into a
throwaway MLflow store and writes, per strategy, the half-width of the 95 % interval of its AUPRC
difference with `none` on the same (fold, draw) pairs, next to the target of ±0.02:

    .venv/bin/python benchmarks/decisive.py [--set key=value ...] [--out benchmarks/results]

Writes benchmarks/results/decisive.json (`command`, `commit`, `wall_seconds`, `half_width`:
{strategy: half-width}, and the details) and decisive.md (the comparison table and its notes).

`--report PARENT_RUN_ID --store DIR` writes the same files from a launch already in a store (one that
ran, or still runs, from this script), on the (fold, repeat) pairs finished so far: `commit` is the
commit that launched it, `wall_seconds` the time from its start to its last finished child. Both
modes also give, from the measured paired differences, the half-width the full plan would have
(`projected_half_width`) and, with `data.draws`, the number of draws that would reach the target
at that spread (`draws_for_target`); on one data set (`data.draws: 1`), the half-width no number of
repeats goes below instead (`floor_half_width`, the correction's own term: z s_d sqrt(term)).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, throwaway_store, write_results  # noqa: E402

CONFIG = ROOT / "experiments" / "decisive.yaml"
TARGET = 0.02
"""The issue's target: Δ-AUPRC interval half-width vs `none` at most this."""


def half_widths(comparison: Any) -> dict[str, float]:
    """Per strategy but the baseline, the half-width of its Δ interval against the baseline."""
    out = {}
    for _, r in comparison.table.iterrows():
        lo, hi = r["vs_baseline_ci_low"], r["vs_baseline_ci_high"]
        if r["strategy"] != comparison.baseline and math.isfinite(lo) and math.isfinite(hi):
            out[str(r["strategy"])] = round((hi - lo) / 2, 4)
    return out


def details(comparison: Any) -> dict[str, dict[str, float]]:
    """Per strategy: n, mean AUPRC, Δ vs the baseline, its interval, p (Holm) and the MDE."""
    m = comparison.metric
    out = {}
    for _, r in comparison.table.iterrows():
        out[str(r["strategy"])] = {
            "n": int(r["n"]),
            m: round(float(r[f"{m}_mean"]), 4),
            **{
                key: round(float(r[f"vs_baseline_{key}"]), 4)
                for key in ("diff", "ci_low", "ci_high", "p", "mde")
                if math.isfinite(float(r[f"vs_baseline_{key}"]))
            },
        }
    return out


def projections(comparison: Any, frame: Any, cfg: Any) -> dict[str, dict[str, float]]:
    """Per strategy, at the measured standard deviation of its paired differences with the
    baseline: the half-width with every planned pair (`projected_half_width`); on one data set, the
    one no number of repeats goes below (`floor_half_width`); with `data.draws`, the number of
    draws that would reach the target (`draws_for_target`)."""
    import numpy as np
    from scipy import stats

    term = comparison.correction.term if comparison.correction else 0.0
    n_planned = planned_pairs(cfg)
    k = cfg.split.n_splits
    wide = frame.pivot_table(index=["fold", "seed"], columns="strategy", values=comparison.metric)
    out: dict[str, dict[str, Any]] = {"projected_half_width": {}}
    out["draws_for_target" if cfg.data.draws > 1 else "floor_half_width"] = {}
    for strategy in wide.columns:
        if strategy == comparison.baseline:
            continue
        d = (wide[strategy] - wide[comparison.baseline]).dropna().to_numpy()
        if d.size < 2:
            continue
        sd = float(np.std(d, ddof=1))
        t = float(stats.t.ppf(0.975, n_planned - 1))
        out["projected_half_width"][strategy] = round(t * sd * math.sqrt(1 / n_planned + term), 4)
        if cfg.data.draws == 1:
            out["floor_half_width"][strategy] = round(1.96 * sd * math.sqrt(term), 4)
            continue
        needed = draws_for(sd, k, comparison.correction.test_train)
        if needed is not None:
            out["draws_for_target"][strategy] = needed
    return out


def draw_half_width(sd: float, k: int, draws: int, test_train: float) -> float:
    """The 95 % half-width of a mean over `draws` independent draws of `k` folds each, at the
    paired differences' standard deviation `sd` (`pipeline.split.draws_correction`)."""
    from scipy import stats

    from pipeline.split import correction_over_draws

    n = k * draws
    term = correction_over_draws([k] * draws, test_train, k=k).term
    return float(stats.t.ppf(0.975, n - 1)) * sd * math.sqrt(1 / n + term)


def draws_for(sd: float, k: int, test_train: float, target: float = TARGET) -> int | None:
    """The fewest draws (2 to 1000) whose half-width is at most `target`, or None."""
    for draws in range(2, 1001):
        if draw_half_width(sd, k, draws, test_train) <= target:
            return draws
    return None


def planned_pairs(cfg: Any) -> int:
    """The (fold, seed) pairs the preset plans: folds x split seeds x draws."""
    return cfg.split.n_splits * len(cfg.split.seeds) * cfg.data.draws


def launch(overrides: list[str]) -> tuple[Any, Any, Any, float, str, list[str]]:
    """Run the preset into a throwaway store: (cfg, comparison, results, seconds, commit, failed)."""
    from pipeline.config import load_config
    from pipeline.runner import run_experiment

    store = Path(tempfile.mkdtemp(prefix="fraudgan-decisive-"))
    throwaway_store(store)
    cfg = load_config(CONFIG, overrides)
    started = time.perf_counter()
    result = run_experiment(cfg)
    seconds = time.perf_counter() - started
    return cfg, result.comparison, result.results, seconds, commit(), result.failed


def reload(parent_id: str, store: Path) -> tuple[Any, Any, Any, float, str, list[str]]:
    """The same, from a launch in `store`, on its finished children."""
    import mlflow
    import yaml

    from pipeline import tracking
    from pipeline.config import config_from_mapping
    from pipeline.runner import load_comparison

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlruns' / 'mlflow.db'}")
    comparison, frame, tags = load_comparison(parent_id)
    parent = tracking.get_parent_run(parent_id)
    ends = [
        r.info.end_time
        for r in tracking.child_runs(parent_id)
        if r.info.status == tracking.FINISHED
    ]
    seconds = (max(ends) - parent.info.start_time) / 1000
    path = mlflow.MlflowClient().download_artifacts(parent_id, "config.yaml")
    cfg = config_from_mapping(yaml.safe_load(Path(path).read_text()), where="logged config")
    return cfg, comparison, frame, seconds, tags[tracking.TAG_GIT_COMMIT][:7], []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="decisive", help="results file stem")
    parser.add_argument("--report", metavar="PARENT_RUN_ID", help="report a launch in --store")
    parser.add_argument("--store", type=Path, help="the launch's store folder (with --report)")
    parser.add_argument("--cpu-seconds", type=float, help="the launch's CPU time, when measured")
    args = parser.parse_args()
    if bool(args.report) != bool(args.store):
        parser.error("--report and --store go together")

    import xgboost

    if args.report:
        cfg, c, frame, seconds, launched_at, failed = reload(args.report, args.store)
    else:
        cfg, c, frame, seconds, launched_at, failed = launch(args.overrides)
    widths = half_widths(c)
    per_pair = frame.groupby(["fold", "seed"])["strategy"].nunique()
    n_done = int((per_pair == len(cfg.strategies)).sum())  # pairs every strategy finished
    n_planned = planned_pairs(cfg)
    payload = {
        "command": ("python benchmarks/decisive.py " + shlex.join(sys.argv[1:])).strip(),
        "commit": launched_at,
        "wall_seconds": round(seconds, 1),
        "half_width": widths,
        "target_half_width": TARGET,
        "met": {s: w <= TARGET for s, w in widths.items()},
        "config": str(CONFIG.relative_to(ROOT)),
        "overrides": args.overrides,
        "folds_planned": n_planned,
        "folds_finished": n_done,
        "cpu_seconds": args.cpu_seconds,
        **projections(c, frame, cfg),
        "correction": {  # NaN (a field that does not apply) as null: strict JSON
            k: None if isinstance(v, float) and math.isnan(v) else v
            for k, v in (dataclasses.asdict(c.correction) if c.correction else {}).items()
        },
        "failed": failed,
        "strategies": details(c),
        "machine": machine(xgboost),
    }
    if args.report:
        payload["report_commit"] = commit()
    draws = cfg.data.draws
    unit = "(fold, draw)" if draws > 1 else "(fold, repeat)"
    last = "draws for ±0.02 (at this spread)" if draws > 1 else "with unlimited repeats (floor)"
    beyond = payload.get("draws_for_target") or payload.get("floor_half_width") or {}

    def cell(s: str) -> str:
        value = beyond.get(s)
        if value is None:
            return "> 1000" if draws > 1 else "n/a"
        return str(value) if draws > 1 else f"±{value:.4f}"

    lines = [
        "# The `decisive` preset: Δ-AUPRC intervals against `none`",
        "",
        f"`{payload['command']}` (what `fraudgan run {payload['config']}` runs, into a throwaway "
        f"store), launched at commit {payload['commit']}: {n_done} of {n_planned} {unit} "
        f"pairs x {len(cfg.strategies)} strategies finished in {seconds / 60:.1f} min"
        + (f" ({args.cpu_seconds / 60:.1f} CPU-minutes)" if args.cpu_seconds else "")
        + ".",
        "",
        "| strategy | Δ-AUPRC 95 % half-width vs none | target ±0.02 | with all "
        f"{n_planned} pairs (projected) | {last} |",
        "|---|---:|---|---:|---:|",
        *(
            f"| {s} | ±{w:.4f} | {'met' if w <= TARGET else f'missed by {w - TARGET:.4f}'} | "
            f"±{payload['projected_half_width'].get(s, math.nan):.4f} | {cell(s)} |"
            for s, w in widths.items()
        ),
        "",
        c.to_markdown(digits=4),
        "",
        c.summary(),
        "",
    ]
    write_results(args.out, args.name, payload, "\n".join(lines))


if __name__ == "__main__":
    main()
