"""How far from the fraud rate each strategy's probabilities are, before and after calibration.

Runs an experiment's strategies on its outer folds as `fraudgan run` does (the same inner
validation windows, the same refit), then, per (strategy, fold), fits the calibration `export`
fits (`pipeline.export.platt_parameters`) on the windows' pooled out-of-sample probabilities and
applies it to the test fold, which neither the model nor the calibration saw. Reports on the test
fold: the mean probability against the fraud rate, the Brier score and the log loss, before and
after, and the calibration's slope and intercept:

    .venv/bin/python benchmarks/calibration.py [--config experiments/default.yaml] \\
        [--strategies none class_weight ros smote borderline] [--set KEY=VALUE ...]

Writes benchmarks/results/calibration.{json,md}. The GAN is left out by default: at its defaults
it chooses its share on the windows and most often keeps share 0, where it is `none`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, write_results  # noqa: E402

DEFAULT_STRATEGIES = ["none", "class_weight", "ros", "smote", "borderline"]
MEASURES = ("mean_p", "brier", "log_loss")


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def cells(cfg: Any, strategies: list[str]) -> list[dict[str, Any]]:
    from models.scorer import platt_map
    from pipeline import augment, evaluate
    from pipeline.export import platt_parameters
    from pipeline.runner import FoldRunner, preflight

    checked = preflight(cfg)
    out = []
    for fold, windows in zip(checked.prepared.folds, checked.windows, strict=True):
        runner = FoldRunner(cfg, checked.prepared, fold, windows=windows)
        for name in strategies:
            started = time.perf_counter()
            fitted, _ = augment.fit_choosing(runner, name, cfg.strategies[name])
            fitted = runner.final(fitted)
            y = runner.y_test.astype(int)
            raw = fitted.pipe.predict_proba(runner.X_test)[:, 1].astype(np.float64)
            slope, intercept = platt_parameters(runner.y_val, fitted.p_val)
            calibrated = platt_map(raw, slope, intercept)
            row = {
                "strategy": name,
                "fold": fold.fold,
                "seed": fold.seed,
                "test_rows": int(y.size),
                "test_fraud": int(y.sum()),
                "fraud_rate": float(y.mean()),
                "validation_fraud": int(runner.y_val.sum()),
                "slope": slope,
                "intercept": intercept,
                "average_precision": evaluate.average_precision(y, raw),
                "average_precision_calibrated": evaluate.average_precision(y, calibrated),
                "seconds": time.perf_counter() - started,
            }
            for suffix, p in (("raw", raw), ("calibrated", calibrated)):
                row[f"mean_p_{suffix}"] = float(p.mean())
                row[f"brier_{suffix}"] = evaluate.brier(y, p)
                row[f"log_loss_{suffix}"] = log_loss(y, p)
            out.append(row)
            print(
                f"{name} fold {fold.fold}: mean p {row['mean_p_raw']:.4g} -> "
                f"{row['mean_p_calibrated']:.4g} (rate {row['fraud_rate']:.4g}), Brier "
                f"{row['brier_raw']:.4g} -> {row['brier_calibrated']:.4g}",
                flush=True,
            )
    return out


def summary(rows: list[dict[str, Any]], strategies: list[str]) -> list[dict[str, Any]]:
    """Per strategy, the means over its folds."""
    out = []
    for name in strategies:
        mine = [r for r in rows if r["strategy"] == name]
        keys = [
            "fraud_rate",
            "slope",
            "intercept",
            *(f"{m}_{s}" for m in MEASURES for s in ("raw", "calibrated")),
        ]
        out.append(
            {"strategy": name, "folds": len(mine)}
            | {k: float(np.mean([r[k] for r in mine])) for k in keys}
        )
    return out


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "# Calibration of each strategy's probabilities, before and after export's",
        "",
        f"`{payload['command']}` at commit {payload['commit']} ({payload['seconds']:.0f} s).",
        "",
        "Per strategy, means over the outer folds' test rows: the mean probability against the "
        "fraud rate (`ratio`: how many times the rate the model says), the Brier score and the "
        "log loss of the classifier's probabilities (`raw`) and after Platt's calibration fitted "
        "on the inner validation windows' pooled out-of-sample probabilities, as `export` fits "
        "it on its validation slice (`cal`); the calibration's slope and intercept. The test "
        "fold is seen by neither the model nor the calibration. Calibration is increasing: the "
        "ranking, the AUPRC and the alerts are unchanged.",
        "",
        "| strategy | folds | fraud rate | mean p raw | ratio raw | mean p cal | ratio cal "
        "| Brier raw | Brier cal | log loss raw | log loss cal | slope | intercept |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in payload["summary"]:
        rate = s["fraud_rate"]
        lines.append(
            f"| {s['strategy']} | {s['folds']} | {rate:.5f} | {s['mean_p_raw']:.5f} | "
            f"{s['mean_p_raw'] / rate:.2f} | {s['mean_p_calibrated']:.5f} | "
            f"{s['mean_p_calibrated'] / rate:.2f} | {s['brier_raw']:.5f} | "
            f"{s['brier_calibrated']:.5f} | {s['log_loss_raw']:.5f} | "
            f"{s['log_loss_calibrated']:.5f} | {s['slope']:.3f} | {s['intercept']:+.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "experiments" / "default.yaml")
    parser.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import xgboost

    from pipeline.config import load_config

    cfg = load_config(args.config, args.overrides)
    unknown = [s for s in args.strategies if s not in cfg.strategies]
    if unknown:
        raise SystemExit(f"{args.config} has no strateg(ies) {unknown}: {list(cfg.strategies)}")
    started = time.perf_counter()
    rows = cells(cfg, args.strategies)
    payload = {
        "command": shlex.join(["python", "benchmarks/calibration.py", *(argv or sys.argv[1:])]),
        "commit": commit(),
        "machine": machine(np, xgboost),
        "seconds": time.perf_counter() - started,
        "summary": summary(rows, args.strategies),
        "cells": rows,
    }
    write_results(args.out, "calibration", payload, markdown(payload))


if __name__ == "__main__":
    main()
