"""How realistic and how fast: our GAN, SMOTENC and CTGAN on the same simulator rows.

    python benchmarks/gan_speed.py [--rows 300000] [--seed 0] [--epochs N] [--ctgan-epochs N]

1. `TabularTransformer.fit` on `--rows` x 30 numeric columns, and on the simulator's features.
2. The simulator's feature table (`simulate` + `build_features`, the model's input columns):
   a fifth of its fraud rows is held out; every other row is training data. The C2ST of real
   training fraud rows against the held-out ones is the floor (`real_floor`).
3. Our `CGANSynthesizer` (with the feature rules) on the training rows: wall time, training
   rows/s, and the C2ST AUC of generated fraud rows against the held-out real ones
   (`models.two_sample.c2st_auc`, the quality report's test; 0.5 = indistinguishable), the mean
   over `--repeats` generated samples of the held-out size; the share of generated rows that
   break a feature rule. Once at its defaults (or `--epochs`), once with `--short-epochs`: the
   end-to-end speed at a C2ST at least as good as CTGAN's.
4. SMOTENC on the same training rows as the SMOTE strategies see them (standardised numbers,
   category codes), its rows mapped back to the columns (integers rounded): the same C2ST.
5. CTGAN (the reference PyTorch implementation, the `peers` extra) on the same training rows
   with the same budget of training rows processed (its epochs are passes over all of them, so
   at least one), asked for fraud rows: the same C2ST, wall time, rows/s. Skipped with a message
   where `ctgan` is not importable. Install it apart from the project's environment (CTGAN's
   `rdt` needs pandas < 3; the CPU build of PyTorch avoids GBs of CUDA wheels):

       make peers   # .venv-peers: torch (CPU) + the project with the peers extra
       .venv-peers/bin/python benchmarks/gan_speed.py

6. Threads (`threads`): `--threads-runs` interleaved pairs of child processes, each fitting our GAN
   for `--threads-epochs` epochs on `--threads-rows` simulator rows, one with one thread per
   TensorFlow op (`TF_NUM_INTRAOP_THREADS=1`, what importing `models` sets by default) and one with
   TensorFlow's default (`TF_NUM_INTRAOP_THREADS=0`): training rows/s of each run, the medians and
   their ratio, measured in the same run, and the C2ST of the epoch each run kept on its own
   held-out rows (`--threads-runs 0` skips it).

Prints the figures and writes benchmarks/results/gan_speed.json with the exact command.

    python benchmarks/gan_speed.py --against REV [REV ...] [--against-runs 3] --out FILE

instead compares this checkout's GAN with those of the commits REV (temporary git worktrees):
`--against-runs` interleaved rounds of the same child fits as in 6., one in each tree, at one
thread per op: rows/s, CPU seconds of each child (user + system: what the fit costs whether the
machine gives it one core or two) and the kept epoch's C2ST of each run, medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `models`, imported next, sets TensorFlow's environment

from benchmarks.scoring import commit  # noqa: E402
from models.gan.config import CGANConfig  # noqa: E402
from models.transformer import TabularTransformer  # noqa: E402
from models.two_sample import c2st_auc  # noqa: E402


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


def simulator_features(rows: int, seed: int) -> tuple[pd.DataFrame, list[str], str, object]:
    """The simulator's model-input columns plus the label, and their feature rules."""
    from pipeline.data.schema import SIMULATOR_SCHEMA
    from pipeline.data.simulate import simulate
    from pipeline.features import build_features, feature_columns, feature_rules

    frame = build_features(simulate(rows, seed=seed), SIMULATOR_SCHEMA)
    numeric, categorical = feature_columns(frame, SIMULATOR_SCHEMA)
    label = SIMULATOR_SCHEMA.label
    rules = feature_rules(
        categorical + numeric, amount=SIMULATOR_SCHEMA.amount, windows_days=(1, 7, 30)
    )
    table = frame[categorical + numeric + [label]].reset_index(drop=True)
    return table, categorical, label, rules


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


def split_holdout(df: pd.DataFrame, label: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    fraud = np.flatnonzero(df[label].to_numpy() == 1)
    held = rng.choice(fraud, len(fraud) // 5, replace=False)
    mask = np.zeros(len(df), dtype=bool)
    mask[held] = True
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def realism(
    held: pd.DataFrame, draw: object, categorical: list[str], repeats: int, seed: int
) -> dict[str, float]:
    """C2ST AUC of `repeats` generated samples (each the held-out size) against the held-out
    real rows: mean, standard deviation, and each value."""
    aucs = [
        c2st_auc(held, draw(len(held), seed + r), categorical=categorical, random_state=seed + r)
        for r in range(repeats)
    ]
    return {
        "c2st_auc_mean": round(float(np.mean(aucs)), 4),
        "c2st_auc_std": round(float(np.std(aucs)), 4),
        "c2st_aucs": [round(a, 4) for a in aucs],
    }


def bench_ours(
    train: pd.DataFrame,
    held: pd.DataFrame,
    categorical: list[str],
    label: str,
    rules: object,
    args: argparse.Namespace,
    epochs: int | None,
) -> tuple[dict[str, object], int]:
    from models.gan.synthesizer import CGANSynthesizer

    overrides = {} if epochs is None else {"epochs": epochs}
    start = time.perf_counter()
    gan = CGANSynthesizer(random_state=args.seed, **overrides).fit(
        train, label, categorical, rules=rules
    )
    wall = time.perf_counter() - start
    features = [c for c in train.columns if c != label]

    def draw(n: int, seed: int) -> pd.DataFrame:
        return gan.sample(n, label=1, seed=seed)[features]

    sample = draw(20_000, args.seed + 100)
    rows_processed = gan.epochs_run_ * gan.steps_per_epoch_ * gan.config.batch_size
    result = {
        "config": {k: str(v) for k, v in vars(gan.config).items()},
        "wall_seconds": round(wall, 1),
        "train_seconds": round(gan.train_seconds_, 1),
        "epochs_run": gan.epochs_run_,
        "steps_per_epoch": gan.steps_per_epoch_,
        "training_rows_processed": rows_processed,
        "rows_per_second": round(gan.rows_per_second_),
        "kept_epoch": gan.best_epoch_,
        "selection_c2st_auc": gan.c2st_auc_,
        "encoded_width": gan.transformer_.output_dim_,
        "rule_violation_share": float(rules.broken_rows(sample).mean()),
        **realism(held[features], draw, categorical, args.repeats, args.seed),
    }
    return result, rows_processed


def bench_smotenc(
    train: pd.DataFrame,
    held: pd.DataFrame,
    categorical: list[str],
    label: str,
    args: argparse.Namespace,
) -> dict[str, object]:
    from imblearn.over_sampling import SMOTENC
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    features = [c for c in train.columns if c != label]
    numeric = [c for c in features if c not in categorical]
    y = train[label].to_numpy()
    codes = OrdinalEncoder(dtype=np.float64).fit(train[categorical])
    scaler = StandardScaler().fit(train[numeric].to_numpy(dtype=np.float64))
    X = np.hstack([codes.transform(train[categorical]), scaler.transform(train[numeric])])
    start = time.perf_counter()
    n_fraud = int(y.sum())
    smote = SMOTENC(
        categorical_features=list(range(len(categorical))),
        sampling_strategy={1: n_fraud + 20_000},
        k_neighbors=5,
        random_state=args.seed,
    )
    X_res, _ = smote.fit_resample(X, y)
    wall = time.perf_counter() - start
    new = X_res[len(X) :]
    frame = pd.DataFrame(
        codes.inverse_transform(new[:, : len(categorical)]), columns=categorical
    ).join(pd.DataFrame(scaler.inverse_transform(new[:, len(categorical) :]), columns=numeric))
    for c in numeric:
        if pd.api.types.is_integer_dtype(train[c].dtype):
            frame[c] = np.round(frame[c]).astype(train[c].dtype)
    frame = frame[features]

    def draw(n: int, seed: int) -> pd.DataFrame:
        return frame.sample(n, random_state=seed).reset_index(drop=True)

    return {
        "wall_seconds": round(wall, 1),
        **realism(held[features], draw, categorical, args.repeats, args.seed),
    }


def bench_ctgan(
    train: pd.DataFrame,
    held: pd.DataFrame,
    categorical: list[str],
    label: str,
    budget_rows: int,
    args: argparse.Namespace,
) -> dict[str, object] | str:
    try:
        from ctgan import CTGAN
    except ImportError:
        return (
            "skipped: ctgan is not installed here; run `make peers` then "
            "`.venv-peers/bin/python benchmarks/gan_speed.py`"
        )
    epochs = args.ctgan_epochs or max(1, math.ceil(budget_rows / len(train)))
    features = [c for c in train.columns if c != label]
    data = train.assign(**{label: train[label].astype(str)})
    start = time.perf_counter()
    model = CTGAN(epochs=epochs, batch_size=500, verbose=False)
    model.fit(data, discrete_columns=[*categorical, label])
    train_seconds = time.perf_counter() - start

    def draw(n: int, seed: int) -> pd.DataFrame:
        model.set_random_state(seed)
        rows = model.sample(n, condition_column=label, condition_value="1")
        fraud = rows[rows[label] == "1"]
        tries = 0
        while len(fraud) < n and tries < 50:  # CTGAN's conditional sampling rejects rows
            more = model.sample(4 * n, condition_column=label, condition_value="1")
            fraud = pd.concat([fraud, more[more[label] == "1"]], ignore_index=True)
            tries += 1
        return fraud[features].head(n).astype(train[features].dtypes).reset_index(drop=True)

    start = time.perf_counter()
    draw(len(held), args.seed)
    sample_seconds = time.perf_counter() - start
    return {
        "epochs": epochs,
        "training_rows_processed": epochs * len(train),
        "train_seconds": round(train_seconds, 1),
        "rows_per_second": round(epochs * len(train) / train_seconds),
        "sample_seconds_for_heldout_size": round(sample_seconds, 1),
        **realism(held[features], draw, categorical, args.repeats, args.seed),
    }


INTRA_OP = "TF_NUM_INTRAOP_THREADS"
THREAD_SETTINGS = {"one thread per op": "1", "tensorflow default": "0"}


def fit_rows_per_second(rows: int, epochs: int, seed: int) -> dict[str, object]:
    """Our GAN's training rows/s on `rows` simulator rows for `epochs` epochs, and the C2ST of
    the epoch it kept on its own held-out rows (the same arithmetic at either setting; a child's
    work)."""
    from models.gan.synthesizer import CGANSynthesizer

    df, categorical, label, rules = simulator_features(rows, seed)
    train, _ = split_holdout(df, label, seed)
    gan = CGANSynthesizer(random_state=seed, epochs=epochs, min_epochs_fraction=1.0).fit(
        train, label, categorical, rules=rules
    )
    return {
        "rows_per_second": round(gan.rows_per_second_),
        "train_seconds": round(gan.train_seconds_, 1),
        "kept_epoch": gan.best_epoch_,
        "selection_c2st_auc": gan.c2st_auc_,
    }


def bench_threads(args: argparse.Namespace) -> dict[str, object]:
    """Interleaved child processes at each thread setting: rows/s per run, medians, ratio."""
    script = Path(__file__).resolve()
    runs: list[dict[str, object]] = []
    for r in range(args.threads_runs):
        for name, value in THREAD_SETTINGS.items():
            result = child_fit(script, args, {**os.environ, INTRA_OP: value})
            runs.append({"run": r, "setting": name, INTRA_OP: value, **result})
            print("threads:", json.dumps(runs[-1]), flush=True)

    medians = median_by(runs, "setting", "rows_per_second")
    one, default = medians.values()
    c2st = median_by(runs, "setting", "selection_c2st_auc")
    return {
        "child_command": shlex.join(child_command(script, args)[1:]),
        "rows": args.threads_rows,
        "epochs": args.threads_epochs,
        "runs": runs,
        "median_rows_per_second": medians,
        "median_selection_c2st_auc": c2st,
        "one_thread_per_op_over_default": round(one / default, 2),
    }


def median_by(runs: list[dict[str, object]], group: str, key: str) -> dict[str, float | None]:
    """The median of `key` over the runs of each value of `group`, in the runs' order; runs
    without it (a fit too short to select an epoch has no C2ST) left out, None if all are."""
    names = list(dict.fromkeys(x[group] for x in runs))
    out: dict[str, float | None] = {}
    for n in names:
        values = [x[key] for x in runs if x[group] == n and x[key] is not None]
        out[n] = float(np.median(values)) if values else None
    return out


def child_command(script: Path, args: argparse.Namespace) -> list[str]:
    """The command of one `--child-fit` of `script` (its tree's code)."""
    return [
        sys.executable,
        str(script),
        "--child-fit",
        "--rows",
        str(args.threads_rows),
        "--epochs",
        str(args.threads_epochs),
        "--seed",
        str(args.seed),
    ]


def child_fit(script: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, object]:
    """One `--child-fit` of `script` (its tree's code), with the CPU seconds it took."""
    command = child_command(script, args)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command, env=env, cwd=script.parent.parent, capture_output=True, text=True, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "cpu_seconds": round(cpu, 1)}


def bench_against(args: argparse.Namespace) -> dict[str, object]:
    """Interleaved child fits of this checkout's GAN and of each commit of `args.against`."""
    scratch = Path(tempfile.mkdtemp(prefix="gan_speed_against_"))
    here = "this checkout"
    trees = {here: ROOT}
    try:
        for k, rev in enumerate(args.against):
            tree = scratch / f"tree{k}"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                check=True,
                capture_output=True,
            )
            trees[rev] = tree
        env = {**os.environ, INTRA_OP: "1"}
        runs: list[dict[str, object]] = []
        for r in range(args.against_runs):
            for name, tree in trees.items():
                result = child_fit(tree / "benchmarks" / "gan_speed.py", args, env)
                runs.append({"run": r, "tree": name, **result})
                print("against:", json.dumps(runs[-1]), flush=True)
    finally:
        for tree in list(trees.values())[1:]:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
        shutil.rmtree(scratch, ignore_errors=True)

    speed, cpu = median_by(runs, "tree", "rows_per_second"), median_by(runs, "tree", "cpu_seconds")
    return {
        "trees": list(trees),
        "rows": args.threads_rows,
        "epochs": args.threads_epochs,
        INTRA_OP: "1",
        "runs": runs,
        "median_rows_per_second": speed,
        "median_cpu_seconds": cpu,
        "median_selection_c2st_auc": median_by(runs, "tree", "selection_c2st_auc"),
        "this_over_each_rows_per_second": {
            rev: round(speed[here] / speed[rev], 3) for rev in args.against
        },
        "this_over_each_cpu_seconds": {rev: round(cpu[here] / cpu[rev], 3) for rev in args.against},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--epochs", type=int, default=None, help="default: CGANConfig's")
    parser.add_argument("--short-epochs", type=int, default=2, help="a second, short run")
    parser.add_argument("--ctgan-epochs", type=int, default=None, help="default: same budget")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-ctgan", action="store_true")
    parser.add_argument("--threads-runs", type=int, default=3, help="pairs of child runs; 0: skip")
    parser.add_argument("--threads-rows", type=int, default=100_000)
    parser.add_argument("--threads-epochs", type=int, default=10)
    parser.add_argument(
        "--against", nargs="+", default=None, help="compare with these commits' GANs only"
    )
    parser.add_argument(
        "--against-runs", type=int, default=3, help="rounds of child fits, one per tree"
    )
    parser.add_argument("--child-fit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gan_speed.json")
    args = parser.parse_args()
    if args.child_fit:
        print(json.dumps(fit_rows_per_second(args.rows, args.epochs or 10, args.seed)))
        return

    import keras
    import xgboost

    results: dict[str, object] = {
        "command": "python benchmarks/gan_speed.py " + shlex.join(sys.argv[1:]),
        "commit": commit(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "keras": keras.__version__,
            "xgboost": xgboost.__version__,
            INTRA_OP: os.environ.get(INTRA_OP),
        },
        "defaults": {k: str(v) for k, v in CGANConfig.defaults().items()},
    }
    if args.against is not None:
        results["against"] = bench_against(args)
        write(results, args.out)
        return
    print(f"transformer fit on {args.rows:,} x 30 numeric columns ...", flush=True)
    results["transformer_numeric"] = time_transformer(numeric_table(args.rows, args.seed), [], 0)
    print(json.dumps(results["transformer_numeric"]), flush=True)

    df, categorical, label, rules = simulator_features(args.rows, args.seed)
    results["transformer_simulator"] = time_transformer(df.drop(columns=[label]), categorical, 0)
    print("transformer on simulator features:", json.dumps(results["transformer_simulator"]))
    train, held = split_holdout(df, label, args.seed)
    results["data"] = {
        "train_rows": len(train),
        "train_fraud": int((train[label] == 1).sum()),
        "heldout_fraud": len(held),
    }
    print("data:", json.dumps(results["data"]), flush=True)
    features = [c for c in train.columns if c != label]
    real_fraud = train[train[label] == 1][features].reset_index(drop=True)
    results["real_floor"] = realism(
        held[features],
        lambda n, seed: real_fraud.sample(n, random_state=seed).reset_index(drop=True),
        categorical,
        args.repeats,
        args.seed,
    )
    print("real training fraud vs held-out:", json.dumps(results["real_floor"]), flush=True)

    print("our CGAN ...", flush=True)
    ours, budget = bench_ours(train, held, categorical, label, rules, args, args.epochs)
    results["cgan"] = ours
    print("ours:", json.dumps({k: v for k, v in ours.items() if k != "config"}), flush=True)
    print(f"our CGAN, {args.short_epochs} epochs ...", flush=True)
    short, _ = bench_ours(train, held, categorical, label, rules, args, args.short_epochs)
    results["cgan_short"] = short
    print("ours, short:", json.dumps({k: v for k, v in short.items() if k != "config"}))

    print("SMOTENC ...", flush=True)
    results["smotenc"] = bench_smotenc(train, held, categorical, label, args)
    print("smotenc:", json.dumps(results["smotenc"]), flush=True)

    if args.skip_ctgan:
        results["ctgan"] = "skipped: --skip-ctgan"
    else:
        print("CTGAN ...", flush=True)
        results["ctgan"] = bench_ctgan(train, held, categorical, label, budget, args)
    peer = results["ctgan"]
    print("ctgan:", peer if isinstance(peer, str) else json.dumps(peer), flush=True)
    if isinstance(peer, dict):
        results["ours_over_ctgan_rows_per_second"] = round(
            ours["rows_per_second"] / peer["rows_per_second"], 2
        )
        results["ctgan_over_ours_wall_ratio"] = round(
            peer["train_seconds"] / ours["wall_seconds"], 2
        )
        # end to end, at a C2ST at least as good as CTGAN's: our short run's wall time
        if short["c2st_auc_mean"] <= peer["c2st_auc_mean"]:
            results["ctgan_over_ours_short_wall_ratio_at_equal_or_better_c2st"] = round(
                peer["train_seconds"] / short["wall_seconds"], 2
            )

    if args.threads_runs > 0:
        print("threads ...", flush=True)
        results["threads"] = bench_threads(args)
        print("threads:", json.dumps(results["threads"]["median_rows_per_second"]), flush=True)

    write(results, args.out)


def write(results: dict[str, object], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
