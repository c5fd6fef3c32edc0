"""Inner validation windows and the noise rule (pipeline.selection), and the tuner using them."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from models.errors import ConfigError, DataError
from pipeline.data.schema import SIMULATOR_SCHEMA, Schema
from pipeline.data.simulate import simulate
from pipeline.selection import combine_trees, inner_windows, paired_gain
from pipeline.split import validation_slice

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate(4_000, n_days=60, seed=5, fraud_rate=0.05)


def _no_overlap(windows, train: np.ndarray) -> None:
    seen_val: list[np.ndarray] = []
    for w in windows:
        assert not np.intersect1d(w.fit, w.val).size, "a window validates on its own fit rows"
        assert np.isin(w.fit, train).all() and np.isin(w.val, train).all()
        for other in seen_val:
            assert not np.intersect1d(w.val, other).size, "two windows share validation rows"
        seen_val.append(w.val)
    shared = windows.shared
    for w in windows:
        assert np.isin(shared, w.fit).all()
        assert not np.intersect1d(shared, w.val).size


def test_temporal_windows_follow_time_order_with_their_gaps(sim: pd.DataFrame) -> None:
    t = sim["timestamp"]
    train = np.flatnonzero((t < t.min() + 50 * DAY).to_numpy())
    windows = inner_windows(sim, train, SIMULATOR_SCHEMA, k=3, fraction=0.15, gap_days=2)
    assert len(windows) == 3
    _no_overlap(windows, train)
    later_start = None
    for w in windows:  # most recent first
        val_t, fit_t = t.iloc[w.val], t.iloc[w.fit]
        assert fit_t.max() < val_t.min() - 2 * DAY, "a fit row inside the window's gap"
        earlier = train[(t.iloc[train] < val_t.min() - 2 * DAY).to_numpy()]
        np.testing.assert_array_equal(w.fit, earlier)  # everything before the gap fits
        assert abs(len(w.val) - 0.15 * len(train)) < 0.02 * len(train)
        if later_start is not None:
            assert val_t.max() < later_start, "windows overlap in time or are out of order"
        later_start = val_t.min()
    # the rows every window fits on are the earliest window's fit rows
    np.testing.assert_array_equal(windows.shared, windows.windows[-1].fit)
    np.testing.assert_array_equal(windows.val, np.concatenate([w.val for w in windows]))


def test_rows_sharing_a_time_stay_in_one_window() -> None:
    # month indexes read as months: every month's rows share one time, and a window of 10 % of
    # the rows is the whole most recent month not yet taken
    rng = np.random.default_rng(4)
    month = np.repeat(np.arange(6), 500)
    frame = pd.DataFrame(
        {"t": month * 2_629_746.0, "label": (rng.random(len(month)) < 0.1).astype(np.int8)}
    )
    schema = Schema(label="label", time="t", time_unit="months")
    train = np.arange(len(frame))
    windows = inner_windows(frame, train, schema, k=3, fraction=0.1)
    _no_overlap(windows, train)
    assert [sorted(set(month[w.val])) for w in windows] == [[5], [4], [3]]
    assert [sorted(set(month[w.fit])) for w in windows] == [
        [0, 1, 2, 3, 4],
        [0, 1, 2, 3],
        [0, 1, 2],
    ]
    # six whole months cannot give seven windows
    with pytest.raises(DataError, match=r"take 6 distinct value\(s\) over 3000 rows: 6 window"):
        inner_windows(frame, train, schema, k=7, fraction=0.01)


def test_one_window_is_the_validation_slice(sim: pd.DataFrame) -> None:
    train = np.arange(len(sim) - 500)
    windows = inner_windows(sim, train, SIMULATOR_SCHEMA, k=1, fraction=0.2, gap_days=1)
    fit, val = validation_slice(sim, train, SIMULATOR_SCHEMA, fraction=0.2, gap_days=1)
    np.testing.assert_array_equal(windows.windows[0].fit, fit)
    np.testing.assert_array_equal(windows.val, val)
    np.testing.assert_array_equal(windows.shared, fit)


def test_stratified_windows_without_time_are_disjoint_and_stratified() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(3_000) < 0.05).astype(np.int8)
    frame = pd.DataFrame({"x": rng.normal(size=len(y)), "label": y})
    schema = Schema(label="label")
    train = np.sort(rng.choice(len(y), 2_400, replace=False))
    windows = inner_windows(frame, train, schema, k=4, fraction=0.1, seed=3)
    assert len(windows) == 4
    _no_overlap(windows, train)
    for w in windows:
        # each window fits on every training row but its own validation rows
        assert len(w.fit) + len(w.val) == len(train)
        assert abs(y[w.val].mean() - y[train].mean()) < 0.02
    assert len(windows.shared) == len(train) - 4 * round(0.1 * len(train))


def test_windows_refuse_what_cannot_work(sim: pd.DataFrame) -> None:
    train = np.arange(len(sim))
    with pytest.raises(ConfigError, match="windows x fraction"):
        inner_windows(sim, train, SIMULATOR_SCHEMA, k=5, fraction=0.2)
    y = np.zeros(200, dtype=np.int8)
    y[:3] = 1
    frame = pd.DataFrame({"x": np.arange(200.0), "label": y})
    with pytest.raises(DataError, match="positive"):
        inner_windows(frame, np.arange(200), Schema(label="label"), k=3, fraction=0.1)


def test_noise_rule_keeps_the_default_within_noise_and_takes_a_clear_gain() -> None:
    default = [0.40, 0.50, 0.30]
    noisy = [0.46, 0.44, 0.33]  # mean +0.01, but the windows disagree
    gain = paired_gain(noisy, default)
    assert gain.mean == pytest.approx(0.01)
    assert gain.standard_error == pytest.approx(np.std([0.06, -0.06, 0.03], ddof=1) / np.sqrt(3))
    assert not gain.clear
    clear = paired_gain([0.43, 0.53, 0.34], default)  # +0.03, +0.03, +0.04
    assert clear.clear
    assert not paired_gain([0.39, 0.49, 0.29], default).clear  # a clear loss
    assert paired_gain([0.45], [0.40]).clear  # one window: no noise estimate
    # +0.03, -0.005, +0.02: 1.44 standard errors, which noise passes about one time in seven
    # (one-sided t, 2 degrees of freedom); the rule asks for t(0.9, 2) = 1.886
    loose = paired_gain([0.43, 0.495, 0.32], default)
    assert loose.mean / loose.standard_error == pytest.approx(1.441, abs=1e-3)
    assert loose.bar == pytest.approx(1.8856 * loose.standard_error, rel=1e-3)
    assert not loose.clear
    assert paired_gain([0.42, 0.505, 0.335], default).clear  # +0.02, +0.005, +0.035: 2.31 SE
    with pytest.raises(ValueError, match="one score per window"):
        paired_gain([0.4, 0.5], [0.4])


def test_the_best_of_several_candidates_must_clear_a_higher_bar() -> None:
    """Bonferroni over the candidates a choice is the best of: 10 %/m, one-sided."""
    default = [0.40, 0.50, 0.30]
    # +0.03, 0, +0.03: 2.0 standard errors, past t(0.9, 2) = 1.886 for one candidate, short of
    # t(0.975, 2) = 4.303 for the best of four
    one = paired_gain([0.43, 0.50, 0.33], default)
    four = paired_gain([0.43, 0.50, 0.33], default, compared=4)
    assert one.mean / one.standard_error == pytest.approx(2.0)
    assert one.clear and not four.clear
    assert four.bar == pytest.approx(4.3027 * four.standard_error, rel=1e-3)
    assert four.mean == one.mean and four.standard_error == one.standard_error
    assert "for the best of 4" in str(four)
    # a gain as steady as +0.03, +0.03, +0.04 (10 standard errors) clears even for 20 trials
    assert paired_gain([0.43, 0.53, 0.34], default, compared=20).clear
    with pytest.raises(ValueError, match="compared"):
        paired_gain([0.43], [0.40], compared=0)


def test_a_gain_must_also_clear_the_validation_rows_sampling_noise() -> None:
    """Three windows can agree by chance: the gain must also exceed z(1 - 0.1/m) standard errors
    of the validation rows' own sampling noise (the larger of the two bars counts)."""
    default = [0.40, 0.50, 0.30]
    steady = [0.43, 0.53, 0.335]  # +0.03, +0.03, +0.035: 11.5 standard errors of the spread
    assert paired_gain(steady, default).clear
    noisy_rows = paired_gain(steady, default, sampling_error=0.03)
    assert noisy_rows.sampling_bar == pytest.approx(1.2816 * 0.03, rel=1e-3)
    assert noisy_rows.bar == noisy_rows.sampling_bar and noisy_rows.sampled
    assert not noisy_rows.clear  # +0.0317 < 0.0384
    assert "sampling standard errors of 0.0300" in str(noisy_rows)
    assert paired_gain(steady, default, sampling_error=0.02).clear  # +0.0317 > 0.0256
    # the best of 4 candidates: z(1 - 0.025) = 1.96
    four = paired_gain(steady, default, compared=4, sampling_error=0.02)
    assert four.sampling_bar == pytest.approx(1.96 * 0.02, rel=1e-3) and not four.clear
    # a small sampling error leaves the spread's bar in charge
    spread = paired_gain([0.43, 0.50, 0.33], default, sampling_error=0.001)
    assert spread.bar == spread.spread_bar and not spread.sampled
    # one window: the sampling error is the only noise estimate
    assert paired_gain([0.45], [0.40]).clear
    assert not paired_gain([0.45], [0.40], sampling_error=0.05).clear


def test_the_noise_rule_holds_its_level_with_a_few_positives_per_window() -> None:
    """Simulated folds through `pipeline.augment.choose` (`benchmarks/noise_rule.py`): with 3
    positive rows per window, shares no better than share 0 are taken rarely (the family level is
    10 %), and with 20 a share that is better is taken most of the time."""
    from benchmarks.noise_rule import Setting, rates

    null = rates(Setting(positives=3, negatives=300), "null", reps=60)
    assert null["clear_rate"] <= 0.2, null
    assert null["spread_only_rate"] <= 0.2, null
    better = rates(Setting(positives=20, negatives=300, effect=2.0), "better", reps=30)
    assert better["clear_rate"] >= 0.6, better
    worse = rates(Setting(positives=20, negatives=300, effect=2.0), "worse", reps=20)
    assert worse["clear_rate"] == 0.0, worse


def _ranked(y: np.ndarray, signal: float, rng: np.random.Generator) -> np.ndarray:
    return 1 / (1 + np.exp(-(signal * y + rng.normal(0, 1, len(y)))))


def test_window_draws_are_stratified_paired_and_measure_the_sampling_noise() -> None:
    from sklearn.metrics import average_precision_score

    from pipeline.selection import WindowDraws

    rng = np.random.default_rng(1)
    labels = [np.r_[np.ones(n_pos, dtype=int), np.zeros(400, dtype=int)] for n_pos in (6, 40)]
    draws = WindowDraws(labels, draws=300, seed=3)
    for w, y in enumerate(labels):
        counts = np.concatenate(list(draws._counts(w)))
        assert counts.shape == (300, len(y))
        assert (counts[:, y == 1].sum(axis=1) == y.sum()).all()  # every draw: as many positives
        assert (counts[:, y == 0].sum(axis=1) == (y == 0).sum()).all()
    pooled_y = np.concatenate(labels)
    a = _ranked(pooled_y, 2.0, rng)
    b = _ranked(pooled_y, 2.0, rng)
    # paired: a fit against itself has no sampling noise; the same draws for every candidate
    assert draws.standard_error(a, a) == 0.0
    se = draws.standard_error(a, b)
    assert WindowDraws(labels, draws=300, seed=3).standard_error(a, b) == se
    # each draw's figure is scikit-learn's AP with the draw's counts as sample weights
    first = draws.scores(a)[0]
    counts = next(draws._counts(0))
    for i in (0, 7):
        expected = average_precision_score(labels[0], a[:406], sample_weight=counts[i])
        assert first[i] == pytest.approx(expected)
    # the bootstrap's SE is that of the difference's sampling distribution: redraw the windows'
    # rows from the same population many times and compare
    diffs = []
    for _ in range(300):
        per_window = []
        for y in labels:
            pa, pb = _ranked(y, 2.0, rng), _ranked(y, 2.0, rng)
            per_window.append(average_precision_score(y, pa) - average_precision_score(y, pb))
        diffs.append(np.mean(per_window))
    assert se == pytest.approx(np.std(diffs), rel=0.35)
    # fewer positives per window, noisier differences
    few = draws.scores(a)[0] - draws.scores(b)[0]
    many = draws.scores(a)[1] - draws.scores(b)[1]
    assert few.std() > 2 * many.std()
    with pytest.raises(ValueError, match="pooled validation scores"):
        draws.scores(a[:-1])


def test_refit_trees_are_the_windows_median() -> None:
    assert combine_trees([40, 120, 70]) == 70
    assert combine_trees([50, 60]) == 55


def test_tuner_keeps_the_untuned_setting_when_its_gain_is_noise(caplog, monkeypatch):
    """A tuner whose best trial beats the untuned setting only within the windows' noise (for the
    best of its trials) keeps the untuned setting (and says so); a clear gain is taken."""
    from pipeline import fold as fold_module
    from pipeline.config import load_config
    from pipeline.runner import FoldRunner, prepare

    cfg = load_config(
        "experiments/quick.yaml",
        [
            "strategies={none: {}}",
            "tuning.enabled=true",
            "tuning.method=grid",
            "tuning.n_trials=4",
            "tuning.classifier_space={max_depth: [2, 3, 4, 5]}",
        ],
    )
    prepared = prepare(cfg)
    runner = FoldRunner(cfg, prepared, prepared.folds[0])
    untuned = runner.fit("none", {}, {})
    trial = runner.fit("none", {}, {"max_depth": 2})
    assert len(untuned.val_aps) == cfg.validation.windows == 3

    def scored(gains):
        # the trial's per-window scores: the untuned ones plus `gains`
        values = tuple(a + g for a, g in zip(untuned.val_aps, gains, strict=True))
        trial.val_aps, trial.val_ap = values, float(np.mean(values))
        return trial

    original = fold_module.FoldRunner.fit

    def fit(self, name, params, clf):
        return trial if clf else original(self, name, params, clf)

    monkeypatch.setattr(fold_module.FoldRunner, "fit", fit)
    sampling = {"se": 0.0}  # the validation rows' sampling noise, set per scenario
    monkeypatch.setattr(runner.draws, "standard_error", lambda a, b: sampling["se"])
    scored([0.05, -0.05, 0.03])
    with caplog.at_level(logging.WARNING):
        tuned = runner.tune("none", {})
    assert tuned.params == {} and tuned.fitted is not trial and tuned.kept_untuned
    assert "does not exceed the windows' noise" in caplog.text
    assert runner.gains["none"].mean == pytest.approx(0.01)
    # past the bar for one trial (2 standard errors), not for the best of the 4 trials run
    scored([0.03, 0.0, 0.03])
    tuned = runner.tune("none", {})
    assert len(tuned.history) == 4 and runner.gains["none"].compared == 4
    assert tuned.params == {} and tuned.fitted is not trial
    scored([0.02, 0.03, 0.025])
    tuned = runner.tune("none", {})
    assert tuned.params.get("max_depth") in (2, 3, 4, 5) and tuned.fitted is trial
    assert not tuned.kept_untuned
    # the same steady gain, on validation rows so few that their sampling alone moves the
    # difference by 0.02 (a standard error): the windows agree by chance, the untuned setting stays
    sampling["se"] = 0.02
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        tuned = runner.tune("none", {})
    assert tuned.kept_untuned and runner.gains["none"].sampled
    assert "sampling standard errors of 0.0200" in caplog.text


# the non-default way (the suite's fixed-share GANs): tests/test_oversampler.py covers it fast
@pytest.mark.parametrize("refit_gan", [pytest.param(False, marks=pytest.mark.slow), True])
def test_the_gan_trains_once_per_fold_on_the_rows_no_window_validates_on(monkeypatch, refit_gan):
    """Every window's fit draws from one GAN, trained on the rows shared by every window's fit
    rows (so no window scores a GAN that saw its rows); the refit on the whole fold draws from it
    too, or with `refit_gan` (the default) from a GAN trained again on every training row."""
    from models.gan.synthesizer import CGANSynthesizer
    from models.progress import GANProgress, listening
    from pipeline.config import load_config
    from pipeline.fold import _synthesizer
    from pipeline.runner import FoldRunner, prepare

    strategy = (
        f"{{cgan: {{epochs: 2, steps_per_epoch: 10, sampling_strategy: 0.1, "
        f"refit_gan: {str(refit_gan).lower()}}}}}"
    )
    cfg = load_config("experiments/quick.yaml", ["data.rows=3000", f"strategies={strategy}"])
    prepared = prepare(cfg)
    runner = FoldRunner(cfg, prepared, prepared.folds[0])
    trained_on: list[int] = []
    original = CGANSynthesizer.fit

    def fit(self, data, *args, **kwargs):
        trained_on.append(len(data))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(CGANSynthesizer, "fit", fit)
    seen: list[GANProgress] = []
    with listening(seen.append):  # what the run's progress display hears
        fitted = runner.final(runner.fit("cgan", cfg.strategies["cgan"], {}))
    steps = [seen[0].steps // 2, seen[0].steps]  # after each of 2 epochs
    assert fitted.refitted
    train = len(prepared.folds[0].train)
    refit, chosen = _synthesizer(fitted.pipe), _synthesizer(fitted.selection_pipe)
    if refit_gan:  # the epochs the tests chose, on every row
        assert trained_on == [len(runner.fit_idx), train] and refit is not chosen
        assert refit.epochs_run_ == chosen.best_epoch_ and refit.checkpoints_ == []
        assert [p.step for p in seen][:2] == steps
    else:
        assert trained_on == [len(runner.fit_idx)] and refit is chosen
        assert [p.step for p in seen] == steps
    # the fold's GAN training is this child's resampling time
    assert fitted.resample_seconds >= refit.train_seconds_
    assert fitted.pipe.named_steps["sampler"].n_input_ == train


def test_stratified_folds_get_stratified_windows_even_with_a_time_column(sim: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    train = np.sort(rng.choice(len(sim), 3_000, replace=False))
    windows = inner_windows(sim, train, SIMULATOR_SCHEMA, k=3, fraction=0.15, by_time=False)
    assert windows.how == "3 stratified windows"
    _no_overlap(windows, train)
    t = sim["timestamp"].to_numpy()
    y = sim["is_fraud"].to_numpy()
    for w in windows:
        assert len(w.fit) + len(w.val) == len(train)  # fitted on every other row, before or after
        assert t[w.fit].max() > t[w.val].min()
        assert abs(y[w.val].mean() - y[train].mean()) < 0.02
    with pytest.raises(ConfigError, match="windows of stratified folds are stratified parts"):
        inner_windows(sim, train, SIMULATOR_SCHEMA, k=3, fraction=0.15, gap_days=1, by_time=False)
