"""The comparison as one self-contained HTML page (`pipeline/templates/comparison.html.j2`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.pages import Cell, render_page
from pipeline.report.comparison import Comparison, quality_summary, verdict_class
from pipeline.report.figures import CAPTIONS, png_base64, rendered_figures
from pipeline.report.metrics import metric_label


def write_html_report(
    comparison: Comparison,
    path: str | Path,
    *,
    pr_curves: Mapping[str, np.ndarray] | None = None,
    extra_tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[str]]]] | None = None,
    extra_figures: Mapping[str, Any] | None = None,
    title: str = "fraudgan comparison",
    rendered: Mapping[str, tuple[str, bytes]] | None = None,
) -> Path:
    """Write one self-contained HTML file: summary, table, figures (inline PNG), extra sections.

    `pr_curves` maps strategy -> mean interpolated precision at evenly spaced recall levels
    (`evaluate.pr_curve_points`); `extra_tables` maps a heading to (header, rows) of text cells,
    `extra_figures` a heading to a matplotlib Figure; `rendered`: the comparison's figures
    already drawn (`rendered_figures`, shared with `save_figures`).
    """
    path = Path(path)
    c = comparison
    header, rows = c.display_rows(4)
    verdicts = {i for i, h in enumerate(header) if h == "verdict"}
    table = [
        [Cell(cell, verdict_class(cell)) if i in verdicts else cell for i, cell in enumerate(row)]
        for row in rows
    ]
    if rendered is None:
        rendered = rendered_figures(c, pr_curves)
    figures = [
        {"title": title_, "png": png_base64(png), "caption": CAPTIONS.get(name)}
        for name, (title_, png) in rendered.items()
    ]
    figures += [
        {"title": heading, "png": png_base64(fig), "caption": None}
        for heading, fig in (extra_figures or {}).items()
    ]
    page = render_page(
        "comparison.html.j2",
        title=title,
        summary=c.summary(),
        metric=metric_label(c.metric),
        header=header,
        rows=table,
        notes=c.notes(),
        quality=quality_summary(c),
        figures=figures,
        extra_tables=list((extra_tables or {}).items()),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path.write_text(page, encoding="utf-8")
    return path
