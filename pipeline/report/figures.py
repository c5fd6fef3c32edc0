"""The comparison's figures: metrics with intervals, paired differences, PR curves, timings."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.report.comparison import VS_BASELINE, VS_REFERENCE, Comparison
from pipeline.report.metrics import difference_range, finite, metric_label, metric_range

GROUP_COLORS = {
    "baseline": "#7f7f7f",
    "resampler": "#1f77b4",
    "gan": "#ff7f0e",
    "other": "#2ca02c",
}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(c: Comparison) -> list[str]:
    return [GROUP_COLORS.get(g, GROUP_COLORS["other"]) for g in c.table["group"]]


def _clipped_errors(
    center: np.ndarray, lo: np.ndarray, hi: np.ndarray, bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Error-bar extents of [lo, hi] clipped to `bounds`, and which intervals were clipped."""
    low, high = np.clip(lo, *bounds), np.clip(hi, *bounds)
    clipped = np.isfinite(lo) & ((lo < bounds[0]) | (hi > bounds[1]))
    err = np.vstack([np.nan_to_num(center - low).clip(0), np.nan_to_num(high - center).clip(0)])
    return err, clipped


def _annotate_intervals(
    ax: Any, center: np.ndarray, lo: np.ndarray, n: np.ndarray, clipped: np.ndarray
) -> None:
    """Say, beside each point, when its interval is missing (n < 2) or clipped to the range."""
    for yi, (mi, li, ni, cut) in enumerate(zip(center, lo, n, clipped, strict=True)):
        if not np.isfinite(mi):
            continue
        text = (
            f"n={int(ni)}: too few for an interval"
            if not np.isfinite(li)
            else f"n={int(ni)}: interval clipped to the range"
            if cut
            else None
        )
        if text:
            ax.annotate(
                text, (mi, yi), xytext=(5, 4), textcoords="offset points", va="bottom", fontsize=7
            )


def _metric_intervals(c: Comparison) -> Figure | None:
    """Dot-and-whisker plot: zero-based bars would hide differences of a few thousandths."""
    shown = c.display_metrics()[:4]
    t = c.table
    n_strat = len(t)
    cols = 2 if len(shown) > 1 else 1
    nrows = math.ceil(len(shown) / cols)
    fig = _new_figure(6 * cols, max(2.5, 0.35 * n_strat + 1.2) * nrows)
    names = t["strategy"].tolist()[::-1]
    colors = _colors(c)[::-1]
    y = np.arange(n_strat)
    base = t.index[t["group"] == "baseline"]
    for i, m in enumerate(shown):
        ax = fig.add_subplot(nrows, cols, i + 1)
        mean = t[f"{m}_mean"].to_numpy(dtype=float)[::-1]
        lo = t[f"{m}_ci_low"].to_numpy(dtype=float)[::-1]
        hi = t[f"{m}_ci_high"].to_numpy(dtype=float)[::-1]
        n = t[f"{m}_n"].to_numpy(dtype=float)[::-1]
        err, clipped = _clipped_errors(mean, lo, hi, metric_range(m))
        ax.errorbar(mean, y, xerr=err, fmt="none", ecolor="black", capsize=3)
        ax.scatter(mean, y, c=colors, zorder=3)
        if len(base):
            ax.axvline(t.loc[base[0], f"{m}_mean"], color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, names)
        ax.set_xlabel(f"{metric_label(m)} (mean, {c.level} CI)")
        ax.grid(axis="x", alpha=0.3)
        _annotate_intervals(ax, mean, lo, n, clipped)
    fig.suptitle(
        f"Metrics per strategy: mean and {c.level} CI over folds × seeds (dashed: {c.baseline})"
    )
    return fig


def _difference_plot(c: Comparison) -> Figure | None:
    t = c.table
    panels = [vs for vs in (VS_BASELINE, VS_REFERENCE) if t[f"{vs}_diff"].notna().any()]
    if not panels:
        return None
    fig = _new_figure(6 * len(panels), max(2.5, 0.35 * len(t) + 1.2))
    for i, vs in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        sub = t[t[f"{vs}_diff"].notna()].iloc[::-1]
        y = np.arange(len(sub))
        d = sub[f"{vs}_diff"].to_numpy(dtype=float)
        lo = sub[f"{vs}_ci_low"].to_numpy(dtype=float)
        hi = sub[f"{vs}_ci_high"].to_numpy(dtype=float)
        n = sub[f"{vs}_n"].to_numpy(dtype=float)
        err, clipped = _clipped_errors(d, lo, hi, difference_range(c.metric))
        colors = [GROUP_COLORS.get(g, GROUP_COLORS["other"]) for g in sub["group"]]
        ax.errorbar(d, y, xerr=err, fmt="none", ecolor="black", capsize=3)
        ax.scatter(d, y, c=colors, zorder=3)
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        labels = [f"{s} ({v})" for s, v in zip(sub["strategy"], sub[f"{vs}_verdict"], strict=True)]
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(f"Δ {metric_label(c.metric)} {c.ref_header(vs)}")
        ax.grid(axis="x", alpha=0.3)
        _annotate_intervals(ax, d, lo, n, clipped)
    fig.suptitle(f"Paired differences on the same folds × seeds ({c.level} CI, Holm-adjusted p)")
    return fig


def _pr_plot(c: Comparison, pr_curves: Mapping[str, np.ndarray]) -> Figure | None:
    curves = {k: np.asarray(v, dtype=float) for k, v in pr_curves.items() if len(v)}
    if not curves:
        return None
    fig = _new_figure(7, 5)
    ax = fig.add_subplot(1, 1, 1)
    order = [s for s in c.strategies if s in curves] + [s for s in curves if s not in c.strategies]
    groups = dict(zip(c.table["strategy"], c.table["group"], strict=True))
    for s in order:
        curve = curves[s]
        recall = np.linspace(0, 1, curve.size)
        mean = c.row(s)[f"{c.metric}_mean"] if s in groups else math.nan
        label = f"{s} (mean {metric_label(c.metric)} {mean:.3f})" if finite(mean) else s
        style = "--" if groups.get(s) == "baseline" else "-"
        ax.plot(recall, curve, style, label=label, linewidth=1.5)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Mean interpolated precision–recall curves over folds × seeds")
    return fig


def _timing_plot(c: Comparison) -> Figure | None:
    timings = c.timing_metrics()
    if not timings:
        return None
    t = c.table
    fig = _new_figure(max(6, 0.9 * len(t) + 2), 4)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(t))
    width = 0.8 / len(timings)
    positive = []
    for i, m in enumerate(timings):
        mean = t[f"{m}_mean"].to_numpy(dtype=float)
        lo = t[f"{m}_ci_low"].to_numpy(dtype=float)
        hi = t[f"{m}_ci_high"].to_numpy(dtype=float)
        err = np.vstack([np.nan_to_num(mean - lo).clip(0), np.nan_to_num(hi - mean).clip(0)])
        ax.bar(
            x + (i - (len(timings) - 1) / 2) * width,
            np.nan_to_num(mean),
            width,
            yerr=err,
            capsize=2,
            label=m.removesuffix("_seconds"),
        )
        positive.extend(v for v in mean if np.isfinite(v) and v > 0)
    if positive and max(positive) / min(positive) > 100:
        ax.set_yscale("log")
    ax.set_xticks(x, t["strategy"].tolist(), rotation=30, ha="right")
    ax.set_ylabel("seconds per fold (mean)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Wall-clock time per stage")
    return fig


def comparison_figures(
    c: Comparison, pr_curves: Mapping[str, np.ndarray] | None
) -> dict[str, tuple[str, Figure]]:
    """The figures that apply, by file stem: (title, figure); PR curves only with `pr_curves`."""
    out: dict[str, tuple[str, Figure]] = {}
    for name, title, fig in (
        ("metrics", "Metrics with confidence intervals", _metric_intervals(c)),
        ("paired_differences", "Paired differences", _difference_plot(c)),
        ("pr_curves", "Precision–recall curves", _pr_plot(c, pr_curves) if pr_curves else None),
        ("timings", "Time per stage", _timing_plot(c)),
    ):
        if fig is not None:
            out[name] = (title, fig)
    return out


CAPTIONS = {
    "metrics": "Each interval includes the fold-to-fold variation that all strategies share, so "
    "intervals can overlap while one strategy is better on every fold: compare strategies with "
    "the paired differences below.",
    "pr_curves": "Per strategy, the mean over folds × seeds of the interpolated precision "
    "(best precision at recall >= r) at 101 recall levels; the legend gives the mean of the "
    "headline metric.",
}


def rendered_figures(
    c: Comparison, pr_curves: Mapping[str, np.ndarray] | None = None
) -> dict[str, tuple[str, bytes]]:
    """The figures that apply (`comparison_figures`), drawn once: (title, PNG bytes) by file stem,
    for the page and the PNG files alike."""
    return {
        name: (title, png_bytes(fig))
        for name, (title, fig) in comparison_figures(c, pr_curves).items()
    }


def save_figures(
    comparison: Comparison,
    directory: str | Path,
    *,
    pr_curves: Mapping[str, np.ndarray] | None = None,
    rendered: Mapping[str, tuple[str, bytes]] | None = None,
) -> list[Path]:
    """Write the report's figures as PNG files into `directory` (created if needed); `rendered`:
    figures already drawn (`rendered_figures`), so that the page's are not drawn again."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if rendered is None:
        rendered = rendered_figures(comparison, pr_curves)
    paths = []
    for name, (_, png) in rendered.items():
        path = directory / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


def png_bytes(fig: Figure) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def png_base64(fig: Figure | bytes) -> str:
    """A figure (or its PNG bytes) as base64 PNG text, for an inline
    `<img src="data:image/png;base64,...">`."""
    png = fig if isinstance(fig, bytes) else png_bytes(fig)
    return base64.b64encode(png).decode("ascii")
