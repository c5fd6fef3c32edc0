"""Where generated fraud rows land for a classifier trained on real rows: realism is not utility.

    python benchmarks/detectability.py [--tables handbook,stress,sim_default] [--fold 0]

Per suite table (`benchmarks/suite_tables.py`) and one outer fold of its suite protocol
(`benchmarks.suite.folds_of`), `none`'s pipeline (`models.classifier.build_pipeline`) with the
table's experiment's classifier is fitted on the real training fold and scores fraud rows from
each source: the real training fraud out of fold (5 stratified folds of the training fold, so
that no row is scored by a model that saw it), the real test fraud, and as many generated rows
as the SMOTE family adds at the suite's fixed share, from the GAN (`cgan`, at its defaults),
SMOTE, the Gaussian mixture and bootstrap copies (the suite's generators). A generated row
that the classifier scores like a legitimate one (below 0.05) teaches an augmented classifier to
flag that region; a generator whose rows land there more often than real fraud does (out of
fold) adds label noise, however hard its rows are to tell from real fraud by a C2ST. Writes
benchmarks/results/detectability.{json,md}.
"""

from __future__ import annotations

import argparse
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

LEGIT_LIKE = 0.05
"""A fraud row scored below this by the real-data classifier looks legitimate to it."""
QUANTILES = (0.1, 0.25, 0.5)
SOURCES = ("real_oof", "real_test", "cgan", "smote", "gmm", "copies")


def _classifier(table: Any, threads: int) -> Any:
    """`none`'s pipeline with the table's experiment's classifier, every tree kept (no
    validation rows here to stop on)."""
    from models.classifier import build_pipeline

    xgb = suite.experiment_of(table).classifier.xgb_params()
    return build_pipeline(
        table.numeric,
        table.categorical,
        sampler=None,
        encoding="onehot",
        xgb_params={**xgb, "early_stopping_rounds": None, "n_jobs": threads},
    )


def _out_of_fold(table: Any, X: pd.DataFrame, y: np.ndarray, threads: int) -> np.ndarray:
    """Each training fraud row's score by a model fitted on the other four fifths."""
    from sklearn.model_selection import StratifiedKFold

    scores = np.full(len(X), np.nan)
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        model = _classifier(table, threads).fit(X.iloc[fit], y[fit])
        scores[held] = model.predict_proba(X.iloc[held])[:, 1]
    return scores[y == 1]


def _describe(scores: np.ndarray) -> dict[str, float]:
    return {
        "rows": int(len(scores)),
        "legit_like_share": float(np.mean(scores < LEGIT_LIKE)),
        "below_half_share": float(np.mean(scores < 0.5)),
        **{f"q{int(q * 100)}": float(np.quantile(scores, q)) for q in QUANTILES},
    }


def measure(
    name: str,
    fold: int,
    *,
    rows: int | None = None,
    gan: dict[str, Any] | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    """One table's fold: each source's scores by the classifier fitted on the real training rows."""
    table = load_table(name, rows=rows)
    folds = suite.folds_of(table, 5, [0])
    if not 0 <= fold < len(folds):
        raise SystemExit(f"--fold {fold}: {name} has folds 0 to {len(folds) - 1}")
    f = folds[fold]
    X, y = table.X, table.y
    X_train, y_train = X.iloc[f.train].reset_index(drop=True), y[f.train]
    X_test, y_test = X.iloc[f.test].reset_index(drop=True), y[f.test]
    n = suite.fixed_share_rows(table, y_train)
    started = time.perf_counter()
    model = _classifier(table, threads).fit(X_train, y_train)
    minority = X_train[y_train == 1].reset_index(drop=True)
    generated = {
        "cgan": suite.cgan_rows(table, X_train, y_train, n, 0, gan or {})[0],
        "smote": suite.smote_rows(X_train, y_train, n, table.categorical, 0),
        "gmm": suite.gmm_rows(minority, n, table.categorical, 0),
        "copies": suite.resampled_rows(minority, n, 0, replace=True),
    }
    scores = {
        "real_oof": _out_of_fold(table, X_train, y_train, threads),
        "real_test": model.predict_proba(X_test[y_test == 1])[:, 1],
        **{k: model.predict_proba(v[X.columns])[:, 1] for k, v in generated.items()},
    }
    return {
        "table": name,
        "fold": fold,
        "train_rows": len(X_train),
        "train_fraud": int(y_train.sum()),
        "generated_rows": n,
        "seconds": time.perf_counter() - started,
        "sources": {k: _describe(v) for k, v in scores.items()},
    }


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "# Where generated fraud rows land for a classifier trained on real rows",
        "",
        f"`{payload['command']}` at commit {payload['commit']}, "
        f"on {payload['machine']['cpus']} CPUs.",
        "",
        "Share of each source's fraud rows that the real-data classifier scores below "
        f"{LEGIT_LIKE} (like a legitimate row), and the median score. `real_oof`: the real "
        "training fraud scored out of fold (the reference); `real_test`: the test fold's fraud; "
        "generated: as many rows as the SMOTE family adds at the suite's fixed share.",
        "",
        "| table | fold | training fraud | generated | "
        + " | ".join(f"{s} < {LEGIT_LIKE}" for s in SOURCES)
        + " | "
        + " | ".join(f"{s} median" for s in SOURCES)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * (2 * len(SOURCES)),
    ]
    for r in payload["results"]:
        src = r["sources"]
        lines.append(
            f"| {r['table']} | {r['fold']} | {r['train_fraud']} | {r['generated_rows']} | "
            + " | ".join(f"{src[s]['legit_like_share']:.1%}" for s in SOURCES)
            + " | "
            + " | ".join(f"{src[s]['q50']:.3f}" for s in SOURCES)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="handbook,stress,sim_default")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="rows of the generated tables")
    parser.add_argument("--gan", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    try:  # before any work: a misspelled table or GAN field is one line, not a traceback
        gan = suite.parse_gan(args.gan)
        tables = suite._names(args.tables, table_names(), "tables")
    except ConfigError as exc:
        raise SystemExit(f"detectability: {exc}") from None
    results = []
    for name in tables:
        results.append(measure(name, args.fold, rows=args.rows, gan=gan))
        r = results[-1]["sources"]
        print(
            f"{name}: "
            + ", ".join(f"{s} {r[s]['legit_like_share']:.1%}" for s in SOURCES)
            + f" below {LEGIT_LIKE}",
            flush=True,
        )
    import sklearn
    import xgboost

    payload = {
        "command": shlex.join(["python", "benchmarks/detectability.py", *(argv or sys.argv[1:])]),
        "commit": commit(),
        "machine": machine(np, pd, sklearn, xgboost),
        "legit_like": LEGIT_LIKE,
        "results": results,
    }
    write_results(args.out, "detectability", payload, markdown(payload))
    return payload


if __name__ == "__main__":
    suite.quiet_benchmark()
    main()
