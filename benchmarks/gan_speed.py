"""How fast the GAN's pieces are: transformer fit, GAN training rows/s, and (optionally) CTGAN.

    python benchmarks/gan_speed.py [--rows 300000] [--epochs 200] [--batch-size 500] [--seed 0]

1. `TabularTransformer.fit` on `--rows` x 30 numeric columns (skewed, multi-modal, integer).
2. The same on the simulator's feature table (`simulate` + `build_features`), when they exist.
3. `CGANSynthesizer.fit` on the simulator's features with every row but a held-out fifth of the
   fraud rows: wall time, rows/s, and the classifier two-sample AUC of generated fraud rows against
   the held-out real ones (0.5 is indistinguishable).
4. Where `ctgan` (the reference PyTorch CTGAN, optional `peers` extra) is importable, the same
   data, epochs and batch size through it; the wall-time ratio and its two-sample AUC. Skipped
   with a message otherwise.

Prints the figures and writes benchmarks/results/gan_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from models.cgan import CGANSynthesizer, c2st_auc  # noqa: E402
from models.transformer import TabularTransformer  # noqa: E402


def numeric_table(rows: int, seed: int) -> pd.DataFrame:
    """30 numeric columns: log-normal, bimodal, normal, uniform and integer counts."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for j in range(30):
        kind = j % 5
        if kind == 0:
            cols[f"c{j}"] = rng.lognormal(2, 1, rows)
        elif kind == 1:
            half = rows // 2
            cols[f"c{j}"] = np.r_[rng.normal(-3, 1, half), rng.normal(4, 0.5, rows - half)]
        elif kind == 2:
            cols[f"c{j}"] = rng.normal(size=rows)
        elif kind == 3:
            cols[f"c{j}"] = rng.random(rows)
        else:
            cols[f"c{j}"] = rng.poisson(3, rows)
    return pd.DataFrame(cols)


def simulator_features(rows: int, seed: int) -> tuple[pd.DataFrame, list[str], str] | None:
    """The simulator's model-input columns plus the label, or None before those modules exist."""
    try:
        from pipeline.data.schema import SIMULATOR_SCHEMA
        from pipeline.data.simulate import simulate
        from pipeline.features import build_features, feature_columns
    except ImportError:
        return None
    frame = build_features(simulate(rows, seed=seed), SIMULATOR_SCHEMA)
    numeric, categorical = feature_columns(frame, SIMULATOR_SCHEMA)
    label = SIMULATOR_SCHEMA.label
    return frame[numeric + categorical + [label]].reset_index(drop=True), categorical, label


def time_transformer(df: pd.DataFrame, categorical: list[str], seed: int) -> dict[str, float]:
    start = time.perf_counter()
    t = TabularTransformer(random_state=seed).fit(df, categorical)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    encoded = t.transform(df)
    transform = time.perf_counter() - start
    return {
        "rows": len(df),
        "columns": df.shape[1],
        "fit_seconds": round(fit, 2),
        "transform_seconds": round(transform, 2),
        "encoded_width": int(encoded.shape[1]),
    }


def numeric_matrix(df: pd.DataFrame, categorical: list[str], reference: pd.DataFrame) -> np.ndarray:
    """Continuous columns as they are, categories as their index among the reference's values."""
    out = []
    for col in df.columns:
        if col in categorical:
            cats = pd.Index(pd.unique(reference[col].dropna()))
            out.append(cats.get_indexer(df[col]).astype(float))
        else:
            out.append(df[col].to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(out)


def split_holdout(df: pd.DataFrame, label: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    fraud = np.flatnonzero(df[label].to_numpy() == 1)
    held = rng.choice(fraud, len(fraud) // 5, replace=False)
    mask = np.zeros(len(df), dtype=bool)
    mask[held] = True
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def bench_ours(
    train: pd.DataFrame,
    held: pd.DataFrame,
    categorical: list[str],
    label: str,
    args: argparse.Namespace,
) -> dict[str, float | int | None]:
    start = time.perf_counter()
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    if args.steps_per_epoch is not None:
        overrides["steps_per_epoch"] = args.steps_per_epoch
    gan = CGANSynthesizer(random_state=args.seed, **overrides).fit(train, label, categorical)
    wall = time.perf_counter() - start
    fake = gan.sample(len(held), label=1, seed=args.seed)
    features = [c for c in train.columns if c != label]
    auc = c2st_auc(
        numeric_matrix(held[features], categorical, train),
        numeric_matrix(fake[features], categorical, train),
        seed=args.seed,
    )
    return {
        "wall_seconds": round(wall, 1),
        "train_seconds": round(gan.train_seconds_, 1),
        "epochs_run": len(gan.history_.get("epoch", [])),
        "steps_per_epoch": gan.steps_per_epoch_,
        "rows_per_second": round(gan.rows_per_second_),
        "best_epoch": gan.best_epoch_,
        "c2st_auc_heldout_fraud": round(auc, 4),
        "encoded_width": gan.transformer_.output_dim_,
    }


def bench_ctgan(
    train: pd.DataFrame,
    held: pd.DataFrame,
    categorical: list[str],
    label: str,
    args: argparse.Namespace,
) -> dict[str, float] | str:
    try:
        from ctgan import CTGAN
    except ImportError:
        return "skipped: ctgan is not installed (pip install '.[peers]')"
    start = time.perf_counter()
    model = CTGAN(epochs=args.epochs, batch_size=args.batch_size)
    model.fit(train, discrete_columns=[*categorical, label])
    wall = time.perf_counter() - start
    fake = model.sample(len(held), condition_column=label, condition_value=1)
    features = [c for c in train.columns if c != label]
    auc = c2st_auc(
        numeric_matrix(held[features], categorical, train),
        numeric_matrix(fake[features], categorical, train),
        seed=args.seed,
    )
    return {"wall_seconds": round(wall, 1), "c2st_auc_heldout_fraud": round(auc, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--epochs", type=int, default=None, help="default: CGANConfig's")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gan_speed.json")
    args = parser.parse_args()
    if args.epochs is None:
        from models.cgan import CGANConfig

        args.epochs = CGANConfig().epochs

    results: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(f"transformer fit on {args.rows:,} x 30 numeric columns ...", flush=True)
    results["transformer_numeric"] = time_transformer(numeric_table(args.rows, args.seed), [], 0)
    print(json.dumps(results["transformer_numeric"]), flush=True)

    sim = simulator_features(args.rows, args.seed)
    if sim is None:
        print("simulator or features not available: GAN benchmarks skipped")
    else:
        df, categorical, label = sim
        results["transformer_simulator"] = time_transformer(
            df.drop(columns=[label]), categorical, 0
        )
        print("transformer on simulator features:", json.dumps(results["transformer_simulator"]))
        train, held = split_holdout(df, label, args.seed)
        results["data"] = {
            "train_rows": len(train),
            "train_fraud": int((train[label] == 1).sum()),
            "heldout_fraud": len(held),
        }
        print(f"training our CGAN ({args.epochs} epochs, batch {args.batch_size}) ...", flush=True)
        ours = bench_ours(train, held, categorical, label, args)
        results["cgan"] = ours
        print("ours:", json.dumps(ours), flush=True)
        peer = bench_ctgan(train, held, categorical, label, args)
        results["ctgan"] = peer
        if isinstance(peer, str):
            print("ctgan:", peer)
        else:
            results["ctgan_over_ours_wall_ratio"] = round(
                peer["wall_seconds"] / ours["wall_seconds"], 2
            )
            print("ctgan:", json.dumps(peer), "ratio", results["ctgan_over_ours_wall_ratio"])

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
