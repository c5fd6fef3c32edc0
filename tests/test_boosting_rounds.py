"""How many trees: each validation window's robust choice, its floor, and the refit on the fold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone

from models.classifier import ValidationRounds, n_trees, rounds_policy, smoothed
from pipeline.config import load_config
from pipeline.runner import FoldRunner, prepare

QUICK = "experiments/quick.yaml"


def test_smoothed_is_a_centred_moving_average():
    np.testing.assert_allclose(smoothed([0, 3, 0, 3, 0], 3), [1.5, 1, 2, 1, 1.5])
    np.testing.assert_allclose(smoothed([1, 2, 3], 1), [1, 2, 3])


def test_a_noisy_early_peak_does_not_stop_the_model_below_the_floor():
    # A validation AUPRC that spikes at round 3 (noise of a few dozen frauds) and then climbs
    # to a broad plateau around round 60: plain early stopping would keep 3 trees.
    rounds = np.arange(1, 101)
    curve = 0.5 + 0.3 * (1 - np.exp(-rounds / 20))
    curve[2] = 0.95
    rule = ValidationRounds(min_trees=25, patience=25, window=5)
    chosen = rule.choose(curve)
    assert chosen >= 25
    assert chosen == 25 + int(np.argmax(smoothed(curve, 5)[24:]))


def test_smoothing_prefers_a_plateau_to_a_lone_spike():
    curve = np.full(100, 0.6)
    curve[40:70] = 0.7  # a real improvement, held for 30 rounds
    curve[85] = 0.9  # one lucky round
    assert 40 <= ValidationRounds(min_trees=10, patience=20, window=9).choose(curve) <= 70
    assert ValidationRounds(min_trees=10, patience=20, window=1).choose(curve) == 86


def test_boosting_stops_only_after_patience_past_floor_and_choice():
    rule = ValidationRounds(min_trees=20, patience=10, window=1)
    falling = list(np.linspace(0.9, 0.5, 40))  # best at round 1: the floor holds it to 20
    stops = [rule.after_iteration(None, i, {"v": {"aucpr": falling[: i + 1]}}) for i in range(40)]
    assert stops.index(True) + 1 == 30  # 20 (floor) + 10 (patience)


def test_policy_scales_with_the_number_of_trees():
    rule = rounds_policy(
        400, 30, min_trees_fraction=0.25, patience_fraction=0.25, smoothing_fraction=0.05
    )
    assert (rule.min_trees, rule.patience, rule.window) == (100, 100, 20)
    rule = rounds_policy(
        40, 30, min_trees_fraction=0.25, patience_fraction=0.25, smoothing_fraction=0.05
    )
    assert (rule.min_trees, rule.patience, rule.window) == (10, 30, 2)
    assert (
        rounds_policy(
            40, None, min_trees_fraction=0.25, patience_fraction=0.25, smoothing_fraction=0
        )
        is None
    )


@pytest.fixture(scope="module")
def quick():
    cfg = load_config(
        QUICK,
        [
            "data.rows=4000",
            "data.fraud_rate=0.03",
            "classifier.n_estimators=60",
            "classifier.early_stopping_rounds=5",
            "strategies=[none, class_weight, ros, smote, borderline, adasyn, smotenc]",
        ],
    )
    return cfg, prepare(cfg)


def test_no_strategy_keeps_fewer_trees_than_the_floor(quick):
    cfg, prepared = quick
    floor = math.ceil(cfg.validation.min_trees_fraction * cfg.classifier.n_estimators)
    runner = FoldRunner(cfg, prepared, prepared.folds[0])
    for name, params in cfg.strategies.items():
        metrics = runner.run(name, params).metrics
        assert floor <= metrics["n_trees"] <= cfg.classifier.n_estimators, name


def test_refit_trains_the_chosen_trees_on_every_training_row(quick):
    cfg, prepared = quick
    runner = FoldRunner(cfg, prepared, prepared.folds[0])
    fitted = runner.final(runner.fit("smote", {}, {}))
    assert fitted.refitted
    # each window's curve chose its trees; the refit boosts their median
    assert len(fitted.window_trees) == cfg.validation.windows == 3
    assert n_trees(fitted.selection_pipe.named_steps["classifier"]) == fitted.window_trees[0]
    kept = int(np.median(fitted.window_trees))
    assert n_trees(fitted.pipe.named_steps["classifier"]) == kept
    # the same pipeline trained by hand on the whole training fold, with those trees
    by_hand = clone(fitted.selection_pipe)
    by_hand.steps[-1][1].set_params(n_estimators=kept, callbacks=None, early_stopping_rounds=None)
    by_hand.fit(runner.X_train, runner.y_train)
    assert fitted.pipe.named_steps["sampler"].n_input_ == len(prepared.folds[0].train)
    np.testing.assert_array_equal(
        fitted.pipe.predict_proba(runner.X_test), by_hand.predict_proba(runner.X_test)
    )
    # the threshold and the validation scores come from the windows' models, each scoring rows
    # it never saw: the first window's part of the pooled predictions is the selection model's
    first = runner.windows.windows[0]
    np.testing.assert_array_equal(
        fitted.p_val[: len(first.val)],
        fitted.selection_pipe.predict_proba(prepared.X.iloc[first.val])[:, 1],
    )
    assert len(fitted.p_val) == len(runner.val_idx) == sum(len(w.val) for w in runner.windows)
    assert fitted.val_ap == pytest.approx(np.mean(fitted.val_aps))


def test_without_refit_the_selection_model_is_scored(quick):
    cfg, prepared = quick
    cfg = cfg.model_copy(update={"validation": cfg.validation.model_copy(update={"refit": False})})
    runner = FoldRunner(cfg, prepared, prepared.folds[0])
    fitted = runner.final(runner.fit("none", {}, {}))
    assert not fitted.refitted and fitted.pipe is fitted.selection_pipe
