"""The honest comparison: per-strategy means with confidence intervals, and paired tests.

`compare` turns one row per (strategy, fold, seed) into one row per strategy: mean, standard
deviation and a t-interval of every metric over the folds x seeds, and paired tests of the headline
metric on the same (fold, seed) against the baseline and against the best SMOTE-family strategy.
The `Comparison` renders as Markdown, CSV, a rich table, a plain-language summary, PNG figures and
one self-contained HTML report.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from pipeline import evaluate
from pipeline.errors import DataError

log = logging.getLogger(__name__)

SMOTE_FAMILY: tuple[str, ...] = ("ros", "smote", "borderline", "adasyn", "smotenc", "smote_tomek")
TIMING_COLUMNS: tuple[str, ...] = ("resample_seconds", "fit_seconds", "predict_seconds")
SECONDARY_METRICS: tuple[str, ...] = (
    evaluate.ROC_AUC,
    evaluate.RECALL_AT_FPR_1PCT,
    evaluate.PRECISION_AT_K,
    evaluate.CARD_PRECISION_AT_K,
    evaluate.F1_TUNED,
    evaluate.AMOUNT_CAUGHT_TUNED,
)
"""Metrics shown next to the headline in the Markdown/HTML table, when present."""

MIN_PAIRS_WILCOXON = 6
"""Below this many pairs a Wilcoxon signed-rank test cannot reach p < 0.05; a paired t-test is used."""

ID_COLUMNS = ("strategy", "kind", "fold", "seed")
META_COLUMNS = ("headline_metric", "baseline", "alpha", "test_train_ratio")
VS_BASELINE = "vs_baseline"
VS_SMOTE = "vs_smote"
PAIR_FIELDS = ("ref", "n", "diff", "ci_low", "ci_high", "p", "test", "verdict")
TEXT_COLUMNS = (
    "strategy",
    "kind",
    "group",
    f"{VS_BASELINE}_ref",
    f"{VS_BASELINE}_test",
    f"{VS_BASELINE}_verdict",
    f"{VS_SMOTE}_ref",
    f"{VS_SMOTE}_test",
    f"{VS_SMOTE}_verdict",
    "headline_metric",
    "baseline",
)
REFERENCE = "reference"

GROUP_COLORS = {"baseline": "#7f7f7f", "smote": "#1f77b4", "gan": "#ff7f0e", "other": "#2ca02c"}


def lower_is_better(metric: str) -> bool:
    """True for metrics where smaller is better: the Brier score and every `*_seconds` timing."""
    return metric in evaluate.LOWER_IS_BETTER or metric.endswith("_seconds")


def metric_label(metric: str) -> str:
    """A short human label: "AUPRC" for average_precision, the key itself otherwise."""
    return evaluate.METRIC_LABELS.get(metric, metric)


# --------------------------------------------------------------------------------------------
# statistics


def t_interval(
    values: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    test_train_ratio: float | None = None,
) -> tuple[float, float, float, int]:
    """(mean, lower, upper, n) of the (1 - alpha) t-interval of the non-missing values.

    With `test_train_ratio` (n_test / n_train of one fold) the variance of the mean is inflated to
    s^2 (1/n + ratio), the Nadeau-Bengio correction for resamples that share training rows.
    The interval is NaN when fewer than two values remain.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * _standard_error(v, test_train_ratio)
    return mean, mean - half, mean + half, n


def _standard_error(v: np.ndarray, test_train_ratio: float | None) -> float:
    sd = float(v.std(ddof=1))
    factor = 1 / v.size if test_train_ratio is None else 1 / v.size + test_train_ratio
    return sd * math.sqrt(factor)


def format_p(p: float) -> str:
    """'p=0.031', 'p<0.001', or 'p=n/a'."""
    if p is None or not np.isfinite(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


@dataclass(frozen=True)
class PairedResult:
    """A paired comparison of one strategy with a reference on the shared (fold, seed) pairs."""

    ref: str
    n: int
    diff: float
    ci_low: float
    ci_high: float
    p: float
    test: str
    verdict: str


def paired_test(
    values: pd.Series,
    reference: pd.Series,
    *,
    ref_name: str,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    test_train_ratio: float | None = None,
) -> PairedResult:
    """Compare `values` with `reference` on their common index (pairs missing on either side drop).

    The difference is values - reference, with a (1 - alpha) t-interval of the paired differences.
    The p-value comes from the Wilcoxon signed-rank test with >= 6 pairs, else from a paired
    t-test; with `test_train_ratio` from the corrected resampled t-test (Nadeau & Bengio) instead.
    """
    joined = pd.concat({"a": values, "b": reference}, axis=1).dropna()
    d = (joined["a"] - joined["b"]).to_numpy(dtype=float)
    n = int(d.size)
    nan = math.nan
    if n == 0:
        return PairedResult(ref_name, 0, nan, nan, nan, nan, "", "no common folds")
    mean, lo, hi, _ = t_interval(d, alpha=alpha, test_train_ratio=test_train_ratio)
    if n == 1:
        return PairedResult(ref_name, 1, mean, nan, nan, nan, "", "no test (1 pair)")
    if np.all(d == 0):
        p, test = 1.0, "identical"
    elif test_train_ratio is not None:
        p, test = _t_p_value(d, test_train_ratio), "corrected t"
    elif n >= MIN_PAIRS_WILCOXON:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p, test = float(stats.wilcoxon(d).pvalue), "wilcoxon"
    else:
        p, test = _t_p_value(d, None), "paired t"
    return PairedResult(
        ref_name, n, mean, lo, hi, p, test, _verdict(mean, p, alpha, higher_is_better)
    )


def _t_p_value(d: np.ndarray, test_train_ratio: float | None) -> float:
    se = _standard_error(d, test_train_ratio)
    mean = float(d.mean())
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean / se), d.size - 1))


def _verdict(diff: float, p: float, alpha: float, higher_is_better: bool) -> str:
    if not np.isfinite(p):
        return "no test"
    if p < alpha and diff != 0:
        good = diff > 0 if higher_is_better else diff < 0
        return f"{'better' if good else 'worse'} ({format_p(p)})"
    return f"not significant ({format_p(p)})"


# --------------------------------------------------------------------------------------------
# the comparison


@dataclass
class Comparison:
    """One row per strategy (best first) with metric summaries and paired tests; renderers."""

    table: pd.DataFrame
    metric: str = evaluate.AVERAGE_PRECISION
    baseline: str = "none"
    smote_reference: str | None = None
    alpha: float = 0.05
    test_train_ratio: float | None = None
    notes: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- helpers
    @property
    def level(self) -> str:
        """The confidence level as text, e.g. '95%'."""
        return f"{(1 - self.alpha) * 100:g}%"

    @property
    def strategies(self) -> list[str]:
        """Strategy names, best first."""
        return self.table["strategy"].tolist()

    def metrics(self) -> list[str]:
        """Every metric summarized in the table (headline first)."""
        cols = [c[: -len("_mean")] for c in self.table.columns if c.endswith("_mean")]
        return sorted(cols, key=lambda c: c != self.metric)

    def display_metrics(self) -> list[str]:
        """The headline and the secondary metrics present in the table."""
        have = set(self.metrics())
        return [self.metric] + [m for m in SECONDARY_METRICS if m in have and m != self.metric]

    def timing_metrics(self) -> list[str]:
        """The timing columns present in the table."""
        have = set(self.metrics())
        return [m for m in TIMING_COLUMNS if m in have]

    def row(self, strategy: str) -> pd.Series:
        """The table row of one strategy."""
        rows = self.table[self.table["strategy"] == strategy]
        if rows.empty:
            raise KeyError(f"strategy {strategy!r} is not in the comparison")
        return rows.iloc[0]

    def _notes(self) -> list[str]:
        n = self.table["n"]
        if self.test_train_ratio is None:
            test = (
                f"p from the Wilcoxon signed-rank test with >= {MIN_PAIRS_WILCOXON} pairs, "
                "else a paired t-test"
            )
            caveat = (
                "Folds share training rows, so the intervals and tests treat correlated "
                "resamples as independent and are somewhat optimistic (Nadeau & Bengio, 2003)."
            )
        else:
            test = "p from the corrected resampled t-test"
            caveat = (
                "Intervals and tests use the Nadeau & Bengio (2003) correction for resamples "
                f"that share training rows, test/train ratio {self.test_train_ratio:g}."
            )
        lines = [
            f"Values: mean ± half-width of the {self.level} t-interval over each strategy's "
            "folds × seeds (n per row).",
            f"Δ: strategy − reference on the same (fold, seed) pairs, with the {self.level} "
            f"t-interval of the paired differences; {test}. p-values are not adjusted for "
            f"multiple comparisons ({len(self.table)} strategies).",
            caveat,
        ]
        tests = {
            self.table.get(f"{vs}_test", pd.Series(dtype=object)).eq("wilcoxon").any()
            for vs in (VS_BASELINE, VS_SMOTE)
        }
        if True in tests:
            lines.append(
                "The interval of Δ (t) and the Wilcoxon p-value are different procedures and can "
                "disagree near the significance level; the verdict follows the p-value."
            )
        if (n <= 1).any():
            lines.append("Rows with n=1 have no interval and no test: add folds or seeds.")
        if (n < n.max()).any():
            lines.append(
                "Some (fold, seed) results are missing (failed runs): they are left out of the "
                "paired tests, whose n is shown."
            )
        return lines + list(self.notes)

    def _mean_cell(self, r: pd.Series, metric: str, digits: int) -> str:
        mean = r.get(f"{metric}_mean", math.nan)
        if not _finite(mean):
            return "n/a"
        lo, hi = r.get(f"{metric}_ci_low", math.nan), r.get(f"{metric}_ci_high", math.nan)
        if not (_finite(lo) and _finite(hi)):
            return f"{mean:.{digits}f} (no CI)"
        return f"{mean:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"

    def _pair_cells(self, r: pd.Series, vs: str, digits: int) -> tuple[str, str]:
        verdict = str(r.get(f"{vs}_verdict", "") or "")
        diff = r.get(f"{vs}_diff", math.nan)
        if verdict == REFERENCE or not _finite(diff):
            return "", verdict
        n = int(r.get(f"{vs}_n", 0))
        lo, hi = r.get(f"{vs}_ci_low", math.nan), r.get(f"{vs}_ci_high", math.nan)
        ci = f" [{lo:+.{digits}f}, {hi:+.{digits}f}]" if _finite(lo) and _finite(hi) else ""
        return f"{diff:+.{digits}f}{ci} (n={n})", verdict

    def _ref_header(self, vs: str) -> str:
        if vs == VS_BASELINE:
            return f"vs {self.baseline}"
        return f"vs {self.smote_reference or 'SMOTE'} (best SMOTE)"

    def _display_rows(self, digits: int) -> tuple[list[str], list[list[str]]]:
        header = ["strategy", "n"]
        header += [metric_label(m) for m in self.display_metrics()]
        for vs in (VS_BASELINE, VS_SMOTE):
            header += [f"Δ {metric_label(self.metric)} {self._ref_header(vs)}", "verdict"]
        header += [f"{m.removesuffix('_seconds')} s" for m in self.timing_metrics()]
        rows = []
        for _, r in self.table.iterrows():
            cells = [str(r["strategy"]), str(int(r["n"]))]
            cells += [self._mean_cell(r, m, digits) for m in self.display_metrics()]
            for vs in (VS_BASELINE, VS_SMOTE):
                cells += list(self._pair_cells(r, vs, digits))
            for m in self.timing_metrics():
                v = r.get(f"{m}_mean", math.nan)
                cells.append(f"{v:.2f}" if _finite(v) else "n/a")
            rows.append(cells)
        return header, rows

    # ---------------------------------------------------------------- renderers
    def to_markdown(self, *, digits: int = 4, notes: bool = True) -> str:
        """A GitHub-flavoured Markdown table (best first), followed by notes on the statistics."""
        header, rows = self._display_rows(digits)

        def line(cells: Iterable[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        align = ["---"] + ["---:"] * (len(header) - 1)
        out = [line(header), "|" + "|".join(align) + "|", *(line(r) for r in rows)]
        if notes:
            out += [""] + [f"- {n}" for n in self._notes()]
        return "\n".join(out)

    def to_csv(self, path: str | Path) -> Path:
        """Write the full table (every metric's mean, std, interval, n; the paired tests)."""
        path = Path(path)
        self.table.to_csv(path, index=False)
        return path

    @classmethod
    def from_csv(cls, path: str | Path) -> Comparison:
        """Reload a table written by `to_csv`."""
        path = Path(path)
        try:
            table = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{path}: cannot read the comparison table: {exc}") from exc
        missing = [c for c in ("strategy", "n", *META_COLUMNS) if c not in table]
        if missing or table.empty:
            raise DataError(
                f"{path}: not a comparison table written by Comparison.to_csv "
                f"(missing columns {missing or 'none'}, {len(table)} rows)"
            )
        for col in TEXT_COLUMNS:
            if col in table:
                table[col] = table[col].astype(object).where(table[col].notna(), "").astype(str)
        first = table.iloc[0]
        ratio = first["test_train_ratio"]
        smote_ref = str(first.get(f"{VS_SMOTE}_ref", "") or "") or None
        return cls(
            table=table,
            metric=str(first["headline_metric"]),
            baseline=str(first["baseline"]),
            smote_reference=smote_ref,
            alpha=float(first["alpha"]),
            test_train_ratio=None if not _finite(ratio) else float(ratio),
        )

    def to_rich_table(self, *, digits: int = 3, compact: bool = False) -> Any:
        """A `rich.table.Table`: mean ± half-width, paired differences and verdicts.

        `compact` keeps the headline metric, ROC-AUC and the paired tests (for narrow terminals).
        """
        from rich.table import Table

        header, rows = self._display_rows(digits)
        if compact:
            keep_labels = {metric_label(self.metric), metric_label("roc_auc")}
            keep = [
                i
                for i, h in enumerate(header)
                if i < 2 or h in keep_labels or h.startswith("Δ") or h == "verdict"
            ]
            header = [header[i] for i in keep]
            rows = [[cells[i] for i in keep] for cells in rows]
        table = Table(
            title=f"{metric_label(self.metric)}: mean ± {self.level} CI half-width over folds × seeds",
            caption="\n".join(self._notes()),
            caption_justify="left",
        )
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
        verdict_cols = {i for i, h in enumerate(header) if h == "verdict"}
        for cells in rows:
            table.add_row(
                *(_rich_verdict(c) if i in verdict_cols else c for i, c in enumerate(cells))
            )
        return table

    def summary(self, *, digits: int = 3) -> str:
        """A few plain-language sentences: the best strategy and how sure we are about it."""
        t = self.table
        if t.empty or not _finite(t.iloc[0].get(f"{self.metric}_mean", math.nan)):
            return f"No strategy has a {metric_label(self.metric)} value."
        best = t.iloc[0]
        parts = [f"Best: {self._strategy_sentence(best, digits)}"]
        for _, r in t.iloc[1:].iterrows():
            if r["group"] == "gan":
                parts.append(self._strategy_sentence(r, digits))
        if (t["n"] <= 1).any():
            parts.append("Strategies with n=1 have no confidence interval or test.")
        return " ".join(parts)

    def _strategy_sentence(self, r: pd.Series, digits: int) -> str:
        m = self.metric
        lo, hi = r[f"{m}_ci_low"], r[f"{m}_ci_high"]
        ci = f"[{lo:.{digits}f}, {hi:.{digits}f}]" if _finite(lo) and _finite(hi) else "(no CI)"
        text = (
            f"{r['strategy']} {metric_label(m)} {r[f'{m}_mean']:.{digits}f} {ci} (n={int(r['n'])})"
        )
        for vs in (VS_BASELINE, VS_SMOTE):
            ref = r.get(f"{vs}_ref", "")
            verdict = str(r.get(f"{vs}_verdict", "") or "")
            if not ref:
                continue
            label = ref if vs == VS_BASELINE else f"{ref} (best SMOTE-family)"
            if verdict == REFERENCE:
                role = "baseline" if vs == VS_BASELINE else "best SMOTE-family strategy"
                text += f"; it is the {role}"
                continue
            diff, cells = r.get(f"{vs}_diff", math.nan), self._pair_cells(r, vs, digits)[0]
            if not _finite(diff):
                text += f"; vs {label}: {verdict}"
                continue
            test = str(r.get(f"{vs}_test", "") or "")
            text += f"; vs {label} {cells}, {verdict}" + (f" [{test}]" if test else "")
        return text + "."


def _rich_verdict(text: str) -> str:
    from rich.markup import escape

    if text.startswith("better"):
        return f"[green]{escape(text)}[/]"
    if text.startswith("worse"):
        return f"[red]{escape(text)}[/]"
    return f"[dim]{escape(text)}[/]" if text else ""


def _finite(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def _check_results(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    if not isinstance(results, pd.DataFrame):
        raise DataError(
            f"compare: results must be a pandas DataFrame, found {type(results).__name__}"
        )
    missing = [c for c in ("strategy", "fold", "seed", metric) if c not in results]
    if missing:
        raise DataError(
            f"compare: results lack columns {missing}; expected one row per (strategy, fold, seed) "
            f"with metric columns, found columns {list(results.columns)}"
        )
    if results.empty:
        raise DataError("compare: results has no rows (every child run failed?)")
    frame = results.copy()
    frame["strategy"] = frame["strategy"].astype(str)
    if "kind" in frame:
        kind = frame["kind"].astype(object)
        frame["kind"] = kind.where(kind.notna() & (kind.astype(str) != ""), frame["strategy"])
        frame["kind"] = frame["kind"].astype(str)
    else:
        frame["kind"] = frame["strategy"]
    dup = frame.duplicated(["strategy", "fold", "seed"], keep=False)
    if dup.any():
        keys = frame.loc[dup, ["strategy", "fold", "seed"]].drop_duplicates().head(5)
        raise DataError(
            "compare: several rows for the same (strategy, fold, seed): "
            + ", ".join(f"({s}, {f}, {sd})" for s, f, sd in keys.itertuples(index=False))
        )
    if not _numeric(frame[metric]):
        raise DataError(f"compare: metric column {metric!r} is not numeric ({frame[metric].dtype})")
    return frame


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _group(strategy: str, kind: str, baseline: str, smote_family: Sequence[str]) -> str:
    if strategy == baseline:
        return "baseline"
    if kind in smote_family:
        return "smote"
    return "gan" if "gan" in kind.lower() else "other"


def compare(
    results: pd.DataFrame,
    *,
    baseline: str = "none",
    smote_family: Sequence[str] = SMOTE_FAMILY,
    metric: str = evaluate.AVERAGE_PRECISION,
    alpha: float = 0.05,
    test_train_ratio: float | None = None,
) -> Comparison:
    """Summarize per-(strategy, fold, seed) results into a `Comparison`, best strategy first.

    Every numeric column other than fold and seed is summarized (mean, std, t-interval, n). The
    headline `metric` gets paired tests against `baseline` and against the SMOTE-family strategy
    (its `kind`, or its name without a `kind` column, in `smote_family`) with the best mean.
    Rows are sorted by the headline mean, best first (descending; ascending for lower-is-better
    metrics such as the Brier score). `test_train_ratio` switches intervals and tests to the
    Nadeau-Bengio corrected resampled t.
    """
    if not 0 < alpha < 1:
        raise DataError(f"compare: alpha must be in (0, 1), found {alpha!r}")
    frame = _check_results(results, metric)
    metrics = [c for c in frame.columns if c not in ID_COLUMNS and _numeric(frame[c])]
    metrics = [metric] + [m for m in metrics if m != metric]
    skipped = [c for c in frame.columns if c not in ID_COLUMNS and c not in metrics]
    if skipped:
        log.debug("compare: non-numeric columns left out: %s", skipped)
    higher = not lower_is_better(metric)

    rows: list[dict[str, Any]] = []
    for strategy, g in frame.groupby("strategy", sort=True):
        kind = str(g["kind"].iloc[0])
        row: dict[str, Any] = {
            "strategy": strategy,
            "kind": kind,
            "group": _group(str(strategy), kind, baseline, smote_family),
            "n": int(g[metric].notna().sum()),
        }
        for m in metrics:
            values = g[m].to_numpy(dtype=float)
            mean, lo, hi, n = t_interval(values, alpha=alpha, test_train_ratio=test_train_ratio)
            finite = values[~np.isnan(values)]
            row[f"{m}_mean"] = mean
            row[f"{m}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
            row[f"{m}_ci_low"], row[f"{m}_ci_high"], row[f"{m}_n"] = lo, hi, n
        rows.append(row)
    table = pd.DataFrame(rows)

    key = f"{metric}_mean"
    table = table.sort_values(
        [key, "strategy"], ascending=[not higher, True], na_position="last", kind="stable"
    ).reset_index(drop=True)

    smote_rows = table[(table["group"] == "smote") & table[key].notna()]
    smote_ref = None if smote_rows.empty else str(smote_rows.iloc[0]["strategy"])
    by_pair = frame.set_index(["fold", "seed"])
    series = {s: g[metric].astype(float) for s, g in by_pair.groupby("strategy")}
    if baseline not in series:
        log.warning("compare: baseline %r is not in the results; no tests against it", baseline)
    if smote_ref is None:
        log.warning(
            "compare: no SMOTE-family strategy (%s) in the results", ", ".join(smote_family)
        )

    for vs, ref, missing_text in (
        (VS_BASELINE, baseline if baseline in series else None, f"no {baseline} run"),
        (VS_SMOTE, smote_ref, "no SMOTE-family run"),
    ):
        cells: dict[str, list[Any]] = {f: [] for f in PAIR_FIELDS}
        for strategy in table["strategy"]:
            if ref is None:
                res = PairedResult("", 0, math.nan, math.nan, math.nan, math.nan, "", missing_text)
            elif strategy == ref:
                res = PairedResult(ref, 0, math.nan, math.nan, math.nan, math.nan, "", REFERENCE)
            else:
                res = paired_test(
                    series[strategy],
                    series[ref],
                    ref_name=ref,
                    alpha=alpha,
                    higher_is_better=higher,
                    test_train_ratio=test_train_ratio,
                )
            for f in PAIR_FIELDS:
                cells[f].append(getattr(res, f))
        for f in PAIR_FIELDS:
            table[f"{vs}_{f}"] = cells[f]

    metric_blocks = [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high", "n")]
    pair_cols = [f"{vs}_{f}" for vs in (VS_BASELINE, VS_SMOTE) for f in PAIR_FIELDS]
    head = ["strategy", "kind", "group", "n"]
    ordered = head + metric_blocks[:5] + pair_cols + metric_blocks[5:]
    table = table[ordered]
    table["headline_metric"] = metric
    table["baseline"] = baseline
    table["alpha"] = float(alpha)
    table["test_train_ratio"] = math.nan if test_train_ratio is None else float(test_train_ratio)
    return Comparison(
        table=table,
        metric=metric,
        baseline=baseline,
        smote_reference=smote_ref,
        alpha=alpha,
        test_train_ratio=test_train_ratio,
    )


# --------------------------------------------------------------------------------------------
# figures


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(c: Comparison) -> list[str]:
    return [GROUP_COLORS.get(g, GROUP_COLORS["other"]) for g in c.table["group"]]


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
        err = np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)])
        ax.errorbar(mean, y, xerr=err, fmt="none", ecolor="black", capsize=3)
        ax.scatter(mean, y, c=colors, zorder=3)
        if len(base):
            ax.axvline(t.loc[base[0], f"{m}_mean"], color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, names)
        ax.set_xlabel(f"{metric_label(m)} (mean, {c.level} CI)")
        ax.grid(axis="x", alpha=0.3)
        for yi, (mi, li) in enumerate(zip(mean, lo, strict=True)):
            if np.isfinite(mi) and not np.isfinite(li):
                ax.annotate(
                    "no CI",
                    (mi, yi),
                    xytext=(5, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7,
                )
    fig.suptitle(
        f"Metrics per strategy: mean and {c.level} CI over folds × seeds (dashed: {c.baseline})"
    )
    return fig


def _difference_plot(c: Comparison) -> Figure | None:
    t = c.table
    panels = [vs for vs in (VS_BASELINE, VS_SMOTE) if t[f"{vs}_diff"].notna().any()]
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
        err = np.vstack([np.nan_to_num(d - lo), np.nan_to_num(hi - d)])
        colors = [GROUP_COLORS.get(g, GROUP_COLORS["other"]) for g in sub["group"]]
        ax.errorbar(d, y, xerr=err, fmt="none", ecolor="black", capsize=3)
        ax.scatter(d, y, c=colors, zorder=3)
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        labels = [f"{s} ({v})" for s, v in zip(sub["strategy"], sub[f"{vs}_verdict"], strict=True)]
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(f"Δ {metric_label(c.metric)} {c._ref_header(vs)}")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Paired differences on the same folds × seeds ({c.level} CI)")
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
        label = f"{s} (mean {metric_label(c.metric)} {mean:.3f})" if _finite(mean) else s
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


def _figures(
    c: Comparison, pr_curves: Mapping[str, np.ndarray] | None
) -> dict[str, tuple[str, Figure]]:
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


_CAPTIONS = {
    "metrics": "Each interval includes the fold-to-fold variation that all strategies share, so "
    "intervals can overlap while one strategy is better on every fold: compare strategies with "
    "the paired differences below.",
    "pr_curves": "Per strategy, the mean over folds × seeds of the interpolated precision "
    "(best precision at recall >= r) at 101 recall levels; the legend gives the mean of the "
    "headline metric.",
}


def save_figures(
    comparison: Comparison,
    directory: str | Path,
    *,
    pr_curves: Mapping[str, np.ndarray] | None = None,
) -> list[Path]:
    """Write the report's figures as PNG files into `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (_, fig) in _figures(comparison, pr_curves).items():
        path = directory / f"{name}.png"
        fig.savefig(path, format="png")
        paths.append(path)
    return paths


def _png_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
td.better { color: #1a7f37; font-weight: 600; }
td.worse { color: #cf222e; font-weight: 600; }
td.ns { color: #666; }
.summary { font-size: 1.05em; background: #f6f8fa; padding: 0.8em; border-left: 4px solid #888; }
.notes { font-size: 0.85em; color: #555; }
img { max-width: 100%; }
"""


def _html_table(c: Comparison, digits: int = 4) -> str:
    header, rows = c._display_rows(digits)
    verdict_cols = {i for i, h in enumerate(header) if h == "verdict"}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for cells in rows:
        tds = []
        for i, cell in enumerate(cells):
            cls = ""
            if i in verdict_cols:
                cls = (
                    "better"
                    if cell.startswith("better")
                    else "worse"
                    if cell.startswith("worse")
                    else "ns"
                )
            attr = f' class="{cls}"' if cls else ""
            tds.append(f"<td{attr}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="summary">{html.escape(c.summary())}</p>',
        f"<h2>Comparison ({html.escape(metric_label(c.metric))}, best first)</h2>",
        _html_table(c),
        '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in c._notes()) + "</ul>",
    ]
    for name, (fig_title, fig) in _figures(c, pr_curves).items():
        parts.append(f"<h2>{html.escape(fig_title)}</h2>")
        parts.append(
            f'<img alt="{html.escape(fig_title)}" src="data:image/png;base64,{_png_base64(fig)}">'
        )
        if name in _CAPTIONS:
            parts.append(f'<p class="notes">{html.escape(_CAPTIONS[name])}</p>')
    for heading, fragment in (extra_sections or {}).items():
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(f"<div>{fragment}</div>")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<p class="notes">Generated {stamp} by fraudgan.</p></body></html>')
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
