"""The comparison: intervals and paired tests by hand, verdicts, sorting, renderers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from rich.table import Table
from scipy import stats

from models.errors import DataError
from pipeline import report
from pipeline.split import VarianceCorrection

AP = "average_precision"

# One row per (strategy, fold, seed); 3 folds, seed 0.
#   none       0.50 0.60 0.70
#   threshold  0.50 0.60 0.70   identical to none on every fold
#   cgan       0.55 0.66 0.74   better than none on every fold (+0.05 +0.06 +0.04)
#   smote      0.52 0.61 0.72   best resampler, on validation as on test (mean 0.6167)
#   smote_0.5  0.49 0.58 0.69   a SMOTE variant (kind smote)
# Each child's validation score (val_average_precision) equals its test score unless given.
VALUES = {
    "none": [0.50, 0.60, 0.70],
    "threshold": [0.50, 0.60, 0.70],
    "cgan": [0.55, 0.66, 0.74],
    "smote": [0.52, 0.61, 0.72],
    "smote_0.5": [0.49, 0.58, 0.69],
}
KINDS = {"smote_0.5": "smote"}


def nb(term: float) -> VarianceCorrection:
    """A correction of variance term `term` (n_test / n_train for stratified folds)."""
    rho = term / (1 + term)
    return VarianceCorrection(term=term, rho=rho, shared=1.0, test_train=term, reason="test folds")


def make_results(values=VALUES, seeds=(0,), drop=(), validation=None) -> pd.DataFrame:
    rows = []
    validation = validation or {}
    for strategy, vals in values.items():
        n_folds = len(vals) // len(seeds)
        for i, v in enumerate(vals):
            fold, seed = i % n_folds, seeds[i // n_folds]
            if (strategy, fold, seed) in drop:
                continue
            rows.append(
                {
                    "strategy": strategy,
                    "kind": KINDS.get(strategy, strategy),
                    "fold": fold,
                    "seed": seed,
                    AP: v,
                    report.SELECTION_METRIC: validation.get(strategy, vals)[i],
                    "roc_auc": 0.9 + v / 10,
                    "fit_seconds": 2.0,
                    "resample_seconds": 0.0 if strategy in ("none", "threshold") else 1.0,
                    "predict_seconds": 0.1,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def comparison() -> report.Comparison:
    return report.compare(make_results())


def test_sorted_by_headline_mean(comparison):
    # means: cgan 0.65, smote 0.6167, none 0.60 = threshold 0.60 (tie: by name), smote_0.5 0.5867
    assert comparison.strategies == ["cgan", "smote", "none", "threshold", "smote_0.5"]
    assert comparison.row("cgan")[f"{AP}_mean"] == pytest.approx(0.65)


def test_a_strategy_identical_to_the_baseline_does_not_outrank_it():
    # a choosing strategy that kept share 0 scores exactly as `none`: the tie is not a win
    values = {"none": [0.50, 0.60, 0.70], "cgan": [0.50, 0.60, 0.70], "smote": [0.4, 0.5, 0.6]}
    comparison = report.compare(make_results(values))
    assert comparison.strategies == ["none", "cgan", "smote"]
    assert comparison.summary().startswith("Best: none ")


def test_ci_matches_t_interval_by_hand(comparison):
    # none: mean 0.6, sd 0.1, n 3: half-width = t(0.975, df=2) * 0.1 / sqrt(3)
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # = 4.3027 * 0.057735 = 0.24841
    assert half == pytest.approx(0.24841, abs=1e-5)
    r = comparison.row("none")
    assert r[f"{AP}_std"] == pytest.approx(0.1)
    assert r[f"{AP}_ci_low"] == pytest.approx(0.6 - half)
    assert r[f"{AP}_ci_high"] == pytest.approx(0.6 + half)
    assert r[f"{AP}_n"] == 3 and r["n"] == 3


def test_clearly_better_strategy_is_better_by_paired_t():
    # one strategy against the baseline: a family of one, Holm leaves p as it is
    comparison = report.compare(make_results({"none": VALUES["none"], "cgan": VALUES["cgan"]}))
    r = comparison.row("cgan")
    # differences vs none: 0.05, 0.06, 0.04 -> mean 0.05, sd 0.01, se 0.01/sqrt(3) = 0.0057735
    # t = 0.05 / 0.0057735 = 8.660 with 2 df -> p = 2 * sf(8.660) = 0.0131
    se = 0.01 / math.sqrt(3)
    assert r["vs_baseline_ref"] == "none"
    assert r["vs_baseline_n"] == 3
    assert r["vs_baseline_test"] == "paired t"
    assert r["vs_baseline_diff"] == pytest.approx(0.05)
    assert r["vs_baseline_p_raw"] == pytest.approx(2 * stats.t.sf(0.05 / se, 2))
    assert r["vs_baseline_p"] == pytest.approx(0.0131, abs=1e-4)
    half = stats.t.ppf(0.975, 2) * se  # 4.3027 * 0.0057735 = 0.02484
    assert r["vs_baseline_ci_low"] == pytest.approx(0.05 - half)
    assert r["vs_baseline_ci_high"] == pytest.approx(0.05 + half)
    assert r["vs_baseline_verdict"] == "better (p=0.013)"


def test_holm_by_hand():
    # sorted 0.005 0.01 0.03 0.04 -> x4 0.02, x3 0.03, x2 0.06, x1 0.04 -> running max 0.06
    adjusted = report.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    # NaN (no test) is not counted: a family of two
    np.testing.assert_allclose(report.holm([math.nan, 0.01, 0.04]), [math.nan, 0.02, 0.04])
    assert report.holm([0.6, 0.7]).max() == 1.0  # capped at 1


def test_p_values_are_holm_adjusted_over_the_strategies_against_one_reference(comparison):
    # four strategies against none, raw p (paired t, df 2):
    #   cgan       d = .05 .06 .04     t = 8.660  p = 0.0131
    #   smote      d = .02 .01 .02     t = 5.000  p = 0.0377
    #   smote_0.5  d = -.01 -.02 -.01  t = -4.000 p = 0.0572
    #   threshold  identical                      p = 1
    # Holm, smallest first: 0.0131 x 4 = 0.0523; 0.0377 x 3 = 0.1132; 0.0572 x 2 = 0.1144; 1
    raw = {s: comparison.row(s)["vs_baseline_p_raw"] for s in comparison.strategies}
    p5, p4 = 2 * stats.t.sf(5.0, 2), 2 * stats.t.sf(4.0, 2)
    assert raw["cgan"] == pytest.approx(0.0131, abs=1e-4)
    assert raw["smote"] == pytest.approx(p5) and raw["smote_0.5"] == pytest.approx(p4)
    assert comparison.row("cgan")["vs_baseline_p"] == pytest.approx(4 * raw["cgan"])
    assert comparison.row("smote")["vs_baseline_p"] == pytest.approx(3 * p5)
    assert comparison.row("smote_0.5")["vs_baseline_p"] == pytest.approx(2 * p4)
    assert comparison.row("threshold")["vs_baseline_p"] == 1.0
    # raw p < 0.05, adjusted p > 0.05: the verdict follows the adjusted p
    assert comparison.row("cgan")["vs_baseline_verdict"] == "not significant (p=0.052)"
    assert "Holm-adjusted" in comparison.to_markdown()
    assert "4 vs none" in comparison.to_markdown()


def test_identical_strategy_is_not_significant(comparison):
    r = comparison.row("threshold")
    assert r["vs_baseline_diff"] == 0
    assert r["vs_baseline_p"] == 1.0
    assert r["vs_baseline_verdict"] == "not significant (p=1)"


def test_against_the_reference_resampler(comparison):
    assert comparison.reference == "smote"
    assert "best mean validation AUPRC" in comparison.reference_rule
    assert comparison.reference_rule in comparison.notes()
    r = comparison.row("cgan")
    # differences vs smote: 0.03, 0.05, 0.02 -> mean 0.0333, sd 0.015275, t = 3.780, df 2
    # p = 0.063: clear on every fold, but 3 pairs are too few to call it
    assert r["vs_reference_diff"] == pytest.approx(0.1 / 3)
    assert r["vs_reference_p_raw"] == pytest.approx(0.0634, abs=1e-3)
    assert r["vs_reference_verdict"].startswith("not significant")
    assert comparison.row("smote")["vs_reference_verdict"] == report.REFERENCE
    assert comparison.row("none")["vs_baseline_verdict"] == report.REFERENCE
    # a variant counts as a resampler through its kind
    assert comparison.row("smote_0.5")["group"] == "resampler"
    # vs smote: d = -.03 -.03 -.03 -> identical differences, se 0: p = 0 (raw), worse
    assert comparison.row("smote_0.5")["vs_reference_verdict"].startswith("worse")


def test_reference_is_chosen_on_validation_not_test_means():
    # test means: smote 0.6167 > smote_0.5 0.5867; validation means: smote_0.5 0.70 > smote 0.55
    validation = {"smote": [0.55, 0.55, 0.55], "smote_0.5": [0.70, 0.70, 0.70]}
    c = report.compare(make_results(validation=validation))
    assert c.reference == "smote_0.5"
    assert c.row("smote_0.5")["vs_reference_verdict"] == report.REFERENCE
    assert c.row("smote")["vs_reference_ref"] == "smote_0.5"
    assert "validation" in c.reference_rule and "val_average_precision 0.7000" in c.reference_rule
    # fixed in advance: the named strategy, whatever the scores
    fixed = report.compare(make_results(validation=validation), reference="smote")
    assert fixed.reference == "smote" and "fixed in advance" in fixed.reference_rule


def test_without_validation_scores_no_reference_is_guessed():
    c = report.compare(make_results().drop(columns=report.SELECTION_METRIC))
    assert c.reference is None
    assert set(c.table["vs_reference_verdict"]) == {"no reference"}
    assert "report.reference" in c.reference_rule


def test_wilcoxon_with_six_pairs():
    # 3 folds x 2 seeds = 6 pairs, better on all: exact two-sided p = 2 / 2^6 = 0.03125
    values = {
        "none": [0.50, 0.60, 0.70, 0.55, 0.65, 0.75],
        "cgan": [0.51, 0.63, 0.72, 0.59, 0.70, 0.81],  # +.01 +.03 +.02 +.04 +.05 +.06
        "smote": [0.49, 0.58, 0.67, 0.55, 0.61, 0.70],  # -.01 -.02 -.03 0 -.04 -.05
    }
    c = report.compare(make_results(values, seeds=(0, 1)))
    r = c.row("cgan")
    assert r["n"] == 6 and r["vs_baseline_n"] == 6
    assert r["vs_baseline_test"] == "wilcoxon"
    assert r["vs_baseline_p_raw"] == pytest.approx(0.03125)
    # smote vs none: one tie (0.55 = 0.55) dropped, five lower: p = 2 / 2^5 = 0.0625
    r = c.row("smote")
    assert r["vs_baseline_test"] == "wilcoxon"
    assert r["vs_baseline_p_raw"] == pytest.approx(0.0625)
    # Holm over the two: 0.03125 x 2 = 0.0625, then max(0.0625, 0.0625 x 1)
    assert c.row("cgan")["vs_baseline_verdict"] == "not significant (p=0.062)"
    assert r["vs_baseline_verdict"] == "not significant (p=0.062)"


def test_missing_pairs_are_dropped_and_counted():
    c = report.compare(make_results(drop={("cgan", 2, 0)}))
    r = c.row("cgan")
    assert r["n"] == 2
    assert r["vs_baseline_n"] == 2
    # the remaining differences are 0.05 and 0.06
    assert r["vs_baseline_diff"] == pytest.approx(0.055)
    assert "(n=2)" in c.to_markdown()
    assert "missing" in c.to_markdown()


def test_single_result_has_no_interval_and_no_test(tmp_path):
    c = report.compare(make_results(drop={("cgan", 1, 0), ("cgan", 2, 0)}))
    assert "<img" in report.write_html_report(c, tmp_path / "r.html").read_text()
    r = c.row("cgan")
    assert r["n"] == 1
    assert math.isnan(r[f"{AP}_ci_low"]) and math.isnan(r[f"{AP}_ci_high"])
    assert math.isnan(r["vs_baseline_p"])
    assert r["vs_baseline_verdict"] == "no test (1 pair)"
    assert "(no CI)" in c.to_markdown()
    assert "n=1" in c.summary()


def test_missing_baseline_and_no_resampler(tmp_path):
    values = {"cgan": VALUES["cgan"], "threshold": VALUES["threshold"]}
    c = report.compare(make_results(values))
    report.save_figures(c, tmp_path)
    assert c.reference is None
    assert set(c.table["vs_baseline_verdict"]) == {"no none run"}
    assert set(c.table["vs_reference_verdict"]) == {"no reference"}
    c.to_markdown()
    c.summary()


def test_without_kind_column_the_name_is_the_kind():
    c = report.compare(make_results().drop(columns="kind"))
    assert c.row("smote_0.5")["group"] == "other"
    assert c.row("smote")["group"] == "resampler"
    assert c.row("cgan")["group"] == "gan"


def test_lower_is_better_metric_sorts_ascending():
    frame = make_results({"none": VALUES["none"], "cgan": VALUES["cgan"]})
    c = report.compare(frame.assign(brier=lambda d: 1 - d[AP]), metric="brier")
    assert c.strategies[0] == "cgan"
    assert c.row("cgan")["vs_baseline_verdict"].startswith("better")


def test_corrected_t_widens_the_interval():
    plain = report.compare(make_results())
    corrected = report.compare(make_results(), correction=nb(0.5))
    # variance factor 1/3 + 0.5 instead of 1/3: the half-width grows by sqrt(2.5)
    hw = lambda c: c.row("none")[f"{AP}_ci_high"] - c.row("none")[f"{AP}_mean"]  # noqa: E731
    assert hw(corrected) / hw(plain) == pytest.approx(math.sqrt(2.5))
    r = corrected.row("cgan")
    assert r["vs_baseline_test"] == "corrected t"
    t = 0.05 / (0.01 * math.sqrt(1 / 3 + 0.5))
    assert r["vs_baseline_p_raw"] == pytest.approx(2 * stats.t.sf(t, 2))


def test_t_interval_helper():
    mean, lo, hi, n = report.t_interval([1.0, 2.0, 3.0, np.nan])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (mean, n) == (2.0, 3)
    assert (lo, hi) == pytest.approx((2 - half, 2 + half))
    assert math.isnan(report.t_interval([1.0])[1])
    assert report.t_interval([])[3] == 0


def test_markdown_shape(comparison):
    md = comparison.to_markdown()
    lines = md.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 5  # header, alignment, one row per strategy
    n_cols = table[0].count("|") - 1
    assert all(line.count("|") - 1 == n_cols for line in table)
    assert table[1].startswith("|---|---:")
    assert table[2].startswith("| cgan |")
    assert "not significant (p=0.052)" in table[2]
    assert "AUPRC" in table[0] and "vs none" in table[0] and "trees" not in table[0]
    assert "Holm-adjusted" in md
    assert comparison.to_markdown(notes=False).count("\n") == len(table) - 1


def test_markdown_escapes_pipes():
    c = report.compare(make_results({"none": VALUES["none"], "a|b": VALUES["cgan"]}))
    assert "| a\\|b |" in c.to_markdown()


def test_csv_round_trip(comparison, tmp_path):
    path = comparison.to_csv(tmp_path / "comparison.csv")
    again = report.Comparison.from_csv(path)
    assert again.metric == AP
    assert again.baseline == "none"
    assert again.reference == "smote"
    assert again.reference_rule == comparison.reference_rule
    assert again.alpha == 0.05 and again.correction is None
    assert again.strategies == comparison.strategies
    pd.testing.assert_frame_equal(
        again.table, comparison.table, check_dtype=False, check_exact=False
    )
    assert again.summary() == comparison.summary()
    assert again.to_markdown() == comparison.to_markdown()


def test_from_csv_rejects_other_files(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"a": [1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="not a comparison table"):
        report.Comparison.from_csv(path)


def test_rich_table(comparison):
    table = comparison.to_rich_table(wide=True)
    assert isinstance(table, Table)
    assert table.row_count == 5
    console = Console(record=True, width=250)
    console.print(table)
    text = console.export_text()
    assert "not significant (p=0.052)" in text
    assert "0.650 ± " in text and "ROC-AUC" in text


def test_default_terminal_table_fits_120_columns():
    # nine strategies with long names, wide intervals (n=2) and every kind of verdict cell
    names = ["none", "class_weight", "threshold", "ros", "smote", "borderline", "adasyn"]
    names += ["smote_tomek", "cgan"]
    rng = np.random.default_rng(0)
    values = {s: list(rng.uniform(0.1, 0.9, 2)) for s in names}
    frame = make_results(values).assign(n_trees=123.0)
    c = report.compare(frame, correction=nb(1.0))
    console = Console(record=True, width=300)
    console.print(c.to_rich_table())
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= report.MAX_TABLE_WIDTH
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == len(names)  # one line per strategy: nothing wraps
    header = " ".join(lines[: lines.index(next(x for x in lines if x.startswith("┡")))])
    for column in ("strategy", "AUPRC", "vs none", "reference", "trees", "resample s"):
        assert column in header
    assert "ROC-AUC" not in header  # --wide only


def test_summary(comparison):
    s = comparison.summary()
    assert s.startswith("Best: cgan AUPRC 0.650 [")
    assert "vs none +0.050 [+0.025, +0.075] (n=3), not significant (p=0.052)" in s
    assert "vs smote (reference resampler) +0.033" in s
    assert "not significant" in s


def _line_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.subplots().plot([0, 1], [1, 0])
    return fig


def test_html_report(comparison, tmp_path):
    curves = {"none": np.linspace(1, 0.1, 101), "cgan": np.linspace(1, 0.2, 101)}
    path = report.write_html_report(
        comparison,
        tmp_path / "report.html",
        pr_curves=curves,
        extra_tables={"Effect of tuning": (["strategy", "change"], [["cgan <x>", "+0.0100"]])},
        extra_figures={"GAN losses": _line_figure()},
        title="a <b> title",
    )
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<img") == 5  # metrics, paired differences, PR curves, timings, GAN losses
    assert "data:image/png;base64," in text
    assert "<h2>GAN losses</h2>" in text and '<img alt="GAN losses"' in text
    assert "<h2>Effect of tuning</h2>" in text and "<td>cgan &lt;x&gt;</td>" in text
    assert "a &lt;b&gt; title" in text
    assert "not significant (p=0.052)" in text
    assert "Synthetic-data quality" not in text  # no GAN quality metrics in these results


def test_save_figures(comparison, tmp_path):
    paths = report.save_figures(comparison, tmp_path / "figs")
    assert [p.name for p in paths] == ["metrics.png", "paired_differences.png", "timings.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    with_curves = report.save_figures(
        comparison, tmp_path / "figs2", pr_curves={"none": np.linspace(1, 0, 101)}
    )
    assert "pr_curves.png" in [p.name for p in with_curves]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"strategy": ["a"], "fold": [0], "seed": [0]}), "lack columns"),
        (pd.DataFrame({"strategy": [], "fold": [], "seed": [], AP: []}), "no rows"),
        (
            pd.DataFrame({"strategy": ["a", "a"], "fold": [0, 0], "seed": [0, 0], AP: [0.1, 0.2]}),
            "several rows",
        ),
        (pd.DataFrame({"strategy": ["a"], "fold": [0], "seed": [0], AP: ["x"]}), "not numeric"),
    ],
)
def test_bad_results_raise(frame, message):
    with pytest.raises(DataError, match=message):
        report.compare(frame)


def test_intervals_are_drawn_within_the_metric_range_and_small_n_is_said():
    # n=2 with far-apart values: the t-interval (one degree of freedom) runs far outside [0, 1]
    values = {"none": [0.1, 0.9], "cgan": [0.2, 0.95], "smote": [0.3, 0.5]}
    c = report.compare(make_results(values).drop(columns=["fit_seconds", "predict_seconds"]))
    r = c.row("none")
    assert r[f"{AP}_ci_low"] < -1 and r[f"{AP}_ci_high"] > 2
    fig = report.comparison_figures(c, None)["metrics"][1]
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert lo > -0.1 and hi < 1.1  # drawn within [0, 1] (plus matplotlib's margins)
    notes = [t.get_text() for t in ax.texts]
    assert "n=2: interval clipped to the range" in notes
    diffs = report.comparison_figures(c, None)["paired_differences"][1]
    lo, hi = diffs.axes[0].get_xlim()
    assert lo > -1.2 and hi < 1.2  # a difference of AUPRCs lies in [-1, 1]
    assert any("n=2" in n and "too wide" in n for n in c.notes())
    assert "none AUPRC" not in c.summary()  # the best strategy's sentence, clipped:
    assert "AUPRC 0.575 [0.000, 1.000] (n=2)" in c.summary()


def test_single_value_is_marked_as_too_few_for_an_interval():
    c = report.compare(make_results(drop={("cgan", 1, 0), ("cgan", 2, 0)}))
    ax = report.comparison_figures(c, None)["metrics"][1].axes[0]
    assert "n=1: too few for an interval" in [t.get_text() for t in ax.texts]


def test_gan_quality_summary_next_to_the_table(tmp_path):
    q = "quality/"
    frame = make_results()
    gan = frame["strategy"] == "cgan"
    frame.loc[gan, f"{q}c2st_auc"] = [0.9, 0.8, 0.7]
    frame.loc[gan, f"{q}memorization_flag"] = [0.0, 1.0, 0.0]
    frame.loc[gan, f"{q}dcr_median_ratio"] = [1.2, 0.9, 1.1]
    frame.loc[gan, f"{q}exact_copies"] = [0.0, 0.0, 0.0]
    c = report.compare(frame)
    header, rows = report.quality_summary(c)
    assert [r[0] for r in rows] == ["cgan"]
    assert rows[0][2].startswith("0.800 ± ")
    assert "memorization flagged in 1 of 3 folds" in rows[0]
    assert not any("rule" in h for h in header)  # no rule-violation metric logged
    with_rules = report.compare(frame.assign(**{f"{q}rule_violations": 0.25}))
    header, rows = report.quality_summary(with_rules)
    assert "rule violations" in header
    html_text = report.write_html_report(with_rules, tmp_path / "r.html").read_text()
    table_end = html_text.index("</table>")
    quality = html_text.index("Synthetic-data quality")
    first_figure = html_text.index("<img")
    assert table_end < quality < first_figure  # right after the AUPRC table
    assert report.quality_summary(report.compare(make_results())) is None


def test_description_for_the_parent_run(comparison):
    text = comparison.description()
    assert text.startswith("**Best: cgan AUPRC 0.650 \\[")  # brackets are not Markdown links
    assert "| strategy | n | AUPRC |" in text
    assert "Holm-adjusted" in text and comparison.reference_rule in text
    assert len(comparison.description(max_chars=200)) == 200


# --------------------------------------------------------------------------------------------
# statistics that follow the fold design: the correction and the detectable difference


WINDOW_VALUES = {
    "none": [0.50, 0.62, 0.55, 0.58, 0.47, 0.60],
    "smote": [0.53, 0.63, 0.60, 0.58, 0.52, 0.61],
}


def _windows(step_days: float, train_days: float) -> tuple[VarianceCorrection, pd.DataFrame]:
    """The correction of 6 temporal folds on uniform rows, and results of two strategies on them."""
    from pipeline.split import temporal_folds

    seconds = (np.arange(120 * 20) + 0.5) * 86_400 / 20
    y = np.zeros(len(seconds), dtype=int)
    y[::7] = 1
    plan = temporal_folds(
        seconds, train_days=train_days, gap_days=7, test_days=7, n_folds=6, step_days=step_days, y=y
    )
    return plan.correction, make_results(WINDOW_VALUES)


def test_disjoint_training_windows_give_the_plain_paired_t_test():
    correction, frame = _windows(step_days=7, train_days=7)
    c = report.compare(frame, correction=correction)
    r = c.row("smote")
    none, smote = (np.array(WINDOW_VALUES[s]) for s in ("none", "smote"))
    assert r["vs_baseline_test"] == "paired t"
    assert r["vs_baseline_p_raw"] == pytest.approx(stats.ttest_rel(smote, none).pvalue)
    half = stats.t.ppf(0.975, 5) * (smote - none).std(ddof=1) / math.sqrt(6)
    assert r["vs_baseline_ci_high"] - r["vs_baseline_diff"] == pytest.approx(half)
    row = c.row("none")
    assert row[f"{AP}_ci_high"] - row[f"{AP}_mean"] == pytest.approx(
        stats.t.ppf(0.975, 5) * none.std(ddof=1) / math.sqrt(6)
    )
    assert any("no Nadeau & Bengio correction" in n for n in c.notes())
    assert "corrected resampled" not in " ".join(c.notes())


def test_overlapping_training_windows_widen_the_intervals_by_their_overlap():
    correction, frame = _windows(step_days=7, train_days=28)
    assert correction.applies
    plain = report.compare(frame, correction=_windows(7, 7)[0])
    corrected = report.compare(frame, correction=correction)
    factor = math.sqrt((1 / 6 + correction.term) / (1 / 6))
    for strategy, col in (("smote", "vs_baseline_ci_high"), ("none", f"{AP}_ci_high")):
        center = "vs_baseline_diff" if col.startswith("vs") else f"{AP}_mean"
        widths = [c.row(strategy)[col] - c.row(strategy)[center] for c in (plain, corrected)]
        assert widths[1] / widths[0] == pytest.approx(factor)
    assert corrected.row("smote")["vs_baseline_test"] == "corrected t"
    assert any("share" in n and "scaled" in n for n in corrected.notes())


def test_min_detectable_effect_by_hand_and_its_power():
    d = np.array([0.03, 0.01, 0.05, 0.0, 0.05, 0.01, -0.02, 0.04])
    n, term = len(d), 0.25
    se = d.std(ddof=1) * math.sqrt(1 / n + term)
    expected = (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * se
    assert report.min_detectable_effect(d, correction=term) == pytest.approx(expected)
    assert report.min_detectable_effect(d, alpha=0.1) < report.min_detectable_effect(d)
    assert math.isnan(report.min_detectable_effect(d[:1]))
    # a true difference of that size is found with ~80 % power (noncentral t)
    crit = stats.t.ppf(0.975, n - 1)
    nc = expected / se
    power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert power == pytest.approx(0.8, abs=0.02)


def test_not_significant_comes_with_the_detectable_difference(tmp_path):
    from pipeline import tracking
    from pipeline.runner import summary_metrics

    c = report.compare(make_results(), correction=nb(0.5))
    r = c.row("cgan")
    d = np.array(VALUES["cgan"]) - np.array(VALUES["none"])
    mde = (stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * d.std(ddof=1) * math.sqrt(1 / 3 + 0.5)
    assert r["vs_baseline_mde"] == pytest.approx(mde)
    assert r["vs_baseline_verdict"].startswith("not significant")
    shown = f"detectable ≥ {mde:.3f}"
    assert shown in c.to_markdown() and shown in c.summary()
    assert any(f"cgan {mde:.3f}" in n and "80% power" in n for n in c.notes())
    assert summary_metrics(c, "cgan")[tracking.MDE_PREFIX + "vs_baseline"] == pytest.approx(
        mde, rel=1e-3
    )
    again = report.Comparison.from_csv(c.to_csv(tmp_path / "c.csv"))
    assert again.correction == nb(0.5)
    assert again.row("cgan")["vs_baseline_mde"] == pytest.approx(mde)
    assert again.notes() == c.notes()
    # `threshold` scores as `none` on every fold: no detectable difference to state, but that
    same = [n for n in c.notes() if n.startswith("Identical to none")]
    assert same == ["Identical to none on every (fold, seed) (the same predictions): threshold."]
    assert not any("threshold 0.000" in n for n in c.notes())
