"""The comparison of a launch: one row per strategy with metric summaries and paired tests
(`compare`), and its renderings as text: Markdown, CSV, a rich table, a plain-language summary."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import DataError
from models.samplers import REGISTRY
from pipeline import evaluate
from pipeline.console import RETURNED
from pipeline.report.choices import choice_notes
from pipeline.report.metrics import TREES, finite, lower_is_better, metric_label, metric_range
from pipeline.report.statistics import (
    AUTO,
    MIN_PAIRS_WILCOXON,
    POWER,
    SELECTION_METRIC,
    PairedResult,
    choose_reference,
    holm,
    paired_test,
    t_interval,
    verdict_text,
)
from pipeline.split import VarianceCorrection
from pipeline.tracking import QUALITY_PREFIX

log = logging.getLogger(__name__)

RESAMPLERS: tuple[str, ...] = tuple(
    kind for kind, spec in REGISTRY.items() if spec.family == "resampler"
)
"""Strategy kinds that resample the training rows (random over-sampling and the SMOTE family)."""
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

ID_COLUMNS = ("strategy", "kind", "fold", "seed")
CORRECTION_COLUMNS = tuple(f"correction_{f.name}" for f in dataclasses.fields(VarianceCorrection))
"""The comparison's `VarianceCorrection` in the CSV: correction_term, _rho, _shared, ... (NaN and
an empty reason: none known)."""
META_COLUMNS = ("headline_metric", "baseline", "alpha", *CORRECTION_COLUMNS, "reference_rule")
VS_BASELINE = "vs_baseline"
VS_REFERENCE = "vs_reference"
PAIR_FIELDS = ("ref", "n", "diff", "ci_low", "ci_high", "p_raw", "p", "test", "verdict", "mde")
"""Per reference: `p_raw` is the test's p-value, `p` its Holm adjustment (the verdict uses `p`),
`mde` the smallest difference the test could detect at 80 % power (at the unadjusted alpha)."""
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
    "correction_reason",
)
REFERENCE = "reference"
MAX_TABLE_WIDTH = 120
"""The default terminal table fits this many columns; `--wide` shows every column."""


@dataclass
class Comparison:
    """One row per strategy (best first) with metric summaries and paired tests, and its
    renderings as text."""

    table: pd.DataFrame
    metric: str = evaluate.AVERAGE_PRECISION
    baseline: str = "none"
    reference: str | None = None
    reference_rule: str = ""
    alpha: float = 0.05
    correction: VarianceCorrection | None = None
    choices: tuple[str, ...] = ()  # what strategies that choose their share chose (notes)
    # per feature (rows, largest first) each strategy's share of the model's contributions
    importance: pd.DataFrame | None = None

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
        c = self.correction
        if c is None:
            test = (
                f"p from the Wilcoxon signed-rank test with >= {MIN_PAIRS_WILCOXON} pairs, "
                "else a paired t-test"
            )
            caveat = (
                "The fold design is not known here, so the intervals and tests treat the folds "
                "as independent; folds that share training rows make them optimistic "
                "(Nadeau & Bengio, 2003)."
            )
        else:
            test = (
                "p from the corrected resampled t-test" if c.applies else "p from the paired t-test"
            )
            caveat = f"Intervals and tests: {c.reason}."
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
        lines += list(self.choices)
        lines.append(caveat)
        lines += self._detectable_notes()
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

    def _detectable_notes(self) -> list[str]:
        """Per reference, the smallest differences the tests could detect, when any is not
        significant."""
        lines = []
        for vs in (VS_BASELINE, VS_REFERENCE):
            verdicts = self.table.get(f"{vs}_verdict", pd.Series(dtype=object)).astype(str)
            unsure = self.table[verdicts.str.startswith("not significant")]
            mde = unsure.get(f"{vs}_mde", pd.Series(math.nan, index=unsure.index)).astype(float)
            names = unsure["strategy"].astype(str)
            mdes = [f"{n} {m:.3f}" for n, m in zip(names, mde, strict=True) if m > 0]
            same = [n for n, m in zip(names, mde, strict=True) if m == 0]
            if mdes:
                lines.append(
                    f"Not significant vs {self.ref_name(vs)}: the smallest |Δ| each test could "
                    f"detect at {POWER:.0%} power (two-sided α={self.alpha:g} before Holm's "
                    f"adjustment, the paired differences' standard error as above): "
                    + ", ".join(mdes)
                    + "."
                )
            if same:
                lines.append(
                    f"Identical to {self.ref_name(vs)} on every (fold, seed) (the same "
                    f"predictions): {', '.join(same)}."
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
        if not finite(mean):
            return "n/a"
        lo, hi = r.get(f"{metric}_ci_low", math.nan), r.get(f"{metric}_ci_high", math.nan)
        if not (finite(lo) and finite(hi)):
            return f"{mean:.{digits}f} (no CI)"
        return f"{mean:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"

    def verdict_with_mde(self, r: pd.Series, vs: str, digits: int = 3) -> str:
        """The verdict of one paired test; a 'not significant' one says the smallest difference
        the test could detect: 'not significant (p=0.2), detectable ≥ 0.031'."""
        verdict = str(r.get(f"{vs}_verdict", "") or "")
        mde = r.get(f"{vs}_mde", math.nan)
        if verdict.startswith("not significant") and finite(mde) and mde > 0:
            return f"{verdict}, detectable ≥ {mde:.{digits}f}"
        return verdict

    def _pair_cells(self, r: pd.Series, vs: str, digits: int) -> tuple[str, str]:
        verdict = self.verdict_with_mde(r, vs, digits)
        diff = r.get(f"{vs}_diff", math.nan)
        if verdict == REFERENCE or not finite(diff):
            return "", verdict
        n = int(r.get(f"{vs}_n", 0))
        lo, hi = r.get(f"{vs}_ci_low", math.nan), r.get(f"{vs}_ci_high", math.nan)
        ci = f" [{lo:+.{digits}f}, {hi:+.{digits}f}]" if finite(lo) and finite(hi) else ""
        return f"{diff:+.{digits}f}{ci} (n={n})", verdict

    def pair_cell(self, r: pd.Series, vs: str, digits: int = 3) -> str:
        """One paired test in one cell: the difference and the verdict, or 'reference'."""
        verdict = str(r.get(f"{vs}_verdict", "") or "")
        diff = r.get(f"{vs}_diff", math.nan)
        if verdict == REFERENCE or not finite(diff):
            return verdict
        return f"{diff:+.{digits}f} {verdict.replace('not significant', 'n.s.')}"

    def ref_name(self, vs: str) -> str:
        """The strategy a paired-test column compares with."""
        return self.baseline if vs == VS_BASELINE else (self.reference or "reference")

    def ref_header(self, vs: str) -> str:
        """The heading of a paired-test column: 'vs none', 'vs smote (reference)'."""
        if vs == VS_BASELINE:
            return f"vs {self.baseline}"
        return f"vs {self.reference or 'reference'} (reference)"

    def _mean_of(self, r: pd.Series, metric: str, digits: int) -> str:
        v = r.get(f"{metric}_mean", math.nan)
        return f"{v:.{digits}f}" if finite(v) else "n/a"

    def display_rows(self, digits: int, *, wide: bool = True) -> tuple[list[str], list[list[str]]]:
        """(header, rows) of the shown table: every shown column, or (not `wide`) the headline,
        the paired tests, the trees and the resampling time."""
        label = metric_label(self.metric)
        have = set(self.metrics())
        if not wide:
            header = ["strategy", "n", label]
            header += [f"Δ {label} {self.ref_header(vs)}" for vs in (VS_BASELINE, VS_REFERENCE)]
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
            header += [f"Δ {label} {self.ref_header(vs)}", "verdict"]
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
        header, rows = self.display_rows(digits, wide=wide)

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
        correction = None
        if finite(first["correction_term"]):
            correction = VarianceCorrection(
                **{
                    c.removeprefix("correction_"): (
                        str(first[c]) if c == "correction_reason" else float(first[c])
                    )
                    for c in CORRECTION_COLUMNS
                }
            )
        reference = str(first.get(f"{VS_REFERENCE}_ref", "") or "") or None
        return cls(
            table=table,
            metric=str(first["headline_metric"]),
            baseline=str(first["baseline"]),
            reference=reference,
            reference_rule=str(first["reference_rule"]),
            alpha=float(first["alpha"]),
            correction=correction,
        )

    def to_rich_table(self, *, digits: int = 3, wide: bool = False) -> Any:
        """A `rich.table.Table`: mean ± half-width, paired differences and verdicts.

        By default the headline metric, the paired tests with their verdicts, the number of trees
        and the resampling time (fits 120 columns); `wide` shows every column.
        """
        from rich.table import Table

        header, rows = self.display_rows(digits, wide=wide)
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
        if t.empty or not finite(t.iloc[0].get(f"{self.metric}_mean", math.nan)):
            return f"No strategy has a {metric_label(self.metric)} value."
        best = t.iloc[0]
        parts = [f"Best: {self._strategy_sentence(best, digits)}"]
        for _, r in t.iloc[1:].iterrows():
            if r["group"] == "gan":
                parts.append(self._strategy_sentence(r, digits))
        if (t["n"] <= 1).any():
            parts.append("Strategies with n=1 have no confidence interval or test.")
        return " ".join(parts)

    def leaning(self, strategy: str, n: int = 5) -> str | None:
        """The `n` features with the largest share of `strategy`'s contributions, as text
        ("amount 11%, hour 8%"); None without a feature importance of it."""
        if self.importance is None or strategy not in self.importance:
            return None
        return leaning_text(self.importance[strategy], n)

    def strategy_sentence(self, strategy: str, *, digits: int = 3) -> str:
        """One strategy's verdict: its mean and interval, and its paired tests."""
        return self._strategy_sentence(self.row(strategy), digits)

    def _strategy_sentence(self, r: pd.Series, digits: int) -> str:
        m = self.metric
        # The mean lies in the metric's range, so the interval clipped to it keeps its coverage.
        low, high = metric_range(m)
        lo, hi = max(r[f"{m}_ci_low"], low), min(r[f"{m}_ci_high"], high)
        ci = f"[{lo:.{digits}f}, {hi:.{digits}f}]" if finite(lo) and finite(hi) else "(no CI)"
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
            diff, (cells, verdict) = r.get(f"{vs}_diff", math.nan), self._pair_cells(r, vs, digits)
            if not finite(diff):
                text += f"; vs {label}: {verdict}"
                continue
            test = str(r.get(f"{vs}_test", "") or "")
            text += f"; vs {label} {cells}, {verdict}" + (f" [{test}, Holm]" if test else "")
        return text + "."

    def description(self, *, max_chars: int = 5000) -> str:
        """The verdict as Markdown for an MLflow run description: summary, table, key notes."""
        summary = self.summary().replace("[", "\\[").replace("]", "\\]")  # not Markdown links
        keep = {self.reference_rule, *self.choices}
        notes = [n for n in self.notes() if "Holm" in n or n in keep]
        parts = [
            f"**{summary}**",
            "",
            self.to_markdown(digits=3, notes=False, wide=False),
            "",
            *(f"- {n}" for n in notes),
        ]
        text = "\n".join(parts)
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def leaning_text(shares: pd.Series, n: int = 5) -> str:
    """The `n` largest of `shares` (feature -> share of a model's contributions) as text:
    "amount 11%, hour 8%"."""
    top = shares.sort_values(ascending=False, kind="stable").head(n)
    return ", ".join(f"{feature} {share:.0%}" for feature, share in top.items())


def verdict_class(text: str) -> str:
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
    style = {"better": "green", "worse": "red", "ns": "dim"}[verdict_class(text)]
    return f"[{style}]{escape(text)}[/]"


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
    if not _is_metric_column(frame[metric]):
        raise DataError(f"compare: metric column {metric!r} is not numeric ({frame[metric].dtype})")
    return frame


def _is_metric_column(s: pd.Series) -> bool:
    """A numeric column that is not boolean: one the comparison summarizes."""
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
    correction: float | None,
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
                correction=correction,
            )
        results.append(res)
    adjusted = holm([r.p for r in results])
    cells: dict[str, list[Any]] = {f: [] for f in PAIR_FIELDS}
    for res, p_adj in zip(results, adjusted, strict=True):
        verdict = res.verdict
        if np.isfinite(p_adj):
            verdict = verdict_text(res.diff, float(p_adj), alpha, higher)
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
    correction: VarianceCorrection | None = None,
) -> Comparison:
    """Summarize per-(strategy, fold, seed) results into a `Comparison`, best strategy first.

    Every numeric column other than fold and seed is summarized (mean, std, t-interval, n). The
    headline `metric` gets paired tests against `baseline` and against a reference: the strategy
    `reference` names, or with `AUTO` the resampler (its `kind`, or its name without a `kind`
    column, in `resamplers`) with the best mean `selection_metric` (a validation-slice score; see
    `choose_reference`). The p-values against each reference are Holm-adjusted over the
    strategies compared with it. Rows are sorted by the headline mean, best first (descending;
    ascending for lower-is-better metrics such as the Brier score), `baseline` first among equals.

    `correction` (the folds' `FoldPlan.correction`) sets the variance of every mean over folds
    and of every paired difference: the corrected resampled t where the folds' training sets
    overlap, the plain paired t where they do not; None (fold design unknown) treats the folds as
    independent and tests with Wilcoxon from 6 pairs on. Each paired test also gives the smallest
    difference it could detect at 80 % power (`mde`).
    """
    term = None if correction is None else correction.term
    if not 0 < alpha < 1:
        raise DataError(f"compare: alpha must be in (0, 1), found {alpha!r}")
    frame = _check_results(results, metric)
    metrics = [c for c in frame.columns if c not in ID_COLUMNS and _is_metric_column(frame[c])]
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
            mean, lo, hi, n = t_interval(values, alpha=alpha, correction=term)
            finite = values[~np.isnan(values)]
            row[f"{m}_mean"] = mean
            row[f"{m}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
            row[f"{m}_ci_low"], row[f"{m}_ci_high"], row[f"{m}_n"] = lo, hi, n
        rows.append(row)
    table = pd.DataFrame(rows)

    key = f"{metric}_mean"
    # a tie goes to the baseline (the simpler model: a strategy identical to it is not better)
    table["_not_baseline"] = table["strategy"] != baseline
    table = (
        table.sort_values(
            [key, "_not_baseline", "strategy"],
            ascending=[not higher, True, True],
            na_position="last",
            kind="stable",
        )
        .drop(columns="_not_baseline")
        .reset_index(drop=True)
    )

    candidates = table.loc[table["group"] == "resampler", "strategy"].tolist()
    ref, rule = choose_reference(
        frame, candidates, reference=reference, selection_metric=selection_metric
    )
    by_pair = frame.set_index(["fold", "seed"])
    series = {s: g[metric].astype(float) for s, g in by_pair.groupby("strategy")}
    if baseline not in series:
        log.warning("compare: baseline %r is not in the results; no tests against it", baseline)
    if ref is None:  # the summary says it too (`reference_rule`)
        log.warning("compare: %s", rule, extra=RETURNED)

    pairs: dict[str, Any] = {}
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
            correction=term,
        )
        pairs |= {f"{vs}_{f}": cells[f] for f in PAIR_FIELDS}

    metric_blocks = [f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci_low", "ci_high", "n")]
    head = ["strategy", "kind", "group", "n"]
    constants: dict[str, Any] = {
        "headline_metric": metric,
        "baseline": baseline,
        "alpha": float(alpha),
    }
    for c in CORRECTION_COLUMNS:
        value = None if correction is None else getattr(correction, c.removeprefix("correction_"))
        constants[c] = (
            ("" if value is None else value)
            if c == "correction_reason"
            else (math.nan if value is None else float(value))
        )
    constants["reference_rule"] = rule
    # one frame built at once (column by column, pandas warns of a fragmented frame)
    table = pd.concat(
        [
            table[head + metric_blocks[:5]],
            pd.DataFrame(pairs, index=table.index),
            table[metric_blocks[5:]],
            pd.DataFrame(constants, index=table.index),
        ],
        axis=1,
    )
    return Comparison(
        table=table,
        metric=metric,
        baseline=baseline,
        reference=ref,
        reference_rule=rule,
        alpha=alpha,
        correction=correction,
        choices=tuple(choice_notes(frame)),
    )


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
        if not finite(n) or int(n) == 0:
            continue
        cells = [str(r["strategy"]), str(int(n)), c._mean_cell(r, C2ST, digits)]
        cells += [c._mean_of(r, m, digits) for m in rules]
        flagged, folds = r.get(f"{MEMORIZATION}_mean", math.nan), r.get(f"{MEMORIZATION}_n", 0)
        if finite(flagged) and finite(folds) and int(folds) > 0:
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
