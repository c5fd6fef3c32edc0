"""What a categorical column of thousands of categories costs the GAN, with and without the cap.

    python benchmarks/wide_categories.py [--rows 60000] [--categories 5000] [--steps 100]

The simulator's model-input columns plus a `merchant_name` column of `--categories` categories
(Zipf-like frequencies, fraud at a few dozen names of its own, as a zip code or a merchant name
is): our `CGANSynthesizer` trains `--steps` generator steps (model selection off) once at its
defaults (`max_categories` 100: the rarest categories share one one-hot slot) and once with a
slot per category (`max_categories` above the column's count). Both in one run: the encoded
width, the training rows/s and their ratio, and the C2ST AUC of each one's generated fraud rows
against held-out real fraud rows (`models.two_sample.c2st_auc`, after a few steps only: a check
that the capped rows are no less real, not a measure of the trained GAN). Writes
benchmarks/results/wide_categories.{json,md} with the exact command and commit.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `models`, imported next, sets TensorFlow's environment

from benchmarks.gan_speed import simulator_features, split_holdout  # noqa: E402
from benchmarks.scoring import commit, machine, write_results  # noqa: E402
from models.gan.config import CGANConfig  # noqa: E402
from models.two_sample import c2st_auc  # noqa: E402

COLUMN = "merchant_name"


def with_names(table: pd.DataFrame, label: str, categories: int, seed: int) -> pd.DataFrame:
    """`table` with a text column of `categories` names: Zipf-like among legitimate rows, fraud
    at 40 names of its own half the time."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, categories + 1)
    names = rng.choice(categories, len(table), p=weights / weights.sum())
    fraud = table[label].to_numpy() == 1
    own = rng.integers(categories - 40, categories, len(table))
    names = np.where(fraud & (rng.random(len(table)) < 0.5), own, names)
    return table.assign(**{COLUMN: [f"name{i:05d}" for i in names]})


def one_fit(
    train: pd.DataFrame,
    held_out: pd.DataFrame,
    categorical: list[str],
    label: str,
    rules: object,
    config: CGANConfig,
    seed: int,
) -> dict[str, float]:
    from models.gan.synthesizer import CGANSynthesizer

    gan = CGANSynthesizer(config, random_state=seed).fit(
        train, label, categorical, target_label=1, rules=rules
    )
    fake = gan.sample(len(held_out), label=1, seed=seed)
    columns = [c for c in held_out.columns if c != label]
    return {
        "encoded_width": int(gan.transformer_.output_dim_),
        "train_seconds": round(float(gan.train_seconds_), 2),
        "rows_per_second": round(float(gan.rows_per_second_), 1),
        "pooled_categories": len(gan.transformer_.pooled_.get(COLUMN, [])),
        "c2st_auc": round(
            c2st_auc(held_out[columns], fake[columns], categorical=categorical, random_state=seed),
            4,
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--categories", type=int, default=5_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    table, categorical, label, rules = simulator_features(args.rows, args.seed)
    table = with_names(table, label, args.categories, args.seed)
    categorical = [*categorical, COLUMN]
    train, held_out = split_holdout(table, label, args.seed)
    seen = int(train[COLUMN].nunique())
    base = {"epochs": 1, "steps_per_epoch": args.steps, "eval_every": 0}
    runs = {}
    for name, cap in (("capped", CGANConfig.max_categories), ("uncapped", seen + 1)):
        config = CGANConfig(**base, max_categories=cap)
        runs[name] = {
            "max_categories": cap,
            **one_fit(train, held_out, categorical, label, rules, config, args.seed),
        }
        print(name, runs[name], flush=True)
    import keras
    import tensorflow

    speedup = runs["capped"]["rows_per_second"] / runs["uncapped"]["rows_per_second"]
    payload = {
        "command": "python benchmarks/wide_categories.py " + shlex.join(argv),
        "commit": commit(),
        "machine": machine(keras, tensorflow),
        "rows": len(table),
        "train_rows": len(train),
        "held_out_fraud": len(held_out),
        "categories_in_training": seen,
        "steps": args.steps,
        "runs": runs,
        "capped_rows_per_second_ratio": round(speedup, 1),
    }
    lines = [
        "# A categorical column of thousands of categories in the GAN",
        "",
        f"`{payload['command'].strip()}` at commit {payload['commit']} on "
        f"{payload['machine']['cpus']} CPU cores: {len(train):,} training rows of the simulator's "
        f"features plus `{COLUMN}` ({seen:,} categories in training), {args.steps} generator "
        "steps each, model selection off; C2ST of generated fraud rows against "
        f"{len(held_out):,} held-out real ones after so few steps.",
        "",
        "| run | max_categories | encoded width | pooled categories | rows/s | C2ST |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {name} | {r['max_categories']:,} | {r['encoded_width']:,} | "
            f"{r['pooled_categories']:,} | {r['rows_per_second']:,.0f} | {r['c2st_auc']:.3f} |"
            for name, r in runs.items()
        ],
        "",
        f"The capped GAN trains {speedup:.1f} times as many rows per second.",
    ]
    write_results(args.out, "wide_categories", payload, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
