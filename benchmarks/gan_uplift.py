"""Does the GAN help the classifier? `cgan` and its variants against `none` and the resamplers.

    python benchmarks/gan_uplift.py --experiment default [--rows 300000] [--seeds 0 1]
    python benchmarks/gan_uplift.py --experiment default --choose   # today's defaults: the GAN chooses
    python benchmarks/gan_uplift.py --experiment temporal --tuned [--trials 12] [--choose]
    python benchmarks/gan_uplift.py ... --store DIR --resume PARENT_RUN_ID   # after an interruption
    python benchmarks/gan_uplift.py --from-results benchmarks/results/gan_uplift_default.json

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

By default every resampler and GAN variant adds synthetic fraud at 10 % of the legitimate rows
(`sampling_strategy` 0.1, the GAN's fixed default before it chose). With `--choose` the GAN
variants run at today's defaults instead: each chooses its share (0 included), weight and
checkpoint on the validation windows (`pipeline.augment`), and `smote_auto` (SMOTE choosing over
the same grid) joins the baselines; results go to `gan_uplift_<experiment>_choose.{json,md}`.

With `--tuned`, every strategy gets the same search budget (`--trials` trials on the validation
windows of each training fold, the classifier's space of the experiment plus each sampler's space);
the GAN variants search the share of synthetic rows, their weight and the generator checkpoint
(choice by the downstream classifier's validation AUPRC). A trial is kept only when it beats the
untuned setting beyond the windows' noise: the fixed share 0.1, or with `--choose` (today's
defaults) the strategy's own choice, share 0 included. Each child also scores its untuned setting
(`report.include_untuned`), so a tuned launch reports both comparisons on the same folds. Prints
and writes, per strategy, AUPRC, recall at 1 % false-positive rate and card precision@k (mean ±
95 % CI), the paired difference in AUPRC with `none` and with the reference resampler (chosen on
the validation windows), and the ablation, to
benchmarks/results/gan_uplift_<experiment>[_choose][_tuned].{json,md}, with the exact command.
`--from-results` rewrites them from an earlier results file (its children's metrics), running nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from benchmarks.scoring import commit, machine, throwaway_store  # noqa: E402

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
    from benchmarks.suite import CHOOSING  # the suite imports this module's `commit`

    strategies: dict[str, dict[str, Any]] = {name: {} for name in BASELINES}
    if args.choose:  # the same choice over the same grid, the fair match for the GAN's
        strategies.update({name: {"kind": kind, "choose": True} for name, kind in CHOOSING.items()})
    budget = {} if args.gan_epochs is None else {"epochs": args.gan_epochs}
    share = {} if args.choose else {"sampling_strategy": RATIO}
    for name, params in VARIANTS.items():
        strategies[name] = {"kind": "cgan", **share, **budget, **params}
    out = [f"data.rows={args.rows}", f"name=gan-uplift-{args.experiment}"]
    if args.experiment == "default":
        out.append(f"split.seeds=[{', '.join(str(s) for s in args.seeds)}]")
    out.append(f"strategies={json.dumps(strategies)}")
    if not args.tuned:  # the temporal experiment's YAML switches tuning on
        out.append("tuning.enabled=false")
    else:
        space = {name: RESAMPLER_SPACE for name in BASELINES if name not in ("none",)}
        if args.choose:
            space.update({name: RESAMPLER_SPACE for name in CHOOSING})
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


def cell(mean: float, low: float, high: float) -> str:
    return f"{mean:.3f} ± {(high - low) / 2:.3f}" if pd.notna(low) else f"{mean:.3f}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", choices=["default", "temporal"], default="default")
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--tuned", action="store_true")
    p.add_argument(
        "--choose",
        action="store_true",
        help="the GAN variants choose their share on validation (today's default), smote_auto too",
    )
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--gan-epochs", type=int, default=None, help="default: CGANConfig's")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument(
        "--store", type=Path, default=None, help="the MLflow store's folder (default: a new one)"
    )
    p.add_argument(
        "--resume", default=None, help="parent run id of an interrupted launch in --store"
    )
    p.add_argument(
        "--from-results",
        type=Path,
        default=None,
        help="rewrite the report of an earlier results file (.json) without running anything",
    )
    return p


def config(args: argparse.Namespace) -> Any:
    from pipeline.config import load_config

    return load_config(ROOT / "experiments" / f"{args.experiment}.yaml", overrides(args))


def main() -> None:
    options = parser()
    args = options.parse_args()
    if args.from_results is not None:
        payload = json.loads(args.from_results.read_text())
        # the launch's own options, from the command it recorded
        launched = options.parse_args(shlex.split(payload["command"])[2:])
        payload["report_command"] = "python benchmarks/gan_uplift.py " + shlex.join(sys.argv[1:])
        write_report(payload, config(launched), launched, args.from_results.parent)
        return
    if args.resume and args.store is None:
        options.error("--resume needs the --store folder of the interrupted launch")

    import keras
    import xgboost

    store = args.store or Path(tempfile.mkdtemp(prefix="fraudgan-uplift-"))
    print(f"MLflow store: {store} (resume with --store {store} --resume PARENT_RUN_ID)")
    throwaway_store(store)
    from pipeline.runner import run_experiment

    cfg = config(args)
    started = time.perf_counter()
    result = run_experiment(cfg, resume=args.resume)
    payload = {
        "command": "python benchmarks/gan_uplift.py " + shlex.join(sys.argv[1:]),
        "commit": commit(),
        "machine": machine(xgboost, keras),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "failed": result.failed,
        "correction": dataclasses.asdict(result.comparison.correction),
        "children": json.loads(result.results.to_json(orient="records")),
    }
    write_report(payload, cfg, args, args.out)


def strategy_rows(comparison: Any) -> list[dict[str, Any]]:
    """One row per strategy: n, each metric's mean ± CI half-width, the paired differences."""
    table = comparison.table.set_index("strategy")
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
        rows.append(row)
    return rows


def ablation(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each GAN option against the GAN at its defaults, on the same (fold, seed)."""
    keys = ["fold", "seed"]
    base = frame[frame["strategy"] == "cgan"].set_index(keys)["average_precision"]
    out = []
    for name in VARIANTS:
        if name == "cgan":
            continue
        values = frame[frame["strategy"] == name].set_index(keys)["average_precision"]
        diff = (values - base).dropna()
        out.append(
            {
                "variant": name,
                "options": json.dumps(VARIANTS[name]),
                "auprc_minus_cgan": round(float(diff.mean()), 4),
                "folds_better": int((diff > 0).sum()),
                "n": int(diff.size),
            }
        )
    return out


def untuned(frame: pd.DataFrame) -> pd.DataFrame | None:
    """The children's results before tuning (their `untuned_` metrics), or None untuned."""
    from pipeline.report.comparison import ID_COLUMNS
    from pipeline.runner import UNTUNED_PREFIX

    columns = {c: c[len(UNTUNED_PREFIX) :] for c in frame if c.startswith(UNTUNED_PREFIX)}
    if not columns:
        return None
    return pd.concat(
        [frame[list(ID_COLUMNS)], frame[list(columns)].rename(columns=columns)], axis=1
    )


def section(
    title: str, frame: pd.DataFrame, cfg: Any, correction: Any
) -> tuple[list[str], dict[str, Any]]:
    """A comparison of `frame` as markdown lines, and as records for the results file."""
    from pipeline.runner import build_comparison

    comparison = build_comparison(frame, cfg, correction)
    rows = strategy_rows(comparison)
    steps = ablation(frame)
    headers = ["strategy", "n", *METRICS.values(), "Δ AUPRC vs none", "Δ AUPRC vs reference"]
    keys = ["strategy", "n", *METRICS, "vs_baseline", "vs_reference"]
    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(" --- " for _ in headers) + "|",
        *("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows),
        "",
        comparison.summary(),
        "",
        "Ablation (AUPRC minus `cgan`'s on the same folds):",
        "",
        "| variant | options | Δ AUPRC vs cgan | folds better |",
        "|---|---|---:|---:|",
        *(
            f"| {a['variant']} | `{a['options']}` | {a['auprc_minus_cgan']:+.4f} | "
            f"{a['folds_better']}/{a['n']} |"
            for a in steps
        ),
        "",
        *comparison.notes(),
        "",
    ]
    records = {
        "table": json.loads(comparison.table.to_json(orient="records")),
        "ablation": steps,
    }
    return lines, records


def write_report(
    payload: dict[str, Any], cfg: Any, launched: argparse.Namespace, out: Path
) -> None:
    """Prints and writes the results' markdown and JSON (tuned runs: tuned and untuned);
    `launched`: the launch's options."""
    from pipeline.runner import prepare
    from pipeline.split import VarianceCorrection

    tuned = launched.tuned
    frame = pd.DataFrame(payload["children"])
    command = payload["command"]
    if "correction" in payload:
        correction = VarianceCorrection(**payload["correction"])
    else:  # a results file written before the folds carried their correction
        correction = prepare(cfg).folds.correction
    resumed = " (this launch: the children its interrupted launch had not finished)"
    lines = [
        f"`{command}`: {len(frame)} child runs in {payload['wall_seconds'] / 60:.0f} min"
        f"{resumed if '--resume' in command else ''} "
        f"({cfg.name}, {'tuned' if tuned else 'untuned'}"
        f"{', the GAN variants choosing their share' if launched.choose else ''}, "
        f"commit {payload['commit']}).",
        "",
    ]
    if "report_command" in payload:
        lines[-1:-1] = [f"This report: `{payload['report_command']}` at commit {commit()}."]
    if tuned:
        body, records = section(
            f"Tuned: {cfg.tuning.n_trials} trials per strategy and fold", frame, cfg, correction
        )
        before = untuned(frame)
        if before is not None:
            more, untuned_records = section(
                "Untuned: the same children at their configured settings", before, cfg, correction
            )
            body += more
            records["untuned"] = untuned_records
    else:
        body, records = section("Untuned", frame, cfg, correction)
    text = "\n".join(lines + body)
    stem = f"gan_uplift_{cfg.name.removeprefix('gan-uplift-')}"
    stem += ("_choose" if launched.choose else "") + ("_tuned" if tuned else "")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(text)
    keep = ("command", "commit", "machine", "wall_seconds", "report_command")
    result = {
        **{k: payload[k] for k in keep if k in payload},
        "variants": VARIANTS,
        **records,
        "failed": payload.get("failed", []),
        "children": payload["children"],
    }
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
