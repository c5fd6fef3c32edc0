"""How long `build_features` takes on simulator data (default: 1,000,000 rows over 90 days).

    python benchmarks/features_speed.py [--rows 1000000] [--days 90] [--repeats 3] [--seed 0]
        [--velocity K] [--reports]

Prints the timings and writes them to benchmarks/results/features_speed.json. With `--velocity K`
the rows also get K shared ids (a device used by about three cards, an address by about ten...)
declared under `Schema.velocity`, and each repeat times both schemas, one after the other, so that
their ratio is measured in one run. With `--reports` each repeat also times the features with the
frauds' report dates (`build_features(label_delays=...)`: delays drawn from a gamma of mean 9 days,
about half of them later than the 7-day `label_delay_days`), after the plain ones.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    parser.add_argument("--velocity", type=int, default=0, help="shared ids to add and count")
    parser.add_argument("--reports", action="store_true", help="also time dated fraud reports")
    parser.add_argument("--out", type=Path, default=BENCHMARK_RESULTS_DIR / "features_speed.json")
    args = parser.parse_args()

    started = time.perf_counter()
    frame = simulate(args.rows, n_days=args.days, seed=args.seed, fraud_rate=0.003)
    data_seconds = time.perf_counter() - started
    print(f"simulate: {len(frame):,} rows in {data_seconds:.1f} s")

    rng = np.random.default_rng(args.seed)
    keys = [f"shared_id_{k}" for k in range(args.velocity)]
    for k, key in enumerate(keys):
        shared = frame["customer_id"].to_numpy() // (3 * (k + 1))
        frame[key] = np.where(rng.random(len(frame)) < 0.02, -1, shared)  # -1: a placeholder
    keyed = dataclasses.replace(SIMULATOR_SCHEMA, velocity=tuple(keys))
    fraud = frame[SIMULATOR_SCHEMA.label].to_numpy() == 1
    delays = np.where(fraud, rng.gamma(1.5, 6.0, len(frame)), np.nan)

    timings: list[float] = []
    keyed_timings: list[float] = []
    reported_timings: list[float] = []
    for i in range(args.repeats):
        for schema, times, label_delays in (
            (SIMULATOR_SCHEMA, timings, None),
            (keyed, keyed_timings, None),
            (SIMULATOR_SCHEMA, reported_timings, delays),
        ):
            if (schema is keyed and not keys) or (label_delays is not None and not args.reports):
                continue
            start = time.perf_counter()
            out = build_features(frame, schema, label_delays=label_delays)
            times.append(time.perf_counter() - start)
            dated = ", report dates" if label_delays is not None else ""
            print(
                f"  run {i + 1}: build_features {times[-1]:.2f} s, "
                f"{len(schema.velocity)} keys{dated}"
            )
    engineered = out.columns[frame.shape[1] :]
    if out[engineered].isna().any().any():
        raise SystemExit("NaN in engineered columns")

    median = statistics.median(timings)
    velocity = {}
    if keys:
        keyed_median = statistics.median(keyed_timings)
        velocity = {
            "velocity_columns": len(keys),
            "velocity_engineered_columns": len(engineered),
            "velocity_seconds": [round(s, 3) for s in keyed_timings],
            "velocity_median_seconds": round(keyed_median, 3),
            "velocity_rows_per_second": round(len(frame) / keyed_median),
            "velocity_time_ratio": round(keyed_median / median, 3),
        }
    reports = {}
    if args.reports:
        reports_median = statistics.median(reported_timings)
        reports = {
            "reports_frauds": int(fraud.sum()),
            "reports_later_than_delay": round(float(np.mean(delays[fraud] > 7.0)), 3),
            "reports_seconds": [round(s, 3) for s in reported_timings],
            "reports_median_seconds": round(reports_median, 3),
            "reports_time_ratio": round(reports_median / median, 3),
        }
    result = {
        "command": "python benchmarks/features_speed.py " + shlex.join(sys.argv[1:]),
        "commit": commit(),
        "rows": len(frame),
        "days": args.days,
        "simulate_seconds": round(data_seconds, 3),
        "engineered_columns": len(build_features(frame.head(1000), SIMULATOR_SCHEMA).columns)
        - frame.shape[1],
        "repeats": args.repeats,
        "seconds": [round(s, 3) for s in timings],
        "median_seconds": round(median, 3),
        "rows_per_second": round(len(frame) / median),
        **velocity,
        **reports,
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
