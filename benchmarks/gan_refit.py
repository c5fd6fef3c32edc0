"""What does training the GAN once per fold cost? The refit reusing the selection GAN vs retraining.

The runner trains one GAN per fold, on the rows every validation window fits on, and the refit on
the whole training fold draws from it (`reuse`, the default). `retrain` is the earlier way: the
refit trains the GAN again on every row of the training fold, for the epochs the selection GAN's
two-sample tests chose. This runs `experiments/default.yaml` (strategies `none` and `cgan`) both
ways on the same folds into a throwaway store and writes, per way, the GAN's test AUPRC, its
realism (the quality report's C2ST AUC, 0.5 best; KS and TVD means) and its resampling seconds,
with the paired AUPRC difference:

    .venv/bin/python benchmarks/gan_refit.py [--set k=v ...]

Writes benchmarks/results/gan_refit.{json,md}.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine, throwaway_store, write_results  # noqa: E402

METRICS = (  # the child runs' metric names
    "average_precision",
    "quality/c2st_auc",
    "quality/ks_mean",
    "quality/tvd_mean",
    "resample_seconds",
)


def run(way: str, overrides: list[str]) -> object:
    from models.gan.oversampler import CGANOverSampler
    from pipeline.config import load_config
    from pipeline.runner import run_experiment

    reuse = CGANOverSampler.refit_params

    def retrain(self: CGANOverSampler) -> dict[str, object]:
        if getattr(self, "synthesizer_", None) is None:
            return {}
        return {"epochs": self.epoch_, "eval_every": 0, "checkpoint": None}

    CGANOverSampler.refit_params = reuse if way == "reuse" else retrain
    try:
        cfg = load_config(
            ROOT / "experiments" / "default.yaml", [*overrides, f"name=gan-refit-{way}"]
        )
        result = run_experiment(cfg)
    finally:
        CGANOverSampler.refit_params = reuse
    if result.failed:
        raise SystemExit("children failed:\n" + "\n".join(result.failed))
    return result.results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    import xgboost

    from pipeline import report

    throwaway_store(Path(tempfile.mkdtemp(prefix="fraudgan-gan-refit-")))
    strategies = (
        "strategies={none: {}, cgan: {sampling_strategy: 0.1, epochs: 1000, eval_every: 50}}"
    )
    overrides = [strategies, *args.overrides]
    started = time.perf_counter()
    frames = {way: run(way, overrides) for way in ("reuse", "retrain")}
    seconds = time.perf_counter() - started
    keys = ["fold", "seed"]
    gan = {w: f[f["strategy"] == "cgan"].set_index(keys) for w, f in frames.items()}
    paired = report.paired_test(
        gan["reuse"]["average_precision"],
        gan["retrain"]["average_precision"],
        ref_name="retrain",
        test_train_ratio=0.5,
    )
    ways = {w: {m: round(float(g[m].mean()), 4) for m in METRICS if m in g} for w, g in gan.items()}
    none = frames["reuse"][frames["reuse"]["strategy"] == "none"]["average_precision"].mean()
    payload = {
        "command": "python benchmarks/gan_refit.py " + shlex.join(sys.argv[1:]),
        "commit": commit(),
        "wall_seconds": round(seconds, 1),
        "overrides": overrides,
        "none_average_precision": round(float(none), 4),
        "ways": ways,
        "reuse_minus_retrain": {
            "diff": round(paired.diff, 4),
            "ci_low": round(paired.ci_low, 4),
            "ci_high": round(paired.ci_high, 4),
            "verdict": paired.verdict,
        },
        "machine": machine(xgboost),
    }
    lines = [
        f"`{payload['command'].strip()}` at commit {payload['commit']}: experiments/default.yaml, "
        f"none and cgan, both ways on the same folds; wall time {seconds / 60:.0f} min. "
        f"`none` AUPRC {none:.4f}.",
        "",
        "| refit's GAN | " + " | ".join(METRICS) + " |",
        "| --- |" + " ---: |" * len(METRICS),
        *[
            f"| {w} | " + " | ".join(f"{v.get(m, float('nan')):.4f}" for m in METRICS) + " |"
            for w, v in ways.items()
        ],
        "",
        f"reuse − retrain AUPRC: {paired.diff:+.4f} [{paired.ci_low:+.4f}, {paired.ci_high:+.4f}] "
        f"(n={paired.n}), {paired.verdict}.",
    ]
    write_results(args.out, "gan_refit", payload, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
