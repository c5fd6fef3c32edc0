"""The quality report as one HTML page (`pipeline/templates/quality.html.j2`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from pipeline.pages import render_page


def _format(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4f}"


def quality_page(
    *,
    metrics: Mapping[str, float],
    descriptions: Mapping[str, str],
    per_column: pd.DataFrame,
    figures: Mapping[str, str],
    flagged: bool,
    reasons: Sequence[str],
    copy_share_margin: float,
) -> str:
    """The page: privacy verdict, metrics with their meaning, figures (`figures`: stem -> base64
    PNG), per-column statistics (largest difference first)."""
    metric_rows = [
        [key, _format(value), descriptions.get(key, "")] for key, value in metrics.items()
    ]
    ranked = per_column.sort_values("statistic", ascending=False, kind="stable")
    column_rows = [
        [
            str(r.column),
            r.kind,
            "KS" if r.kind == "continuous" else "TVD",
            f"{r.statistic:.4f}",
            f"{r.missing_real:.1%}",
            f"{r.missing_synthetic:.1%}",
        ]
        for r in ranked.itertuples(index=False)
    ]
    rule = (
        "Flagged when synthetic rows copy training rows exactly more often than held-out real rows "
        f"do (by more than {copy_share_margin:.0%}), or when more synthetic rows than expected sit "
        "closer to a training row than the 5th percentile of held-out real rows (without "
        "held-out rows: of the training rows, each to the closest other training row)."
    )
    return render_page(
        "quality.html.j2",
        title="Synthetic data quality",
        flagged=flagged,
        reasons=list(reasons),
        rule=rule,
        metric_rows=metric_rows,
        figures=dict(figures),
        column_rows=column_rows,
    )
