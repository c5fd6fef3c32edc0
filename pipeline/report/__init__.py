"""The honest comparison: per-strategy means with confidence intervals, and paired tests.

`compare` turns one row per (strategy, fold, seed) into one row per strategy: mean, standard
deviation and a t-interval of every metric over the folds x seeds, and paired tests of the headline
metric on the same (fold, seed) against the baseline and against a reference resampler. The
reference is fixed in advance or chosen on the validation windows, never on the test folds; the
p-values against each reference are Holm-adjusted over the strategies compared with it.
The `Comparison` renders as Markdown, CSV, a rich table, a plain-language summary, PNG figures and
one self-contained HTML report.

- `metrics.py`: what the comparison knows of each metric (label, direction, range);
- `statistics.py`: t-intervals, paired tests and their detectable differences, Holm's
  adjustment, the choice of the reference;
- `comparison.py`: `compare` and the `Comparison` with its text renderings;
- `figures.py`: the figures (PNG);
- `page.py`: the HTML report (`pipeline/templates/comparison.html.j2`).
"""

from pipeline.report.comparison import (
    MAX_TABLE_WIDTH,
    REFERENCE,
    RESAMPLERS,
    VS_BASELINE,
    VS_REFERENCE,
    Comparison,
    compare,
    leaning_text,
    quality_summary,
)
from pipeline.report.figures import (
    comparison_figures,
    png_base64,
    rendered_figures,
    save_figures,
)
from pipeline.report.metrics import (
    TREES,
    difference_range,
    few_positives_warning,
    lower_is_better,
    metric_label,
    metric_range,
)
from pipeline.report.page import write_html_report
from pipeline.report.statistics import (
    AUTO,
    SELECTION_METRIC,
    PairedResult,
    choose_reference,
    format_p,
    holm,
    min_detectable_effect,
    paired_test,
    t_interval,
)

__all__ = [
    "AUTO",
    "MAX_TABLE_WIDTH",
    "REFERENCE",
    "RESAMPLERS",
    "SELECTION_METRIC",
    "TREES",
    "VS_BASELINE",
    "VS_REFERENCE",
    "Comparison",
    "PairedResult",
    "choose_reference",
    "compare",
    "comparison_figures",
    "difference_range",
    "few_positives_warning",
    "format_p",
    "holm",
    "leaning_text",
    "lower_is_better",
    "metric_label",
    "metric_range",
    "min_detectable_effect",
    "paired_test",
    "png_base64",
    "quality_summary",
    "rendered_figures",
    "save_figures",
    "t_interval",
    "write_html_report",
]
