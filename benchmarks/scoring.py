"""Scoring benchmark: batch throughput, the cost of reason codes, REST latency, peak memory.

Trains the `none` strategy of `experiments/default.yaml` on simulated data, logs it exactly as
`fraudgan export` does (a `models.scorer.FraudScorer` pyfunc in a temporary MLflow store, never
the project's `mlruns/`), then on the same rows and in the same process measures:

- XGBoost's raw `Booster.inplace_predict` on the already built model matrix (the reference);
- the pyfunc (`mlflow.pyfunc.load_model(...).predict`: MLflow's schema check, our validation,
  preprocessing and prediction) and the unwrapped scorer, as ratios to the reference
  (target >= 0.7 without reason codes), the three timed in turn in each of `--repeat` rounds and
  each ratio the median over rounds (on a shared machine, speed drifts between minutes);
- `fraudgan score` on a Parquet file of raw transactions (reading, history features, scoring,
  writing), with the time spent building history features reported apart;
- the cost of reason codes (`--explain`);
- REST latency of single-transaction requests to `mlflow models serve` on 127.0.0.1
  (a bounded number of requests; target p50 <= 10 ms), and in the same run the layers under it
  for the same rows: XGBoost's raw `inplace_predict` (the floor), the scorer, and MLflow's
  scoring path in-process (JSON parsing and schema enforcement);
- optionally (`--memory-rows`), the peak memory of `fraudgan score` on a large Parquet file, in a
  child process (target under 2 GiB for 5,000,000 rows).

Usage: python benchmarks/scoring.py [--parts batch,rest] [--score-rows N] [--requests N]
[--memory-rows N] [--out FILE]. Writes benchmarks/results/scoring.json, with the command.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def commit() -> str:
    """The checkout's commit, `+changes` when its tracked files other than results files
    (`benchmarks/results/`, which a benchmark run itself rewrites) differ from it."""

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"
    )
    return head + ("+changes" if changed else "")


def best_of(fn: Any, repeat: int) -> float:
    """The fastest of `repeat` timed calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(calls: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Seconds of each call in each of `rounds` rounds, every call once per round in turn, so
    that a slow spell of a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def throwaway_store(tmp: Path) -> str:
    """Point MLflow at a new store under `tmp`, never the project's `mlruns/`; its URI."""
    import mlflow

    from pipeline import tracking

    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    # the default experiment would keep its artifacts under ./mlruns: the project's, from the root
    mlflow.set_experiment(experiment_id=tracking.experiment_id("benchmarks"))
    return uri


def machine(*modules: Any) -> dict[str, Any]:
    """The platform, Python, CPU count and each module's version (by its name)."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        **{m.__name__: m.__version__ for m in modules},
    }


def write_results(out: Path, name: str, payload: dict[str, Any], text: str) -> None:
    """`<out>/<name>.json` (the payload) and `<out>/<name>.md` (`text`), and `text` printed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / f"{name}.md").write_text(text)
    print(text)


def train_and_log(
    tmp: Path,
    *,
    train_rows: int,
    early_stopping: str = "null",
    overrides: tuple[str, ...] = (),
    name: str = "model",
) -> tuple[Any, str, Any]:
    """(scorer, model URI, config): the default classifier on `train_rows` simulated rows.

    `overrides` are `--set` overrides of `experiments/default.yaml` (e.g. no history features).
    """
    import mlflow

    from pipeline import evaluate
    from pipeline.config import load_config
    from pipeline.export import (
        build_scorer,
        retraining_runner,
        scorer_code_paths,
        scoring_requirements,
    )
    from pipeline.runner import prepare

    cfg = load_config(
        ROOT / "experiments" / "default.yaml",
        [
            f"data.rows={train_rows}",
            "strategies=[none]",
            # all of the default config's trees: with early stopping the small benchmark data
            # can stop after a handful, which is not the model production scores with
            f"classifier.early_stopping_rounds={early_stopping}",
            *overrides,
        ],
    )
    prepared = prepare(cfg)
    runner = retraining_runner(cfg, prepared)
    start = time.perf_counter()
    fitted = runner.fit("none", {}, {})
    print(f"trained on {len(runner.fit_idx):,} rows in {time.perf_counter() - start:.1f} s")
    threshold = evaluate.choose_threshold(runner.y_val, fitted.p_val, policy="f1")
    scorer = build_scorer(cfg, runner, fitted.pipe, threshold)
    schema = prepared.schema
    code = tmp / f"code_{name}"
    code.mkdir()
    with mlflow.start_run(run_name=name):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=scorer,
            signature=scorer.signature(),
            input_example=scorer.signature_frame(
                prepared.frame[[schema.id, *scorer.columns]].head(5)
            ),
            code_paths=scorer_code_paths(code),
            pip_requirements=scoring_requirements(),
        )
    return scorer, info.model_uri, cfg


def batch(args: argparse.Namespace, scorer: Any, model_uri: str, cfg: Any, tmp: Path) -> dict:
    import mlflow
    import numpy as np

    from pipeline.data.schema import SIMULATOR_SCHEMA
    from pipeline.data.simulate import simulate
    from pipeline.features import build_features
    from pipeline.score import score_file

    raw = simulate(args.score_rows, n_days=cfg.data.days, seed=args.seed, fraud_rate=0.003)
    raw_path = tmp / "raw.parquet"
    raw.to_parquet(raw_path, index=False)
    start = time.perf_counter()
    built = build_features(
        raw,
        SIMULATOR_SCHEMA,
        label_delay_days=cfg.features.label_delay_days,
        windows_days=cfg.features.windows_days,
    )
    features_whole = time.perf_counter() - start
    frame = built[[SIMULATOR_SCHEMA.id, *scorer.columns]]
    n = len(frame)
    matrix = scorer.matrix(frame)
    booster = scorer.booster
    booster.inplace_predict(matrix[:1000])  # warm up
    model = mlflow.pyfunc.load_model(model_uri)
    as_declared = scorer.signature_frame(frame)  # integer columns as the doubles declared
    model.predict(as_declared.head(100))
    times = interleaved(
        {
            "raw": lambda: booster.inplace_predict(matrix),
            "scorer": lambda: scorer.score(frame),
            "pyfunc": lambda: model.predict(as_declared),
        },
        args.repeat,
    )
    raw_s, scorer_s, pyfunc_s = (min(times[k]) for k in ("raw", "scorer", "pyfunc"))

    def round_ratio(name: str) -> float:
        """The median over rounds of raw / `name` measured side by side."""
        return float(np.median(np.array(times["raw"]) / np.array(times[name])))

    sub = frame.head(min(n, args.explain_rows))
    plain_sub = best_of(lambda: scorer.score(sub), args.repeat)
    explain_sub = best_of(lambda: scorer.score(sub, explain=True), 1)

    out_path = tmp / "scores.parquet"
    runs = [
        score_file(model_uri, raw_path, out_path, progress=False, overwrite=True) for _ in range(2)
    ]
    cli = min(runs, key=lambda s: s.seconds)
    # reason codes cost far more (SHAP values per tree): measured on the first rows of the file
    small_path = tmp / "raw_small.parquet"
    raw.head(len(sub)).to_parquet(small_path, index=False)
    cli_small = score_file(model_uri, small_path, tmp / "small.parquet", progress=False)
    cli_explain = score_file(
        model_uri, small_path, tmp / "small_explain.parquet", explain=True, progress=False
    )
    ratio = lambda s: raw_s / s  # noqa: E731
    return {
        "rows": n,
        "features": len(scorer.columns),
        "booster_features": booster.num_features(),
        "trees": booster.num_boosted_rounds(),
        "rounds": args.repeat,
        "raw_inplace_predict": {
            "seconds": raw_s,
            "rows_per_s": n / raw_s,
            "round_seconds": times["raw"],
        },
        "pyfunc_predict": {
            "seconds": pyfunc_s,
            "rows_per_s": n / pyfunc_s,
            "ratio_to_raw": round_ratio("pyfunc"),
            "round_seconds": times["pyfunc"],
        },
        "scorer_score": {
            "seconds": scorer_s,
            "rows_per_s": n / scorer_s,
            "ratio_to_raw": round_ratio("scorer"),
            "round_seconds": times["scorer"],
        },
        "fraudgan_score": {
            "seconds": cli.seconds,
            "rows_per_s": n / cli.seconds,
            "ratio_to_raw": ratio(cli.seconds),
            "chunks": cli.chunks,
            "history_feature_seconds": cli.feature_seconds,
            "model_seconds": cli.model_seconds,
            "model_ratio_to_raw": ratio(cli.model_seconds),
            "io_and_other_seconds": cli.seconds - cli.feature_seconds - cli.model_seconds,
            "history_features_whole_file_seconds": features_whole,
        },
        "explain_cost": {
            "rows": len(sub),
            "score_seconds": plain_sub,
            "score_explain_seconds": explain_sub,
            "factor": explain_sub / plain_sub,
            "explain_us_per_row": explain_sub / len(sub) * 1e6,
            "fraudgan_score_seconds": cli_small.seconds,
            "fraudgan_score_explain_seconds": cli_explain.seconds,
            "fraudgan_score_factor": cli_explain.seconds / cli_small.seconds,
        },
    }


def per_call_ms(fn: Any, items: list[Any]) -> list[float]:
    """Milliseconds of each call `fn(item)`, one pass over the items (as the REST requests)."""
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def rest(args: argparse.Namespace, scorer: Any, model_uri: str, tmp: Path) -> dict:
    """Single-row REST latency, and in the same run the in-process layers under it.

    The same rows go through: XGBoost's `inplace_predict` on the built model matrix (the floor:
    with XGBoost's default threads and on one thread), the scorer (`FraudScorer.score`: input
    checks, preprocessing, prediction, output frame), MLflow's scoring path in this process
    (`scoring_server.invocations`: JSON parsing, schema enforcement, the scorer, JSON output),
    and HTTP requests to `mlflow models serve` on 127.0.0.1 (one keep-alive connection).
    """
    import mlflow
    import numpy as np
    from mlflow.pyfunc import scoring_server

    from pipeline.data.schema import SIMULATOR_SCHEMA
    from pipeline.data.simulate import simulate
    from pipeline.features import build_features
    from pipeline.servers import child_env, serve_command

    raw = simulate(5000, n_days=30, seed=args.seed + 1)
    rows = build_features(raw, SIMULATOR_SCHEMA)[[SIMULATOR_SCHEMA.id, *scorer.columns]]
    n = min(len(rows), 500)
    frames = [rows.iloc[i : i + 1] for i in range(n)]
    bodies = []
    for frame in frames:
        split = json.loads(frame.to_json(orient="split", index=False))
        bodies.append(json.dumps({"dataframe_split": split}).encode())

    model = mlflow.pyfunc.load_model(model_uri)
    served = model.unwrap_python_model()  # the scorer as the server loads it (the model's code)
    schema = model.metadata.get_input_schema()
    matrices = [served.matrix(f) for f in frames]
    booster = served.booster
    one_thread = booster.copy()
    one_thread.set_param({"nthread": 1})
    for m in matrices[:20]:  # warm up
        booster.inplace_predict(m)
        one_thread.inplace_predict(m)
        served.score(frames[0])
    layers = {
        "raw_inplace_predict_default_threads": per_call_ms(booster.inplace_predict, matrices),
        "raw_inplace_predict_one_thread": per_call_ms(one_thread.inplace_predict, matrices),
        "scorer_score": per_call_ms(served.score, frames),
        "mlflow_invocations_in_process": per_call_ms(
            lambda b: scoring_server.invocations(b, "application/json", model, schema), bodies
        ),
    }

    port = free_port()
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            serve_command(model_uri, port),
            cwd=tmp,
            env=child_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - started > args.startup_timeout:
                raise RuntimeError(f"server not up in {args.startup_timeout} s")
            time.sleep(0.5)
        startup = time.monotonic() - started
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"}

        def call(body: bytes) -> float:
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - t0
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
            return elapsed

        for body in bodies[:20]:
            call(body)  # warm up
        latencies = []
        deadline = time.monotonic() + args.rest_budget
        for i in range(args.requests):
            if time.monotonic() > deadline:
                break
            latencies.append(call(bodies[i % len(bodies)]) * 1000)
        conn.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    p50 = {name: percentile(values, 50) for name, values in layers.items()}
    rest_p50 = percentile(latencies, 50)
    floor = p50["raw_inplace_predict_one_thread"]
    return {
        "requests": len(latencies),
        "startup_seconds": startup,
        "p50_ms": rest_p50,
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": float(np.mean(latencies)),
        "keep_alive": True,
        "in_process_p50_ms": p50,
        "in_process_p90_ms": {name: percentile(values, 90) for name, values in layers.items()},
        "p50_ratio_to_raw_one_thread": rest_p50 / floor,
        "p50_breakdown_ms": {
            "xgboost_inplace_predict": floor,
            "scorer_input_checks_preprocessing_output": p50["scorer_score"] - floor,
            "mlflow_parsing_schema_json": p50["mlflow_invocations_in_process"]
            - p50["scorer_score"],
            "http_and_server": rest_p50 - p50["mlflow_invocations_in_process"],
        },
    }


MEMORY_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from pipeline.score import score_file
t = time.perf_counter()
s = score_file({uri!r}, {inp!r}, {out!r}, progress=False)
print(json.dumps({{"rows": s.rows, "seconds": time.perf_counter() - t, "chunks": s.chunks,
    "feature_seconds": s.feature_seconds, "model_seconds": s.model_seconds,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def memory(args: argparse.Namespace, model_uri: str, cfg: Any, tmp: Path) -> dict:
    import gc

    from pipeline.data.simulate import simulate

    path = tmp / "big.parquet"
    raw = simulate(args.memory_rows, n_days=cfg.data.days, seed=args.seed + 2, fraud_rate=0.003)
    raw.to_parquet(path, index=False)
    del raw
    gc.collect()
    code = MEMORY_CHILD.format(
        root=str(ROOT), uri=model_uri, inp=str(path), out=str(tmp / "big_scores.parquet")
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=args.memory_timeout,
        env={**os.environ},
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["file_mib"] = path.stat().st_size / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--score-rows", type=int, default=500_000)
    parser.add_argument("--explain-rows", type=int, default=20_000)
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed rounds (batch: the three calls in turn)"
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--rest-budget", type=float, default=120.0, help="seconds of requests at most"
    )
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--memory-rows", type=int, default=0, help="e.g. 5000000; 0 skips")
    parser.add_argument("--memory-timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--early-stopping", default="null", help="classifier.early_stopping_rounds (null: off)"
    )
    parser.add_argument(
        "--parts",
        default="batch,rest",
        help="comma-separated: batch (throughput, reason codes), rest (single-row latency)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "scoring.json"
    )
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"batch", "rest"}:
        parser.error(f"--parts takes batch and/or rest, got {args.parts!r}")

    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        throwaway_store(tmp)
        import mlflow
        import numpy as np
        import pandas as pd
        import xgboost

        scorer, model_uri, cfg = train_and_log(
            tmp, train_rows=args.train_rows, early_stopping=args.early_stopping
        )
        results: dict[str, Any] = {
            "command": " ".join(["python", "benchmarks/scoring.py", *sys.argv[1:]]),
            "commit": commit(),
            "machine": machine(xgboost, mlflow, pd, np),
            "model": {
                "train_rows": args.train_rows,
                "strategy": "none",
                "config": "experiments/default.yaml",
                "early_stopping_rounds": args.early_stopping,
            },
        }
        if "batch" in parts:
            print("batch throughput ...")
            results["batch"] = batch(args, scorer, model_uri, cfg, tmp)
        if "rest" in parts:
            print("REST latency ...")
            results["rest"] = rest(args, scorer, model_uri, tmp)
        if args.memory_rows:
            print(f"peak memory on {args.memory_rows:,} rows ...")
            results["memory"] = memory(args, model_uri, cfg, tmp)
    targets: dict[str, bool] = {}
    if "batch" in results:
        targets["pyfunc_ratio_ge_0.7"] = results["batch"]["pyfunc_predict"]["ratio_to_raw"] >= 0.7
    if "rest" in results:
        targets["rest_p50_le_10ms"] = results["rest"]["p50_ms"] <= 10
    if "memory" in results:
        targets["peak_memory_lt_2GiB"] = results["memory"]["peak_rss_mib"] < 2048
    results["targets"] = targets
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    print(f"wrote {args.out}")


def report(results: dict[str, Any]) -> None:
    """Print the figures of a run."""
    if "batch" in results:
        b = results["batch"]
        print(f"\nrows {b['rows']:,}, {b['trees']} trees, {b['booster_features']} booster features")
        print(f"raw inplace_predict   {b['raw_inplace_predict']['rows_per_s']:>12,.0f} rows/s")
        for key in ("pyfunc_predict", "scorer_score", "fraudgan_score"):
            print(
                f"{key:<21} {b[key]['rows_per_s']:>12,.0f} rows/s   "
                f"ratio {b[key]['ratio_to_raw']:.2f}"
            )
        fs = b["fraudgan_score"]
        print(
            f"  fraudgan score: history features {fs['history_feature_seconds']:.1f} s, model "
            f"{fs['model_seconds']:.1f} s (ratio {fs['model_ratio_to_raw']:.2f}), io/other "
            f"{fs['io_and_other_seconds']:.1f} s"
        )
        e = b["explain_cost"]
        print(
            f"--explain on {e['rows']:,} rows: scorer x{e['factor']:.1f} "
            f"({e['explain_us_per_row']:.0f} us/row), fraudgan score "
            f"x{e['fraudgan_score_factor']:.1f}"
        )
    if "rest" in results:
        r = results["rest"]
        print(
            f"REST {r['requests']} single-row requests: p50 {r['p50_ms']:.2f} ms, "
            f"p90 {r['p90_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms "
            f"({r['p50_ratio_to_raw_one_thread']:.0f}x the raw inplace_predict floor)"
        )
        for layer, ms in r["in_process_p50_ms"].items():
            print(f"  p50 {layer:<38} {ms:7.3f} ms")
        for part, ms in r["p50_breakdown_ms"].items():
            print(f"  p50 share: {part:<38} {ms:7.3f} ms")
    if "memory" in results:
        m = results["memory"]
        print(
            f"memory: {m['rows']:,} rows in {m['seconds']:.0f} s, peak RSS {m['peak_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
