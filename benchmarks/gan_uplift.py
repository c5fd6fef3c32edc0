"""Does the GAN help? AUPRC of `cgan` vs `none` and vs the reference resampler.

Runs the default simulator experiment over 3 folds x 2 seeds (the same folds for every strategy)
into a temporary MLflow store, then prints and writes the comparison:

    .venv/bin/python benchmarks/gan_uplift.py [--rows 300000] [--epochs 150] [--seeds 0 1]

Writes benchmarks/results/gan_uplift.json and gan_uplift.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

from pipeline.config import BENCHMARK_RESULTS_DIR, load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--ratio", type=float, default=0.1, help="cgan sampling_strategy")
    args = parser.parse_args()

    store = tempfile.mkdtemp(prefix="fraudgan-uplift-")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"
    from pipeline.runner import run_experiment

    seeds = "[" + ", ".join(str(s) for s in args.seeds) + "]"
    cfg = load_config(
        "experiments/default.yaml",
        [
            f"data.rows={args.rows}",
            f"split.seeds={seeds}",
            "strategies=[none, class_weight, ros, smote, borderline, cgan]",
            f"strategies.cgan.epochs={args.epochs}",
            f"strategies.cgan.sampling_strategy={args.ratio}",
            "name=gan-uplift",
        ],
    )
    start = time.perf_counter()
    result = run_experiment(cfg)
    seconds = time.perf_counter() - start
    table = result.comparison.table
    keep = [
        c
        for c in table.columns
        if c in ("strategy", "n")
        or c.startswith("average_precision_")
        or c.startswith("vs_")
        or c.startswith("fit_seconds_mean")
        or c.startswith("resample_seconds_mean")
    ]
    summary = result.comparison.summary()
    print(result.comparison.to_markdown())
    print(summary)
    print(f"wall time {seconds:.0f} s")
    BENCHMARK_RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "rows": args.rows,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "cgan_sampling_strategy": args.ratio,
        "wall_seconds": seconds,
        "summary": summary,
        "table": json.loads(table[keep].to_json(orient="records")),
        "failed": result.failed,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    (BENCHMARK_RESULTS_DIR / "gan_uplift.json").write_text(json.dumps(payload, indent=2))
    (BENCHMARK_RESULTS_DIR / "gan_uplift.md").write_text(
        result.comparison.to_markdown() + "\n\n" + summary + "\n"
    )


if __name__ == "__main__":
    main()
