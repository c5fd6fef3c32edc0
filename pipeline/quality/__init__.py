"""Synthetic-data quality: how faithful, useful and private synthetic fraud rows are.

The report compares synthetic fraud rows with the real training fraud rows the generator learned
from, and optionally with real held-out fraud rows it never saw:

- fidelity: per-column KS statistic (continuous) and total variation distance (categorical), the
  difference of the correlation matrices, and a classifier two-sample test (C2ST: the
  cross-validated ROC-AUC of XGBoost telling real from synthetic; 0.5 is perfect, 1.0 means fully
  distinguishable);
- utility (train on synthetic, test on real): AUPRC of XGBoost trained on synthetic fraud + real
  legitimate rows, against the same trained on real fraud (TRTR), on a real test set;
- privacy: distance to the closest real training record (DCR) of each synthetic row, compared with
  the same distance for real held-out rows, and the count of exact copies of training rows.

Memorization rule (`QualityReport.memorization_flag`), flagged when either holds:

1. exact copies: the share of synthetic rows equal to some training row on every column
   (continuous values rounded to 1e-6) exceeds the same share for the holdout rows by more than
   `COPY_SHARE_MARGIN` (1 percentage point).
2. too close: the share of synthetic rows whose DCR is below the holdout's 5th percentile DCR
   exceeds `dcr_share_threshold = max(0.10, 0.05 + 3 * sqrt(0.0475 * (1/n_holdout +
   1/n_synthetic)))`. A generator that samples the distribution without copying puts about 5 % of
   its rows there, as an unseen real row would; the margin is three standard errors of that share
   (both the percentile and the share are estimated), and never less than twice the 5 %.

The holdout must be exchangeable with the training rows (the same period in temporal data:
`benchmarks/results/privacy_reference.md`). Without one, the training rows are their own
reference, leave one out: each one's distance to the closest other training row, and the share of
them that copy another training row (with a single training row, rule 1 alone, at 1 %). Any
exact copy is worth a look even when not flagged; data whose columns are all discrete can hold
natural copies, which is why rule 1 compares with the reference.

Encodings: C2ST and utility feed XGBoost the continuous columns as they are (NaN allowed) and the
categoricals as integer codes from one mapping shared by every frame. DCR standardises continuous
columns with the real training rows' mean and standard deviation (a constant column gets scale 1;
a missing value becomes the mean plus a 0/1 missing indicator), one-hots the categoricals (missing is
its own category) and measures Euclidean distance.

- `measures.py`: the fidelity, utility and privacy measures;
- `assessment.py`: `quality_report` and the `QualityReport` it returns; `privacy`, its privacy
  section alone (the benchmark suite's memorization columns);
- `plots.py`: the figures (PNG);
- `page.py`: the HTML page (`pipeline/templates/quality.html.j2`).
"""

from pipeline.quality.assessment import (
    METRIC_DESCRIPTIONS,
    Privacy,
    QualityReport,
    privacy,
    quality_report,
)
from pipeline.quality.measures import (
    COPY_SHARE_MARGIN,
    MISSING,
    category_shares,
    correlation_difference,
    count_exact_copies,
    dcr_share_threshold,
    distance_to_closest_record,
    ks_statistic,
    total_variation_distance,
)

__all__ = [
    "COPY_SHARE_MARGIN",
    "METRIC_DESCRIPTIONS",
    "MISSING",
    "Privacy",
    "QualityReport",
    "category_shares",
    "correlation_difference",
    "count_exact_copies",
    "dcr_share_threshold",
    "distance_to_closest_record",
    "ks_statistic",
    "privacy",
    "quality_report",
    "total_variation_distance",
]
