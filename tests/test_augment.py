"""The built-in choice of a synthetic share, weight and checkpoint (pipeline/augment.py), and the
scarce-positives split (`split.max_train_positives`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models.classifier import TimedSampler
from models.errors import ConfigError
from pipeline import augment
from pipeline.config import load_config
from pipeline.report.choices import choice_notes
from pipeline.split import cap_train_positives, stratified_folds

QUICK = "experiments/quick.yaml"
BASE = np.array([0.50, 0.62, 0.41])  # share 0's validation AUPRC in three windows


@dataclass
class FakeFit:
    val_aps: tuple[float, ...]
    params: dict


def fake(gains: dict[tuple[float | None, float, str], np.ndarray], ratio: float = 0.0):
    """A `fit` whose windows' scores are share 0's plus a fixed gain per (share, weight, ckpt)."""
    calls: list[dict] = []

    def fit(params: dict) -> FakeFit:
        calls.append(params)
        ratio_after = params.get(augment.SHARE)
        share = None if ratio_after is None else ratio_after and round(ratio_after - ratio, 6)
        weight = params.get("synthetic_weight", 1.0)
        checkpoint = "last" if params.get("checkpoint") == 1.0 else "best"
        gain = np.zeros(3) if share == 0 else gains[(share, weight, checkpoint)]
        return FakeFit(tuple(BASE + gain), params)

    return fit, calls


GRID = augment.Grid(**augment.DEFAULT_GRID)


def _everywhere(gain: np.ndarray) -> dict:
    return {(s, w, c): gain for s in GRID.share if s for w in GRID.weight for c in GRID.checkpoint}


def test_share_0_is_kept_when_synthetic_rows_only_add_noise() -> None:
    rng = np.random.default_rng(0)
    gains = {key: rng.normal(0, 0.02, 3) for key in _everywhere(np.zeros(3))}
    fit, calls = fake(gains)
    fitted, choice = augment.choose(fit, GRID)
    assert choice.share == 0 and fitted.params == {augment.SHARE: 0}
    assert choice.params == {augment.SHARE: 0}
    # share first (0 and three shares), nothing else once share 0 wins
    assert len(calls) == 4
    assert "share 0 (no synthetic rows)" in choice.text()


def test_the_evidence_is_the_best_share_above_0_even_when_share_0_scores_best() -> None:
    gains = _everywhere(np.zeros(3)) | {
        (0.01, 0.2, "best"): np.array([-0.01, -0.02, 0.0]),
        (0.03, 0.2, "best"): np.array([-0.03, -0.02, -0.04]),
        (0.1, 0.2, "best"): np.array([-0.05, -0.06, -0.04]),
    }
    fit, _ = fake(gains)
    _, choice = augment.choose(fit, GRID)
    assert choice.share == 0
    logged = choice.metrics()
    assert logged["choice_best_gain"] == pytest.approx(-0.01)  # share 0.01's, not 0's own 0
    assert "the best share, 0.01, gained -0.010" in choice.text()
    assert logged["choice_best_spread_bar"] == pytest.approx(
        stats.t.ppf(1 - 0.1 / 3, 2) * np.std([-0.01, -0.02, 0.0], ddof=1) / np.sqrt(3)
    )


def test_a_positive_share_wins_when_it_clearly_helps() -> None:
    gains = _everywhere(np.zeros(3))
    gains |= {(0.1, 0.2, "best"): np.array([0.05, 0.06, 0.055])}
    fit, _ = fake(gains)
    _, choice = augment.choose(fit, GRID)
    assert (choice.share, choice.weight, choice.checkpoint) == (0.1, 0.2, "best")
    assert choice.gain is not None and choice.gain.clear
    assert choice.metrics()["choice_share"] == 0.1


def test_share_0_stays_when_the_best_share_gains_only_as_much_as_the_best_of_three_would() -> None:
    # +0.03, 0, +0.03 (2 standard errors): past one comparison's bar (1.89), not the best of the
    # grid's three shares' (t(1 - 0.1/3, 2) = 3.68)
    gains = _everywhere(np.zeros(3)) | {(0.1, 0.2, "best"): np.array([0.03, 0.0, 0.03])}
    fit, _ = fake(gains)
    _, choice = augment.choose(fit, GRID)
    assert choice.share == 0
    # the evidence is logged: the best share's gain and the bar it missed
    logged = choice.metrics()
    assert logged["choice_best_gain"] == pytest.approx(0.02)
    assert logged["choice_best_spread_bar"] == pytest.approx(
        stats.t.ppf(1 - 0.1 / 3, 2) * np.std([0.03, 0.0, 0.03], ddof=1) / np.sqrt(3)
    )
    assert logged["choice_best_spread_bar"] > logged["choice_best_gain"]
    assert choice.gain is not None and choice.gain.compared == 3 and not choice.gain.clear
    assert "for the best of 3" in choice.text()


def test_the_smaller_share_stays_when_the_larger_gains_within_the_noise() -> None:
    gains = _everywhere(np.zeros(3))
    gains |= {
        (0.01, 0.2, "best"): np.array([0.040, 0.050, 0.045]),
        (0.03, 0.2, "best"): np.array([0.040, 0.050, 0.045]),
        # better on average than 0.01, but its gain over 0.01 is inside the windows' noise
        (0.1, 0.2, "best"): np.array([0.090, 0.040, 0.065]),
    }
    fit, _ = fake(gains)
    _, choice = augment.choose(fit, GRID)
    assert choice.share == 0.01


def test_a_share_within_the_noise_of_the_best_but_no_better_than_0_is_not_kept() -> None:
    """A share the best does not beat beyond the noise is kept only if it beats share 0 itself:
    0.01 is within the noise of 0.1 here, but scores below share 0 on average (the rule once kept
    it, with a validation gain of -0.014 over share 0 on `car_good`, and lost 0.076 on test)."""
    gains = _everywhere(np.zeros(3))
    gains |= {
        (0.01, 0.2, "best"): np.array([0.05, -0.06, 0.0]),  # -0.003 on average, noisy
        (0.1, 0.2, "best"): np.array([0.05, 0.05, 0.052]),  # clearly above share 0
    }
    fit, _ = fake(gains)
    _, choice = augment.choose(fit, GRID)
    assert choice.share == 0.1 and choice.gain is not None and choice.gain.clear
    # with the best share no clear gain over share 0, share 0 stays
    gains[(0.1, 0.2, "best")] = np.array([0.05, -0.01, 0.052])
    _, choice = augment.choose(fake(gains)[0], GRID)
    assert choice.share == 0


def test_weight_and_checkpoint_replace_the_defaults_only_beyond_the_noise() -> None:
    clear = np.array([0.05, 0.06, 0.055])
    gains = _everywhere(np.zeros(3)) | {
        (0.03, 0.2, "best"): clear,
        (0.03, 1.0, "best"): clear + np.array([0.02, 0.021, 0.019]),  # clearly better
        (0.03, 1.0, "last"): clear + np.array([0.02, 0.021, 0.019]) + [0.05, -0.05, 0.001],
    }
    fit, calls = fake(gains)
    _, choice = augment.choose(fit, GRID)
    assert (choice.share, choice.weight, choice.checkpoint) == (0.03, 1.0, "best")
    assert len(calls) == 6  # 4 shares, 1 weight, 1 checkpoint


def test_a_share_adds_to_the_folds_own_ratio_and_a_fixed_share_is_kept() -> None:
    fit, calls = fake(_everywhere(np.zeros(3)), ratio=0.25)
    _, choice = augment.choose(fit, GRID, ratio=0.25)
    assert [c[augment.SHARE] for c in calls] == [0, 0.26, 0.28, 0.35]
    fixed = augment.grid_of("cgan", {"sampling_strategy": 0.05})
    fit, calls = fake(
        {(None, w, c): np.full(3, 0.01) for w in GRID.weight for c in GRID.checkpoint}
    )
    _, choice = augment.choose(fit, fixed, ratio=0.25)
    assert augment.SHARE not in calls[0] and choice.share is None
    assert choice.log_params()["synthetic_share"] == "as set"


def test_grid_defaults_fixed_parameters_and_bad_values() -> None:
    assert augment.grid_of("cgan", {}) == GRID
    assert augment.grid_of("smote", {}) is None  # the SMOTE family chooses when asked
    smote = augment.grid_of("smote_auto", {"kind": "smote", "choose": True})
    assert smote.share == GRID.share and smote.weight == GRID.weight
    assert smote.checkpoint == ("best",)  # no checkpoints outside the GAN
    fixed = augment.grid_of("cgan", {"sampling_strategy": 0.05})
    assert fixed.share == (None,) and fixed.weight == GRID.weight
    assert augment.grid_of("cgan", {"choose": False}) is None
    custom = augment.grid_of("cgan", {"choose": {"share": [0.1, 0], "checkpoint": ["last"]}})
    assert custom.share == (0.0, 0.1) and custom.checkpoint == ("last",)
    for bad, match in (
        ("{kind: cgan, choose: {shares: [0]}}", "unknown key"),
        ("{kind: cgan, choose: {share: [2]}}", "not in"),
        ("{kind: cgan, choose: {checkpoint: [first]}}", "not one of"),
        ("{kind: cgan, choose: maybe}", "expected true, false"),
        ("{kind: none, choose: true}", "unknown parameter .choose."),
        ("{kind: ros, synthetic_weight: 0}", "must be a number > 0"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_config(QUICK, [f"strategies={{x: {bad}}}"])


def _first_fold(*overrides: str):
    """The quick experiment with `overrides`, prepared, and a FoldRunner on its first fold."""
    from pipeline.fold import FoldRunner
    from pipeline.runner import prepare

    cfg = load_config(QUICK, list(overrides))
    prepared = prepare(cfg)
    return cfg, prepared, FoldRunner(cfg, prepared, prepared.folds[0])


def nothing_clears(monkeypatch) -> None:
    """No gain of one fold's fit over another clears the noise rule (`FoldRunner.gain`)."""
    from pipeline import fold as fold_module

    monkeypatch.setattr(
        fold_module, "paired_gain", lambda a, b, **_: augment.Gain(0.0, 1.0, len(a))
    )


def test_choice_through_a_fold_share_0_is_the_none_model(tmp_path, monkeypatch) -> None:
    from pipeline.fold import FoldRunner

    cfg, prepared, runner = _first_fold(
        "data.rows=3000",
        "data.fraud_rate=0.03",
        "classifier.n_estimators=15",
        "strategies={none: {}, ros: {choose: {share: [0, 0.2], weight: [0.5]}}}",
    )
    none = runner.fit("none", {}, {})
    fitted, choice = augment.fit_choosing(runner, "ros", cfg.strategies["ros"])
    ratio = runner.ctx.n_positive / runner.ctx.n_negative
    candidate = {"sampling_strategy": round(ratio + 0.2, 6), "synthetic_weight": 0.5}
    assert [p for p, _ in choice.tried] == [{"sampling_strategy": 0}, candidate]
    assert choice.tried[0][1] == none.val_aps  # share 0 is the `none` fit, fitted once
    ros = runner.fit("ros", candidate, {})
    step = ros.pipe
    weights = step.named_steps["sampler"].sample_weight_
    n_added = step.named_steps["sampler"].n_added_
    assert n_added > 0 and (weights[-n_added:] == 0.5).all() and (weights[:-n_added] == 1).all()
    result = runner.run("ros", cfg.strategies["ros"])
    assert result.metrics["choice_share"] in (0.0, 0.2)
    assert result.params["choice"] == choice.text()
    # no gain is clear: share 0 is kept, the `none` model scored, and the child's seconds are
    # still its choice's (its refit is `none`'s, fitted once)
    nothing_clears(monkeypatch)
    again = FoldRunner(cfg, prepared, prepared.folds[0])
    plain = again.run("none", {})
    kept = again.run("ros", cfg.strategies["ros"])
    assert kept.metrics["choice_share"] == 0.0
    assert kept.metrics["average_precision"] == plain.metrics["average_precision"]
    assert kept.metrics["resample_seconds"] > plain.metrics["resample_seconds"]


def test_a_tuned_strategy_that_chooses_falls_back_on_its_choice(monkeypatch) -> None:
    """With tuning on, the untuned setting a trial must beat is the strategy's choice (share 0
    when nothing helps), not a fixed share: a tuned `cgan` is as safe as an untuned one."""
    cfg, prepared, runner = _first_fold(
        "data.rows=3000",
        "data.fraud_rate=0.03",
        "classifier.n_estimators=15",
        "strategies={none: {}, ros: {choose: {share: [0, 0.2]}}}",
        "tuning.enabled=true",
        "tuning.method=grid",
        "tuning.n_trials=2",
        "tuning.classifier_space={max_depth: [2, 3]}",
        "report.include_untuned=true",
    )
    from pipeline import fold as fold_module

    # no share and no trial gains beyond the noise: share 0 is the untuned setting, and kept
    nothing_clears(monkeypatch)
    plain = runner.run("none", {})
    tuned = runner.tune("ros", cfg.strategies["ros"])
    assert tuned.kept_untuned and tuned.params == {}
    assert tuned.choice is not None and tuned.choice.share == 0
    assert tuned.untuned.val_aps == runner.fit("none", {}, {}).val_aps
    kept = runner.run("ros", cfg.strategies["ros"])
    assert kept.metrics["choice_share"] == 0.0 and "choice" in kept.params
    assert kept.metrics["average_precision"] == plain.metrics["average_precision"]
    assert kept.metrics["untuned_average_precision"] == kept.metrics["average_precision"]
    assert not any(k.startswith("untuned_choice") for k in kept.metrics)  # the score's, only

    # a trial that clears the bar replaces the choice; the untuned score is still the choice's
    def trials_clear(a, b, *, compared=1, **_):  # the tuner's best of 2 trials clears the bar
        return augment.Gain(0.1, 0.01, 3) if compared == 2 else augment.Gain(0.0, 1.0, len(a))

    monkeypatch.setattr(fold_module, "paired_gain", trials_clear)
    again = fold_module.FoldRunner(cfg, prepared, prepared.folds[0])
    tuned = again.tune("ros", cfg.strategies["ros"])
    assert not tuned.kept_untuned and tuned.params.get("max_depth") in (2, 3)
    won = again.run("ros", cfg.strategies["ros"])
    assert "choice_share" not in won.metrics
    assert won.metrics["untuned_average_precision"] == plain.metrics["average_precision"]


def test_a_gan_that_kept_share_0_still_reports_how_real_its_rows_were(monkeypatch) -> None:
    cfg, _, runner = _first_fold(
        "data.rows=3600",
        "data.fraud_rate=0.1",
        "classifier.n_estimators=15",
        "strategies={none: {}, cgan: {choose: {share: [0, 0.2]}, epochs: 2, "
        "steps_per_epoch: 5, eval_every: 1}}",
    )
    nothing_clears(monkeypatch)
    plain = runner.run("none", {})
    kept = runner.run("cgan", cfg.strategies["cgan"])
    assert kept.metrics["choice_share"] == 0.0
    assert kept.metrics["average_precision"] == plain.metrics["average_precision"]
    # the GAN trained for the choice: its training, its tests and its rows' realism are logged
    assert kept.metrics["gan_train_seconds"] > 0
    assert 0.0 <= kept.metrics["gan_selected_c2st_auc"] <= 1.0
    assert 0.0 <= kept.metrics["quality_c2st_auc"] <= 1.0
    assert len(kept.gan_history["d_loss"]) == 2 and kept.gan_history["c2st_auc"]
    # but nothing that would say the scored model drew rows from it
    assert not {"gan_generated", "gan_kept", "gan_epoch_used"} & set(kept.metrics)
    assert kept.quality is not None and plain.quality is None


def test_the_choice_costs_every_candidate_even_when_share_0_is_kept() -> None:
    from types import SimpleNamespace

    @dataclass
    class Timed:
        val_aps: tuple[float, ...]
        fit_seconds: float
        resample_seconds: float

    fitted: list[Timed] = []

    class Runner:
        ctx = SimpleNamespace(n_positive=10, n_negative=1000)
        fold = SimpleNamespace(fold=0, seed=0)
        gain = staticmethod(augment.window_gain)

        def fit(self, name: str, params: dict, tuned: dict) -> Timed:
            if params.get(augment.SHARE) == 0:  # no synthetic rows: the cached `none` fit
                fitted.append(Timed(tuple(BASE), 0.0, 0.0))
            else:  # synthetic rows that change nothing, after 2 s of resampling (a GAN's)
                fitted.append(Timed(tuple(BASE), 3.0, 2.0))
            return fitted[-1]

    chosen, choice = augment.fit_choosing(Runner(), "cgan", {augment.CHOOSE: True})
    assert choice.share == 0 and len(fitted) == 4  # share 0 and the three others
    assert chosen.val_aps == tuple(BASE)
    assert chosen.resample_seconds == pytest.approx(3 * 2.0)


def test_timed_sampler_weighs_appended_rows() -> None:
    from imblearn.over_sampling import RandomOverSampler

    X = np.arange(20.0).reshape(10, 2)
    y = np.r_[np.zeros(8, dtype=int), np.ones(2, dtype=int)]
    timed = TimedSampler(
        RandomOverSampler(sampling_strategy=0.5, random_state=0), synthetic_weight=0.3
    )
    _, y_res = timed.fit_resample(X, y)
    assert len(y_res) == 12
    assert timed.sample_weight_.tolist() == [1.0] * 10 + [0.3, 0.3]
    assert TimedSampler(RandomOverSampler(sampling_strategy=0.5)).fit_resample(X, y) is not None


def test_choice_notes_say_what_was_chosen_per_fold() -> None:
    frame = pd.DataFrame(
        {
            "strategy": ["cgan"] * 3 + ["smote_auto"] * 3 + ["none"] * 3,
            "choice_share": [0, 0, 0, 0.03, 0.03, 0, np.nan, np.nan, np.nan],
            "choice_weight": [1, 1, 1, 0.2, 0.2, 1, np.nan, np.nan, np.nan],
        }
    )
    notes = choice_notes(frame)
    assert len(notes) == 2
    assert "share 0 on 3 of 3 folds: augmentation was not shown to help" in notes[0]
    assert "share 0.03 weight 0.2 on 2 of 3 folds; share 0 on 1 of 3 folds" in notes[1]
    # with the evidence logged: how far the best share came, against the larger of its bars
    frame["choice_best_gain"] = [0.01, -0.02, 0.03, 0.05, 0.06, 0.0, np.nan, np.nan, np.nan]
    frame["choice_best_spread_bar"] = [0.05, 0.04, 0.02, 0.01, 0.01, 0.02] + [np.nan] * 3
    frame["choice_best_sampling_bar"] = [0.03, np.nan, 0.06, 0.02, 0.02, 0.01] + [np.nan] * 3
    notes = choice_notes(frame)
    assert (
        "the best share gained -0.020 to +0.030 AUPRC on validation, against bars of 0.040 to 0.060"
        in notes[0]
    )


def test_cap_train_positives_leaves_negatives_and_test_folds_alone() -> None:
    y = np.r_[np.zeros(900, dtype=np.int8), np.ones(300, dtype=np.int8)]
    plan = stratified_folds(y, n_splits=3, seeds=(0, 1))
    capped = cap_train_positives(plan, y, 25)
    again = cap_train_positives(plan, y, 25)
    for before, after, same in zip(plan, capped, again, strict=True):
        assert y[after.train].sum() == 25
        assert (after.test == before.test).all()
        neg = before.train[y[before.train] == 0]
        assert np.array_equal(after.train[y[after.train] == 0], neg)
        assert set(after.train) <= set(before.train)
        assert np.array_equal(after.train, same.train)  # reproducible
    assert capped.correction == plan.correction
    assert cap_train_positives(plan, y, 10_000)[0].train is plan[0].train
    with pytest.raises(ConfigError, match=">= 2"):
        cap_train_positives(plan, y, 1)
