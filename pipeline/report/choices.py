"""What the over-samplers that choose their own share (`pipeline.augment`) chose, as notes.

Each child of such a strategy logs its choice as metrics (`choice_share`, `choice_weight`,
`choice_checkpoint_last`, `choice_gain`, and the evidence: `choice_best_gain` with the bars it had
to clear); `choice_notes` turns one row per (strategy, fold,
seed) into one sentence per strategy for the comparison's notes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

CHOICE_SHARE = "choice_share"
CHOICE_WEIGHT = "choice_weight"
CHOICE_CHECKPOINT_LAST = "choice_checkpoint_last"
CHOICE_GAIN = "choice_gain"
"""The chosen setting's mean validation gain over share 0 across the inner windows."""
CHOICE_BEST_GAIN = "choice_best_gain"
CHOICE_BEST_SPREAD_BAR = "choice_best_spread_bar"
CHOICE_BEST_SAMPLING_BAR = "choice_best_sampling_bar"
"""The best share's mean validation gain over share 0 and the two bars of the noise rule it had
to clear (`pipeline.selection.Gain`): why a fold kept share 0, or took a share."""
_BARS = (CHOICE_BEST_SPREAD_BAR, CHOICE_BEST_SAMPLING_BAR)


def _setting(row: pd.Series) -> str:
    share = float(row[CHOICE_SHARE])
    if share == 0:
        return "share 0"
    text = f"share {share:g}"
    if CHOICE_WEIGHT in row and pd.notna(row[CHOICE_WEIGHT]):
        text += f" weight {float(row[CHOICE_WEIGHT]):g}"
    if row.get(CHOICE_CHECKPOINT_LAST) == 1:
        text += " (last checkpoint)"
    return text


def choice_notes(results: pd.DataFrame) -> list[str]:
    """Per strategy that chose its share: what it chose on how many (fold, seed) pairs."""
    if CHOICE_SHARE not in results:
        return []
    lines = []
    chosen = results[results[CHOICE_SHARE].notna()]
    for strategy, g in chosen.groupby("strategy", sort=True):
        counts = Counter(_setting(r) for _, r in g.iterrows())
        n = len(g)
        zero = counts.get("share 0", 0)
        if zero == n:
            lines.append(
                f"{strategy} chose its synthetic share on validation (share 0: no synthetic "
                f"rows): share 0 on {n} of {n} folds: augmentation was not shown to help on these "
                f"data (no share beat share 0 beyond the validation windows' noise{_evidence(g)})."
            )
            continue
        parts = [
            f"{setting} on {k} of {n} folds"
            for setting, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        lines.append(
            f"{strategy} chose its synthetic share on validation (share 0: no synthetic rows): "
            + "; ".join(parts)
            + "."
        )
    return lines


def _evidence(chosen: pd.DataFrame) -> str:
    """How far the best share came: its validation gains over share 0 and the bars they had to
    clear (the larger of the two per fold), as '; the best share gained ...'; '' when not logged."""
    if CHOICE_BEST_GAIN not in chosen:
        return ""
    gains = chosen[CHOICE_BEST_GAIN].astype(float)
    bars = pd.concat(
        [chosen.get(c, pd.Series(np.nan, index=chosen.index)).astype(float) for c in _BARS], axis=1
    ).max(axis=1)
    known = gains.notna() & bars.notna()
    if not known.any():
        return ""
    return (
        f"; the best share gained {gains[known].min():+.3f} to {gains[known].max():+.3f} AUPRC "
        f"on validation, against bars of {bars[known].min():.3f} to {bars[known].max():.3f}"
    )
