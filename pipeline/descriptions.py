"""What a data scientist sees first in the MLflow UI: the descriptions of a launch's parent run
and summary runs, the summary runs' headline metrics, and the registered model's description.

MLflow shows a run's description collapsed to its first lines, renders its Markdown tables
without cell padding, lists a run's metric charts by prefix section in alphabetical order
(`ci_high/...` first; metrics without a prefix last), and draws bar charts without error bars.
So: the verdict comes first; the table's cells are padded; the headline metric and its interval
and paired differences are repeated under a capitalized section (`AUPRC/Mean`, which sorts
before every lower-case prefix); and every description links the HTML report's figures with
error bars.
"""

from __future__ import annotations

import re

from pipeline import report, tracking

FIGURES = (
    ("comparison/figures/metrics.png", "metrics with their 95% intervals"),
    ("comparison/figures/paired_differences.png", "paired differences"),
    ("comparison/report.html", "the full report"),
)
"""The parent run's artifacts with error bars, and how the descriptions name them."""

_PAD = "\u00a0"  # a space Markdown keeps inside a table cell


def headline_section(metric: str) -> str:
    """The metric-section name of the headline metric: its label, capitalized, in the characters
    MLflow allows in a metric name (`AUPRC`, `ROC-AUC`, `Recall_FPR_1%` -> `Recall_FPR_1_`)."""
    label = re.sub(r"[^0-9A-Za-z_\-. ]+", "_", report.metric_label(metric)).strip() or metric
    return label[:1].upper() + label[1:]


def headline_metrics(comparison: report.Comparison, metrics: dict[str, float]) -> dict[str, float]:
    """A summary run's metrics with its headline first: the headline metric's mean, interval and
    paired differences (with Holm-adjusted p-values) again under `headline_section`, the
    section the run's "Model metrics" tab opens on."""
    m = comparison.metric
    # chart names sort in ASCII order too: the mean, its interval, then the paired tests
    keys = {
        "Mean": m,
        "Mean_CI_lower": tracking.CI_LOW_PREFIX + m,
        "Mean_CI_upper": tracking.CI_HIGH_PREFIX + m,
    }
    for vs in (report.VS_BASELINE, report.VS_REFERENCE):
        keys[f"diff_{vs}"] = tracking.DELTA_PREFIX + vs
        keys[f"p_holm_{vs}"] = tracking.P_HOLM_PREFIX + vs
    section = headline_section(m)
    head = {f"{section}/{name}": metrics[key] for name, key in keys.items() if key in metrics}
    return {**head, **metrics}


def padded_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table whose cells keep a space on each side when rendered, and whose columns
    line up in the raw text."""

    def cell(text: str) -> str:
        return _PAD + text.replace("|", "\\|") + _PAD * 2

    table = [[cell(h) for h in header]] + [[cell(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in table) for k in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if k == 0 else c.rjust(w)
            for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":" if k else ":" + "-" * (w + 1)) for k, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(table[0]), rule, *(line(r) for r in table[1:])])


def figure_links(experiment_id: str, parent_run_id: str) -> str:
    """One line of links to the parent run's figures with error bars."""
    links = " · ".join(
        f"[{label}]({tracking.artifact_url('', experiment_id, parent_run_id, path)})"
        for path, label in FIGURES
    )
    return f"Error bars (the UI's bar charts show means only): {links}."


def _plain(text: str) -> str:
    """Text that Markdown shows as written (brackets are not links)."""
    return text.replace("[", "\\[").replace("]", "\\]")


def parent_description(
    comparison: report.Comparison,
    experiment_id: str,
    parent_run_id: str,
    view: str | None,
    *,
    max_chars: int = 5000,
) -> str:
    """A launch's description: the verdict, the links to the figures with error bars and to the
    side-by-side view, the table (headline and paired tests, padded), and the key notes."""
    header, rows = comparison.display_rows(3, wide=False)
    notes = [n for n in comparison.notes() if "Holm" in n or n == comparison.reference_rule]
    side_by_side = tracking.experiment_url("", experiment_id, view)
    parts = [
        f"**{_plain(comparison.summary())}**",
        "",
        figure_links(experiment_id, parent_run_id)
        + f" [Compare the strategies side by side]({side_by_side}).",
        "",
        padded_table(header, rows),
        "",
        *(f"- {_plain(n)}" for n in notes),
    ]
    text = "\n".join(parts)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def summary_description(
    comparison: report.Comparison, strategy: str, experiment_id: str, parent_run_id: str
) -> str:
    """A summary run's description: its strategy's verdict, then the links to the launch and to
    the figures with error bars."""
    launch = tracking.run_url("", experiment_id, parent_run_id)
    return "\n".join(
        [
            f"**{_plain(comparison.strategy_sentence(strategy))}**",
            "",
            f"Mean over folds × seeds of the [launch]({launch}); the "
            f"`{headline_section(comparison.metric)}/...` charts come first.",
            "",
            figure_links(experiment_id, parent_run_id),
        ]
    )


def model_description(model_name: str, alias: str) -> str:
    """The registered model's description: what it is and how to use it."""
    return "\n".join(
        [
            f"Fraud scorer exported by fraudgan: the champion strategy of an experiment, "
            f"retrained on all its data. The alias `{alias}` names the version in use.",
            "",
            f"- Score a file: `fraudgan score --model models:/{model_name}@{alias} "
            "--input new.csv --output scores.csv`",
            f"- Serve it over REST on 127.0.0.1: `fraudgan serve --model "
            f"models:/{model_name}@{alias}`",
            "- Each version's description: its strategy, data, validation metrics, threshold, "
            "and links to its launch.",
        ]
    )
