"""The conditional GAN: it learns, its gradient penalty, its rules, sampling, save/load, errors."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from models.errors import DataError, TrainingError
from models.gan.callbacks import LossMonitor, ModelSelection
from models.gan.config import CGANConfig
from models.gan.synthesizer import CGANSynthesizer
from models.gan.wgan import BatchTables, gradient_penalty
from models.two_sample import c2st_auc
from pipeline.data.schema import SIMULATOR_SCHEMA
from pipeline.data.simulate import simulate
from pipeline.features import build_features, feature_columns, feature_rules

TINY = CGANConfig(
    epochs=3,
    steps_per_epoch=2,
    batch_size=60,
    noise_dim=16,
    generator_dim=(32, 32),
    critic_dim=(32,),
    pac=6,
    eval_every=1,
    patience=0,
    max_modes=4,
)


def _transactions(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fraud = (rng.random(n) < 0.2).astype(np.int8)
    return pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3 + fraud, 1.0, n), 2),
            "hour": rng.integers(0, 24, n),
            "channel": pd.Series(rng.choice(["atm", "online", "pos"], n), dtype="str"),
            "velocity": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n) + 2 * fraud),
            "is_fraud": fraud,
        }
    )


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _transactions()


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> CGANSynthesizer:
    return CGANSynthesizer(TINY, random_state=3).fit(
        data, "is_fraud", ["channel"], condition_column="channel"
    )


# ---- the algorithm


def test_gradient_penalty_of_a_linear_critic_is_the_squared_norm_gap():
    # D(x) = w.x + b has gradient w everywhere: the penalty is (||w|| - 1)^2 at any interpolate.
    pack = keras.Input((4,))
    cond = keras.Input((2,))
    score = keras.layers.Dense(1, name="linear")(pack)
    critic = keras.Model([pack, cond], score)
    rng = np.random.default_rng(0)
    real = tf.constant(rng.normal(size=(8, 4)), tf.float32)
    fake = tf.constant(rng.normal(size=(8, 4)), tf.float32)
    conds = tf.zeros((8, 2))
    alpha = tf.constant(rng.random((8, 1)), tf.float32)
    for w, expected in (([3.0, 0.0, 0.0, 4.0], 16.0), ([0.6, 0.8, 0.0, 0.0], 0.0)):
        critic.get_layer("linear").set_weights([np.array(w, np.float32)[:, None], np.zeros(1)])
        penalty = float(gradient_penalty(critic, real, fake, conds, alpha))
        assert penalty == pytest.approx(expected, abs=1e-4)


def _two_moons_with_a_rare_class(seed: int = 0) -> pd.DataFrame:
    """Majority: a wide Gaussian; minority (10 %): two tight clusters far from it."""
    rng = np.random.default_rng(seed)
    major = rng.normal(0, 1, size=(1800, 2))
    centres = np.array([[4.0, 4.0], [-4.0, 4.0]])
    minor = centres[rng.integers(0, 2, 200)] + rng.normal(0, 0.3, size=(200, 2))
    x = np.vstack([major, minor])
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.r_[np.zeros(1800), np.ones(200)]})


# Two tight clusters far apart are what mode-specific normalization is for: the mode one-hot
# chooses the cluster (normal scores would have to jump the gap between them).
LEARN = CGANConfig(
    epochs=400,
    steps_per_epoch=4,
    batch_size=100,
    noise_dim=8,
    generator_dim=(32, 32),
    critic_dim=(32, 32),
    pac=5,
    critic_steps=1,
    dropout=0.5,
    learning_rate=5e-4,
    eval_every=0,
    continuous="modes",
    max_modes=3,
)


def test_the_generator_learns_a_rare_class_an_untrained_one_misses():
    data = _two_moons_with_a_rare_class()
    real = data[data["y"] == 1][["a", "b"]].reset_index(drop=True)
    trained = CGANSynthesizer(LEARN, random_state=0).fit(data, "y")
    fake = trained.sample(len(real), label=1.0, seed=1)[["a", "b"]]
    auc = c2st_auc(real, fake, random_state=0)
    untrained = CGANSynthesizer(LEARN, random_state=0, epochs=1).fit(data, "y")
    baseline = c2st_auc(real, untrained.sample(len(real), label=1.0, seed=1)[["a", "b"]])
    # both clusters are covered, near their centres
    assert (fake["b"] > 2).mean() > 0.8
    assert 0.3 < (fake["a"] > 0).mean() < 0.7
    assert baseline > 0.95
    assert auc < 0.75, f"C2ST AUC {auc:.3f}: the generator did not learn the rare class"
    # the penalty keeps the critic's gradient norm near 1 (about 0.04 here; without the penalty
    # in the critic's loss it grows past 100)
    assert np.mean(trained.history_["gradient_penalty"][-50:]) < 0.5


def _correlated_heavy_tailed_minority(seed: int = 0) -> pd.DataFrame:
    """Majority: a standard Gaussian; minority (10 %): correlated columns with exponential tails."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.6], [0.5, 0.6, 1.0]])
    minor = np.sinh(rng.normal(size=(200, 3)) @ np.linalg.cholesky(cov).T + [1.5, -1.0, 2.0])
    x = np.vstack([rng.normal(size=(1800, 3)), minor])
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    return frame.assign(y=np.r_[np.zeros(1800), np.ones(200)])


def test_the_default_design_learns_a_correlated_heavy_tailed_minority():
    # the defaults' encoding and critic (normal scores; an unpacked critic without dropout, three
    # critic steps per generator step, the default learning rate) at an 800-step budget
    data = _correlated_heavy_tailed_minority()
    real = data[data["y"] == 1][["a", "b", "c"]].reset_index(drop=True)
    cfg = CGANConfig(
        epochs=8,
        batch_size=100,
        noise_dim=8,
        generator_dim=(32, 32),
        critic_dim=(32, 32),
        eval_every=0,
    )
    assert (cfg.continuous, cfg.pac, cfg.critic_steps, cfg.dropout) == ("quantile", 1, 3, 0.0)
    trained = CGANSynthesizer(cfg, random_state=0).fit(data, "y")
    assert trained.steps_run_ == 800
    fake = trained.sample(len(real), label=1.0, seed=1)[["a", "b", "c"]]
    untrained = CGANSynthesizer(cfg, random_state=0, epochs=1, steps_per_epoch=1).fit(data, "y")
    baseline = c2st_auc(real, untrained.sample(len(real), label=1.0, seed=1)[["a", "b", "c"]])
    assert baseline > 0.95
    auc = c2st_auc(real, fake, random_state=0)
    assert auc < 0.7, f"C2ST AUC {auc:.3f}: the generator did not learn the minority"


def test_batches_are_class_balanced_and_draw_rows_of_their_condition():
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    category = np.r_[np.zeros(850, int), np.ones(50, int), np.zeros(90, int), np.ones(10, int)]
    tables = BatchTables.build(np.arange(1000.0)[:, None], y, category, 2, 2, class_balance=1.0)
    assert np.exp(tables.class_logits) == pytest.approx([0.5, 0.5])
    # categories by log-frequency within a class: the rare one is drawn far more than its share
    p = np.exp(tables.category_logits[1])
    assert p[1] == pytest.approx(np.log1p(10) / (np.log1p(90) + np.log1p(10)))
    for g, (cls, cat) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        rows = tables.order[tables.offsets[g] : tables.offsets[g] + tables.counts[g]]
        assert (y[rows] == cls).all() and (category[rows] == cat).all()


def _select(aucs: list[float], min_epochs: int = 0) -> tuple[ModelSelection, keras.Model]:
    """Model selection every 2 epochs with a patience of 3 tests, fed `aucs` as its tests."""
    generator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    tests = iter(aucs)
    selection = ModelSelection(generator, lambda epoch: next(tests), 2, 3, {}, min_epochs)
    model = keras.Sequential([keras.Input((1,))])
    model.stop_training = False
    selection.set_model(model)
    for epoch in range(2 * len(aucs)):
        if model.stop_training:
            break
        selection.on_epoch_end(epoch)
    return selection, model


def test_model_selection_keeps_the_best_smoothed_checkpoint_and_stops_after_patience():
    selection, model = _select([0.9, 0.7, 0.72, 0.71, 0.95, 0.99, 0.6, 0.98, 0.97, 0.97])
    # a lone 0.6 at epoch 14 does not win against the steady 0.70-0.72 around epoch 6
    assert selection.best_epoch == 6
    assert selection.history["c2st_epoch"] == [2, 4, 6, 8, 10, 12]  # 3 tests after the best
    assert model.stop_training


def test_model_selection_does_not_stop_before_its_floor():
    # the first tests are the best for a while (as a GAN's often are): without a floor it would
    # stop at epoch 8 and keep a generator trained for 2 epochs
    aucs = [0.8, 0.9, 0.95, 0.97, 0.9, 0.85, 0.75, 0.7, 0.7, 0.72, 0.8, 0.9, 0.9, 0.9]
    selection, model = _select(aucs, min_epochs=12)
    assert selection.best_epoch == 18  # the 0.7, 0.7, 0.72 stretch, found because it went on
    assert [c[0] for c in selection.checkpoints][-1] == 24  # then 3 tests without better
    assert model.stop_training


# ---- the rules of the data


@pytest.fixture(scope="module")
def card_features() -> tuple[pd.DataFrame, list[str], object]:
    frame = build_features(simulate(6000, n_days=30, seed=4, fraud_rate=0.05), SIMULATOR_SCHEMA)
    numeric, categorical = feature_columns(frame, SIMULATOR_SCHEMA)
    table = frame[categorical + numeric + ["is_fraud"]].reset_index(drop=True)
    rules = feature_rules(categorical + numeric, amount="amount", windows_days=(1, 7, 30))
    return table, categorical, rules


def test_generated_rows_obey_every_rule_real_rows_obey(card_features):
    table, categorical, rules = card_features
    gan = CGANSynthesizer(TINY, random_state=1).fit(table, "is_fraud", categorical, rules=rules)
    assert len(gan.rules_.rules) == len(rules.rules) == 6  # every rule holds on the real rows
    rows = gan.sample(2000, label=1, seed=2)
    assert rules.violations(rows) == dict.fromkeys(rules.violations(rows), 0)
    assert (rows["is_weekend"] == (rows["day_of_week"] >= 5)).all()
    assert (rows["is_night"] == (rows["hour"] < 6)).all()
    assert (rows["entity_n_1d"] <= rows["entity_n_7d"]).all()
    assert (rows["entity_n_7d"] <= rows["entity_n_30d"]).all()
    assert (rows["merchant_n_1d"] <= rows["merchant_n_7d"]).all()
    assert ((rows["entity_n_30d"] > 0) | (rows["entity_mean_amount_30d"] == 0)).all()
    ratio = np.where(
        rows["entity_mean_amount_30d"] != 0,
        rows["amount"]
        / rows["entity_mean_amount_30d"].where(rows["entity_mean_amount_30d"] != 0, 1),
        1.0,
    )
    np.testing.assert_allclose(rows["entity_amount_ratio_30d"], ratio)
    assert rows["hour"].between(0, 24, inclusive="left").all()
    pd.testing.assert_series_equal(rows.dtypes, table.dtypes)
    for column in categorical:
        assert set(rows[column]) <= set(table[column])


def test_clusters_condition_on_the_target_class_patterns(card_features):
    table, categorical, rules = card_features
    gan = CGANSynthesizer(TINY, random_state=1, clusters=3).fit(
        table, "is_fraud", categorical, rules=rules
    )
    assert gan.condition_column_ == "__cluster__"
    assert sorted(gan.condition_categories_) == ["cluster0", "cluster1", "cluster2", "other"]
    fraud_row = gan.classes_.index(1)
    assert gan.category_frequencies_[fraud_row][gan.condition_categories_.index("other")] == 0
    rows = gan.sample(300, label=1, seed=0)
    assert "__cluster__" not in rows.columns and len(rows) == 300
    with pytest.raises(DataError, match="clusters"):
        gan.sample(5, label=1, condition_value="cluster0")


def test_auxiliary_classifier_loss_is_trained_and_logged(data):
    gan = CGANSynthesizer(TINY, random_state=0, aux_weight=1.0, eval_every=0).fit(
        data, "is_fraud", ["channel"]
    )
    assert {"aux_loss", "aux_real_loss"} <= set(gan.history_)
    assert "cond_loss" not in gan.history_  # no condition column: no condition loss
    assert all(math.isfinite(v) for v in gan.history_["aux_loss"])


# ---- the synthesizer's surface


def test_training_smoke_and_sample_schema(fitted: CGANSynthesizer, data: pd.DataFrame):
    rows = fitted.sample(200, label=1)
    assert list(rows.columns) == list(data.columns)
    pd.testing.assert_series_equal(rows.dtypes, data.dtypes)
    assert (rows["is_fraud"] == 1).all()
    assert set(rows["channel"]) <= set(data["channel"])
    assert rows["hour"].between(0, 23).all()
    assert rows["amount"].between(data["amount"].min(), data["amount"].max()).all()
    assert set(fitted.history_) >= {"d_loss", "g_loss", "gradient_penalty", "cond_loss"}
    assert len(fitted.history_["d_loss"]) == TINY.epochs == fitted.epochs_run_
    # ~120 fraud rows leave 24 held out: the two-sample test ran every epoch.
    assert len(fitted.history_["c2st_auc"]) == TINY.epochs
    held = fitted.holdout_rows_  # positions of the held-out fraud rows, out of the training
    assert fitted.n_rows_ == len(data) and len(held) == int((data["is_fraud"] == 1).sum() * 0.2)
    assert (data["is_fraud"].to_numpy()[held] == 1).all() and len(set(held)) == len(held)
    assert fitted.best_epoch_ in (1, 2, 3)
    assert fitted.rows_per_second_ > 0
    # the budget is counted in generator steps, not in passes over the fraud rows
    assert fitted.steps_per_epoch_ == TINY.steps_per_epoch
    assert fitted.steps_run_ == TINY.epochs * TINY.steps_per_epoch
    assert fitted.critic_steps_run_ == TINY.critic_steps * fitted.steps_run_  # run eagerly


def test_the_budget_in_steps_does_not_depend_on_the_rows(data: pd.DataFrame):
    more = pd.concat([data] * 3, ignore_index=True)
    cfg = dataclasses.replace(TINY, eval_every=0, steps_per_epoch=5, steps_per_execution=5)
    for frame in (data, more):
        gan = CGANSynthesizer(cfg, random_state=0).fit(frame, "is_fraud", ["channel"])
        assert gan.steps_run_ == cfg.epochs * 5 and gan.epochs_run_ == cfg.epochs
        assert gan.critic_steps_run_ == cfg.critic_steps * gan.steps_run_  # as a graph


def test_conditional_sampling_honours_class_and_condition(fitted: CGANSynthesizer):
    legit = fitted.sample(50, label=0, condition_value="atm")
    assert (legit["is_fraud"] == 0).all() and (legit["channel"] == "atm").all()
    assert len(fitted.sample(0, label=1)) == 0
    with pytest.raises(DataError, match=r"never seen in column 'channel'"):
        fitted.sample(5, label=1, condition_value="teleport")
    with pytest.raises(DataError, match="never seen in column 'is_fraud'"):
        fitted.sample(5, label=7)


def test_same_seed_same_rows(fitted: CGANSynthesizer, data: pd.DataFrame):
    again = CGANSynthesizer(TINY, random_state=3).fit(
        data, "is_fraud", ["channel"], condition_column="channel"
    )
    pd.testing.assert_frame_equal(again.sample(100, seed=11), fitted.sample(100, seed=11))
    assert again.history_["d_loss"] == fitted.history_["d_loss"]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # keras save
def test_save_load_gives_identical_samples(fitted: CGANSynthesizer, tmp_path):
    fitted.save(tmp_path / "gan")
    assert (tmp_path / "gan" / "generator.keras").exists()
    loaded = CGANSynthesizer.load(tmp_path / "gan")
    pd.testing.assert_frame_equal(
        loaded.sample(64, label=1, seed=5), fitted.sample(64, label=1, seed=5)
    )
    with pytest.raises(DataError, match="not a saved CGANSynthesizer"):
        CGANSynthesizer.load(tmp_path)


def test_too_few_minority_rows_name_the_minimum(data: pd.DataFrame):
    few = data.assign(is_fraud=np.r_[np.ones(9), np.zeros(len(data) - 9)].astype(np.int8))
    with pytest.raises(TrainingError, match=r"\(class 1: 9 rows\); every class needs at least 10"):
        CGANSynthesizer(TINY, random_state=0).fit(few, "is_fraud", ["channel"])


def test_bad_input(data: pd.DataFrame):
    gan = CGANSynthesizer(TINY, random_state=0)
    with pytest.raises(DataError, match="label column 'label'"):
        gan.fit(data, "label", ["channel"])
    with pytest.raises(DataError, match="must be one of the categorical"):
        gan.fit(data, "is_fraud", [], condition_column="channel")
    with pytest.raises(DataError, match="not declared categorical"):
        gan.fit(data, "is_fraud", [])
    with pytest.raises(DataError, match="single class"):
        gan.fit(data.assign(is_fraud=0), "is_fraud", ["channel"])
    with pytest.raises(ValueError, match="multiple of pac"):
        CGANSynthesizer(TINY, batch_size=61).fit(data, "is_fraud", ["channel"])
    with pytest.raises(DataError, match="not both"):
        CGANSynthesizer(TINY, clusters=2).fit(data, "is_fraud", ["channel"], "channel")
    with pytest.raises(RuntimeError, match="not fitted"):
        gan.sample(3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "'epochs' parameter of the GAN must be an integer >= 1, got 0"),
        ("select", "best", "'select' parameter of the GAN must be one of"),
        ("aux_weight", -1.0, "'aux_weight' parameter of the GAN must be >= 0"),
        ("clusters", -1, "'clusters' parameter of the GAN must be an integer >= 0"),
        ("dropout", 1.0, "'dropout' parameter of the GAN must be in"),
        ("max_categories", 1, "'max_categories' parameter of the GAN must be an integer >= 2"),
    ],
)
def test_config_validation_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        CGANConfig(**{field: value}).validate()


def test_loss_monitor_keeps_history_and_stops_on_divergence():
    history: dict[str, list[float]] = {}
    monitor = LossMonitor(history, max_loss=1e3)
    monitor.on_epoch_end(0, {"d_loss": 1.5, "g_loss": -0.5})
    assert history == {"epoch": [1], "d_loss": [1.5], "g_loss": [-0.5]}
    with pytest.raises(TrainingError, match="diverged at epoch 2: d_loss=nan"):
        monitor.on_epoch_end(1, {"d_loss": math.nan, "g_loss": 0.0})
    with pytest.raises(TrainingError, match="g_loss=1e\\+04"):
        monitor.on_epoch_end(2, {"d_loss": 0.0, "g_loss": 1e4})


def test_a_column_of_thousands_of_categories_keeps_the_gan_narrow(data: pd.DataFrame):
    """A zip code or a merchant name declared categorical: the GAN's one-hot of it is capped
    at `max_categories` slots, and its rows still carry categories seen in fit."""
    rng = np.random.default_rng(0)
    wide = data.assign(merchant=[f"m{i}" for i in rng.integers(0, 3_000, len(data))])
    gan = CGANSynthesizer(TINY, random_state=3).fit(wide, "is_fraud", ["channel", "merchant"])
    narrow = CGANSynthesizer(TINY, random_state=3).fit(data, "is_fraud", ["channel"])
    assert gan.transformer_.output_dim_ == narrow.transformer_.output_dim_ + 100
    rows = gan.sample(400, label=1, seed=0)
    assert set(rows["merchant"]) <= set(wide["merchant"])
    pooled = gan.transformer_.pooled_["merchant"]
    assert len(pooled) == wide["merchant"].nunique() - 99  # drawn by frequency from one slot
