"""Metrics for rare-event detection: ranking quality, alert-budget precision, and thresholded scores.

Pure functions: numpy arrays in, floats or dicts out, no I/O. Every function validates its input and
raises `DataError` with the function and argument named. Scores are "higher means more likely fraud";
a row is alerted at threshold `thr` when `p >= thr`.

Tied scores are never broken by row order: ranking metrics (AP, ROC-AUC, recall at FPR, the PR curve)
treat a group of tied scores as one threshold step, and the top-k metrics take the expected value under
a random order inside the tied group at the k-th place, so that a model cannot gain from the order in
which the rows happen to be stored.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from models.errors import ConfigError, DataError
from pipeline.split import key_codes

log = logging.getLogger(__name__)

# Metric keys: valid MLflow metric names, used by the runner, the tracking and the report alike.
AVERAGE_PRECISION = "average_precision"
ROC_AUC = "roc_auc"
RECALL_AT_FPR_0_1PCT = "recall_at_fpr_0.1pct"
RECALL_AT_FPR_1PCT = "recall_at_fpr_1pct"
PRECISION_AT_K = "precision_at_k"
CARD_PRECISION_AT_K = "card_precision_at_k"
F1_TUNED = "f1_tuned"
AMOUNT_CAUGHT_TUNED = "amount_caught_tuned"
PRECISION_TUNED = "precision_tuned"
RECALL_TUNED = "recall_tuned"
F1_AT_DECISION = "f1_at_decision"
BRIER = "brier"
N_TEST = "n_test"
N_TEST_POSITIVE = "n_test_positive"

METRIC_KEYS: tuple[str, ...] = (
    AVERAGE_PRECISION,
    ROC_AUC,
    RECALL_AT_FPR_0_1PCT,
    RECALL_AT_FPR_1PCT,
    PRECISION_AT_K,
    CARD_PRECISION_AT_K,
    F1_TUNED,
    AMOUNT_CAUGHT_TUNED,
    PRECISION_TUNED,
    RECALL_TUNED,
    F1_AT_DECISION,
    BRIER,
    N_TEST,
    N_TEST_POSITIVE,
)
"""Every key `evaluate_predictions` can return, in display order."""

RECALL_AT_FPR_LEVELS: dict[str, float] = {RECALL_AT_FPR_0_1PCT: 0.001, RECALL_AT_FPR_1PCT: 0.01}

LOWER_IS_BETTER: frozenset[str] = frozenset({BRIER})
"""Quality metrics where a smaller value is better (timings, `*_seconds`, are too)."""

METRIC_LABELS: dict[str, str] = {
    AVERAGE_PRECISION: "AUPRC",
    ROC_AUC: "ROC-AUC",
    RECALL_AT_FPR_0_1PCT: "recall@FPR 0.1%",
    RECALL_AT_FPR_1PCT: "recall@FPR 1%",
    PRECISION_AT_K: "P@k per day",
    CARD_PRECISION_AT_K: "CP@k",
    F1_TUNED: "F1 (val. threshold)",
    AMOUNT_CAUGHT_TUNED: "fraud amount caught",
    PRECISION_TUNED: "precision (val. threshold)",
    RECALL_TUNED: "recall (val. threshold)",
    F1_AT_DECISION: "F1 (decision threshold)",
    BRIER: "Brier",
    N_TEST: "test rows",
    N_TEST_POSITIVE: "test frauds",
}
"""Short human labels for tables and plots."""

ThresholdPolicy = Literal["f1", "fpr", "budget"]


# --------------------------------------------------------------------------------------------
# validation


def _labels(y: Any, where: str, *, need_both: bool = True) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"{where}: y must be one-dimensional, found shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{where}: y is empty")
    if arr.dtype == bool:
        out = arr.astype(np.int8)
    else:
        try:
            values = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{where}: y must be numeric 0/1 labels, found dtype {arr.dtype}"
            ) from exc
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            found = np.unique(arr[bad])[:5].tolist()
            raise DataError(f"{where}: y must contain only 0 and 1, found {found}")
        out = values.astype(np.int8)
    if need_both:
        n_pos = int(out.sum())
        if n_pos == 0:
            raise DataError(f"{where}: y has no positive (fraud) rows; the metric is undefined")
        if n_pos == out.size:
            raise DataError(f"{where}: y has no negative rows; the metric is undefined")
    return out


def _scores(p: Any, n: int, where: str) -> np.ndarray:
    arr = np.asarray(p)
    if arr.ndim != 1:
        raise DataError(f"{where}: p must be one-dimensional, found shape {arr.shape}")
    if arr.shape[0] != n:
        raise DataError(f"{where}: y has {n} rows but p has {arr.shape[0]}")
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: p must be numeric scores, found dtype {arr.dtype}") from exc
    if not np.isfinite(arr).all():
        raise DataError(f"{where}: p has {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise DataError(
            f"{where}: p must be probabilities in [0, 1], found range "
            f"[{arr.min():.6g}, {arr.max():.6g}]"
        )
    return arr


def _yp(y: Any, p: Any, where: str, *, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    yy = _labels(y, where, need_both=need_both)
    return yy, _scores(p, yy.size, where)


def _same_length(
    values: Any, n: int, name: str, where: str, *, allow_missing: bool = False
) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(
            f"{where}: {name} must have one value per row ({n}), found shape {arr.shape}"
        )
    if not allow_missing and pd.isna(arr).any():
        raise DataError(f"{where}: {name} has {int(pd.isna(arr).sum())} missing values")
    return arr


def _threshold(thr: Any, where: str) -> float:
    try:
        value = float(thr)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: threshold must be a number, found {thr!r}") from exc
    if math.isnan(value):
        raise DataError(f"{where}: threshold is NaN")
    return value


def _k(k: Any, where: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"{where}: k must be a positive integer, found {k!r}")
    return int(k)


# --------------------------------------------------------------------------------------------
# threshold sweep


def _descending(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows by descending score, and the last position of each group of tied scores in that
    order (one threshold per distinct score)."""
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    return order, np.r_[np.flatnonzero(np.diff(ps) != 0), ps.size - 1]


def _sweep(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores (descending) and the true/false positives when alerting `p >= score`."""
    order, last_of_group = _descending(p)
    ps, ys = p[order], y[order]
    tps = np.cumsum(ys, dtype=np.int64)[last_of_group]
    fps = (last_of_group + 1) - tps
    return ps[last_of_group], tps, fps


# --------------------------------------------------------------------------------------------
# ranking metrics


def average_precision(y: Any, p: Any) -> float:
    """Average precision (area under the PR curve, step-wise, as scikit-learn computes it)."""
    yy, pp = _yp(y, p, "average_precision")
    return float(average_precision_score(yy, pp))


def average_precision_draws(y: Any, p: Any, counts: np.ndarray) -> np.ndarray:
    """Average precision of `p` in each bootstrap draw: `counts` (draws × rows) says how often
    each row is drawn, and draw i's figure is `average_precision` with `counts[i]` as sample
    weights (a draw holding no positive row gives NaN)."""
    yy, pp = _yp(y, p, "average_precision_draws")
    w = np.asarray(counts, dtype=float)
    if w.ndim != 2 or w.shape[1] != yy.size:
        raise DataError(
            f"average_precision_draws: counts must be draws x {yy.size} rows, got {w.shape}"
        )
    order, last_of_group = _descending(pp)
    ys, w = yy[order].astype(float), w[:, order]
    tps = np.cumsum(w * ys, axis=1)[:, last_of_group]
    alerted = np.cumsum(w, axis=1)[:, last_of_group]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(alerted > 0, tps / alerted, 0.0)
        recall = tps / tps[:, -1:]
    steps = np.diff(recall, axis=1, prepend=0.0)
    return np.sum(steps * precision, axis=1)


def roc_auc(y: Any, p: Any) -> float:
    """Area under the ROC curve (ties count one half)."""
    yy, pp = _yp(y, p, "roc_auc")
    return float(roc_auc_score(yy, pp))


def recall_at_fpr(y: Any, p: Any, fpr: float) -> float:
    """The best recall reachable at a threshold whose false-positive rate is at most `fpr`.

    Read off the ROC curve's own points (every distinct score is a threshold), without interpolating
    between them: a group of tied scores is alerted entirely or not at all.
    """
    if not 0.0 <= float(fpr) <= 1.0:
        raise ConfigError(f"recall_at_fpr: fpr must be in [0, 1], found {fpr!r}")
    yy, pp = _yp(y, p, "recall_at_fpr")
    _, tps, fps = _sweep(yy, pp)
    n_pos, n_neg = int(yy.sum()), int(yy.size - yy.sum())
    allowed_fp = math.floor(float(fpr) * n_neg + 1e-9)
    ok = fps <= allowed_fp
    return float(tps[ok].max() / n_pos) if ok.any() else 0.0


def _expected_top_k_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Positives among the k highest scores; a tie at the k-th place counts its expected share."""
    if scores.size <= k:
        return float(labels.sum())
    kth = np.partition(scores, scores.size - k)[scores.size - k]
    above = scores > kth
    tied = scores == kth
    slots = k - int(above.sum())
    return float(labels[above].sum()) + slots * float(labels[tied].sum()) / int(tied.sum())


def _mean_daily_top_k(scores: np.ndarray, labels: np.ndarray, days: np.ndarray, k: int) -> float:
    codes, _ = pd.factorize(days, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1, order.size]
    values = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[start:stop]
        values.append(_expected_top_k_hits(scores[idx], labels[idx], k) / min(k, idx.size))
    return float(np.mean(values))


def precision_at_k_per_day(y: Any, p: Any, days: Any, k: int) -> float:
    """Mean over days of the precision of that day's k highest-scored transactions.

    A day with fewer than k rows is scored on all its rows. Every day present in `days` counts,
    including days without fraud (precision 0 there), as in the fraud-detection literature.
    """
    where = "precision_at_k_per_day"
    kk = _k(k, where)
    yy, pp = _yp(y, p, where, need_both=False)
    dd = _same_length(days, yy.size, "days", where)
    return _mean_daily_top_k(pp, yy, dd, kk)


def _top_k_cut(scores: np.ndarray, k: int) -> np.ndarray:
    """Which entries have a chance of being among the k highest (the tie at the k-th place too)."""
    if scores.size <= k:
        return np.ones(scores.size, dtype=bool)
    return scores >= np.partition(scores, scores.size - k)[scores.size - k]


def card_precision_at_k(y: Any, p: Any, days: Any, entity: Any, k: int) -> float:
    """Card precision top-k (CP@k) as the fraud-detection literature defines it.

    Following Dal Pozzolo et al. and the Fraud Detection Handbook (Le Borgne et al.): for each
    day of the test period, in time order,

    1. the transactions of cards detected on earlier days are removed (a detected compromised
       card is blocked);
    2. each remaining card gets the highest score of its transactions that day, and is
       compromised that day when any of them is fraud;
    3. the k highest-scored cards are checked: that day's CP is the number of compromised cards
       among them divided by k (also on a day with fewer than k cards);
    4. the compromised cards among them are detected from then on.

    CP@k is the mean of the daily values over every day present in `days` (a day without fraud,
    or whose cards were all detected before, counts as 0). A tie at the k-th place counts its
    expected share of compromised cards (random order inside the tie), and every compromised
    card of that tie counts as detected, so a tie never lets a card be counted twice. A transaction
    without a card (a missing `entity`) is a card of its own, as the history features count it.
    """
    where = "card_precision_at_k"
    kk = _k(k, where)
    yy, pp = _yp(y, p, where, need_both=False)
    dd = _same_length(days, yy.size, "days", where)
    ee = _same_length(entity, yy.size, "entity", where, allow_missing=True)
    day_codes, _ = pd.factorize(dd, sort=True)
    card_codes = key_codes(ee)
    daily = (
        pd.DataFrame({"day": day_codes, "card": card_codes, "p": pp, "y": yy})
        .groupby(["day", "card"], sort=True)
        .agg(p=("p", "max"), y=("y", "max"))
        .reset_index()
    )
    detected = np.zeros(int(card_codes.max(initial=-1)) + 1, dtype=bool)
    values = []
    bounds = np.r_[0, np.flatnonzero(np.diff(daily["day"].to_numpy())) + 1, len(daily)]
    card, score, label = (daily[c].to_numpy() for c in ("card", "p", "y"))
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        rows = np.arange(start, stop)
        rows = rows[~detected[card[rows]]]
        if rows.size == 0:
            values.append(0.0)
            continue
        values.append(_expected_top_k_hits(score[rows], label[rows], kk) / kk)
        checked = rows[_top_k_cut(score[rows], kk)]
        detected[card[checked[label[checked] == 1]]] = True
    return float(np.mean(values))


def pr_curve_points(y: Any, p: Any, n: int = 101) -> np.ndarray:
    """Interpolated precision at `n` evenly spaced recall levels 0..1, for averaging across folds.

    precision_interp(r) = the highest precision at any threshold whose recall is >= r. Only the
    curve's real points are used (no artificial point at recall 0, precision 1).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ConfigError(f"pr_curve_points: n must be an integer >= 2, found {n!r}")
    yy, pp = _yp(y, p, "pr_curve_points")
    _, tps, fps = _sweep(yy, pp)
    recall = tps / yy.sum()
    precision = tps / (tps + fps)
    # recall rises with each lower threshold: the best precision at recall >= r is a suffix maximum.
    suffix_max = np.maximum.accumulate(precision[::-1])[::-1]
    levels = np.linspace(0.0, 1.0, int(n))
    first = np.searchsorted(recall, levels - 1e-12, side="left")
    return suffix_max[np.minimum(first, recall.size - 1)].astype(float)


def brier(y: Any, p: Any) -> float:
    """Brier score: mean squared difference between the probability and the label (lower is better)."""
    yy, pp = _yp(y, p, "brier", need_both=False)
    return float(np.mean((pp - yy) ** 2))


# --------------------------------------------------------------------------------------------
# thresholded metrics


def _confusion(y: np.ndarray, p: np.ndarray, thr: float) -> tuple[int, int, int]:
    alert = p >= thr
    tp = int((alert & (y == 1)).sum())
    fp = int((alert & (y == 0)).sum())
    fn = int((~alert & (y == 1)).sum())
    return tp, fp, fn


def precision_recall_at(y: Any, p: Any, thr: float) -> tuple[float, float]:
    """(precision, recall) when alerting `p >= thr`; precision is 0 when nothing is alerted."""
    yy, pp = _yp(y, p, "precision_recall_at")
    tp, fp, fn = _confusion(yy, pp, _threshold(thr, "precision_recall_at"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    return float(precision), float(tp / (tp + fn))


def f1_at(y: Any, p: Any, thr: float) -> float:
    """F1 score when alerting `p >= thr` (0 when nothing is alerted)."""
    yy, pp = _yp(y, p, "f1_at")
    tp, fp, fn = _confusion(yy, pp, _threshold(thr, "f1_at"))
    return float(2 * tp / (2 * tp + fp + fn))


def amount_caught_at(y: Any, p: Any, amount: Any, thr: float) -> float:
    """Share of the total fraud amount that falls in alerted rows (`p >= thr`), over the fraud
    rows whose amount is known (a missing amount counts in neither part); NaN, undefined, when
    those rows hold no positive amount (a test fold of $0 card-testing authorizations)."""
    where = "amount_caught_at"
    yy, pp = _yp(y, p, where, need_both=False)
    aa = _same_length(amount, yy.size, "amount", where, allow_missing=True).astype(float)
    known = ~np.isnan(aa)
    if not np.isfinite(aa[known]).all() or (aa[known] < 0).any():
        raise DataError(f"{where}: amount must be finite and >= 0")
    fraud = (yy == 1) & known
    total = float(aa[fraud].sum())
    if total <= 0:
        return math.nan
    caught = float(aa[fraud & (pp >= _threshold(thr, where))].sum())
    return caught / total


def choose_threshold(
    y_val: Any,
    p_val: Any,
    *,
    policy: ThresholdPolicy = "f1",
    target_fpr: float = 0.01,
    alerts_per_day: float | None = None,
    days: Any = None,
) -> float:
    """A decision threshold chosen on validation data (alert when `p >= threshold`).

    - ``f1``: the validation score that maximizes F1 (the highest such score when several tie);
    - ``fpr``: the lowest validation score whose validation false-positive rate is <= `target_fpr`;
    - ``budget``: the lowest validation score at which the mean number of alerts per validation day
      is <= `alerts_per_day` (needs `days`).

    Every candidate is a distinct validation score, so a tied group is alerted entirely or not at all.
    When no score satisfies the policy, the result lies just above the highest score (no alerts).
    """
    where = "choose_threshold"
    yy, pp = _yp(y_val, p_val, where)
    thresholds, tps, fps = _sweep(yy, pp)
    n_pos, n_neg = int(yy.sum()), int(yy.size - yy.sum())
    none_alerted = float(np.nextafter(thresholds[0], np.inf))
    if policy == "f1":
        f1 = 2 * tps / (tps + fps + n_pos)
        return float(thresholds[int(np.argmax(f1))])
    if policy == "fpr":
        if not 0.0 < float(target_fpr) < 1.0:
            raise ConfigError(f"{where}: target_fpr must be in (0, 1), found {target_fpr!r}")
        ok = np.flatnonzero(fps <= math.floor(float(target_fpr) * n_neg + 1e-9))
        if ok.size == 0:
            log.warning(
                "choose_threshold: even the highest validation score exceeds FPR %.4g "
                "(%d negatives); the threshold alerts nothing",
                target_fpr,
                n_neg,
            )
            return none_alerted
        return float(thresholds[ok[-1]])
    if policy == "budget":
        if alerts_per_day is None or not float(alerts_per_day) > 0:
            raise ConfigError(
                f"{where}: policy 'budget' needs alerts_per_day > 0, found {alerts_per_day!r}"
            )
        if days is None:
            raise DataError(
                f"{where}: policy 'budget' needs the day of each validation row "
                "and the data has no time column; use policy 'f1' or 'fpr'"
            )
        dd = _same_length(days, yy.size, "days", where)
        budget = float(alerts_per_day) * pd.unique(dd).size
        ok = np.flatnonzero(tps + fps <= budget + 1e-9)
        if ok.size == 0:
            log.warning(
                "choose_threshold: more than %.4g rows tie at the highest validation score; "
                "the threshold alerts nothing",
                budget,
            )
            return none_alerted
        return float(thresholds[ok[-1]])
    raise ConfigError(f"{where}: policy must be 'f1', 'fpr' or 'budget', found {policy!r}")


# --------------------------------------------------------------------------------------------
# everything for one test fold


def evaluate_predictions(
    y: Any,
    p: Any,
    *,
    threshold: float,
    decision_threshold: float = 0.5,
    amount: Any = None,
    days: Any = None,
    entity: Any = None,
    k: int = 100,
) -> dict[str, float]:
    """Every test-fold metric, keyed by the module's metric constants.

    `threshold` is the one chosen on validation data (`choose_threshold`); `decision_threshold` is
    the fixed one the model would use without tuning (0.5 for a plain probability). Per-day metrics
    need `days`; CP@k needs `days` and `entity`; the amount caught needs `amount`.
    """
    where = "evaluate_predictions"
    yy, pp = _yp(y, p, where)
    thr = _threshold(threshold, where)
    decision = _threshold(decision_threshold, where)
    precision, recall = precision_recall_at(yy, pp, thr)
    out: dict[str, float] = {
        AVERAGE_PRECISION: average_precision(yy, pp),
        ROC_AUC: roc_auc(yy, pp),
        **{key: recall_at_fpr(yy, pp, level) for key, level in RECALL_AT_FPR_LEVELS.items()},
    }
    if days is not None:
        dd = _same_length(days, yy.size, "days", where)
        out[PRECISION_AT_K] = precision_at_k_per_day(yy, pp, dd, k)
        if entity is not None:
            ee = _same_length(entity, yy.size, "entity", where, allow_missing=True)
            out[CARD_PRECISION_AT_K] = card_precision_at_k(yy, pp, dd, ee, k)
    elif entity is not None:
        log.debug("evaluate_predictions: entity given without days; CP@k needs both, skipped")
    out[F1_TUNED] = f1_at(yy, pp, thr)
    if amount is not None and not math.isnan(share := amount_caught_at(yy, pp, amount, thr)):
        out[AMOUNT_CAUGHT_TUNED] = share  # left out where undefined, as a metric without input
    out[PRECISION_TUNED] = precision
    out[RECALL_TUNED] = recall
    out[F1_AT_DECISION] = f1_at(yy, pp, decision)
    out[BRIER] = brier(yy, pp)
    out[N_TEST] = float(yy.size)
    out[N_TEST_POSITIVE] = float(yy.sum())
    return out
