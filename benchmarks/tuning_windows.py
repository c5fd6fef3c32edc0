"""Does tuning over several validation windows still lower a strategy? Tuned vs untuned AUPRC.

Runs `experiments/temporal.yaml` (tuning on, `report.include_untuned: true`: every child also
scores the untuned setting on the same fold) into a throwaway MLflow store, and writes per
strategy the mean test AUPRC over folds, tuned and untuned, with how often the tuner kept the
untuned setting because its best trial's gain was inside the windows' noise:

    .venv/bin/python benchmarks/tuning_windows.py [--strategies ...] [--trials N] [--set k=v ...]

`--from-store DIR` summarizes the children an interrupted run of this script finished in its
throwaway store DIR (the results then say `"partial": true` and how many folds each strategy has).

The GAN strategy is left out by default: its trials choose only what the fold's one GAN appends,
and its training would take most of the time (`benchmarks/gan_uplift.py` measures it).
Writes benchmarks/results/tuning_windows.{json,md}:
`{"command", "commit", "wall_seconds", "strategies": {name: {"tuned", "untuned", ...}}}`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, throwaway_store, write_results  # noqa: E402

DEFAULT_STRATEGIES = ["none", "class_weight", "threshold", "ros", "smote", "borderline"]
TARGET = 0.01  # tuned must stay >= untuned - TARGET (issue 20)


def finished_children(store: Path) -> tuple[pd.DataFrame, float]:
    """The finished children of the one launch in a throwaway store, and its seconds so far."""
    import mlflow

    from pipeline import tracking
    from pipeline.runner import _resumed_results, results_frame

    uri = throwaway_store_uri(store)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`{tracking.TAG_RUN_TYPE}` = '{tracking.RUN_EXPERIMENT}'",
        output_format="list",
    )
    if len(runs) != 1:
        raise SystemExit(f"{store}: expected one launch, found {len(runs)}")
    children = list(_resumed_results(runs[0].info.run_id).values())
    ends = [mlflow.get_run(c.run_id).info.end_time or 0 for c in children]
    seconds = (max(ends) - runs[0].info.start_time) / 1000 if ends else 0.0
    return results_frame(children), seconds


def throwaway_store_uri(store: Path) -> str:
    """The tracking URI `benchmarks.scoring.throwaway_store` gave the store under `store`."""
    return f"sqlite:///{store / 'mlruns' / 'mlflow.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES)
    parser.add_argument("--trials", type=int, default=None, help="tuning.n_trials (the YAML's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--from-store", type=Path, default=None)
    args = parser.parse_args()

    import xgboost

    from pipeline.config import load_config
    from pipeline.runner import UNTUNED_PREFIX, run_experiment

    overrides = [
        "name=tuning-windows-benchmark",
        f"strategies=[{', '.join(args.strategies)}]",
        "report.include_untuned=true",
        "report.quality=false",
        *([f"tuning.n_trials={args.trials}"] if args.trials else []),
        *args.overrides,
    ]
    cfg = load_config(ROOT / "experiments" / "temporal.yaml", overrides)
    if args.from_store is not None:
        frame, seconds = finished_children(args.from_store)
    else:
        throwaway_store(Path(tempfile.mkdtemp(prefix="fraudgan-tuning-windows-")))
        started = time.perf_counter()
        result = run_experiment(cfg)
        seconds = time.perf_counter() - started
        if result.failed:
            raise SystemExit("children failed:\n" + "\n".join(result.failed))
        frame = result.results
    partial = len(frame) < len(cfg.strategies) * cfg.split.n_folds
    metric = cfg.report.metric
    strategies: dict[str, dict[str, float]] = {}
    for name, g in frame.groupby("strategy", sort=False):
        kept = g["tuning_kept_untuned"] if "tuning_kept_untuned" in g else pd.Series(dtype=float)
        strategies[str(name)] = {
            "tuned": round(float(g[metric].mean()), 4),
            "untuned": round(float(g[UNTUNED_PREFIX + metric].mean()), 4),
            "folds": len(g),
            "kept_untuned_folds": int(kept.sum()),
            "validation_gain_mean": round(float(g["tuning_gain"].mean()), 4),
        }
    command = "python benchmarks/tuning_windows.py " + shlex.join(sys.argv[1:])
    payload = {
        "command": command.strip(),
        "commit": commit(),
        "wall_seconds": round(seconds, 1),
        "partial": partial,
        "experiment": "experiments/temporal.yaml",
        "overrides": overrides,
        "metric": metric,
        "windows": cfg.validation.windows,
        "window_fraction": cfg.validation.fraction,
        "n_trials": cfg.tuning.n_trials,
        "folds": len(frame["fold"].unique()),
        "target": f"tuned >= untuned - {TARGET}",
        "machine": machine(xgboost),
        "strategies": strategies,
    }
    lines = [
        f"`{payload['command']}` at commit {payload['commit']}: experiments/temporal.yaml, "
        f"{payload['folds']} temporal folds, {cfg.tuning.n_trials} trials per (strategy, fold), "
        f"each scored over {cfg.validation.windows} inner windows of "
        f"{cfg.validation.fraction:.0%} of the training rows; wall time {seconds / 60:.0f} min."
        + (" PARTIAL: the children finished before the run was stopped." if partial else ""),
        "",
        f"| strategy | untuned {metric} | tuned {metric} | tuned − untuned | within target "
        "| folds keeping the untuned setting | mean validation gain of the best trial |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, s in strategies.items():
        diff = s["tuned"] - s["untuned"]
        lines.append(
            f"| {name} | {s['untuned']:.4f} | {s['tuned']:.4f} | {diff:+.4f} | "
            f"{'yes' if diff >= -TARGET else 'no'} | {s['kept_untuned_folds']} of {s['folds']} | "
            f"{s['validation_gain_mean']:+.4f} |"
        )
    write_results(args.out, "tuning_windows", payload, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
