"""Categorical values the model never saw in training, counted over what it scores: a column
written another way than in training (742 for "0742", "fr" for "FR") scores every row as an
unseen category, silently; `UnseenCategories` says so, for `fraudgan score` on either engine and
for MLflow's scoring server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

UNSEEN_SHARE = 0.1
"""The share of a categorical column's values that are no training category from which a warning
is given (with at least `UNSEEN_MIN_VALUES` values): new merchants or countries come a few at a
time; most values new at once is a column written differently (742 for "0742", "fr" for "FR")."""
UNSEEN_MIN_VALUES = 20


SERVED_WINDOW = 1000
"""A scoring server's count of a column starts again after this many values, so that a client
that begins writing a column another way is noticed however long the server has run."""


class UnseenCategories:
    """Counts, over the frames a `FraudScorer` scores (a file's chunks, REST requests), the values
    of each categorical column that the model never saw in training (scored as no category).
    `log_extra`: the `extra` of the logged warnings; `window`: the values after which a column's
    count starts again (None: never)."""

    def __init__(
        self,
        scorer: Any,
        log_extra: Mapping[str, Any] | None = None,
        window: int | None = None,
    ) -> None:
        self.scorer = scorer
        self.log_extra = dict(log_extra or {})
        self.window = window
        self.counts: dict[str, list[Any]] = {}
        self.warned: set[str] = set()

    def count(self, frame: pd.DataFrame) -> None:
        if len(frame) == 0:
            return
        for column, (n, new, examples) in self.scorer.unseen_categories(frame).items():
            total = self.counts.setdefault(column, [0, 0, []])
            total[0] += n
            total[1] += new
            total[2] += [e for e in examples if e not in total[2]][: 3 - len(total[2])]

    def warnings(self, where: str, sampled: str = "") -> list[str]:
        """A warning per column whose share of unseen values reaches `UNSEEN_SHARE`, each also
        logged, once per column; `sampled` says which rows were counted, when not all were."""
        layout = self.scorer.layout  # counts are empty without one
        known = {b.column: b.known for b in layout.categorical} if layout else {}
        out = []
        for column, (n, new, examples) in self.counts.items():
            if column in self.warned or n < UNSEEN_MIN_VALUES or new < UNSEEN_SHARE * n:
                continue
            categories = known.get(column, ())
            model = ", ".join(repr(c) for c in categories[:4]) + (
                ", ..." if len(categories) > 4 else ""
            )
            out.append(
                f"{where}: categorical column {column!r}: {new:,} of its {n:,} values{sampled} "
                f"({new / n:.0%}) are categories the model never saw in training (e.g. "
                f"{', '.join(repr(e) for e in examples)}; the model's: {model}), scored as "
                "unseen; is the column written as in training (codes that lost their leading "
                "zeros, 742 for '0742'; another case or spaces)?"
            )
            self.warned.add(column)
            log.warning(out[-1], extra=self.log_extra)
        if self.window is not None:
            for column, total in self.counts.items():
                if total[0] >= self.window:
                    self.counts[column] = [0, 0, []]
        return out
