"""What `classifier.max_categories` costs and saves the classifier on a column of thousands of
categories.

    python benchmarks/classifier_categories.py [--rows 60000] [--categories 5000] [--folds 5]
        [--caps 100 20]

The simulator's model-input columns plus the `merchant_name` column of `benchmarks/wide_categories.py`
(`--categories` names of Zipf-like frequencies; half the fraud rows at 40 rare names of their
own, a signal that lives in rare values). On stratified folds, `none`'s pipeline
(`models.classifier.build_pipeline`, `experiments/default.yaml`'s XGBoost settings, every tree
kept) is fitted once per fold with a one-hot column per category and once per `--caps` value:
the one-hot width, the fit's seconds, and the test folds' AUPRC, each cap's difference from the
uncapped fits paired over the folds with its 95 % interval (t with Nadeau and Bengio's
correction for folds that share training rows). Also how many of the 40 fraud names each cap
pools. Writes benchmarks/results/classifier_categories.{json,md} with the exact command and
commit.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `models`, imported next, sets TensorFlow's environment

from benchmarks.gan_speed import simulator_features  # noqa: E402
from benchmarks.scoring import commit, machine, write_results  # noqa: E402
from benchmarks.wide_categories import COLUMN, with_names  # noqa: E402
from models.classifier import build_pipeline, category_cardinalities  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.evaluate import average_precision  # noqa: E402
from pipeline.report.statistics import paired_test  # noqa: E402

FRAUD_NAMES = 40
"""The rare names `with_names` gives half the fraud rows (the last 40 of the column's names)."""


def one_fit(
    train: pd.DataFrame,
    test: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    label: str,
    cap: int | None,
    xgb: dict[str, object],
    seed: int,
) -> dict[str, float]:
    """`none`'s pipeline fitted on `train` with the cap: width, seconds, test AUPRC."""
    pipe = build_pipeline(
        numeric,
        categorical,
        sampler=None,
        encoding="onehot",
        xgb_params=xgb,
        cardinalities=category_cardinalities(train, categorical, cap),
        random_state=seed,
        max_categories=cap,
    )
    X, y = train.drop(columns=label), train[label].to_numpy()
    start = time.perf_counter()
    pipe.fit(X, y)
    seconds = time.perf_counter() - start
    p = pipe.predict_proba(test.drop(columns=label))[:, 1]
    width = pipe.named_steps["preprocess"].transform(X.head(1)).shape[1]
    return {
        "one_hot_width": int(width),
        "fit_seconds": round(seconds, 2),
        "auprc": round(average_precision(test[label].to_numpy(), p), 4),
    }


def pooled_fraud_names(train: pd.DataFrame, categories: int, cap: int) -> int:
    """How many of the fraud names a cap of `cap` leaves without a column of their own."""
    kept = set(train[COLUMN].value_counts().index[: cap - 1])
    names = {f"name{i:05d}" for i in range(categories - FRAUD_NAMES, categories)}
    return len(names - kept)


def main(argv: list[str] | None = None) -> None:
    from sklearn.model_selection import StratifiedKFold

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--categories", type=int, default=5_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--caps", type=int, nargs="+", default=[100, 20])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if any(cap < 2 for cap in args.caps):
        parser.error("--caps: each cap must be an integer >= 2 (classifier.max_categories)")

    table, categorical, label, _ = simulator_features(args.rows, args.seed)
    table = with_names(table, label, args.categories, args.seed)
    categorical = [*categorical, COLUMN]
    numeric = [c for c in table.columns if c not in (*categorical, label)]
    classifier = load_config(ROOT / "experiments" / "default.yaml").classifier
    xgb = {**classifier.xgb_params(), "early_stopping_rounds": None, "n_jobs": None}
    settings: list[int | None] = [None, *args.caps]
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    runs = []
    for fold, (train_idx, test_idx) in enumerate(folds.split(table, table[label])):
        train, test = table.iloc[train_idx], table.iloc[test_idx]
        for cap in settings:
            run = {
                "fold": fold,
                "max_categories": cap,
                **one_fit(train, test, numeric, categorical, label, cap, xgb, args.seed),
                "pooled_fraud_names": 0
                if cap is None
                else pooled_fraud_names(train, args.categories, cap),
            }
            runs.append(run)
            print(run, flush=True)
    frame = pd.DataFrame(runs)
    frame["setting"] = frame["max_categories"].map(lambda c: "uncapped" if pd.isna(c) else int(c))
    by = {s: g.set_index("fold") for s, g in frame.groupby("setting", sort=False)}
    correction = 1 / (args.folds - 1)  # n_test / n_train of k-fold
    summary = {}
    for setting, g in by.items():
        row = {
            "one_hot_width": int(g["one_hot_width"].median()),
            "fit_seconds": round(float(g["fit_seconds"].median()), 2),
            "auprc": round(float(g["auprc"].mean()), 4),
            "pooled_fraud_names": int(g["pooled_fraud_names"].median()),
        }
        if setting != "uncapped":
            d = paired_test(
                g["auprc"], by["uncapped"]["auprc"], ref_name="uncapped", correction=correction
            )
            row.update(
                delta_vs_uncapped=round(d.diff, 4),
                ci_low=round(d.ci_low, 4),
                ci_high=round(d.ci_high, 4),
                p=round(d.p, 4),
                fit_seconds_ratio=round(
                    float(g["fit_seconds"].median() / by["uncapped"]["fit_seconds"].median()), 3
                ),
            )
        summary[str(setting)] = row
    import keras
    import tensorflow

    payload = {
        "command": "python benchmarks/classifier_categories.py " + shlex.join(argv),
        "commit": commit(),
        "machine": machine(keras, tensorflow),
        "rows": len(table),
        "folds": args.folds,
        "categories": int(table[COLUMN].nunique()),
        "xgboost": {k: v for k, v in xgb.items() if v is not None},
        "runs": runs,
        "summary": summary,
    }
    lines = [
        "# The classifier on a column of thousands of categories, with and without a cap",
        "",
        f"`{payload['command'].strip()}` at commit {payload['commit']} on "
        f"{payload['machine']['cpus']} CPU cores: {len(table):,} rows of the simulator's features "
        f"plus `{COLUMN}` ({payload['categories']:,} names; half the fraud rows at "
        f"{FRAUD_NAMES} rare names of their own), stratified {args.folds}-fold; `none`'s pipeline "
        "with `experiments/default.yaml`'s XGBoost settings, every tree kept. Fit seconds: the "
        "median over the folds; AUPRC: the mean over the test folds; Δ: capped − uncapped, "
        "paired over the folds [95 % interval, t with Nadeau and Bengio's correction].",
        "",
        "| max_categories | one-hot width | fit s | AUPRC | Δ AUPRC vs uncapped | fraud names pooled |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setting, row in summary.items():
        delta = (
            "reference"
            if setting == "uncapped"
            else f"{row['delta_vs_uncapped']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"
        )
        lines.append(
            f"| {setting} | {row['one_hot_width']:,} | {row['fit_seconds']:.1f} | "
            f"{row['auprc']:.4f} | {delta} | {row['pooled_fraud_names']} of {FRAUD_NAMES} |"
        )
    write_results(args.out, "classifier_categories", payload, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
