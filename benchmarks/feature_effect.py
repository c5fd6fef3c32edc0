"""Does a feature option pay? One strategy's test AUPRC with and without it, paired over folds.

Runs an experiment (default `experiments/decisive.yaml`: 8 simulator draws of 2 folds) twice
into a throwaway MLflow store, with the strategy `--strategy` (default `none`) only: once as the
YAML says, once with the `--with` overrides. Both launches build the same folds from the same
data, so each (fold, seed) gives a pair; the difference is tested as the comparison tests
strategies (`pipeline.report.statistics.paired_test` with the launch's variance correction):

    .venv/bin/python benchmarks/feature_effect.py --with features.merchant_entities=true \\
        [--config experiments/decisive.yaml] [--strategy none] [--set key=value ...] \\
        [--out benchmarks/results/feature_effect_merchant_entities.json] [--store DIR]

Writes the JSON (`command`, `commit`, `config`, `with`, `strategy`, `pairs`, `metric`, `baseline`
and `variant` means, `diff`, `ci_low`, `ci_high`, `p`, `test`, `verdict`, per pair values and the
seconds of each launch) and a Markdown table beside it.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, throwaway_store  # noqa: E402

METRIC = "average_precision"


def launch(config: Path, overrides: list[str]) -> tuple[Any, Any, float]:
    """Run `config` with `overrides`: (its per-(fold, seed) metric, its comparison, seconds)."""
    from pipeline.config import load_config
    from pipeline.runner import run_experiment

    cfg = load_config(config, overrides)
    started = time.perf_counter()
    result = run_experiment(cfg)
    seconds = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"feature_effect: children failed: {result.failed}")
    values = result.results.set_index(["fold", "seed"])[METRIC]
    return values, result.comparison, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "experiments" / "decisive.yaml")
    parser.add_argument("--with", dest="variant", action="append", required=True, metavar="K=V")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    parser.add_argument("--strategy", default="none")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--store",
        type=Path,
        help="folder of the MLflow store the launches go to (default: a new "
        "temporary one; never the project's mlruns/)",
    )
    args = parser.parse_args()

    from pipeline.report.statistics import paired_test

    throwaway_store(args.store or Path(tempfile.mkdtemp(prefix="fraudgan-feature-effect-")))
    # one strategy: the comparison's reference resampler is whichever there is
    base = [*args.overrides, f"strategies=[{args.strategy}]", "report.reference=auto"]
    reference, comparison, base_seconds = launch(args.config, base)
    values, _, variant_seconds = launch(args.config, [*base, *args.variant])
    correction = comparison.correction.term if comparison.correction else None
    tested = paired_test(values, reference, ref_name="without", correction=correction)
    pairs = sorted(set(values.index) & set(reference.index))
    out = {
        "command": "python benchmarks/feature_effect.py " + shlex.join(sys.argv[1:]),
        "commit": commit(),
        "config": str(args.config.resolve().relative_to(ROOT)),
        "with": args.variant,
        "set": args.overrides,
        "strategy": args.strategy,
        "metric": METRIC,
        "pairs": len(pairs),
        "baseline": round(float(reference.mean()), 4),
        "variant": round(float(values.mean()), 4),
        "diff": round(tested.diff, 4),
        "ci_low": round(tested.ci_low, 4),
        "ci_high": round(tested.ci_high, 4),
        "p": round(tested.p, 4),
        "test": tested.test,
        "verdict": tested.verdict,
        "correction_term": correction,
        "per_pair": [
            {
                "fold": int(f),
                "seed": int(s),
                "baseline": round(float(reference[(f, s)]), 4),
                "variant": round(float(values[(f, s)]), 4),
            }
            for f, s in pairs
        ],
        "seconds": {"baseline": round(base_seconds, 1), "variant": round(variant_seconds, 1)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(out))
    print(markdown(out))


def markdown(r: dict[str, Any]) -> str:
    """The result as a short Markdown page."""
    return (
        f"# Feature effect: {', '.join(r['with'])}\n\n"
        f"`{r['command']}` at commit {r['commit']}.\n\n"
        f"Strategy `{r['strategy']}` of `{r['config']}`"
        f"{' with ' + ', '.join(r['set']) if r['set'] else ''}, test {r['metric']} over "
        f"{r['pairs']} (fold, seed) pairs, without and with the option; the difference's 95 % "
        f"interval and p from `paired_test` ({r['test']}, variance correction term "
        f"{r['correction_term']:.4g}).\n\n"
        "| without | with | difference [95 % interval] | p | verdict |\n"
        "|---:|---:|---|---:|---|\n"
        f"| {r['baseline']:.4f} | {r['variant']:.4f} | {r['diff']:+.4f} "
        f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['p']:.3g} | {r['verdict']} |\n\n"
        f"Seconds: without {r['seconds']['baseline']}, with {r['seconds']['variant']}.\n"
    )


if __name__ == "__main__":
    main()
