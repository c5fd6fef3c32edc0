"""Does refitting on the whole training fold help? AUPRC per strategy with and without refit.

Runs `experiments/default.yaml` twice on the same folds and seeds, into a throwaway MLflow store:
once scoring the model fitted on the fit part of each training fold (`validation.refit=false`),
once refitted on every row of the training fold with the trees the validation slice chose
(`validation.refit=true`, the default). Prints and writes, per strategy, the mean AUPRC of both,
the paired difference with its corrected 95 % interval and p-value, and the trees kept:

    .venv/bin/python benchmarks/refit.py [--rows 300000] [--seeds 0 1] [--strategies ...]

The GAN strategy is left out by default (its training dominates the time and has its own
benchmarks, `gan_speed.py` and `gan_uplift.py`). Writes benchmarks/results/refit.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, throwaway_store  # noqa: E402

DEFAULT_STRATEGIES = [
    "none",
    "class_weight",
    "threshold",
    "ros",
    "smote",
    "borderline",
    "adasyn",
    "smotenc",
]


def run(overrides: list[str]) -> pd.DataFrame:
    from pipeline.config import load_config
    from pipeline.runner import run_experiment

    cfg = load_config(ROOT / "experiments" / "default.yaml", overrides)
    result = run_experiment(cfg)
    if result.failed:
        raise SystemExit("children failed:\n" + "\n".join(result.failed))
    return result.results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    import xgboost

    from pipeline import report

    throwaway_store(Path(tempfile.mkdtemp(prefix="fraudgan-refit-")))
    base = [
        f"data.rows={args.rows}",
        f"split.seeds=[{', '.join(str(s) for s in args.seeds)}]",
        f"strategies=[{', '.join(args.strategies)}]",
        "name=refit-benchmark",
    ]
    started = time.perf_counter()
    frames = {
        refit: run([*base, f"validation.refit={str(refit).lower()}"]) for refit in (False, True)
    }
    seconds = time.perf_counter() - started

    from pipeline.config import load_config
    from pipeline.runner import prepare

    cfg = load_config(ROOT / "experiments" / "default.yaml", base)
    correction = prepare(cfg).folds.correction
    keys = ["strategy", "fold", "seed"]
    rows = []
    for strategy in args.strategies:
        a, b = (frames[r][frames[r]["strategy"] == strategy].set_index(keys) for r in (False, True))
        paired = report.paired_test(
            b["average_precision"],
            a["average_precision"],
            ref_name="no refit",
            correction=correction.term,
        )
        rows.append(
            {
                "strategy": strategy,
                "n": paired.n,
                "auprc_no_refit": a["average_precision"].mean(),
                "auprc_refit": b["average_precision"].mean(),
                "diff": paired.diff,
                "ci_low": paired.ci_low,
                "ci_high": paired.ci_high,
                "p": paired.p,
                "verdict": paired.verdict,
                "trees_mean": a["n_trees"].mean(),
                "trees_min": a["n_trees"].min(),
                "trees_max": a["n_trees"].max(),
            }
        )
    table = pd.DataFrame(rows)
    command = "python benchmarks/refit.py " + shlex.join(sys.argv[1:])
    lines = [
        f"`{command}`: {args.rows:,} simulated rows, {cfg.split.n_splits} stratified folds x "
        f"seeds {args.seeds}, {cfg.classifier.n_estimators} trees at most, the floor "
        f"{cfg.validation.min_trees_fraction:.0%} of them. Wall time {seconds:.0f} s.",
        "",
        "| strategy | n | AUPRC without refit | AUPRC with refit | refit − no refit [95% CI] "
        "| verdict | trees kept (mean, min-max) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {r['n']} | {r['auprc_no_refit']:.4f} | {r['auprc_refit']:.4f} "
            f"| {r['diff']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['verdict']} "
            f"| {r['trees_mean']:.0f} ({r['trees_min']:.0f}-{r['trees_max']:.0f}) |"
        )
    lines += [
        "",
        "Paired over the same (fold, seed); corrected resampled t-test (Nadeau & Bengio), "
        "p-values not adjusted for multiple comparisons.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "refit.md").write_text(text)
    payload = {
        "command": command,
        "commit": commit(),
        "machine": machine(xgboost),
        "wall_seconds": round(seconds, 1),
        "table": json.loads(table.to_json(orient="records")),
    }
    (args.out / "refit.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
