"""Spark scoring benchmark: rows/s of `score_spark` on local[1] and local[2] vs the local engine.

Trains the `none` strategy of `experiments/default.yaml` twice, logged as `fraudgan export` does
(a `FraudScorer` pyfunc in a temporary MLflow store, never the project's `mlruns/`):

- `history`: the default model, whose causal history features each engine builds from the raw
  transactions (local: `pipeline.score.HistoryFeatures` in time-ordered chunks; Spark:
  `pipeline.spark_features.spark_history_features` with window aggregates);
- `plain`: the same without history features, so the figure is scoring alone.

It simulates `--rows` raw transactions and scores the same rows with each engine, end to end
(reading, features, scoring, writing Parquet):

- local engine: `pipeline.score.score_file` on one Parquet file (chunks of 200,000 rows);
- Spark engine: `pipeline.spark.score_spark` (`mlflow.pyfunc.spark_udf`) on the same rows as a
  directory of Parquet part files, on `local[1]` then `local[2]` (a fresh session each).

With `--reports` the `history` model also scores the rows without their label column, the
labels given by a file of fraud reports (`--labels` with `--reported-at`: each fraud reported a
gamma-distributed number of days after it, mean 9, about half of them later than the 7-day label
delay), by each engine; `reports_vs_labelled` is the time with the reports over the time with the
label column, both measured in one run.

Each figure is the best of `--repeat` runs. Usage:
    python benchmarks/spark_scoring.py [--rows 5000000] [--parts 16] [--repeat 2] [--reports]
Writes benchmarks/results/spark_scoring.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from scoring import commit, machine, throwaway_store, train_and_log  # noqa: E402  (benchmarks/scoring.py)

MODELS = {"history": (), "plain": ("features.enabled=false",)}


def write_input(rows: int, parts: int, seed: int, tmp: Path) -> tuple[Path, Path]:
    """The same simulated raw rows as one Parquet file and as a directory of `parts` files."""
    import numpy as np

    from pipeline.data.simulate import simulate

    frame = simulate(rows, n_days=120, seed=seed, fraud_rate=0.003)
    single = tmp / "transactions.parquet"
    frame.to_parquet(single, index=False)
    folder = tmp / "transactions"
    folder.mkdir()
    for k, idx in enumerate(np.array_split(np.arange(rows), parts)):
        frame.iloc[idx].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
    return single, folder


def write_reports(single: Path, folder: Path, seed: int, tmp: Path) -> tuple[Path, Path, Path, int]:
    """The input without its label column (one file and a folder, as `write_input`), the fraud
    reports that label it, dated a gamma-distributed number of days after each fraud, and how
    many frauds they report."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(single)
    fraud = frame[frame["is_fraud"] == 1]
    days = np.random.default_rng(seed).gamma(1.5, 6.0, len(fraud))
    reports = tmp / "fraud_reports.csv"
    pd.DataFrame(
        {
            "transaction_id": fraud["transaction_id"].to_numpy(),
            "reported": (fraud["timestamp"] + pd.to_timedelta(days, unit="D")).astype(str),
        }
    ).to_csv(reports, index=False)
    bare_single = tmp / "unlabelled.parquet"
    frame.drop(columns="is_fraud").to_parquet(bare_single, index=False)
    bare_folder = tmp / "unlabelled"
    bare_folder.mkdir()
    for part in sorted(folder.iterdir()):
        pd.read_parquet(part).drop(columns="is_fraud").to_parquet(bare_folder / part.name)
    return bare_single, bare_folder, reports, len(fraud)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--parts", type=int, default=16, help="Parquet files of the Spark input")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument(
        "--reports", action="store_true", help="also score the history model with fraud reports"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "spark_scoring.json"
    )
    args = parser.parse_args()

    from pipeline.spark import spark_available

    missing = spark_available()
    if missing is not None:
        print(f"spark_scoring skipped: {missing}")
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        throwaway_store(tmp)
        import mlflow
        import pyspark
        import xgboost

        from pipeline.data.labels import LabelFile

        start = time.perf_counter()
        single, folder = write_input(args.rows, args.parts, args.seed, tmp)
        print(f"simulated and wrote {args.rows:,} rows in {time.perf_counter() - start:.1f} s")
        inputs = {"labelled": (single, folder, None)}
        if args.reports:
            bare_single, bare_folder, reports, frauds = write_reports(
                single, folder, args.seed, tmp
            )
            labels = LabelFile(reports, None, "reported")
            inputs["reports"] = (bare_single, bare_folder, labels)
        results: dict[str, Any] = {
            "command": "python benchmarks/spark_scoring.py " + shlex.join(sys.argv[1:]),
            "commit": commit(),
            "machine": machine(xgboost, mlflow, pyspark),
            "rows": args.rows,
            "parts": args.parts,
            "models": {},
        }
        for model in args.models:
            scorer, model_uri, _ = train_and_log(
                tmp, train_rows=args.train_rows, overrides=MODELS[model], name=model
            )
            engineered = len((scorer.history or {}).get("engineered", ()))
            print(f"[{model}] {len(scorer.columns)} model columns, {engineered} history features")
            measured = {}
            for name, (one_file, parts, labels) in inputs.items():
                if labels is not None and not scorer.history:
                    continue
                measured[name] = time_engines(args, model, model_uri, one_file, parts, labels, tmp)
            local_s = measured["labelled"]["local_s"]
            local_runs = measured["labelled"]["local_runs"]
            spark = measured["labelled"]["spark"]
            one, two = spark["local[1]"]["rows_per_s"], spark["local[2]"]["rows_per_s"]
            results["models"][model] = {
                "train_rows": args.train_rows,
                "config": "experiments/default.yaml",
                "strategy": "none",
                "history_features": engineered,
                "input_columns": len(scorer.columns),
                "trees": scorer.booster.num_boosted_rounds(),
                "local_engine": {
                    "seconds": local_s,
                    "runs": local_runs,
                    "rows_per_s": args.rows / local_s,
                },
                "spark": spark,
                "spark_local2_vs_local_engine": two / (args.rows / local_s),
                "spark_scaling_1_to_2_cores": two / one,
            }
            if "reports" in measured:
                with_reports = measured["reports"]
                results["models"][model]["reports"] = {
                    "frauds": frauds,
                    "local_engine": {
                        "seconds": with_reports["local_s"],
                        "runs": with_reports["local_runs"],
                        "reports_vs_labelled": with_reports["local_s"] / local_s,
                    },
                    "spark": {
                        master: {
                            **timing,
                            "reports_vs_labelled": timing["seconds"] / spark[master]["seconds"],
                        }
                        for master, timing in with_reports["spark"].items()
                    },
                }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for model, r in results["models"].items():
        print(
            f"[{model}] Spark local[2] / local engine: {r['spark_local2_vs_local_engine']:.2f}x; "
            f"local[1] -> local[2]: {r['spark_scaling_1_to_2_cores']:.2f}x"
        )
    print(f"wrote {args.out}")


def time_engines(
    args: argparse.Namespace,
    model: str,
    model_uri: str,
    single: Path,
    folder: Path,
    labels: Any,
    tmp: Path,
) -> dict[str, Any]:
    """Best-of-`--repeat` seconds of the local engine on `single` and of Spark on `folder`
    (local[1], local[2]), with `labels` (a `LabelFile`) or the input's own label column."""
    from pipeline.score import score_file
    from pipeline.spark import score_spark, spark_session

    tag = model if labels is None else f"{model}, reports"
    local_runs = []
    for k in range(args.repeat):
        out = tmp / f"local_{model}_{k}.parquet"
        summary = score_file(model_uri, single, out, progress=False, labels=labels)
        local_runs.append(summary.seconds)
        out.unlink()
    local_s = min(local_runs)
    print(f"[{tag}] local engine: {args.rows / local_s:,.0f} rows/s ({local_s:.1f} s)")
    spark: dict[str, Any] = {}
    for cores in (1, 2):
        master = f"local[{cores}]"
        session = spark_session(master, app_name=f"fraudgan-bench-{cores}")
        runs = []
        for k in range(args.repeat):
            out = tmp / f"spark_{model}_{cores}_{k}"
            summary = score_spark(
                model_uri, folder, out, master=master, spark=session, labels=labels
            )
            assert summary.rows == args.rows, (summary.rows, args.rows)
            runs.append(summary.seconds)
            shutil.rmtree(out)
        session.stop()
        best = min(runs)
        spark[master] = {"seconds": best, "runs": runs, "rows_per_s": args.rows / best}
        print(f"[{tag}] spark {master}: {args.rows / best:,.0f} rows/s ({best:.1f} s)")
    return {"local_s": local_s, "local_runs": local_runs, "spark": spark}


if __name__ == "__main__":
    main()
