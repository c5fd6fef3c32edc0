"""Does the GAN help the classifier? `cgan` and its variants against `none` and the resamplers.

    python benchmarks/gan_uplift.py --experiment default [--rows 300000] [--seeds 0 1]
    python benchmarks/gan_uplift.py --experiment temporal --tuned [--trials 12]
    python benchmarks/gan_uplift.py ... --store DIR --resume PARENT_RUN_ID   # after an interruption

Runs an experiment of `experiments/` (the same folds for every strategy) into a throwaway MLflow
store with `none`, `class_weight`, the resamplers and an ablation of the GAN's downstream-aware
options, each switched on alone and all together:

- `cgan`: the GAN at its defaults;
- `cgan_aux`: the auxiliary classifier loss (`aux_weight`);
- `cgan_soft`: soft augmentation, synthetic rows at `synthetic_weight` 0.3;
- `cgan_filter`: the realism filter (`filter_realism` 0.3) and the boundary filter
  (`filter_easy` 0.3);
- `cgan_clusters`: conditioned on 4 clusters of the fraud rows;
- `cgan_all`: all of the above.

With `--tuned`, every strategy gets the same search budget (`--trials` trials on the validation
slice of each training fold, the classifier's space of the experiment plus each sampler's space);
the GAN variants search the share of synthetic rows, their weight and the generator checkpoint
(choice by the downstream classifier's validation AUPRC), and the untuned result is kept beside
the tuned one (`report.include_untuned`). Prints and writes, per strategy, AUPRC, recall at 1 %
false-positive rate and card precision@k (mean ± 95 % CI), the paired difference in AUPRC with
`none` and with the reference resampler (chosen on the validation slices), and the ablation, to
benchmarks/results/gan_uplift_<experiment>[_tuned].{json,md}, with the exact command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import machine, throwaway_store  # noqa: E402

BASELINES = ["none", "class_weight", "ros", "smote", "borderline", "smotenc"]
RATIO = 0.1
VARIANTS: dict[str, dict[str, Any]] = {
    "cgan": {},
    "cgan_aux": {"aux_weight": 1.0},
    "cgan_soft": {"synthetic_weight": 0.3},
    "cgan_filter": {"filter_realism": 0.3, "filter_easy": 0.3},
    "cgan_clusters": {"clusters": 4},
    "cgan_all": {
        "aux_weight": 1.0,
        "synthetic_weight": 0.3,
        "filter_realism": 0.3,
        "filter_easy": 0.3,
        "clusters": 4,
    },
}
RESAMPLER_SPACE = {"sampling_strategy": {"low": 0.005, "high": 0.3, "log": True}}
GAN_SPACE = {
    "sampling_strategy": {"low": 0.005, "high": 0.3, "log": True},
    "synthetic_weight": {"low": 0.05, "high": 1.0, "log": True},
    "checkpoint": {"low": 0.2, "high": 1.0},
}
METRICS = {
    "average_precision": "AUPRC",
    "recall_at_fpr_1pct": "recall@1% FPR",
    "card_precision_at_k": "CP@k",
}


def overrides(args: argparse.Namespace) -> list[str]:
    strategies = {name: {} for name in BASELINES}
    budget = {} if args.gan_epochs is None else {"epochs": args.gan_epochs}
    for name, params in VARIANTS.items():
        strategies[name] = {"kind": "cgan", "sampling_strategy": RATIO, **budget, **params}
    out = [f"data.rows={args.rows}", f"name=gan-uplift-{args.experiment}"]
    if args.experiment == "default":
        out.append(f"split.seeds=[{', '.join(str(s) for s in args.seeds)}]")
    out.append(f"strategies={json.dumps(strategies)}")
    if not args.tuned:  # the temporal experiment's YAML switches tuning on
        out.append("tuning.enabled=false")
    else:
        space = {name: RESAMPLER_SPACE for name in BASELINES if name not in ("none",)}
        space["class_weight"] = {"scale_pos_weight": {"low": 1.0, "high": 300.0, "log": True}}
        space.update({name: GAN_SPACE for name in VARIANTS})
        out += [
            "tuning.enabled=true",
            f"tuning.n_trials={args.trials}",
            f"tuning.sampler_space={json.dumps(space)}",
            "report.include_untuned=true",
        ]
        if args.experiment == "default":  # the temporal experiment has its classifier space
            out.append(
                "tuning.classifier_space={n_estimators: {low: 100, high: 400}, "
                "max_depth: {low: 3, high: 8}, learning_rate: {low: 0.03, high: 0.3, log: true}}"
            )
    return out


def commit() -> str:
    """The checkout's commit, `+changes` when its tracked files differ from it."""
    import subprocess

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def cell(mean: float, low: float, high: float) -> str:
    return f"{mean:.3f} ± {(high - low) / 2:.3f}" if pd.notna(low) else f"{mean:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=["default", "temporal"], default="default")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--tuned", action="store_true")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--gan-epochs", type=int, default=None, help="default: CGANConfig's")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--store", type=Path, default=None, help="the MLflow store's folder (default: a new one)"
    )
    parser.add_argument(
        "--resume", default=None, help="parent run id of an interrupted launch in --store"
    )
    args = parser.parse_args()
    if args.resume and args.store is None:
        parser.error("--resume needs the --store folder of the interrupted launch")

    import keras
    import xgboost

    store = args.store or Path(tempfile.mkdtemp(prefix="fraudgan-uplift-"))
    print(f"MLflow store: {store} (resume with --store {store} --resume PARENT_RUN_ID)")
    throwaway_store(store)
    from pipeline.config import load_config
    from pipeline.runner import run_experiment

    cfg = load_config(ROOT / "experiments" / f"{args.experiment}.yaml", overrides(args))
    started = time.perf_counter()
    result = run_experiment(cfg, resume=args.resume)
    seconds = time.perf_counter() - started
    comparison = result.comparison
    table = comparison.table.set_index("strategy")
    frame = result.results

    rows = []
    for strategy in table.index:
        r = table.loc[strategy]
        row: dict[str, Any] = {"strategy": strategy, "n": int(r["n"])}
        for metric in METRICS:
            if f"{metric}_mean" in r:
                row[metric] = cell(
                    r[f"{metric}_mean"], r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]
                )
        for vs in ("vs_baseline", "vs_reference"):
            if pd.notna(r.get(f"{vs}_diff")):
                row[vs] = (
                    f"{r[f'{vs}_diff']:+.3f} [{r[f'{vs}_ci_low']:+.3f}, {r[f'{vs}_ci_high']:+.3f}] "
                    f"{r[f'{vs}_verdict']}"
                )
        if "untuned_average_precision" in frame:
            untuned = frame.loc[frame["strategy"] == strategy, "untuned_average_precision"]
            row["AUPRC untuned"] = f"{untuned.mean():.3f}"
        rows.append(row)

    # the ablation: each GAN option against the GAN at its defaults, on the same folds
    keys = ["fold", "seed"]
    base = frame[frame["strategy"] == "cgan"].set_index(keys)["average_precision"]
    ablation = []
    for name in VARIANTS:
        if name == "cgan":
            continue
        values = frame[frame["strategy"] == name].set_index(keys)["average_precision"]
        diff = (values - base).dropna()
        ablation.append(
            {
                "variant": name,
                "options": json.dumps(VARIANTS[name]),
                "auprc_minus_cgan": round(float(diff.mean()), 4),
                "folds_better": int((diff > 0).sum()),
                "n": int(diff.size),
            }
        )

    command = "python benchmarks/gan_uplift.py " + shlex.join(sys.argv[1:])
    headers = ["strategy", "n", *METRICS.values(), "Δ AUPRC vs none", "Δ AUPRC vs reference"]
    keys_out = ["strategy", "n", *METRICS, "vs_baseline", "vs_reference"]
    if any("AUPRC untuned" in r for r in rows):
        headers.append("AUPRC untuned")
        keys_out.append("AUPRC untuned")
    resumed = " (this launch: the children its interrupted launch had not finished)"
    lines = [
        f"`{command}`: {len(frame)} child runs in {seconds / 60:.0f} min"
        f"{resumed if args.resume else ''} "
        f"({result.experiment_name}, {'tuned' if args.tuned else 'untuned'}, "
        f"commit {commit()}).",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(" --- " for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys_out) + " |" for r in rows]
    lines += [
        "",
        comparison.summary(),
        "",
        "Ablation (AUPRC minus `cgan`'s on the same folds):",
        "",
    ]
    lines += ["| variant | options | Δ AUPRC vs cgan | folds better |", "|---|---|---:|---:|"]
    lines += [
        f"| {a['variant']} | `{a['options']}` | {a['auprc_minus_cgan']:+.4f} | "
        f"{a['folds_better']}/{a['n']} |"
        for a in ablation
    ]
    lines += ["", *comparison.notes()]
    text = "\n".join(lines) + "\n"
    print(text)
    stem = f"gan_uplift_{args.experiment}{'_tuned' if args.tuned else ''}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text)
    payload = {
        "command": command,
        "commit": commit(),
        "machine": machine(xgboost, keras),
        "wall_seconds": round(seconds, 1),
        "variants": VARIANTS,
        "table": json.loads(comparison.table.to_json(orient="records")),
        "ablation": ablation,
        "failed": result.failed,
        "children": json.loads(frame.to_json(orient="records")),
    }
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
