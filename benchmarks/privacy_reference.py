"""Is the memorization rule's reference exchangeable with the rows a generator learned from?

The quality report's rule 2 (`pipeline.quality`) flags synthetic rows when more of them sit
closer to a training row than the 5th percentile of the same distance for real held-out rows
(`quality_dcr_holdout_p05`) than `dcr_share_threshold` allows. A generator that samples its
training rows' distribution should put about 5 % of its rows there, as an unseen real row of the
same distribution would. That holds only if the held-out rows come from that distribution: the
test fold's fraud rows, the pipeline's holdout in stratified folds (and in temporal folds until
343a98e, which made the GAN's own held-out rows the holdout there), come in temporal folds from a
later period.

This measures it without a generator. Per table and outer fold (the suite's tables and folds,
`benchmarks/suite.py`), the fraud rows every inner validation window fits on (those the fold's
GAN learns from) are split at random, `--repeats` times: `--fresh` of them play unseen real rows
of the training period (what a generator that samples without copying would give), the GAN's
held-out share (`holdout_fraction`) its model selection's rows, the rest the training rows. For
each candidate reference (the test fold's fraud rows; the inner windows' fraud rows, which no GAN
saw either; the GAN's held-out rows, the report's reference in temporal folds; and the training
rows themselves, each against the others, its reference when it has no held-out rows) it records
the reference's 5th-percentile distance to the training rows beside the fresh rows' own, and the
share of the fresh rows below it: about 5 % for an exchangeable reference, and above
`dcr_share_threshold` when the rule would flag real rows of the training period as memorized
(how often: `flag_rate`).

    python benchmarks/privacy_reference.py [--tables sim_temporal,sim_default,stress]
        [--max-folds 3] [--repeats 20]

Writes benchmarks/results/privacy_reference.{json,md}: `{"command", "commit", "rows": [{"table",
"split", "fold", "training_rows", "fresh_rows", "repeats", "fresh_p05", "reference",
"reference_rows", "reference_p05", "fresh_below", "threshold", "flag_rate"}]}` (the figures are
means over the repeats).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit  # noqa: E402
from benchmarks.suite import experiment_of, folds_of, protocol  # noqa: E402
from benchmarks.suite import parse_args as suite_args  # noqa: E402
from benchmarks.suite_tables import load_table  # noqa: E402
from models.errors import ConfigError  # noqa: E402
from models.gan.config import CGANConfig  # noqa: E402
from pipeline.quality import dcr_share_threshold, distance_to_closest_record  # noqa: E402
from pipeline.quality.measures import DCR_QUANTILE  # noqa: E402
from pipeline.selection import inner_windows  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "privacy_reference.json"
GAN_HOLDOUT = CGANConfig().holdout_fraction  # of the fraud rows, held out for model selection


def fold_rows(table: Any, fold: Any, fresh: float, repeats: int, seed: int) -> list[dict[str, Any]]:
    """The references' rows for one outer fold (see the module docstring), its inner windows
    cut as the table's experiment cuts them, averaged over `repeats` random splits."""
    validation = experiment_of(table).validation
    windows = inner_windows(
        table.frame,
        fold.train,
        table.schema,
        k=validation.windows,
        fraction=validation.fraction,
        gap_days=validation.gap_days,
        seed=fold.seed,
        by_time=table.temporal,
    )
    X, y = table.X, table.y
    fit = X.iloc[windows.shared][y[windows.shared] == 1].reset_index(drop=True)
    n_fresh = max(int(round(len(fit) * fresh)), 1)
    n_held = max(int(round(len(fit) * GAN_HOLDOUT)), 1)
    if len(fit) - n_fresh - n_held < 5:
        raise ConfigError(f"{table.name} fold {fold.fold}: {len(fit)} training fraud rows")
    later = {
        "test fold": X.iloc[fold.test][y[fold.test] == 1].reset_index(drop=True),
        "inner windows": X.iloc[windows.val][y[windows.val] == 1].reset_index(drop=True),
    }
    cells: dict[str, list[tuple[float, float, float, int]]] = {}
    fresh_p05s = []
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        order = rng.permutation(len(fit))
        fresh_rows = fit.iloc[order[:n_fresh]].reset_index(drop=True)
        held = fit.iloc[order[n_fresh : n_fresh + n_held]].reset_index(drop=True)
        training = fit.iloc[order[n_fresh + n_held :]].reset_index(drop=True)

        def dcr(query: Any = None, training: Any = training) -> np.ndarray:
            return distance_to_closest_record(training, query, categorical=table.categorical)

        references = {name: dcr(rows) for name, rows in later.items()}
        references["GAN's held-out rows"] = dcr(held)
        references["training, leave one out"] = dcr()
        fresh_dcr = dcr(fresh_rows)
        fresh_p05s.append(float(np.quantile(fresh_dcr, DCR_QUANTILE)))
        for name, reference in references.items():
            p05 = float(np.quantile(reference, DCR_QUANTILE))
            below = float(np.mean(fresh_dcr < p05))
            threshold = dcr_share_threshold(len(reference), len(fresh_rows))
            cells.setdefault(name, []).append((p05, below, threshold, len(reference)))
    out = []
    for name, values in cells.items():
        p05, below, threshold, rows = (np.array(v) for v in zip(*values, strict=True))
        out.append(
            {
                "table": table.name,
                "split": table.split.get("kind", "stratified"),
                "fold": fold.fold,
                "training_rows": len(fit) - n_fresh - n_held,
                "fresh_rows": n_fresh,
                "repeats": repeats,
                "fresh_p05": round(float(np.mean(fresh_p05s)), 4),
                "reference": name,
                "reference_rows": int(rows[0]),
                "reference_p05": round(float(p05.mean()), 4),
                "fresh_below": round(float(below.mean()), 4),
                "threshold": round(float(threshold.mean()), 4),
                "flag_rate": round(float(np.mean(below > threshold)), 4),
            }
        )
    return out


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "# The memorization rule's reference: exchangeable with the training rows?",
        "",
        f"`{payload['command']}` at commit {payload['commit']}.",
        "",
        "Per outer fold, the fraud rows the fold's GAN learns from, split at random "
        f"({payload['rows'][0]['repeats'] if payload['rows'] else 0} times, figures averaged): "
        "`fresh` unseen rows of the training period (what a generator that samples the "
        "distribution without copying would produce), the GAN's held-out share (its model "
        "selection's rows), the rest the training rows. `p05`: the 5th-percentile distance to "
        "the training rows, of the fresh rows and of the reference (`training, leave one out`: "
        "each training row to the closest other one); `fresh below`: the share of the fresh real "
        "rows closer than the reference's (about 5 % for an exchangeable reference); `flag "
        "rate`: how often that share is above the rule's threshold, so that the rule would call "
        "real rows of the training period memorized.",
        "",
        "| table | split | fold | training / fresh | fresh p05 | reference | rows | p05 "
        "| fresh below | threshold | flag rate |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in payload["rows"]:
        lines.append(
            f"| {r['table']} | {r['split']} | {r['fold']} | {r['training_rows']} / "
            f"{r['fresh_rows']} | {r['fresh_p05']:.2f} | {r['reference']} | "
            f"{r['reference_rows']} | "
            f"{r['reference_p05']:.2f} | {r['fresh_below']:.0%} | {r['threshold']:.0%} | "
            f"{r['flag_rate']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default="sim_temporal,sim_default,stress")
    p.add_argument("--max-folds", type=int, default=3)
    p.add_argument("--fresh", type=float, default=0.2, help="share of the training fraud rows")
    p.add_argument("--repeats", type=int, default=20, help="random splits per fold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    try:
        if not 0 < args.fresh < 1:
            raise ConfigError(f"--fresh must be in (0, 1), got {args.fresh}")
        if args.repeats < 1:
            raise ConfigError(f"--repeats must be >= 1, got {args.repeats}")
        if args.max_folds < 1:
            raise ConfigError(f"--max-folds must be >= 1, got {args.max_folds}")
        rows = []
        with tempfile.TemporaryDirectory(prefix="fraudgan-privacy-") as tmp:
            for name in args.tables.split(","):
                table = load_table(name, directory=Path(tmp))
                proto = protocol(table, suite_args(["--tables", name]))
                for fold in folds_of(table, proto["folds"], [0])[: args.max_folds]:
                    rows += fold_rows(table, fold, args.fresh, args.repeats, args.seed)
    except ConfigError as exc:
        sys.exit(f"privacy_reference: {exc}")
    payload = {
        "command": ("python benchmarks/privacy_reference.py " + shlex.join(argv)).strip(),
        "commit": commit(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
