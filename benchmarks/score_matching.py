"""Exploratory: the GAN's rows drawn to score as real fraud does; XGBoost's AUPRC with them.

    python benchmarks/score_matching.py [--tables handbook] [--folds 0,1,2,3]

`benchmarks/detectability.py` found the GAN's fraud rows scored like legitimate rows, by a
classifier of real rows, more often than real fraud is. This tries the correction that finding
suggests, outside the pipeline: per suite fold, XGBoost (300 trees, depth 6, learning rate 0.1,
on the table's feature columns as numbers) is fitted on the real training fold and scores four
times as many GAN rows as the suite's fixed share adds; `match_scores` draws the fixed share's
number of them with weights that give their scores the decile histogram of the real training
fraud's out-of-fold scores (5 stratified folds inside the training fold). The same XGBoost is then
fitted on the training fold alone (`none`), with SMOTE's rows, with the GAN's first rows
(`gan_raw`) and with the matched ones (`gan_matched`), each scored by test-fold AUPRC. No early
stopping, validation windows or choice: a first look at the correction, not the pipeline's
figures. Writes benchmarks/results/score_matching.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import suite  # noqa: E402
from benchmarks.scoring import commit, machine, write_results  # noqa: E402
from benchmarks.suite_tables import load_table, table_names  # noqa: E402
from models.errors import ConfigError  # noqa: E402

BINS = 10
OVERSAMPLE = 4
"""GAN rows scored per row kept."""
METHODS = ("none", "smote", "gan_raw", "gan_matched")


def match_scores(
    scores: np.ndarray, reference: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of `n` rows drawn (with replacement) from `scores` so that their scores follow the
    histogram of `reference` over its `BINS` quantile bins."""
    edges = np.quantile(reference, np.linspace(0, 1, BINS + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    wanted = np.histogram(reference, edges)[0] / len(reference)
    where = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, BINS - 1)
    have = np.bincount(where, minlength=BINS) / len(scores)
    weights = wanted[where] / have[where]  # every row's bin holds that row: have > 0
    return rng.choice(len(scores), n, replace=True, p=weights / weights.sum())


def _xgb(threads: int) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=300, max_depth=6, learning_rate=0.1, n_jobs=threads, random_state=0
    )


def measure(
    name: str, fold: int, *, rows: int | None = None, gan: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One table's fold: each method's test AUPRC and the rows' legit-like shares."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold

    table = load_table(name, rows=rows)
    if table.categorical:
        raise SystemExit(f"{name}: categorical columns; this exploration takes numbers only")
    folds = suite.folds_of(table, 5, [0])
    if not 0 <= fold < len(folds):
        raise SystemExit(f"--folds {fold}: {name} has folds 0 to {len(folds) - 1}")
    f = folds[fold]
    X, y = table.X.astype(float), table.y
    X_train, y_train = X.iloc[f.train].reset_index(drop=True), y[f.train]
    X_test, y_test = X.iloc[f.test].reset_index(drop=True), y[f.test]
    n = suite.fixed_share_rows(table, y_train)
    started = time.perf_counter()
    model = _xgb(2).fit(X_train, y_train)
    oof = np.zeros(len(X_train))
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=0).split(X_train, y_train):
        oof[held] = (
            _xgb(2).fit(X_train.iloc[fit], y_train[fit]).predict_proba(X_train.iloc[held])[:, 1]
        )
    reference = oof[y_train == 1]
    generated, _ = suite.cgan_rows(table, X_train, y_train, OVERSAMPLE * n, 0, gan or {})
    generated = generated[X.columns].astype(float).reset_index(drop=True)
    scores = model.predict_proba(generated)[:, 1]
    kept = match_scores(scores, reference, n, np.random.default_rng(0))
    extra = {
        "none": None,
        "smote": suite.smote_rows(X_train, y_train, n, table.categorical, 0)[X.columns],
        "gan_raw": generated.iloc[:n],
        "gan_matched": generated.iloc[kept],
    }
    auprc = {}
    for method, rows_added in extra.items():
        if rows_added is None:
            fitted = _xgb(2).fit(X_train, y_train)
        else:
            both = pd.concat([X_train, rows_added.astype(float)], ignore_index=True)
            fitted = _xgb(2).fit(both, np.r_[y_train, np.ones(len(rows_added), dtype=int)])
        auprc[method] = float(average_precision_score(y_test, fitted.predict_proba(X_test)[:, 1]))
    return {
        "table": name,
        "fold": fold,
        "train_fraud": int(y_train.sum()),
        "generated_rows": n,
        "legit_like": {
            "real_oof": float(np.mean(reference < 0.05)),
            "gan_raw": float(np.mean(scores[:n] < 0.05)),
            "gan_matched": float(np.mean(scores[kept] < 0.05)),
        },
        "auprc": auprc,
        "seconds": time.perf_counter() - started,
    }


def markdown(payload: dict[str, Any]) -> str:
    res = payload["results"]
    lines = [
        "# The GAN's rows resampled to score as real fraud does (exploratory)",
        "",
        f"`{payload['command']}` at commit {payload['commit']}, "
        f"on {payload['machine']['cpus']} CPUs.",
        "",
        "Test-fold AUPRC of XGBoost (300 trees, no early stopping) fitted on the training fold "
        "alone and with each source's rows at the suite's fixed share; legit-like: the share of "
        "rows the classifier of real rows scores below 0.05.",
        "",
        "| table | fold | legit-like real (oof) | gan_raw | gan_matched | "
        + " | ".join(METHODS)
        + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(METHODS),
    ]
    for r in res:
        ll = r["legit_like"]
        lines.append(
            f"| {r['table']} | {r['fold']} | {ll['real_oof']:.1%} | {ll['gan_raw']:.1%} | "
            f"{ll['gan_matched']:.1%} | "
            + " | ".join(f"{r['auprc'][m]:.3f}" for m in METHODS)
            + " |"
        )
    for table in dict.fromkeys(r["table"] for r in res):
        rows = [r for r in res if r["table"] == table]
        base = np.array([r["auprc"]["none"] for r in rows])
        cells = []
        for m in METHODS[1:]:
            diff = np.array([r["auprc"][m] for r in rows]) - base
            cells.append(f"{m} {diff.mean():+.3f} ({int((diff > 0).sum())} of {len(diff)} above)")
        lines += ["", f"{table}, mean over {len(rows)} folds against `none`: " + "; ".join(cells)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="handbook")
    parser.add_argument("--folds", default="0,1,2,3")
    parser.add_argument("--rows", type=int, default=None, help="rows of the generated tables")
    parser.add_argument("--gan", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    try:  # before any work: a misspelled table or GAN field is one line, not a traceback
        gan = suite.parse_gan(args.gan)
        tables = suite._names(args.tables, table_names(), "tables")
        folds = [int(f) for f in args.folds.split(",") if f.strip()]
    except ConfigError as exc:  # a ValueError too: first
        raise SystemExit(f"score_matching: {exc}") from None
    except ValueError:
        raise SystemExit(
            f"score_matching: --folds {args.folds!r}: fold numbers, e.g. 0,1,2"
        ) from None
    results = []
    for name in tables:
        for fold in folds:
            results.append(measure(name, fold, rows=args.rows, gan=gan))
            print(json.dumps({k: results[-1][k] for k in ("table", "fold", "auprc")}), flush=True)
    import sklearn
    import xgboost

    payload = {
        "command": shlex.join(["python", "benchmarks/score_matching.py", *(argv or sys.argv[1:])]),
        "commit": commit(),
        "machine": machine(np, pd, sklearn, xgboost),
        "results": results,
    }
    write_results(args.out, "score_matching", payload, markdown(payload))
    return payload


if __name__ == "__main__":
    suite.quiet_benchmark()
    main()
