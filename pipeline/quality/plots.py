"""The quality report's figures: real vs synthetic per column, a PCA projection, and the DCRs."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from models.two_sample import FrameEncoding, as_float
from pipeline.quality.measures import DCR_QUANTILE, category_shares

MAX_PLOT_COLUMNS = 24
MAX_PLOT_ROWS = 5_000


@dataclass
class PlotData:
    """What the figures draw: subsampled rows, their PCA projection, and the DCRs."""

    real: pd.DataFrame
    synthetic: pd.DataFrame
    continuous: list[str]
    categorical: list[str]
    projection_real: np.ndarray
    projection_synthetic: np.ndarray
    explained: tuple[float, float]
    dcr_synthetic: np.ndarray
    dcr_holdout: np.ndarray | None
    leave_one_out: bool = False  # dcr_holdout: the training rows, each to the closest other


def plot_data(
    enc: FrameEncoding,
    real_p: pd.DataFrame,
    synth_p: pd.DataFrame,
    continuous: list[str],
    categorical: list[str],
    real_d: np.ndarray,
    dcr_synthetic: np.ndarray,
    dcr_holdout: np.ndarray | None,
    leave_one_out: bool = False,
) -> PlotData:
    """The figures' data from the rows to draw (at most `MAX_PLOT_ROWS` a side); the PCA is
    fitted on `real_d`, the distance encoding of every real row."""
    synth_d = enc.distance_matrix(synth_p)
    real_pd = enc.distance_matrix(real_p)
    if real_d.shape[1] >= 2 and len(real_d) >= 2:
        pca = PCA(n_components=2, random_state=0).fit(real_d)
        proj_real, proj_synth = pca.transform(real_pd), pca.transform(synth_d)
        ratio = pca.explained_variance_ratio_
        explained = (float(ratio[0]), float(ratio[1]))
    else:  # one encoded dimension, or one real row: plot the raw encoding
        pad = 2 - min(real_d.shape[1], 2)
        proj_real = np.pad(real_pd[:, :2], ((0, 0), (0, pad)))
        proj_synth = np.pad(synth_d[:, :2], ((0, 0), (0, pad)))
        explained = (math.nan, math.nan)
    return PlotData(
        real_p.reset_index(drop=True),
        synth_p.reset_index(drop=True),
        continuous,
        categorical,
        proj_real,
        proj_synth,
        explained,
        dcr_synthetic,
        dcr_holdout,
        leave_one_out,
    )


REAL_COLOR = "#1f77b4"
SYNTH_COLOR = "#ff7f0e"
HOLDOUT_COLOR = "#2ca02c"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _figure_distributions(plot: PlotData, per_column: pd.DataFrame) -> Figure:
    ranked = per_column.sort_values("statistic", ascending=False, kind="stable")
    shown = ranked.head(MAX_PLOT_COLUMNS)
    n = max(len(shown), 1)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    width, height = 4.0 * ncols, 2.9 * nrows
    fig = Figure(figsize=(width, height))
    # fixed margins in inches (room for a row of labels at 45 degrees); a constrained layout
    # costs twice the drawing
    margins = {"left": 0.5 / width, "right": 1 - 0.15 / width, "top": 1 - 0.7 / height}
    margins["bottom"] = 0.75 / height
    axes = fig.subplots(
        nrows, ncols, squeeze=False, gridspec_kw={**margins, "wspace": 0.2, "hspace": 0.7}
    ).ravel()
    for ax, (_, row) in zip(axes, shown.iterrows(), strict=False):
        col = row["column"]
        if row["kind"] == "continuous":
            _hist_panel(ax, plot.real[col], plot.synthetic[col])
            ax.set_yticks([])  # a density's scale says nothing the shapes do not
            label = "KS"
        else:
            _bar_panel(ax, plot.real[col], plot.synthetic[col])
            label = "TVD"
        missing = ""
        if row["missing_real"] > 0 or row["missing_synthetic"] > 0:
            missing = f"; missing {row['missing_real']:.0%} vs {row['missing_synthetic']:.0%}"
        ax.set_title(f"{col}  ({label} {row['statistic']:.3f}{missing})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    extra = len(ranked) - len(shown)
    title = "Real vs synthetic, per column (largest difference first)"
    if extra > 0:
        title += f"; {extra} more columns not shown"
    fig.suptitle(title, fontsize=11, y=1 - 0.15 / height, va="top")
    return fig


def _hist_panel(ax: Any, real: pd.Series, synthetic: pd.Series) -> None:
    a, b = as_float(real), as_float(synthetic)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    both = np.concatenate([a, b])
    if both.size == 0:
        ax.text(0.5, 0.5, "all missing", ha="center", transform=ax.transAxes)
        return
    lo, hi = np.quantile(both, [0.005, 0.995])
    if np.array_equal(both, np.round(both)) and hi - lo <= 60:  # counts: one bar per integer
        lo, hi = math.floor(lo) - 0.5, math.ceil(hi) + 0.5
        bins = np.arange(lo, hi + 0.5)
    else:
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 31)
    for values, color, name in ((a, REAL_COLOR, "real"), (b, SYNTH_COLOR, "synthetic")):
        if values.size:
            _step_histogram(ax, values, bins, color, name, linewidth=1.4)


def _step_histogram(
    ax: Any, values: np.ndarray, bins: np.ndarray, color: str, label: str, *, linewidth: float
) -> None:
    """A density histogram outline of `values`, those outside the bins counted in the end bins."""
    ax.hist(
        np.clip(values, bins[0], bins[-1]),
        bins=bins,
        density=True,
        histtype="step",
        linewidth=linewidth,
        color=color,
        label=label,
    )


def _bar_panel(ax: Any, real: pd.Series, synthetic: pd.Series, top: int = 12) -> None:
    p = category_shares(real)
    q = category_shares(synthetic)
    both = pd.concat([p, q], axis=1, keys=["real", "synthetic"]).fillna(0.0)
    both = both.sort_values("real", ascending=False, kind="stable")
    if len(both) > top:
        rest = both.iloc[top - 1 :].sum().rename("other")
        both = pd.concat([both.iloc[: top - 1], rest.to_frame().T])
    x = np.arange(len(both))
    ax.bar(x - 0.2, both["real"], width=0.4, color=REAL_COLOR, label="real")
    ax.bar(x + 0.2, both["synthetic"], width=0.4, color=SYNTH_COLOR, label="synthetic")
    ax.set_xticks(x, [str(v)[:14] for v in both.index], rotation=45, ha="right")


def _figure_projection(plot: PlotData) -> Figure:
    fig = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.scatter(*plot.projection_real.T, s=6, alpha=0.5, color=REAL_COLOR, label="real")
    ax.scatter(*plot.projection_synthetic.T, s=6, alpha=0.5, color=SYNTH_COLOR, label="synthetic")
    e1, e2 = plot.explained
    if math.isnan(e1):
        ax.set_xlabel("encoded column 1")
        ax.set_ylabel("encoded column 2")
    else:
        ax.set_xlabel(f"PC 1 ({e1:.0%} of real variance)")
        ax.set_ylabel(f"PC 2 ({e2:.0%})")
    ax.set_title("PCA of the standardised encoding (fitted on real rows)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _figure_dcr(plot: PlotData) -> Figure:
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    series = [(plot.dcr_synthetic, SYNTH_COLOR, "synthetic to training")]
    reference = "training to other training" if plot.leave_one_out else "holdout to training"
    if plot.dcr_holdout is not None:
        series.append((plot.dcr_holdout, HOLDOUT_COLOR, reference))
    top = max(float(np.quantile(s, 0.99)) for s, _, _ in series)
    bins = np.linspace(0.0, top if top > 0 else 1.0, 41)
    for values, color, name in series:
        _step_histogram(ax, values, bins, color, name, linewidth=1.5)
    if plot.dcr_holdout is not None:
        p05 = float(np.quantile(plot.dcr_holdout, DCR_QUANTILE))
        ax.axvline(
            p05, color=HOLDOUT_COLOR, linestyle="--", linewidth=1, label=f"{reference} 5th pct"
        )
    ax.set_xlabel("distance to the closest real training row")
    ax.set_ylabel("density")
    ax.set_title("Distance to closest record (DCR)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def quality_figures(plot: PlotData, per_column: pd.DataFrame) -> dict[str, bytes]:
    """PNG bytes of each figure by file stem."""
    return {
        "quality_distributions": _png(_figure_distributions(plot, per_column)),
        "quality_projection": _png(_figure_projection(plot)),
        "quality_dcr": _png(_figure_dcr(plot)),
    }
