"""How long `build_features` takes on simulator data (default: 1,000,000 rows over 90 days).

    python benchmarks/features_speed.py [--rows 1000000] [--days 90] [--repeats 3] [--seed 0]

Prints the timings and writes them to benchmarks/results/features_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit  # noqa: E402
from pipeline.config import BENCHMARK_RESULTS_DIR  # noqa: E402
from pipeline.data.schema import SIMULATOR_SCHEMA  # noqa: E402
from pipeline.data.simulate import simulate  # noqa: E402
from pipeline.features import build_features  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=BENCHMARK_RESULTS_DIR / "features_speed.json")
    args = parser.parse_args()

    started = time.perf_counter()
    frame = simulate(args.rows, n_days=args.days, seed=args.seed, fraud_rate=0.003)
    data_seconds = time.perf_counter() - started
    print(f"simulate: {len(frame):,} rows in {data_seconds:.1f} s")

    timings = []
    for i in range(args.repeats):
        start = time.perf_counter()
        out = build_features(frame, SIMULATOR_SCHEMA)
        timings.append(time.perf_counter() - start)
        print(f"  run {i + 1}: build_features {timings[-1]:.2f} s")
    engineered = out.columns[frame.shape[1] :]
    if out[engineered].isna().any().any():
        raise SystemExit("NaN in engineered columns")

    median = statistics.median(timings)
    result = {
        "command": "python benchmarks/features_speed.py " + shlex.join(sys.argv[1:]),
        "commit": commit(),
        "rows": len(frame),
        "days": args.days,
        "simulate_seconds": round(data_seconds, 3),
        "engineered_columns": len(engineered),
        "repeats": args.repeats,
        "seconds": [round(s, 3) for s in timings],
        "median_seconds": round(median, 3),
        "rows_per_second": round(len(frame) / median),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
