"""Outer folds and the validation slice: disjoint, covering, stratified, temporal, leak-free."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.errors import ConfigError, DataError
from pipeline.data.schema import CREDITCARD_SCHEMA, SIMULATOR_SCHEMA, Schema
from pipeline.data.simulate import simulate
from pipeline.split import (
    Fold,
    VarianceCorrection,
    draws_correction,
    known_labels,
    stratified_folds,
    temporal_folds,
    validation_slice,
)

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate(4_000, n_days=60, seed=5, fraud_rate=0.05)


def check_indices(fold: Fold, n: int) -> None:
    for part in (fold.train, fold.test):
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)  # sorted, unique
        assert part.min() >= 0 and part.max() < n
    assert not np.intersect1d(fold.train, fold.test).size


# --------------------------------------------------------------------------------------------
# stratified


def test_stratified_folds_disjoint_covering_stratified() -> None:
    y = np.zeros(1_000, dtype=np.int8)
    y[::50] = 1  # 20 positives
    folds = stratified_folds(y, n_splits=4, seeds=(0, 1))
    assert [(f.fold, f.seed) for f in folds] == [(k, s) for s in (0, 1) for k in range(4)]
    for seed in (0, 1):
        mine = [f for f in folds if f.seed == seed]
        tests = np.concatenate([f.test for f in mine])
        assert np.array_equal(np.sort(tests), np.arange(len(y)))  # each row tested once
        for f in mine:
            check_indices(f, len(y))
            assert len(f.train) + len(f.test) == len(y)
            assert y[f.test].sum() == 5  # 20 positives / 4 folds
    a, b = folds[0].test, folds[4].test
    assert not np.array_equal(a, b)  # another seed, other folds


def test_stratified_folds_deterministic_per_seed() -> None:
    y = (np.random.default_rng(0).random(500) < 0.1).astype(int)
    one = stratified_folds(y, n_splits=3, seeds=(7,))
    two = stratified_folds(y, n_splits=3, seeds=(7,))
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)


@pytest.mark.parametrize(
    ("y", "kwargs", "error", "match"),
    [
        ([0, 1] * 10, {"n_splits": 1}, ConfigError, "n_splits must be an integer >= 2"),
        ([0, 1] * 10, {"seeds": ()}, ConfigError, "seeds is empty"),
        ([0, 1] * 10, {"seeds": (1, 1)}, ConfigError, "seeds repeat"),
        ([0] * 18 + [1, 1], {"n_splits": 3}, DataError, "2 positive and 18 negative"),
        ([0, 1, 2] * 5, {}, DataError, r"must be 0/1, found values \[2\]"),
        (["a", "b"] * 5, {}, DataError, "must be numeric 0/1"),
    ],
)
def test_stratified_folds_errors(y: list, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        stratified_folds(np.asarray(y), **kwargs)


# --------------------------------------------------------------------------------------------
# temporal


def test_temporal_folds_order_gap_and_periods(sim: pd.DataFrame) -> None:
    t = sim["timestamp"]
    y = sim["is_fraud"].to_numpy()
    folds = temporal_folds(t.to_numpy(), train_days=14, gap_days=7, test_days=7, n_folds=3, y=y)
    assert [f.fold for f in folds] == [0, 1, 2] and {f.seed for f in folds} == {0}
    end = t.max().floor("D") + DAY  # midnight after the last transaction
    for f in folds:
        check_indices(f, len(sim))
        train_t, test_t = t.iloc[f.train], t.iloc[f.test]
        assert train_t.max() < test_t.min() - 7 * DAY  # all of the gap separates them
        shift = (2 - f.fold) * 7 * DAY
        test_start, test_end = end - shift - 7 * DAY, end - shift
        assert test_t.min() >= test_start and test_t.max() < test_end
        expected_test = np.flatnonzero((t >= test_start) & (t < test_end))
        assert np.array_equal(f.test, expected_test)  # y alone excludes nothing
        train_start = test_start - 21 * DAY
        expected_train = np.flatnonzero((t >= train_start) & (t < test_start - 7 * DAY))
        assert np.array_equal(f.train, expected_train)
    # most recent fold last; the last row is tested by it
    assert int(np.argmax(t.to_numpy())) in folds[-1].test
    assert t.iloc[folds[0].test].max() < t.iloc[folds[1].test].min()


def test_temporal_folds_step_days_and_numeric_seconds() -> None:
    rng = np.random.default_rng(0)
    seconds = np.sort(rng.uniform(0, 30 * 86_400, 3_000))
    y = (rng.random(3_000) < 0.05).astype(int)
    folds = temporal_folds(
        seconds, train_days=5, gap_days=1, test_days=4, n_folds=3, step_days=2, y=y
    )
    end = 30 * 86_400  # the last row falls on day 29: its test period ends at second 30 * 86400
    for f in folds:
        shift = (2 - f.fold) * 2 * 86_400
        test = seconds[f.test]
        assert test.min() >= end - shift - 4 * 86_400 and test.max() < end - shift
        assert seconds[f.train].max() < test.min() - 86_400
        assert seconds[f.train].min() >= end - shift - 10 * 86_400
    # step 2 < test 4: consecutive test periods overlap by design
    assert np.intersect1d(folds[0].test, folds[1].test).size > 0


def test_known_compromised_cards_are_not_scored_again() -> None:
    day = 86_400.0
    times = np.array([1, 2, 3, 9.5, 12, 12.5, 13, 13.5, 14, 14.2]) * day
    entity = np.array(["a", "b", "c", "c", "a", "b", "c", "d", "a", "d"])
    y = np.array([1, 0, 0, 1, 0, 1, 0, 1, 0, 0])
    # end = day 15; test [11, 15); gap [8, 11); train [1, 8)
    kwargs = {
        "train_days": 7,
        "gap_days": 3,
        "test_days": 4,
        "n_folds": 1,
        "known_cards": "history",
    }
    (fold,) = temporal_folds(times, entity=entity, y=y, **kwargs)
    assert fold.train.tolist() == [0, 1, 2]
    # the label delay defaults to the gap (3 days):
    # card a: fraud on day 1, known on day 4 -> its test rows 4 and 8 are dropped
    # card c: fraud on day 9.5 (gap), known after day 12.5 -> row 6 (day 13) is dropped
    # card b: fraud on day 12.5, known after day 15.5 (after the test period) -> row 5 stays
    assert fold.test.tolist() == [5, 7, 9]
    # a 5-day delay: c's fraud is not known before day 14.5, so row 6 stays
    (slow,) = temporal_folds(times, entity=entity, y=y, label_delay_days=5, **kwargs)
    assert slow.test.tolist() == [5, 6, 7, 9]
    # a 0.3-day delay: d's fraud on day 13.5 is known by day 14.2 -> row 9 goes too
    (fast,) = temporal_folds(times, entity=entity, y=y, label_delay_days=0.3, **kwargs)
    assert fast.test.tolist() == [5, 7]
    # a fraud row is always scored itself, even with no delay
    (instant,) = temporal_folds(times, entity=entity, y=y, label_delay_days=0, **kwargs)
    assert {5, 7} <= set(instant.test.tolist())
    (kept,) = temporal_folds(times, entity=entity, y=y, exclude_known_compromised=False, **kwargs)
    assert kept.test.tolist() == [4, 5, 6, 7, 8, 9]
    (no_entity,) = temporal_folds(times, y=y, **kwargs)
    assert no_entity.test.tolist() == [4, 5, 6, 7, 8, 9]


def test_a_transaction_without_a_card_is_blocked_by_no_other_rows_fraud() -> None:
    """The layout above with card a's rows card-less: day 1's fraud blocks none of them, nor any
    card (a shared code for the missing ones blocked them, and the last card d with them)."""
    day = 86_400.0
    times = np.array([1, 2, 3, 9.5, 12, 12.5, 13, 13.5, 14, 14.2]) * day
    entity = np.array([None, "b", "c", "c", None, "b", "c", "d", None, "d"], dtype=object)
    y = np.array([1, 0, 0, 1, 0, 1, 0, 1, 0, 0])
    kwargs = {"train_days": 7, "gap_days": 3, "test_days": 4, "n_folds": 1}
    (fold,) = temporal_folds(times, entity=entity, y=y, known_cards="history", **kwargs)
    assert fold.test.tolist() == [4, 5, 7, 8, 9]  # only c's row 6 (fraud on day 9.5) goes


def test_reported_labels_decide_known_cards_and_the_frauds_training_cannot_know() -> None:
    """Each fraud known when its report came (`label_delays`, days; NaN: label_delay_days)."""
    day = 86_400.0
    times = np.array([1, 2, 5, 6, 7, 7.5, 11.5, 12, 13, 14]) * day
    entity = np.array(["a", "b", "c", "d", "e", "f", "c", "d", "a", "e"])
    y = np.array([1, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    delays = np.array([1.0, np.nan, 6.5, 0.5, np.nan, 3.5, np.nan, np.nan, np.nan, np.nan])
    # end = day 15; test [11, 15); gap [9, 11); train [1, 9)
    kwargs = {"train_days": 8, "gap_days": 2, "test_days": 4, "label_delay_days": 2.0}
    (fold,) = temporal_folds(times, entity=entity, y=y, label_delays=delays, **kwargs)
    assert fold.train.tolist() == [0, 1, 2, 3, 4, 5]
    # c's fraud (day 5) reported on day 11.5 and f's (day 7.5) on day 11: after the test start;
    # e's (day 7), undated, known 2 days later; d's (day 6) on day 6.5; a's (day 1) on day 2
    assert fold.unreported.tolist() == [2, 5]
    # a, d and e are known before their test rows; c's report (11.5) is not before row 6 (11.5)
    assert fold.test.tolist() == [6]
    (assumed,) = temporal_folds(times, y=y, **kwargs)
    assert assumed.unreported.tolist() == []
    known = known_labels(y, fold)
    assert known.tolist() == [1, 0, 0, 1, 1, 0, 1, 0, 0, 0]
    assert known_labels(y, assumed) is y
    dates = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(times, unit="s"))
    (dated,) = temporal_folds(dates, entity=entity, y=y, label_delays=delays, **kwargs)
    assert dated.unreported.tolist() == [2, 5] and dated.test.tolist() == [6]
    with pytest.raises(DataError, match="no positive row reported before the test period"):
        temporal_folds(times, y=y, label_delays=np.full(10, 30.0), **kwargs)


def test_known_compromised_on_simulator(sim: pd.DataFrame) -> None:
    t = sim["timestamp"].to_numpy()
    y = sim["is_fraud"].to_numpy()
    entity = sim["customer_id"].to_numpy()
    kwargs = {"train_days": 21, "gap_days": 7, "test_days": 7, "n_folds": 2, "y": y}
    with_cards = temporal_folds(
        t, entity=entity, label_delay_days=2, known_cards="history", **kwargs
    )
    plain = temporal_folds(t, **kwargs)
    delay = np.timedelta64(2, "D")
    fraud = pd.DataFrame({"card": entity[y == 1], "t": t[y == 1]})
    first_known = fraud.groupby("card")["t"].min() + delay
    for a, b in zip(with_cards, plain, strict=True):
        assert np.array_equal(a.train, b.train)
        assert np.isin(a.test, b.test).all()
        known = pd.Series(entity).map(first_known).to_numpy()
        # dropped: the card's first fraud was known before the row; kept: it was not
        dropped = np.setdiff1d(b.test, a.test)
        assert len(dropped) and (t[dropped] > known[dropped]).all()
        kept_known = known[a.test]
        assert not (t[a.test][~pd.isna(kept_known)] > kept_known[~pd.isna(kept_known)]).any()
        # every card with a fraud in the training period is blocked for the whole test period
        compromised = set(entity[a.train[y[a.train] == 1]])
        assert not compromised & set(entity[a.test])


def test_known_cards_training_counts_only_the_folds_training_and_delay_periods() -> None:
    day = 86_400.0
    # end = day 30; test [26, 30); gap [23, 26); train [16, 23); days 0-16 precede the window
    times = np.array([2, 17, 18, 20, 24, 26.5, 27, 27.5, 28, 29, 29.5]) * day
    entity = np.array(["old", "a", "b", "t", "g", "old", "a", "g", "t", "t2", "t2"])
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0])
    kwargs = {"train_days": 7, "gap_days": 3, "test_days": 4, "n_folds": 1, "label_delay_days": 1}
    (training,) = temporal_folds(times, entity=entity, y=y, known_cards="training", **kwargs)
    (history,) = temporal_folds(times, entity=entity, y=y, known_cards="history", **kwargs)
    assert training.train.tolist() == history.train.tolist() == [1, 2, 3]
    # old: compromised on day 2, before the training window: scored under `training` only
    # a: fraud in the training period, g: in the delay period (known by day 25): blocked by both
    # t: fraud on day 28 in the test period; t2: on day 29, known after day 30: kept by both
    assert training.test.tolist() == [5, 8, 9, 10]
    # `history` also blocks old (row 5); t2's fraud of day 29 is known only on day 30
    assert history.test.tolist() == [8, 9, 10]
    with pytest.raises(ConfigError, match="known_cards must be one of training, history"):
        temporal_folds(times, entity=entity, y=y, known_cards="all", **kwargs)


def test_known_cards_history_blocks_frauds_known_during_the_test_period() -> None:
    day = 86_400.0
    times = np.array([17, 26.5, 27, 28.5]) * day  # train [16, 23), test [26, 30)
    entity = np.array(["x", "t", "t", "t"])
    y = np.array([1, 1, 0, 0])
    kwargs = {"train_days": 7, "gap_days": 3, "test_days": 4, "n_folds": 1, "label_delay_days": 1}
    (training,) = temporal_folds(times, entity=entity, y=y, known_cards="training", **kwargs)
    (history,) = temporal_folds(times, entity=entity, y=y, known_cards="history", **kwargs)
    # t's fraud on day 26.5 is known on day 27.5: `history` drops its row of day 28.5
    assert training.test.tolist() == [1, 2, 3]
    assert history.test.tolist() == [1, 2]


# --------------------------------------------------------------------------------------------
# the folds' variance correction


def test_stratified_plan_carries_the_nadeau_bengio_correction() -> None:
    y = np.zeros(1_200, dtype=np.int8)
    y[::40] = 1
    for k, seeds in ((3, (0,)), (5, (0, 1, 2))):
        plan = stratified_folds(y, n_splits=k, seeds=seeds)
        c = plan.correction
        assert c.term == pytest.approx(1 / (k - 1))  # n_test / n_train
        assert c.rho == pytest.approx(1 / k)  # n_test / (n_test + n_train)
        assert c.applies and f"stratified {k}-fold x {len(seeds)} repeat" in c.reason
        assert f"1/{k * len(seeds)} + " in c.reason


def _uniform_days(n_days: int, per_day: int = 20) -> tuple[np.ndarray, np.ndarray]:
    seconds = (np.arange(n_days * per_day) + 0.5) * 86_400 / per_day
    y = np.zeros(len(seconds), dtype=int)
    y[::7] = 1
    return seconds, y


def test_disjoint_training_windows_get_no_correction() -> None:
    seconds, y = _uniform_days(120)
    plan = temporal_folds(
        seconds, train_days=7, gap_days=7, test_days=7, n_folds=6, step_days=7, y=y
    )
    trains = [set(f.train.tolist()) for f in plan]
    assert all(not (a & b) for i, a in enumerate(trains) for b in trains[i + 1 :])
    c = plan.correction
    assert c.term == 0 and c.rho == 0 and c.shared == 0 and not c.applies
    assert "plain paired t" in c.reason and "no Nadeau & Bengio" in c.reason


def test_overlapping_training_windows_get_a_correction_scaled_by_the_overlap() -> None:
    seconds, y = _uniform_days(120)
    plan = temporal_folds(
        seconds, train_days=28, gap_days=7, test_days=7, n_folds=3, step_days=7, y=y
    )
    # uniform rows: neighbours share 21 of 28 days, folds 0 and 2 share 14
    shared = np.mean([21 / 28, 14 / 28, 21 / 28])
    rho = shared * 7 / (7 + 28)
    c = plan.correction
    assert c.shared == pytest.approx(shared)
    assert c.rho == pytest.approx(rho)
    assert c.term == pytest.approx(rho / (1 - rho))
    assert 0 < c.term < 7 / 28  # less than if every window were the same training set
    assert "share 67% of their rows" in c.reason
    # a longer step shares less: the correction shrinks with the overlap
    wider = temporal_folds(
        seconds, train_days=28, gap_days=7, test_days=7, n_folds=3, step_days=14, y=y
    )
    assert 0 < wider.correction.term < c.term
    assert wider.correction.shared == pytest.approx(np.mean([14 / 28, 0, 14 / 28]))


def _draws_plan(draws: int, k: int) -> list[Fold]:
    y = np.zeros(600, dtype=np.int8)
    y[::20] = 1
    folds = []
    for r in range(draws):
        for f in stratified_folds(y, n_splits=k, seeds=(r,)):
            folds.append(Fold(f.fold, f.seed, f.train + 600 * r, f.test + 600 * r))
    return folds


def test_independent_draws_correlate_only_the_folds_of_one_draw() -> None:
    c = draws_correction(_draws_plan(4, 3))
    # 12 folds, 66 pairs, 4 x 3 of them within a draw, each with Nadeau & Bengio's rho = 1/3
    assert c.shared == pytest.approx(12 / 66)
    assert c.rho == pytest.approx(12 / 66 / 3)
    assert c.term == pytest.approx(c.rho / (1 - c.rho))
    pooled = stratified_folds(
        np.tile(np.eye(1, 20, dtype=np.int8)[0], 30), n_splits=3, seeds=(0, 1, 2, 3)
    )
    assert 0 < c.term < pooled.correction.term  # neither dropped nor the one-pool correction
    assert "4 independent draws of the data x stratified 3-fold" in c.reason
    assert "variance factor 1/12 + " in c.reason
    one = draws_correction(_draws_plan(1, 3))  # one draw is one pool of rows
    assert one.term == pytest.approx(pooled.correction.term)


def test_the_draws_correction_estimates_the_variance_of_the_mean() -> None:
    """Fold estimates correlated rho = 1/3 within a draw and independent across draws: s^2 (1/J +
    term) is unbiased for the variance of their mean (Monte Carlo)."""
    draws, k = 5, 3
    c = draws_correction(_draws_plan(draws, k))
    rho = 1 / 3
    within = np.kron(np.eye(draws), np.full((k, k), rho)) + (1 - rho) * np.eye(draws * k)
    rng = np.random.default_rng(0)
    values = rng.multivariate_normal(np.zeros(draws * k), within, size=40_000)
    true_variance = values.mean(axis=1).var()
    estimated = (values.var(axis=1, ddof=1) * (1 / (draws * k) + c.term)).mean()
    assert estimated == pytest.approx(true_variance, rel=0.03)
    plain = (values.var(axis=1, ddof=1) / (draws * k)).mean()
    assert plain < 0.8 * true_variance  # without the correction the interval is too narrow


def test_correction_round_trips_through_run_params() -> None:
    seconds, y = _uniform_days(60)
    c = temporal_folds(seconds, train_days=14, gap_days=2, test_days=7, n_folds=2, y=y).correction
    params = c.as_params()
    assert set(params) >= {"split.correction_term", "split.correction_reason"}
    assert VarianceCorrection.from_params(params) == c
    assert VarianceCorrection.from_params({"split.kind": "temporal"}) is None


def test_temporal_folds_tz_aware_series_object_array() -> None:
    times = pd.Series(pd.date_range("2026-01-01", periods=200, freq="6h", tz="UTC"))
    y = np.tile([0, 0, 0, 1], 50)
    a = temporal_folds(times, train_days=20, gap_days=2, test_days=5, y=y)
    b = temporal_folds(times.to_numpy(), train_days=20, gap_days=2, test_days=5, y=y)
    assert times.to_numpy().dtype == object
    assert np.array_equal(a[0].test, b[0].test) and np.array_equal(a[0].train, b[0].train)


def test_temporal_folds_errors_name_fold_and_period() -> None:
    seconds = np.arange(0, 20 * 86_400, 3_600.0)  # 20 days, hourly
    y = np.zeros(len(seconds), dtype=int)
    y[::10] = 1
    kw = {"train_days": 5, "gap_days": 1, "test_days": 3}
    with pytest.raises(ConfigError, match=r"temporal fold 0 of 8: the training period .* no rows"):
        temporal_folds(seconds, n_folds=8, y=y, **kw)
    late = y.copy()
    late[seconds >= 17 * 86_400] = 0  # no fraud in the last test period
    with pytest.raises(DataError, match=r"temporal fold 1 of 2: the test period .* no positive"):
        temporal_folds(seconds, n_folds=2, y=late, **kw)
    early = y.copy()
    early[seconds < 16 * 86_400] = 0  # positives only from the gap on
    with pytest.raises(DataError, match=r"fold 0 of 1: the training period .* no positive"):
        temporal_folds(seconds, y=early, **kw)
    with pytest.raises(ConfigError, match="test_days must be > 0"):
        temporal_folds(seconds, train_days=5, gap_days=1, test_days=0)
    with pytest.raises(ConfigError, match="gap_days must be >= 0"):
        temporal_folds(seconds, train_days=5, gap_days=-1, test_days=2)
    with pytest.raises(ConfigError, match="n_folds must be an integer >= 1"):
        temporal_folds(seconds, n_folds=0, **kw)
    with pytest.raises(DataError, match="y has 3 rows, times has 480"):
        temporal_folds(seconds, y=[0, 1, 0], **kw)
    with pytest.raises(DataError, match="missing or infinite"):
        temporal_folds(np.append(seconds, np.nan), **kw)
    with pytest.raises(DataError, match="expected datetime64 values or numbers"):
        temporal_folds(np.array(["a", "b"]), **kw)


# --------------------------------------------------------------------------------------------
# validation slice


def test_validation_slice_time_based_inside_train_and_after_gap(sim: pd.DataFrame) -> None:
    t = sim["timestamp"]
    y = sim["is_fraud"].to_numpy()
    folds = temporal_folds(t, train_days=30, gap_days=7, test_days=14, y=y)
    train, test = folds[0].train, folds[0].test
    fit, val = validation_slice(sim, train, SIMULATOR_SCHEMA, fraction=0.25, gap_days=2)
    for part in (fit, val):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
        assert np.isin(part, train).all()
        assert not np.intersect1d(part, test).size  # never touches the test fold
    assert not np.intersect1d(fit, val).size
    assert t.iloc[fit].max() < t.iloc[val].min() - 2 * DAY  # the gap is respected
    assert t.iloc[val].min() >= t.iloc[train].quantile(0.74)  # the most recent rows
    assert abs(len(val) - 0.25 * len(train)) <= 5
    gap_rows = np.setdiff1d(train, np.union1d(fit, val))
    assert (t.iloc[gap_rows] >= t.iloc[val].min() - 2 * DAY).all()
    assert y[fit].sum() > 0 and y[val].sum() > 0
    zero_gap = validation_slice(sim, train, SIMULATOR_SCHEMA, fraction=0.25)
    assert np.array_equal(np.union1d(*zero_gap), train)


def test_validation_slice_stratified_without_time() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"V1": rng.normal(size=600), "Class": (np.arange(600) % 10 == 0).astype(int)}
    )
    schema = Schema(label="Class")
    train = np.arange(0, 600, 2)[::-1]  # any order, any subset
    fit, val = validation_slice(frame, train, schema, fraction=0.2, seed=3)
    assert np.array_equal(np.union1d(fit, val), np.sort(train))
    assert not np.intersect1d(fit, val).size
    assert len(val) == 60
    y = frame["Class"].to_numpy()
    assert y[val].sum() == 12 and y[fit].sum() == 48  # 60 positives, stratified
    again = validation_slice(frame, train, schema, fraction=0.2, seed=3)
    assert np.array_equal(again[1], val)
    other = validation_slice(frame, train, schema, fraction=0.2, seed=4)
    assert not np.array_equal(other[1], val)
    with pytest.raises(ConfigError, match="gap_days=1 needs a time column"):
        validation_slice(frame, train, schema, gap_days=1)


def test_validation_slice_numeric_seconds_time() -> None:
    seconds = np.arange(1_000) * 100.0
    frame = pd.DataFrame({"Time": seconds, "Amount": 1.0, "Class": (np.arange(1_000) % 7 == 0)})
    frame["Class"] = frame["Class"].astype(int)
    fit, val = validation_slice(frame, np.arange(1_000), CREDITCARD_SCHEMA, gap_days=0.1)
    assert val.tolist() == list(range(800, 1_000))
    assert seconds[fit].max() < 80_000 - 8_640 and len(fit) == 714  # 0 .. 71,300 s


def test_validation_slice_errors() -> None:
    frame = pd.DataFrame(
        {"ts": pd.date_range("2026-01-01", periods=100, freq="h"), "y": 0, "x": 1.0}
    )
    schema = Schema(label="y", time="ts")
    frame.loc[10, "y"] = 1  # the only positive is old: the validation part has none
    with pytest.raises(DataError, match=r"the validation part \(20 rows\) has no positive"):
        validation_slice(frame, np.arange(100), schema)
    frame.loc[95, "y"] = 1
    with pytest.raises(DataError, match=r"the fit part .* has no positive"):
        validation_slice(frame, np.arange(50, 100), schema)
    with pytest.raises(DataError, match="outside 0..99"):
        validation_slice(frame, np.array([5, 100]), schema)
    with pytest.raises(DataError, match="positional indices"):
        validation_slice(frame, np.array([0.5, 1.0]), schema)
    with pytest.raises(ConfigError, match=r"fraction must be in \(0, 1\)"):
        validation_slice(frame, np.arange(100), schema, fraction=1.0)
    frame.loc[95, "y"] = 0
    with pytest.raises(DataError, match="1 positive row.* needs >= 2 of each class"):
        validation_slice(frame.drop(columns="ts"), np.arange(100), Schema(label="y"))
