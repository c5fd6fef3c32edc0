"""How long does `make run` take? Runs what it runs and records the time and the comparison.

`make run` is `fraudgan run experiments/default.yaml`; this runs that command (a subprocess,
as a user's shell would) into a throwaway MLflow store, times it end to end, reads the launch's
comparison back from the store, and writes:

- benchmarks/results/make_run.json: `{"command", "commit", "wall_seconds", "table": [...]}`
  (`table`: one record per strategy of the comparison, as `fraudgan compare` shows it), plus
  the machine, the per-strategy seconds (fit, resample) and the experiment's size;
- benchmarks/results/make_run.md: the same table in Markdown, with how it was produced.

    .venv/bin/python benchmarks/make_run.py [--config experiments/default.yaml] [--set k=v ...]

On a shared machine run it under the heavy-job lock (`flock /tmp/fraudgan-heavy.lock ...`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, write_results  # noqa: E402

TABLE_COLUMNS = ("strategy", "kind", "n")


def fraudgan_command(config: str, overrides: list[str]) -> list[str]:
    """The `fraudgan run` command line (the console script beside this Python)."""
    script = Path(sys.executable).with_name("fraudgan")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]
    return [*head, "run", config, *[a for o in overrides for a in ("--set", o)]]


def table_records(comparison: object) -> list[dict[str, object]]:
    """The comparison's rows: strategy, kind, n, each shown metric's mean and interval, the
    paired differences against `none` and the reference with their verdicts, timings."""
    from pipeline import report

    table = comparison.table  # type: ignore[attr-defined]
    keep = [c for c in TABLE_COLUMNS if c in table]
    metrics = [*comparison.display_metrics(), report.TREES, *comparison.timing_metrics()]  # type: ignore[attr-defined]
    for m in metrics:
        keep += [c for c in (f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high") if c in table]
    for vs in (report.VS_BASELINE, report.VS_REFERENCE):
        keep += [c for c in table.columns if c.startswith(f"{vs}_")]
    records = json.loads(table[keep].to_json(orient="records", double_precision=6))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/default.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    store = Path(tempfile.mkdtemp(prefix="fraudgan-make-run-"))
    uri = f"sqlite:///{store / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    cmd = fraudgan_command(args.config, args.overrides)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (store / "stdout.txt").write_text(done.stdout)
    (store / "stderr.txt").write_text(done.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"`{shlex.join(cmd)}` failed (exit {done.returncode}); logs in {store}")
    parent = next(
        line.split()[2] for line in done.stdout.splitlines() if line.startswith("parent run:")
    )

    import mlflow
    import xgboost

    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    from pipeline import tracking
    from pipeline.runner import load_comparison

    comparison, frame, tags = load_comparison(parent)
    timing = (
        frame.groupby("strategy")[["fit_seconds", "refit_seconds", "resample_seconds"]]
        .mean()
        .round(1)
        .to_dict(orient="index")
    )
    shown = "fraudgan run " + " ".join(shlex.quote(a) for a in cmd[2:])
    payload = {
        "command": f"MLFLOW_TRACKING_URI=<throwaway> {shown}",
        "commit": commit(),
        "wall_seconds": round(seconds, 1),
        "table": table_records(comparison),
        "benchmark_command": "python benchmarks/make_run.py " + shlex.join(sys.argv[1:]),
        "parent_run": parent,
        "config_hash": tags.get(tracking.TAG_CONFIG_HASH, ""),
        "children": len(frame),
        "seconds_per_strategy": timing,
        "machine": machine(xgboost),
    }
    minutes, secs = divmod(round(seconds), 60)
    lines = [
        "# `make run`: the default experiment's comparison",
        "",
        f"Produced by `{payload['benchmark_command'].strip()}`, which runs `{shown}` (what "
        f"`make run` runs) into a throwaway store, at commit {payload['commit']} on "
        f"{payload['machine']['cpus']} CPU cores. Wall time {minutes} min {secs:02d} s for the "
        f"{len(frame)} children, from the command's start to its exit.",
        "",
        comparison.to_markdown(),
        "",
        "Mean seconds per child (fit and refit of the classifier over the windows; resampling, "
        "the GAN's training included once per fold):",
        "",
        "| strategy | fit s | refit s | resample s |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {s} | {t['fit_seconds']:.1f} | {t['refit_seconds']:.1f} | "
            f"{t['resample_seconds']:.1f} |"
            for s, t in timing.items()
        ],
    ]
    write_results(args.out, "make_run", payload, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
