"""How fast the simulator makes transactions and how fast they are written to Parquet.

Usage: python benchmarks/simulate_speed.py [--rows 1000000] [--repeat 3]
Prints the figures and writes them to benchmarks/results/simulate_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit  # noqa: E402
from pipeline.data.simulate import simulate  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "simulate_speed.json"


def _cpu_count() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    sim_times = []
    frame = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        frame = simulate(args.rows, n_days=args.days, seed=0)
        sim_times.append(time.perf_counter() - t0)
    assert frame is not None

    write_times = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim.parquet"
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            frame.to_parquet(path, index=False)
            write_times.append(time.perf_counter() - t0)
        parquet_bytes = path.stat().st_size

    best_sim, best_write = min(sim_times), min(write_times)
    result = {
        "command": "python benchmarks/simulate_speed.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "commit": commit(),
        "rows": len(frame),
        "days": args.days,
        "repeat": args.repeat,
        "simulate_seconds": round(best_sim, 3),
        "simulate_seconds_all": [round(t, 3) for t in sim_times],
        "simulate_rows_per_second": round(len(frame) / best_sim),
        "to_parquet_seconds": round(best_write, 3),
        "to_parquet_rows_per_second": round(len(frame) / best_write),
        "parquet_megabytes": round(parquet_bytes / 2**20, 1),
        "memory_megabytes": round(frame.memory_usage(deep=True).sum() / 2**20, 1),
        "fraud_rate": round(float(frame["is_fraud"].mean()), 5),
        "fraud_patterns": {
            k: int(v) for k, v in frame["fraud_pattern"].value_counts().items() if k != "legit"
        },
        "customers": int(frame["customer_id"].nunique()),
        "merchants": int(frame["merchant_id"].nunique()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "cpu_count": _cpu_count(),
        "platform": platform.platform(),
    }
    print(
        f"simulate({result['rows']:,} rows, {args.days} days): {best_sim:.2f} s (best of "
        f"{args.repeat}), {result['simulate_rows_per_second']:,} rows/s"
    )
    print(
        f"to_parquet: {best_write:.2f} s, {result['to_parquet_rows_per_second']:,} rows/s, "
        f"{result['parquet_megabytes']} MiB"
    )
    print(f"fraud rate {result['fraud_rate']:.4%}; patterns {result['fraud_patterns']}")
    print(
        f"python {result['python']}, numpy {result['numpy']}, pandas {result['pandas']}, "
        f"{result['cpu_count']} CPUs"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
