"""The honest comparison: per-strategy means with confidence intervals, and paired tests.

`compare` turns one row per (strategy, fold, seed) into one row per strategy: mean, standard
deviation and a t-interval of every metric over the folds x seeds, and paired tests of the headline
metric on the same (fold, seed) against the baseline and against a reference resampler. The
reference is fixed in advance or chosen on the validation slices, never on the test folds; the
p-values against each reference are Holm-adjusted over the strategies compared with it.
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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from models.errors import DataError
from pipeline import evaluate
from pipeline.tracking import QUALITY_PREFIX

log = logging.getLogger(__name__)

RESAMPLERS: tuple[str, ...] = ("ros", "smote", "borderline", "adasyn", "smotenc", "smote_tomek")
"""Strategy kinds that resample the training rows (random over-sampling and the SMOTE family)."""
AUTO = "auto"
"""`reference=AUTO`: the resampler with the best mean validation score is the reference."""
SELECTION_METRIC = "val_average_precision"
"""The validation-slice score each child logs; it chooses the reference resampler."""
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

TREES = "n_trees"
ID_COLUMNS = ("strategy", "kind", "fold", "seed")
META_COLUMNS = ("headline_metric", "baseline", "alpha", "test_train_ratio", "reference_rule")
VS_BASELINE = "vs_baseline"
VS_REFERENCE = "vs_reference"
PAIR_FIELDS = ("ref", "n", "diff", "ci_low", "ci_high", "p_raw", "p", "test", "verdict")
"""Per reference: `p_raw` is the test's p-value, `p` its Holm adjustment (the verdict uses `p`)."""
TEXT_COLUMNS = (
    "strategy",
    "kind",
    "group",
    f"{VS_BASELINE}_ref",
    f"{VS_BASELINE}_test",
    f"{VS_BASELINE}_verdict",
    f"{VS_REFERENCE}_ref",
    f"{VS_REFERENCE}_test",
    f"{VS_REFERENCE}_verdict",
    "headline_metric",
    "baseline",
    "reference_rule",
)
REFERENCE = "reference"
MAX_TABLE_WIDTH = 120
"""The default terminal table fits this many columns; `--wide` shows every column."""

GROUP_COLORS = {
    "baseline": "#7f7f7f",
    "resampler": "#1f77b4",
    "gan": "#ff7f0e",
    "other": "#2ca02c",
}


def lower_is_better(metric: str) -> bool:
    """True for metrics where smaller is better: the Brier score and every `*_seconds` timing."""
    return metric in evaluate.LOWER_IS_BETTER or metric.endswith("_seconds")


def metric_label(metric: str) -> str:
    """A short human label: "AUPRC" for average_precision, the key itself otherwise."""
    return evaluate.METRIC_LABELS.get(metric, metric)


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: [0, 1] for rates and scores, [0, inf) for times and counts."""
    if metric in evaluate.METRIC_KEYS and metric not in (evaluate.N_TEST, evaluate.N_TEST_POSITIVE):
        return 0.0, 1.0
    if metric.endswith("_seconds") or metric in (TREES, evaluate.N_TEST, evaluate.N_TEST_POSITIVE):
        return 0.0, math.inf
    return -math.inf, math.inf


def difference_range(metric: str) -> tuple[float, float]:
    """The values a difference of two values of `metric` can take."""
    lo, hi = metric_range(metric)
    return lo - hi, hi - lo


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


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values; NaN entries stay NaN, not counted.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def choose_reference(
    frame: pd.DataFrame,
    candidates: Sequence[str],
    *,
    reference: str = AUTO,
    selection_metric: str = SELECTION_METRIC,
) -> tuple[str | None, str]:
    """The reference strategy and the rule that chose it, from validation scores only.

    `reference` names a strategy fixed in advance; with `AUTO` the candidate (a resampler) with the
    best mean `selection_metric` (scored on each fold's validation slice) is chosen, ties by name.
    Test-fold metrics are never read.
    """
    present = set(frame["strategy"])
    if reference != AUTO:
        if reference in present:
            return reference, f"Reference {reference}: fixed in advance (report.reference)."
        return None, f"Reference {reference} (report.reference) has no finished run: no test."
    pool = sorted(s for s in candidates if s in present)
    if not pool:
        return None, "No resampler in the results: no reference resampler."
    if selection_metric not in frame or frame[selection_metric].notna().sum() == 0:
        return None, (
            f"No {selection_metric} in the results to choose the reference resampler on; "
            "fix one with report.reference."
        )
    means = frame[frame["strategy"].isin(pool)].groupby("strategy")[selection_metric].mean()
    means = means.dropna()
    if means.empty:
        return None, f"No resampler has a {selection_metric}: no reference resampler."
    higher = not lower_is_better(selection_metric.removeprefix("val_"))
    ranked = sorted(means.items(), key=lambda kv: (-kv[1] if higher else kv[1], kv[0]))
    name, value = ranked[0]
    return name, (
        f"Reference {name}: the resampler with the best mean validation "
        f"{metric_label(selection_metric.removeprefix('val_'))} ({selection_metric} "
        f"{value:.4f}, on each fold's validation slice), chosen before the test folds are read."
    )


# --------------------------------------------------------------------------------------------
# the comparison


@dataclass
class Comparison:
    """One row per strategy (best first) with metric summaries and paired tests; renderers."""

    table: pd.DataFrame
    metric: str = evaluate.AVERAGE_PRECISION
    baseline: str = "none"
    reference: str | None = None
    reference_rule: str = ""
    alpha: float = 0.05
    test_train_ratio: float | None = None

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

    def quality_metrics(self) -> list[str]:
        """The synthetic-data quality metrics (`quality/...`) present in the table."""
        return [m for m in self.metrics() if m.startswith(QUALITY_PREFIX)]

    def row(self, strategy: str) -> pd.Series:
        """The table row of one strategy."""
        rows = self.table[self.table["strategy"] == strategy]
        if rows.empty:
            raise KeyError(f"strategy {strategy!r} is not in the comparison")
        return rows.iloc[0]

    def notes(self) -> list[str]:
        """What the numbers are, how they were tested, and how the reference was chosen."""
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
            f"t-interval of the paired differences; {test}. p-values are Holm-adjusted over the "
            f"strategies compared with each reference ({self._family_sizes()}); the verdict "
            "follows the adjusted p (the raw p is in the CSV).",
        ]
        if self.reference_rule:
            lines.append(self.reference_rule)
        lines.append(caveat)
        tests = {
            self.table.get(f"{vs}_test", pd.Series(dtype=object)).eq("wilcoxon").any()
            for vs in (VS_BASELINE, VS_REFERENCE)
        }
        if True in tests:
            lines.append(
                "The interval of Δ (t) and the Wilcoxon p-value are different procedures and can "
                "disagree near the significance level; the verdict follows the p-value."
            )
        if (n <= 1).any():
            lines.append("Rows with n=1 have no interval and no test: add folds or seeds.")
        if (n == 2).any():
            lines.append(
                "Rows with n=2 have a t-interval with one degree of freedom: too wide to be "
                "useful (figures clip intervals to the metric's range); add folds or seeds."
            )
        if (n < n.max()).any():
            lines.append(
                "Some (fold, seed) results are missing (failed runs): they are left out of the "
                "paired tests, whose n is shown."
            )
        return lines

    def _family_sizes(self) -> str:
        sizes = []
        for vs in (VS_BASELINE, VS_REFERENCE):
            col = self.table.get(f"{vs}_p_raw")
            if col is None:
                continue
            ref = self.baseline if vs == VS_BASELINE else self.reference
            if ref:
                sizes.append(f"{int(np.isfinite(col.astype(float)).sum())} vs {ref}")
        return ", ".join(sizes) or "no tests"

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

    def pair_cell(self, r: pd.Series, vs: str, digits: int = 3) -> str:
        """One paired test in one cell: the difference and the verdict, or 'reference'."""
        verdict = str(r.get(f"{vs}_verdict", "") or "")
        diff = r.get(f"{vs}_diff", math.nan)
        if verdict == REFERENCE or not _finite(diff):
            return verdict
        return f"{diff:+.{digits}f} {verdict.replace('not significant', 'n.s.')}"

    def ref_name(self, vs: str) -> str:
        """The strategy a paired-test column compares with."""
        return self.baseline if vs == VS_BASELINE else (self.reference or "reference")

    def _ref_header(self, vs: str) -> str:
        if vs == VS_BASELINE:
            return f"vs {self.baseline}"
        return f"vs {self.reference or 'reference'} (reference)"

    def _mean_of(self, r: pd.Series, metric: str, digits: int) -> str:
        v = r.get(f"{metric}_mean", math.nan)
        return f"{v:.{digits}f}" if _finite(v) else "n/a"

    def _display_rows(self, digits: int, *, wide: bool = True) -> tuple[list[str], list[list[str]]]:
        label = metric_label(self.metric)
        have = set(self.metrics())
        if not wide:
            header = ["strategy", "n", label]
            header += [f"Δ {label} {self._ref_header(vs)}" for vs in (VS_BASELINE, VS_REFERENCE)]
            header += ["trees" if TREES in have else None, "resample s"]
            rows = []
            for _, r in self.table.iterrows():
                cells = [
                    str(r["strategy"]),
                    str(int(r["n"])),
                    self._mean_cell(r, self.metric, digits),
                ]
                cells += [self.pair_cell(r, vs, digits) for vs in (VS_BASELINE, VS_REFERENCE)]
                cells += [self._mean_of(r, TREES, 0), self._mean_of(r, "resample_seconds", 2)]
                rows.append(cells)
            keep = [i for i, h in enumerate(header) if h is not None]
            return [header[i] for i in keep], [[c[i] for i in keep] for c in rows]
        header = ["strategy", "n"]
        header += [metric_label(m) for m in self.display_metrics()]
        for vs in (VS_BASELINE, VS_REFERENCE):
            header += [f"Δ {label} {self._ref_header(vs)}", "verdict"]
        if TREES in have:
            header.append("trees")
        header += [f"{m.removesuffix('_seconds')} s" for m in self.timing_metrics()]
        rows = []
        for _, r in self.table.iterrows():
            cells = [str(r["strategy"]), str(int(r["n"]))]
            cells += [self._mean_cell(r, m, digits) for m in self.display_metrics()]
            for vs in (VS_BASELINE, VS_REFERENCE):
                cells += list(self._pair_cells(r, vs, digits))
            if TREES in have:
                cells.append(self._mean_of(r, TREES, 0))
            cells += [self._mean_of(r, m, 2) for m in self.timing_metrics()]
            rows.append(cells)
        return header, rows

    # ---------------------------------------------------------------- renderers
    def to_markdown(self, *, digits: int = 4, notes: bool = True, wide: bool = True) -> str:
        """A GitHub-flavoured Markdown table (best first), followed by notes on the statistics."""
        header, rows = self._display_rows(digits, wide=wide)

        def line(cells: Iterable[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        align = ["---"] + ["---:"] * (len(header) - 1)
        out = [line(header), "|" + "|".join(align) + "|", *(line(r) for r in rows)]
        if notes:
            out += [""] + [f"- {n}" for n in self.notes()]
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
        reference = str(first.get(f"{VS_REFERENCE}_ref", "") or "") or None
        return cls(
            table=table,
            metric=str(first["headline_metric"]),
            baseline=str(first["baseline"]),
            reference=reference,
            reference_rule=str(first["reference_rule"]),
            alpha=float(first["alpha"]),
            test_train_ratio=None if not _finite(ratio) else float(ratio),
        )

    def to_rich_table(self, *, digits: int = 3, wide: bool = False) -> Any:
        """A `rich.table.Table`: mean ± half-width, paired differences and verdicts.

        By default the headline metric, the paired tests with their verdicts, the number of trees
        and the resampling time (fits 120 columns); `wide` shows every column.
        """
        from rich.table import Table

        header, rows = self._display_rows(digits, wide=wide)
        table = Table(
            title=f"{metric_label(self.metric)}: mean ± {self.level} CI half-width over folds × seeds",
            caption="\n".join(self.notes()),
            caption_justify="left",
        )
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
        verdict_cols = {i for i, h in enumerate(header) if h == "verdict" or h.startswith("Δ")}
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
        # The mean lies in the metric's range, so the interval clipped to it keeps its coverage.
        low, high = metric_range(m)
        lo, hi = max(r[f"{m}_ci_low"], low), min(r[f"{m}_ci_high"], high)
        ci = f"[{lo:.{digits}f}, {hi:.{digits}f}]" if _finite(lo) and _finite(hi) else "(no CI)"
        text = (
            f"{r['strategy']} {metric_label(m)} {r[f'{m}_mean']:.{digits}f} {ci} (n={int(r['n'])})"
        )
        for vs in (VS_BASELINE, VS_REFERENCE):
            ref = r.get(f"{vs}_ref", "")
            verdict = str(r.get(f"{vs}_verdict", "") or "")
            if not ref:
                continue
            label = ref if vs == VS_BASELINE else f"{ref} (reference resampler)"
            if verdict == REFERENCE:
                role = "baseline" if vs == VS_BASELINE else "reference resampler"
                text += f"; it is the {role}"
                continue
            diff, cells = r.get(f"{vs}_diff", math.nan), self._pair_cells(r, vs, digits)[0]
            if not _finite(diff):
                text += f"; vs {label}: {verdict}"
                continue
            test = str(r.get(f"{vs}_test", "") or "")
            text += f"; vs {label} {cells}, {verdict}" + (f" [{test}, Holm]" if test else "")
        return text + "."

    def description(self, *, max_chars: int = 5000) -> str:
        """The verdict as Markdown for an MLflow run description: summary, table, key notes."""
        summary = self.summary().replace("[", "\\[").replace("]", "\\]")  # not Markdown links
        notes = [n for n in self.notes() if "Holm" in n or n == self.reference_rule]
        parts = [
            f"**{summary}**",
            "",
            self.to_markdown(digits=3, notes=False, wide=False),
            "",
            *(f"- {n}" for n in notes),
        ]
        text = "\n".join(parts)
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _verdict_class(text: str) -> str:
    """'better', 'worse' or 'ns' for a verdict cell (bare, or after a difference)."""
    words = text.split()
    if "better" in words:
        return "better"
    if "worse" in words:
        return "worse"
    return "ns"


def _rich_verdict(text: str) -> str:
    from rich.markup import escape

    if not text:
        return ""
    style = {"better": "green", "worse": "red", "ns": "dim"}[_verdict_class(text)]
    return f"[{style}]{escape(text)}[/]"


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


def _group(strategy: str, kind: str, baseline: str, resamplers: Sequence[str]) -> str:
    if strategy == baseline:
        return "baseline"
    if kind in resamplers:
        return "resampler"
    return "gan" if "gan" in kind.lower() else "other"


def _paired_block(
    table: pd.DataFrame,
    series: Mapping[str, pd.Series],
    ref: str | None,
    missing_text: str,
    *,
    alpha: float,
    higher: bool,
    test_train_ratio: float | None,
) -> dict[str, list[Any]]:
    """The PAIR_FIELDS columns of every strategy against `ref`, p Holm-adjusted over the family."""
    nan = math.nan
    results = []
    for strategy in table["strategy"]:
        if ref is None:
            res = PairedResult("", 0, nan, nan, nan, nan, "", missing_text)
        elif strategy == ref:
            res = PairedResult(ref, 0, nan, nan, nan, nan, "", REFERENCE)
        else:
            res = paired_test(
                series[strategy],
                series[ref],
                ref_name=ref,
                alpha=alpha,
                higher_is_better=higher,
                test_train_ratio=test_train_ratio,
            )
        results.append(res)
    adjusted = holm([r.p for r in results])
    cells: dict[str, list[Any]] = {f: [] for f in PAIR_FIELDS}
    for res, p_adj in zip(results, adjusted, strict=True):
        verdict = res.verdict
        if np.isfinite(p_adj):
            verdict = _verdict(res.diff, float(p_adj), alpha, higher)
        values = {**asdict(res), "p_raw": res.p, "p": p_adj, "verdict": verdict}
        for f in PAIR_FIELDS:
            cells[f].append(values[f])
    return cells


def compare(
    results: pd.DataFrame,
    *,
    baseline: str = "none",
    resamplers: Sequence[str] = RESAMPLERS,
    reference: str = AUTO,
    selection_metric: str = SELECTION_METRIC,
    metric: str = evaluate.AVERAGE_PRECISION,
    alpha: float = 0.05,
    test_train_ratio: float | None = None,
) -> Comparison:
    """Summarize per-(strategy, fold, seed) results into a `Comparison`, best strategy first.

    Every numeric column other than fold and seed is summarized (mean, std, t-interval, n). The
    headline `metric` gets paired tests against `baseline` and against a reference: the strategy
    `reference` names, or with `AUTO` the resampler (its `kind`, or its name without a `kind`
    column, in `resamplers`) with the best mean `selection_metric` (a validation-slice score; see
    `choose_reference`). The p-values against each reference are Holm-adjusted over the
    strategies compared with it. Rows are sorted by the headline mean, best first (descending;
    ascending for lower-is-better metrics such as the Brier score). `test_train_ratio` switches
    intervals and tests to the Nadeau-Bengio corrected resampled t.
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
            "group": _group(str(strategy), kind, baseline, resamplers),
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

    candidates = table.loc[table["group"] == "resampler", "strategy"].tolist()
    ref, rule = choose_reference(
        frame, candidates, reference=reference, selection_metric=selection_metric
    )
    by_pair = frame.set_index(["fold", "seed"])
    series = {s: g[metric].astype(float) for s, g in by_pair.groupby("strategy")}
    if baseline not in series:
        log.warning("compare: baseline %r is not in the results; no tests against it", baseline)
    if ref is None:
        log.warning("compare: %s", rule)

    for vs, vs_ref, missing_text in (
        (VS_BASELINE, baseline if baseline in series else None, f"no {baseline} run"),
        (VS_REFERENCE, ref, "no reference"),
    ):
        cells = _paired_block(
            table,
            series,
            vs_ref,
            missing_text,
            alpha=alpha,
            higher=higher,
            test_train_ratio=test_train_ratio,
        )
        for f in PAIR_FIELDS:
            table[f"{vs}_{f}"] = cells[f]

    metric_blocks = [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high", "n")]
    pair_cols = [f"{vs}_{f}" for vs in (VS_BASELINE, VS_REFERENCE) for f in PAIR_FIELDS]
    head = ["strategy", "kind", "group", "n"]
    ordered = head + metric_blocks[:5] + pair_cols + metric_blocks[5:]
    table = table[ordered]
    table["headline_metric"] = metric
    table["baseline"] = baseline
    table["alpha"] = float(alpha)
    table["test_train_ratio"] = math.nan if test_train_ratio is None else float(test_train_ratio)
    table["reference_rule"] = rule
    return Comparison(
        table=table,
        metric=metric,
        baseline=baseline,
        reference=ref,
        reference_rule=rule,
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
        ax.set_xlabel(f"Δ {metric_label(c.metric)} {c._ref_header(vs)}")
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


def png_base64(fig: Figure) -> str:
    """A figure as base64 PNG text, for an inline `<img src="data:image/png;base64,...">`."""
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
    return _html_grid(header, rows, verdict_cols)


def _html_grid(header: list[str], rows: list[list[str]], verdict_cols: set[int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for cells in rows:
        tds = []
        for i, cell in enumerate(cells):
            attr = f' class="{_verdict_class(cell)}"' if i in verdict_cols else ""
            tds.append(f"<td{attr}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


C2ST = f"{QUALITY_PREFIX}c2st_auc"
MEMORIZATION = f"{QUALITY_PREFIX}memorization_flag"
DCR_RATIO = f"{QUALITY_PREFIX}dcr_median_ratio"
EXACT_COPIES = f"{QUALITY_PREFIX}exact_copies"
RULE_VIOLATIONS = "rule_violation"
"""Quality metrics whose name contains this count or share rows that break a data rule."""


def quality_summary(c: Comparison, digits: int = 3) -> tuple[list[str], list[list[str]]] | None:
    """Per GAN strategy: C2ST AUC, rule violations (when logged) and the privacy verdict; None
    when no strategy has a synthetic-data quality report."""
    have = set(c.quality_metrics())
    if C2ST not in have:
        return None
    rules = sorted(m for m in have if RULE_VIOLATIONS in m)
    header = ["strategy", "folds", "C2ST AUC (0.5 = indistinguishable)"]
    header += [m.removeprefix(QUALITY_PREFIX).replace("_", " ") for m in rules]
    header += ["privacy", "DCR synth/holdout", "exact copies"]
    rows = []
    for _, r in c.table.iterrows():
        n = r.get(f"{C2ST}_n", 0)
        if not _finite(n) or int(n) == 0:
            continue
        cells = [str(r["strategy"]), str(int(n)), c._mean_cell(r, C2ST, digits)]
        cells += [c._mean_of(r, m, digits) for m in rules]
        flagged, folds = r.get(f"{MEMORIZATION}_mean", math.nan), r.get(f"{MEMORIZATION}_n", 0)
        if _finite(flagged) and _finite(folds) and int(folds) > 0:
            k = int(round(flagged * folds))
            privacy = (
                f"memorization flagged in {k} of {int(folds)} folds"
                if k
                else f"no memorization flagged ({int(folds)} folds)"
            )
        else:
            privacy = "n/a"
        cells += [privacy, c._mean_of(r, DCR_RATIO, 2), c._mean_of(r, EXACT_COPIES, 1)]
        rows.append(cells)
    return header, rows


def _quality_html(c: Comparison) -> list[str]:
    summary = quality_summary(c)
    if summary is None:
        return []
    header, rows = summary
    return [
        "<h2>Synthetic-data quality of the GAN strategies (mean over folds × seeds)</h2>",
        _html_grid(header, rows, set()),
        '<p class="notes">C2ST AUC: a classifier telling synthetic from real training fraud rows '
        "(0.5 = indistinguishable, 1 = always told apart). Privacy: the memorization rule on the "
        "distance of synthetic rows to their closest training row, compared with unseen real "
        "fraud; DCR ratio < 1 = synthetic rows closer to training rows than unseen fraud is. "
        "Per-fold reports: each GAN child run's quality/ artifacts.</p>",
    ]


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
        '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in c.notes()) + "</ul>",
        *_quality_html(c),
    ]
    for name, (fig_title, fig) in _figures(c, pr_curves).items():
        parts.append(f"<h2>{html.escape(fig_title)}</h2>")
        parts.append(
            f'<img alt="{html.escape(fig_title)}" src="data:image/png;base64,{png_base64(fig)}">'
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
