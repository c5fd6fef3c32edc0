"""How many test rows, frauds and cards each `split.known_cards` rule leaves to score.

Builds the temporal folds of an experiment (default `experiments/temporal.yaml`) on its data, once
per rule (`training`: frauds of the fold's training and delay periods; `history`: every fraud known
before the row), and counts per test period the rows, frauds and cards scored, and the cards that
transact in the period but are not scored:

    .venv/bin/python benchmarks/known_cards.py [--config experiments/temporal.yaml] [--set k=v ...]

Writes benchmarks/results/known_cards.{json,md}. Needs no features and no model: seconds.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, write_results  # noqa: E402

RULES = ("training", "history")


def count(times: Any, y: np.ndarray, entity: np.ndarray, s: Any, delay: float, rule: str) -> list:
    """Per fold: test rows, frauds and cards scored, and cards of the period left unscored."""
    from pipeline.split import temporal_folds

    kwargs = {
        "train_days": s.train_days,
        "gap_days": s.gap_days,
        "test_days": s.test_days,
        "n_folds": s.n_folds,
        "step_days": s.step_days,
        "y": y,
        "label_delay_days": delay,
    }
    blocked = temporal_folds(times, entity=entity, known_cards=rule, **kwargs)
    every = temporal_folds(times, **kwargs)
    out = []
    for kept, full in zip(blocked, every, strict=True):
        cards = set(entity[full.test].tolist())
        scored = set(entity[kept.test].tolist())
        out.append(
            {
                "fold": kept.fold,
                "test_rows": len(kept.test),
                "test_frauds": int(y[kept.test].sum()),
                "cards_scored": len(scored),
                "cards_unscored": len(cards - scored),
                "cards_in_period": len(cards),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "experiments" / "temporal.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    from pipeline.config import load_config
    from pipeline.data.sources import build_source

    cfg = load_config(args.config, args.overrides)
    d, s = cfg.data, cfg.split
    if d.kind != "simulator" or s.kind != "temporal":
        raise SystemExit(f"{args.config}: needs data.kind simulator and split.kind temporal")
    data = build_source(
        "simulator", rows=d.rows, days=d.days, seed=d.seed, fraud_rate=d.fraud_rate
    ).load()
    frame, schema = data.frame, data.schema
    times = frame[schema.time].to_numpy()
    y = frame[schema.label].to_numpy().astype(np.int8)
    entity = frame[schema.entity].to_numpy()
    delay = cfg.features.label_delay_days
    folds = {rule: count(times, y, entity, s, delay, rule) for rule in RULES}
    payload = {
        "command": ("python benchmarks/known_cards.py " + shlex.join(sys.argv[1:])).strip(),
        "commit": commit(),
        "config": str(args.config.resolve().relative_to(ROOT)),
        "overrides": args.overrides,
        "data": {"rows": len(frame), "frauds": int(y.sum()), "cards": len(set(entity.tolist()))},
        "folds": folds,
    }
    lines = [
        "# Test periods under each `split.known_cards` rule",
        "",
        f"`{payload['command']}` at commit {payload['commit']}: {payload['config']} "
        f"({payload['data']['rows']:,} rows, {payload['data']['frauds']} frauds, "
        f"{payload['data']['cards']:,} cards; label delay {delay:g} days).",
        "",
        "| fold | rule | test rows | test frauds | cards scored | cards unscored (of those in the period) |",
        "|---:|---|---:|---:|---:|---:|",
        *(
            f"| {f['fold']} | {rule} | {f['test_rows']:,} | {f['test_frauds']} | "
            f"{f['cards_scored']:,} | {f['cards_unscored']:,} of {f['cards_in_period']:,} |"
            for i in range(s.n_folds)
            for rule in RULES
            for f in [folds[rule][i]]
        ),
        "",
    ]
    write_results(args.out, "known_cards", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
