"""Do more realistic GAN rows help the classifier more? Read from a `gan_uplift.py` results file.

    python benchmarks/uplift_realism.py benchmarks/results/gan_uplift_default.json

For every GAN child of the uplift benchmark: the epoch its generator was kept at, the C2ST AUC of
its rows against the real fraud rows it was trained on (`quality/c2st_auc`, 0.5 =
indistinguishable) and its AUPRC minus `none`'s on the same (fold, seed). Prints and writes, next to the results file
(`<stem>_realism.md`), the Spearman correlations and the mean difference for generators kept
early (epoch <= 200) and later, with the exact command.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pandas as pd

EARLY = 200


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/uplift_realism.py RESULTS.json")
    path = Path(sys.argv[1])
    payload = json.loads(path.read_text())
    frame = pd.DataFrame(payload["children"])
    keys = ["fold", "seed"]
    none = frame[frame["strategy"] == "none"].set_index(keys)["average_precision"]
    gan = frame[frame["strategy"].str.startswith("cgan")].copy()
    gan["delta"] = (
        gan["average_precision"].to_numpy()
        - none.loc[list(zip(gan["fold"], gan["seed"], strict=True))].to_numpy()
    )
    epoch, c2st = "gan/epoch_used", "quality/c2st_auc"
    gan["kept"] = (gan[epoch] <= EARLY).map({True: f"epoch <= {EARLY}", False: f"epoch > {EARLY}"})
    groups = gan.groupby("kept").agg(
        children=("delta", "size"),
        c2st=(c2st, "mean"),
        delta=("delta", "mean"),
        below_none=("delta", lambda d: int((d < 0).sum())),
    )
    rho_c2st = gan[[c2st, "delta"]].corr(method="spearman").iloc[0, 1]
    rho_epoch = gan[[epoch, "delta"]].corr(method="spearman").iloc[0, 1]

    command = "python benchmarks/uplift_realism.py " + shlex.join(sys.argv[1:])
    lines = [
        f"`{command}` (from `{payload['command']}`, commit {payload.get('commit', 'unknown')}).",
        "",
        f"{len(gan)} GAN children; AUPRC below `none`'s on the same folds in "
        f"{int((gan['delta'] < 0).sum())}.",
        f"Spearman correlation of the C2ST AUC with AUPRC - none's: {rho_c2st:+.2f} "
        "(positive: the less realistic the rows, the smaller the loss).",
        f"Spearman correlation of the kept epoch with AUPRC - none's: {rho_epoch:+.2f}.",
        "",
        "| generator kept at | children | C2ST AUC (mean) | AUPRC - none's (mean) | below none |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {kept} | {int(r.children)} | {r.c2st:.3f} | {r.delta:+.3f} | "
        f"{int(r.below_none)}/{int(r.children)} |"
        for kept, r in groups.iterrows()
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    path.with_name(f"{path.stem}_realism.md").write_text(text)


if __name__ == "__main__":
    main()
