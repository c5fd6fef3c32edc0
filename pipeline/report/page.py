"""The comparison as one self-contained HTML page (`pipeline/templates/comparison.html.j2`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from markupsafe import Markup

from pipeline.pages import Cell, render_page
from pipeline.report.comparison import Comparison, quality_summary, verdict_class
from pipeline.report.figures import CAPTIONS, comparison_figures, png_base64
from pipeline.report.metrics import metric_label


def write_html_report(
    comparison: Comparison,
    path: str | Path,
    *,
    pr_curves: Mapping[str, np.ndarray] | None = None,
    extra_sections: Mapping[str, str] | None = None,
    title: str = "fraudgan comparison",
) -> Path:
    """Write one self-contained HTML file: summary, table, figures (inline PNG), extra sections.

    `pr_curves` maps strategy -> mean interpolated precision at evenly spaced recall levels
    (`evaluate.pr_curve_points`); `extra_sections` maps a heading to an HTML fragment, inserted as is.
    """
    path = Path(path)
    c = comparison
    header, rows = c.display_rows(4)
    verdicts = {i for i, h in enumerate(header) if h == "verdict"}
    table = [
        [Cell(cell, verdict_class(cell)) if i in verdicts else cell for i, cell in enumerate(row)]
        for row in rows
    ]
    figures = [
        {"title": title_, "png": png_base64(fig), "caption": CAPTIONS.get(name)}
        for name, (title_, fig) in comparison_figures(c, pr_curves).items()
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
        extra_sections=[(h, Markup(fragment)) for h, fragment in (extra_sections or {}).items()],
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path.write_text(page, encoding="utf-8")
    return path
