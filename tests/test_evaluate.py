"""Metrics against values computed by hand on tiny arrays, ties, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from models.errors import ConfigError, DataError
from pipeline import evaluate as ev

# Example A, already sorted by score:
#   score  0.9  0.8  0.7  0.3  0.1
#   label    1    0    1    0    0        P = 2 positives, N = 3 negatives
Y_A = np.array([1, 0, 1, 0, 0])
P_A = np.array([0.9, 0.8, 0.7, 0.3, 0.1])
AMOUNT_A = np.array([100.0, 50.0, 20.0, 10.0, 5.0])

# Example T (ties): three rows tie at 0.5, two of them fraud.
Y_T = np.array([1, 0, 1, 0])
P_T = np.array([0.5, 0.5, 0.5, 0.1])


def test_average_precision_by_hand():
    # positives at ranks 1 and 3: precision 1/1 and 2/3, each worth recall 1/2
    # AP = (1 + 2/3) / 2 = 5/6
    assert ev.average_precision(Y_A, P_A) == pytest.approx(5 / 6)


def test_average_precision_ties_are_one_step():
    # the tied group is one threshold: recall 0 -> 1 at precision 2/3, so AP = 2/3
    # (no credit from the order in which tied rows are stored)
    assert ev.average_precision(Y_T, P_T) == pytest.approx(2 / 3)
    assert ev.average_precision(Y_T[::-1], P_T[::-1]) == pytest.approx(2 / 3)


def test_average_precision_draws_weigh_rows_by_how_often_each_is_drawn():
    # counts 1: the plain AP; a row drawn twice counts twice; a row not drawn is not there
    counts = np.array([[1, 1, 1, 1], [2, 1, 1, 1], [1, 0, 1, 1], [0, 1, 0, 1]])
    got = ev.average_precision_draws(Y_T, P_T, counts)
    assert got[0] == pytest.approx(2 / 3)  # the tied group as one step, as above
    assert got[1] == pytest.approx(3 / 4)  # 3 of the 4 rows at 0.5 are fraud
    assert got[2] == pytest.approx(1.0)  # the 0.5 negative not drawn
    assert np.isnan(got[3])  # no positive drawn
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    p = np.round(rng.random(300), 2)  # many ties
    draws = rng.multinomial(300, np.full(300, 1 / 300), size=20)
    expected = [average_precision_score(y, p, sample_weight=c) for c in draws]
    np.testing.assert_allclose(ev.average_precision_draws(y, p, draws), expected)
    with pytest.raises(DataError, match="draws x 4 rows"):
        ev.average_precision_draws(Y_T, P_T, np.ones(4))


def test_roc_auc_by_hand():
    # pos 0.9 beats all 3 negatives (3), pos 0.7 beats 0.3 and 0.1 (2): 5 of 2*3 pairs
    assert ev.roc_auc(Y_A, P_A) == pytest.approx(5 / 6)
    # ties: each positive ties the 0.5 negative (1/2) and beats 0.1 (1): (1.5 + 1.5) / 4
    assert ev.roc_auc(Y_T, P_T) == pytest.approx(0.75)


def test_recall_at_fpr_by_hand():
    # thresholds: 0.9 (tp 1, fp 0), 0.8 (1, 1), 0.7 (2, 1), 0.3 (2, 2), 0.1 (2, 3)
    assert ev.recall_at_fpr(Y_A, P_A, 0.0) == pytest.approx(0.5)  # fp <= 0: thr 0.9
    assert ev.recall_at_fpr(Y_A, P_A, 0.3) == pytest.approx(0.5)  # 0.3 * 3 = 0.9 -> fp <= 0
    assert ev.recall_at_fpr(Y_A, P_A, 1 / 3) == pytest.approx(1.0)  # fp <= 1: thr 0.7
    assert ev.recall_at_fpr(Y_A, P_A, 1.0) == pytest.approx(1.0)


def test_recall_at_fpr_does_not_split_ties():
    # the 0.5 group holds 1 of 2 negatives: FPR 0.4 allows 0 false positives -> nothing alerted
    assert ev.recall_at_fpr(Y_T, P_T, 0.4) == 0.0
    assert ev.recall_at_fpr(Y_T, P_T, 0.5) == pytest.approx(1.0)


def test_thresholded_metrics_by_hand():
    # thr 0.7 alerts 0.9, 0.8, 0.7: tp 2, fp 1, fn 0 -> F1 = 2*2 / (2*2 + 1 + 0) = 0.8
    assert ev.f1_at(Y_A, P_A, 0.7) == pytest.approx(0.8)
    assert ev.precision_recall_at(Y_A, P_A, 0.7) == pytest.approx((2 / 3, 1.0))
    # thr 0.75 alerts 0.9, 0.8: tp 1, fp 1, fn 1 -> F1 = 2 / (2 + 1 + 1) = 0.5
    assert ev.f1_at(Y_A, P_A, 0.75) == pytest.approx(0.5)
    # nothing alerted: F1 0, precision 0 by convention, recall 0
    assert ev.f1_at(Y_A, P_A, 0.95) == 0.0
    assert ev.precision_recall_at(Y_A, P_A, 0.95) == (0.0, 0.0)
    # thr 0.8 catches the 100 fraud but not the 20: 100 / 120
    assert ev.amount_caught_at(Y_A, P_A, AMOUNT_A, 0.8) == pytest.approx(100 / 120)
    assert ev.amount_caught_at(Y_A, P_A, AMOUNT_A, 0.1) == pytest.approx(1.0)
    # a fraud row whose amount is unknown counts in neither part: 20 / (20 + 5) at thr 0.7
    amounts = np.array([np.nan, 50.0, 20.0, 10.0, 5.0])
    y = np.array([1, 0, 1, 0, 1])
    assert ev.amount_caught_at(y, P_A, amounts, 0.7) == pytest.approx(20 / 25)
    # no positive fraud amount: the share is undefined, and evaluate_predictions leaves it out
    zero = np.array([0.0, 50.0, np.nan, 10.0, 5.0])
    assert np.isnan(ev.amount_caught_at(Y_A, P_A, zero, 0.7))
    got = ev.evaluate_predictions(Y_A, P_A, threshold=0.7, amount=zero)
    assert ev.AMOUNT_CAUGHT_TUNED not in got and ev.F1_TUNED in got
    assert ev.AMOUNT_CAUGHT_TUNED in ev.evaluate_predictions(
        Y_A, P_A, threshold=0.7, amount=AMOUNT_A
    )


def test_brier_by_hand():
    # (0.1^2 + 0.8^2 + 0.3^2 + 0.3^2 + 0.1^2) / 5 = 0.84 / 5
    assert ev.brier(Y_A, P_A) == pytest.approx(0.168)


def test_pr_curve_points_by_hand():
    # PR points (recall, precision): (.5, 1), (.5, .5), (1, 2/3), (1, .5), (1, .4)
    # interpolated at recall 0, .25, .5, .75, 1 = best precision at recall >= r
    got = ev.pr_curve_points(Y_A, P_A, n=5)
    np.testing.assert_allclose(got, [1, 1, 1, 2 / 3, 2 / 3])
    # ties: only the points (1, 2/3) and (1, 1/2) exist: no artificial precision 1 at recall 0
    np.testing.assert_allclose(ev.pr_curve_points(Y_T, P_T, n=3), [2 / 3] * 3)
    assert ev.pr_curve_points(Y_A, P_A).shape == (101,)


def test_pr_curve_points_recall_grid_float_edges():
    # 10 positives: recall 3/10 must count for the grid level 0.3 (= 0.30000000000000004)
    y = np.array([1] * 10 + [0] * 10)
    p = np.r_[np.linspace(0.99, 0.9, 3), np.linspace(0.5, 0.41, 7), np.linspace(0.8, 0.6, 10)]
    got = ev.pr_curve_points(y, p, n=11)
    # at recall 0.3 the top 3 rows are all fraud: precision 1
    assert got[3] == pytest.approx(1.0)


def test_precision_at_k_per_day_by_hand():
    days = np.array([1, 1, 1, 2, 2, 3])
    y = np.array([1, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.1, 0.7, 0.6, 0.5])
    # k=2. day 1: top 2 = 0.9 (fraud), 0.8 -> 1/2; day 2 has 2 rows -> 1/2;
    # day 3 has 1 row, no fraud -> 0. Mean (0.5 + 0.5 + 0) / 3 = 1/3
    assert ev.precision_at_k_per_day(y, p, days, 2) == pytest.approx(1 / 3)
    # k=1: day 1 -> 1, day 2 -> 0 (0.7 is legit), day 3 -> 0 -> 1/3
    assert ev.precision_at_k_per_day(y, p, days, 1) == pytest.approx(1 / 3)


def test_precision_at_k_ties_take_the_expected_share():
    # k=2 out of three rows tied at 0.5 with two frauds: expected hits 2 * 2/3, precision 2/3,
    # whatever the storage order
    days = np.zeros(4, dtype=int)
    assert ev.precision_at_k_per_day(Y_T, P_T, days, 2) == pytest.approx(2 / 3)
    assert ev.precision_at_k_per_day(Y_T[::-1], P_T[::-1], days, 2) == pytest.approx(2 / 3)
    # k=1: one slot among the same tie: 2/3 too
    assert ev.precision_at_k_per_day(Y_T, P_T, days, 1) == pytest.approx(2 / 3)


def test_card_precision_at_k_by_hand():
    # k=2, three days; a card detected (compromised and in a day's top k) is blocked afterwards.
    # day 1: A 0.9 (fraud), B 0.8, C 0.3 (fraud) -> top 2 A (1), B (0): 1/2; A detected
    # day 2: A 0.95 fraud is removed (blocked); C 0.7 fraud, D 0.6, B 0.5 -> C (1), D (0): 1/2;
    #        C detected
    # day 3: C 0.99 removed; only E 0.4 fraud is left -> 1 compromised / k = 1/2
    # CP@2 = (1/2 + 1/2 + 1/2) / 3 = 1/2. Counting A and C again, as a per-day top-k without
    # blocking does, would give (1/2 + 1 + 1) / 3.
    days = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
    card = np.array(["A", "A", "B", "C", "A", "C", "D", "B", "C", "E"])
    y = np.array([1, 0, 0, 1, 1, 1, 0, 0, 1, 1])
    p = np.array([0.9, 0.1, 0.8, 0.3, 0.95, 0.7, 0.6, 0.5, 0.99, 0.4])
    assert ev.card_precision_at_k(y, p, days, card, 2) == pytest.approx(0.5)
    order = np.random.default_rng(0).permutation(len(y))  # storage order does not matter
    got = ev.card_precision_at_k(y[order], p[order], days[order], card[order], 2)
    assert got == pytest.approx(0.5)
    # k=1: day 1 A (1) -> 1, A blocked; day 2 C (1) -> 1, C blocked; day 3 E (1) -> 1
    assert ev.card_precision_at_k(y, p, days, card, 1) == pytest.approx(1.0)
    # the transaction-level P@2 counts rows, not cards, and nothing is blocked
    assert ev.precision_at_k_per_day(y, p, days, 2) == pytest.approx((1 / 2 + 1 + 1) / 3)


def test_card_precision_at_k_tie_counts_its_expected_share_and_blocks_its_frauds():
    # day 1: A, B, C tie at 0.5, A and B compromised; k=1 -> expected 2/3; A and B detected.
    # day 2: A 0.9 and B 0.8 (fraud) are blocked; C 0.1 legit -> 0
    days = np.array([1, 1, 1, 2, 2, 2])
    card = np.array(["A", "B", "C", "A", "B", "C"])
    y = np.array([1, 1, 0, 1, 1, 0])
    p = np.array([0.5, 0.5, 0.5, 0.9, 0.8, 0.1])
    assert ev.card_precision_at_k(y, p, days, card, 1) == pytest.approx((2 / 3 + 0) / 2)


def test_card_precision_at_k_counts_each_transaction_without_a_card_as_a_card_of_its_own():
    # day 1: two card-less frauds 0.9 and 0.8 and card 7 at 0.3; k=2 -> both card-less rows are
    #        cards, both compromised: 2/2 (one shared "missing card" would give 1/2)
    # day 2: a card-less fraud 0.95 (no card is blocked by day 1's detections) and card 7 at
    #        0.2 -> 1/2 (a shared, blocked "missing card" would give 0)
    days = np.array([1, 1, 1, 2, 2])
    card = np.array([np.nan, np.nan, 7.0, np.nan, 7.0])
    y = np.array([1, 1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.3, 0.95, 0.2])
    assert ev.card_precision_at_k(y, p, days, card, 2) == pytest.approx((1 + 1 / 2) / 2)
    got = ev.evaluate_predictions(y, p, threshold=0.5, days=days, entity=card, k=2)
    assert got[ev.CARD_PRECISION_AT_K] == pytest.approx(0.75)


def test_choose_threshold_f1_by_hand():
    # F1 = 2tp / (tp + fp + P) at each score: 0.9 -> 2/3, 0.8 -> 1/2, 0.7 -> 4/5,
    # 0.3 -> 4/6, 0.1 -> 4/7: the best is 0.7
    assert ev.choose_threshold(Y_A, P_A, policy="f1") == 0.7


def test_choose_threshold_fpr_by_hand():
    # N = 3. target 0.34 -> fp <= 1 -> lowest such score is 0.7; target 0.2 -> fp 0 -> 0.9
    assert ev.choose_threshold(Y_A, P_A, policy="fpr", target_fpr=0.34) == 0.7
    assert ev.choose_threshold(Y_A, P_A, policy="fpr", target_fpr=0.2) == 0.9


def test_choose_threshold_fpr_nothing_qualifies_alerts_nothing():
    thr = ev.choose_threshold(Y_T, P_T, policy="fpr", target_fpr=0.4)
    assert thr > 0.5
    assert ev.precision_recall_at(Y_T, P_T, thr) == (0.0, 0.0)


def test_choose_threshold_budget_by_hand():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    days = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    # two days: 1.5 alerts/day -> 3 alerts -> p >= 0.7; 1 alert/day -> 2 alerts -> p >= 0.8
    assert ev.choose_threshold(y, p, policy="budget", alerts_per_day=1.5, days=days) == 0.7
    assert ev.choose_threshold(y, p, policy="budget", alerts_per_day=1, days=days) == 0.8
    # a budget above the row count alerts everything
    assert ev.choose_threshold(y, p, policy="budget", alerts_per_day=100, days=days) == 0.2


def test_choose_threshold_errors():
    with pytest.raises(ConfigError, match="policy"):
        ev.choose_threshold(Y_A, P_A, policy="recall")
    with pytest.raises(DataError, match="time column"):
        ev.choose_threshold(Y_A, P_A, policy="budget", alerts_per_day=10)
    with pytest.raises(ConfigError, match="alerts_per_day"):
        ev.choose_threshold(Y_A, P_A, policy="budget", days=np.zeros(5))


def _brute_force(y, p, fpr):
    n_pos, n_neg = y.sum(), (1 - y).sum()
    best_recall, best_f1, best_thr = 0.0, -1.0, None
    for thr in sorted(set(p), reverse=True):
        alert = p >= thr
        tp, fp = (alert & (y == 1)).sum(), (alert & (y == 0)).sum()
        if fp / n_neg <= fpr + 1e-12:
            best_recall = max(best_recall, tp / n_pos)
        f1 = 2 * tp / (tp + fp + n_pos)
        if f1 > best_f1:
            best_f1, best_thr = f1, thr
    return best_recall, best_thr


@pytest.mark.parametrize("seed", range(5))
def test_sweep_metrics_match_brute_force_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(400) < 0.1).astype(int)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(400), 0, 1), 1)  # ~11 distinct scores
    for fpr in (0.001, 0.01, 0.1, 0.3):
        recall, thr = _brute_force(y, p, fpr)
        assert ev.recall_at_fpr(y, p, fpr) == pytest.approx(recall)
    assert ev.choose_threshold(y, p) == thr
    assert ev.average_precision(y, p) == pytest.approx(average_precision_score(y, p))
    assert ev.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    # interpolated precision never increases with recall, and starts at the best precision
    curve = ev.pr_curve_points(y, p)
    assert np.all(np.diff(curve) <= 1e-12)


def test_evaluate_predictions_keys_and_values():
    days = np.array([1, 1, 1, 2, 2])
    entity = np.array([10, 11, 12, 10, 13])
    out = ev.evaluate_predictions(
        Y_A,
        P_A,
        threshold=0.7,
        decision_threshold=0.85,
        amount=AMOUNT_A,
        days=days,
        entity=entity,
        k=1,
    )
    assert list(out) == list(ev.METRIC_KEYS)
    assert out[ev.AVERAGE_PRECISION] == pytest.approx(5 / 6)
    assert out[ev.ROC_AUC] == pytest.approx(5 / 6)
    assert out[ev.RECALL_AT_FPR_0_1PCT] == pytest.approx(0.5)  # 0.001 * 3 -> fp 0
    assert out[ev.RECALL_AT_FPR_1PCT] == pytest.approx(0.5)
    # k=1: day 1 top 0.9 fraud -> 1; day 2 top 0.3 legit -> 0
    assert out[ev.PRECISION_AT_K] == pytest.approx(0.5)
    assert out[ev.CARD_PRECISION_AT_K] == pytest.approx(0.5)
    assert out[ev.F1_TUNED] == pytest.approx(0.8)
    assert out[ev.PRECISION_TUNED] == pytest.approx(2 / 3)
    assert out[ev.RECALL_TUNED] == pytest.approx(1.0)
    assert out[ev.AMOUNT_CAUGHT_TUNED] == pytest.approx(1.0)
    # decision 0.85 alerts only 0.9: tp 1, fp 0, fn 1 -> 2 / (2 + 0 + 1)
    assert out[ev.F1_AT_DECISION] == pytest.approx(2 / 3)
    assert out[ev.BRIER] == pytest.approx(0.168)
    assert out[ev.N_TEST] == 5.0
    assert out[ev.N_TEST_POSITIVE] == 2.0
    assert all(isinstance(v, float) for v in out.values())


def test_evaluate_predictions_optional_metrics_left_out():
    out = ev.evaluate_predictions(Y_A, P_A, threshold=0.5)
    for key in (ev.PRECISION_AT_K, ev.CARD_PRECISION_AT_K, ev.AMOUNT_CAUGHT_TUNED):
        assert key not in out
    out = ev.evaluate_predictions(Y_A, P_A, threshold=0.5, days=np.zeros(5))
    assert ev.PRECISION_AT_K in out and ev.CARD_PRECISION_AT_K not in out


def test_metric_keys_are_valid_mlflow_names():
    for key in ev.METRIC_KEYS:
        assert re.fullmatch(r"[\w\-./ ]+", key), key
        assert key in ev.METRIC_LABELS


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([1, 0, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "no positive"),
        ([1, 1], [0.1, 0.2], "no negative"),
        ([1, 0], [0.1, 0.2, 0.3], "has 2 rows but p has 3"),
        ([1, 0], [0.1, np.nan], "NaN"),
        ([1, 0], [0.1, 1.5], r"\[0, 1\]"),
        ([1, 0], [-0.1, 0.5], r"\[0, 1\]"),
        ([], [], "empty"),
        (["a", "b"], [0.1, 0.2], "numeric"),
    ],
)
def test_bad_input_raises_data_error(y, p, message):
    with pytest.raises(DataError, match=message):
        ev.evaluate_predictions(np.asarray(y), np.asarray(p), threshold=0.5)


def test_bad_side_inputs():
    with pytest.raises(DataError, match="days"):
        ev.precision_at_k_per_day(Y_A, P_A, np.zeros(4), 2)
    with pytest.raises(DataError, match="entity"):
        ev.card_precision_at_k(Y_A, P_A, np.zeros(5), np.zeros(3), 2)
    with pytest.raises(ConfigError, match="k must be"):
        ev.precision_at_k_per_day(Y_A, P_A, np.zeros(5), 0)
    with pytest.raises(DataError, match="amount"):
        ev.amount_caught_at(Y_A, P_A, -AMOUNT_A, 0.5)
    with pytest.raises(DataError, match="threshold"):
        ev.f1_at(Y_A, P_A, float("nan"))
    with pytest.raises(DataError, match="missing"):
        ev.precision_at_k_per_day(Y_A, P_A, np.array([1.0, np.nan, 1, 1, 1]), 2)


def test_bool_and_float_labels_accepted():
    assert ev.average_precision(Y_A.astype(bool), P_A) == pytest.approx(5 / 6)
    assert ev.average_precision(Y_A.astype(float), P_A) == pytest.approx(5 / 6)


def test_datetime_days_accepted():
    days = np.array(["2026-01-01", "2026-01-01", "2026-01-01", "2026-01-02", "2026-01-02"])
    days = days.astype("datetime64[ns]")
    # k=1: day 1 top 0.9 (fraud) -> 1; day 2 top 0.3 (legit) -> 0
    assert ev.precision_at_k_per_day(Y_A, P_A, days, 1) == pytest.approx(0.5)
