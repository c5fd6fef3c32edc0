"""What `experiments/ieee.yaml` costs at the IEEE-CIS data's size, on this machine.

The real data is not shipped (nor reachable here): this writes a joined file of its layout and
size, 590,540 rows of `train_transaction.csv`'s 394 columns left-joined with
`train_identity.csv`'s 40 others for about a quarter of them (the published names; random values
with a weak signal in the amount, the V columns' missing shares roughly as published), then times
`fraudgan check experiments/ieee.yaml` and `fraudgan run` of one strategy on one fold (`none`:
three validation windows and the refit, 300 trees each), each with its peak memory:

    .venv/bin/python benchmarks/ieee_scale.py [--rows 590540] [--strategy none]

Writes benchmarks/results/ieee_scale.{json,md}. Figures are what one child costs; a launch of the
YAML runs 27 (9 strategies x 3 folds), the GAN and the SMOTE family dearer than `none`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, write_results  # noqa: E402

ROWS = 590_540
IDENTITY_TEXT = {
    12: ["Found", "NotFound"],
    15: ["New", "Found", "Unknown"],
    16: ["Found", "NotFound"],
    23: ["IP_PROXY:TRANSPARENT", "IP_PROXY:ANONYMOUS", "IP_PROXY:HIDDEN"],
    27: ["Found", "NotFound"],
    28: ["New", "Found"],
    29: ["Found", "NotFound"],
    30: [f"os {i}" for i in range(75)],
    31: [f"browser {i}" for i in range(130)],
    33: [f"{w}x{h}" for w in range(800, 3000, 100) for h in range(600, 1800, 100)][:260],
    34: ["match_status:2", "match_status:1", "match_status:0", "match_status:-1"],
    **{i: ["T", "F"] for i in (35, 36, 37, 38)},
}


def layout(rows: int, seed: int = 0) -> pd.DataFrame:
    """The joined file's layout: transactions (394 columns) with their identity (40 more)."""
    rng = np.random.default_rng(seed)
    y = rng.random(rows) < 0.035

    def missing(values: np.ndarray, share: float) -> np.ndarray:
        values = values.astype(float)
        values[rng.random(len(values)) < share] = np.nan
        return values

    def text(choices: list[str], share: float, n: int = rows) -> np.ndarray:
        values = rng.choice(np.array(choices, dtype=object), n)
        values[rng.random(n) < share] = None
        return values

    domains = [f"domain{i}.com" for i in range(59)]
    cols: dict[str, Any] = {
        "TransactionID": np.arange(2_987_000, 2_987_000 + rows),
        "isFraud": y.astype(np.int64),
        "TransactionDT": np.sort(86_400 + rng.integers(0, 15_724_800, rows)),
        "TransactionAmt": np.round(rng.lognormal(4, 1, rows) * np.where(y, 1.5, 1), 3),
        "ProductCD": text(list("WHCSR"), 0.0),
        "card1": rng.integers(1000, 18_397, rows),
        "card2": missing(rng.integers(100, 601, rows), 0.015),
        "card3": missing(rng.integers(100, 232, rows), 0.003),
        "card4": text(["visa", "mastercard", "american express", "discover"], 0.003),
        "card5": missing(rng.integers(100, 238, rows), 0.007),
        "card6": text(["debit", "credit", "debit or credit", "charge card"], 0.003),
        "addr1": missing(rng.integers(100, 541, rows), 0.11),
        "addr2": missing(rng.integers(10, 103, rows), 0.11),
        "dist1": missing(rng.exponential(100, rows).round(), 0.6),
        "dist2": missing(rng.exponential(100, rows).round(), 0.93),
        "P_emaildomain": text(domains, 0.16),
        "R_emaildomain": text(domains, 0.77),
        **{f"C{i}": rng.poisson(2, rows).astype(float) for i in range(1, 15)},
        **{
            f"D{i}": missing(rng.integers(0, 640, rows), 0.002 if i == 1 else 0.5)
            for i in range(1, 16)
        },
        **{f"M{i}": text(["M0", "M1", "M2"] if i == 4 else ["T", "F"], 0.45) for i in range(1, 10)},
        **{
            f"V{i}": missing(rng.normal(size=rows), (0.0, 0.28, 0.47, 0.77, 0.86)[i % 5])
            for i in range(1, 340)
        },
    }
    transactions = pd.DataFrame(cols)
    known = rng.random(rows) < 0.24
    n = int(known.sum())
    identity: dict[str, Any] = {"TransactionID": transactions["TransactionID"][known].to_numpy()}
    for i in range(1, 39):
        name = f"id_{i:02d}"
        if i in IDENTITY_TEXT:
            identity[name] = text(IDENTITY_TEXT[i], 0.3, n)
        else:
            identity[name] = missing(rng.normal(size=n), 0.4)
    identity["DeviceType"] = text(["desktop", "mobile"], 0.02, n)
    identity["DeviceInfo"] = text([f"device {i}" for i in range(1786)], 0.2, n)
    return transactions.merge(pd.DataFrame(identity), on="TransactionID", how="left")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak resident GiB of the children so far, the output's last lines)."""
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
    return seconds, peak, "\n".join(done.stdout.strip().splitlines()[-3:])


def markdown(payload: dict[str, Any]) -> str:
    r = payload["result"]
    return "\n".join(
        [
            "# experiments/ieee.yaml at the IEEE-CIS data's size",
            "",
            f"`{payload['command']}` at commit {payload['commit']}, on {payload['machine']['cpus']}"
            f" CPUs ({payload['machine']['platform']}).",
            "",
            f"A joined file of the published layout ({r['rows']:,} rows, {r['columns']} columns, "
            f"{r['fraud_rate']:.1%} fraud; random values, so the AUPRC means nothing) written as "
            f"Parquet ({r['file_mb']:,.0f} MB). Peak memory: the largest resident size of the "
            "commands so far.",
            "",
            "| step | seconds | peak memory (GiB) |",
            "|---|---:|---:|",
            f"| write the file | {r['write_seconds']:.0f} | – |",
            f"| `fraudgan check experiments/ieee.yaml` | {r['check_seconds']:.0f} | "
            f"{r['check_peak_gib']:.1f} |",
            f"| `fraudgan run` of `{r['strategy']}` on one fold (3 windows and the refit) | "
            f"{r['run_seconds']:.0f} | {r['run_peak_gib']:.1f} |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--strategy", default="none")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ieee.parquet"
        started = time.perf_counter()
        frame = layout(args.rows)
        frame.to_parquet(path, index=False)
        write_seconds = time.perf_counter() - started
        result: dict[str, Any] = {
            "rows": len(frame),
            "columns": frame.shape[1],
            "fraud_rate": float(frame["isFraud"].mean()),
            "file_mb": path.stat().st_size / 1e6,
            "write_seconds": write_seconds,
            "strategy": args.strategy,
        }
        del frame
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{Path(tmp) / 'mlflow.db'}"}
        fraudgan = [sys.executable, "-m", "pipeline.cli"]
        config = ["experiments/ieee.yaml", "--set", f"data.path={path}"]
        seconds, peak, said = timed([*fraudgan, "check", *config], env)
        result |= {"check_seconds": seconds, "check_peak_gib": peak, "check_said": said}
        print(f"check: {seconds:.0f} s, {peak:.1f} GiB", flush=True)
        one = ["--set", f"strategies=[{args.strategy}]", "--set", "split.n_folds=1"]
        seconds, peak, said = timed([*fraudgan, "run", *config, *one], env)
        result |= {"run_seconds": seconds, "run_peak_gib": peak, "run_said": said}
        print(f"run: {seconds:.0f} s, {peak:.1f} GiB", flush=True)
    import pyarrow
    import xgboost

    payload = {
        "command": shlex.join(["python", "benchmarks/ieee_scale.py", *(argv or sys.argv[1:])]),
        "commit": commit(),
        "machine": machine(np, pd, pyarrow, xgboost),
        "result": result,
    }
    write_results(args.out, "ieee_scale", payload, markdown(payload))


if __name__ == "__main__":
    main()
