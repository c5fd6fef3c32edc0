"""The conditional GAN: one-epoch training, conditional sampling, determinism, save/load, errors."""

from __future__ import annotations

import math
import types

import numpy as np
import pandas as pd
import pytest

from models.cgan import CGANConfig, CGANSynthesizer, LossMonitor, c2st_auc
from pipeline.errors import DataError, TrainingError

TINY = CGANConfig(
    epochs=3,
    steps_per_epoch=3,  # 9 steps: above the eager threshold, so the compiled graph is tested
    batch_size=60,
    embedding_dim=16,
    generator_dim=(32, 32),
    critic_dim=(32,),
    pac=6,
    eval_every=1,
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


def test_training_smoke_and_sample_schema(fitted: CGANSynthesizer, data: pd.DataFrame):
    rows = fitted.sample(200, label=1)
    assert list(rows.columns) == list(data.columns)
    pd.testing.assert_series_equal(rows.dtypes, data.dtypes)
    assert (rows["is_fraud"] == 1).all()
    assert set(rows["channel"]) <= set(data["channel"])
    assert rows["hour"].between(0, 23).all()
    assert rows["amount"].between(data["amount"].min(), data["amount"].max()).all()
    assert set(fitted.history_) >= {"d_loss", "g_loss", "gradient_penalty", "cond_loss"}
    assert len(fitted.history_["d_loss"]) == TINY.epochs
    # ~120 fraud rows leave 24 held out: the two-sample test ran every epoch.
    assert len(fitted.history_["c2st_auc"]) == TINY.epochs
    assert fitted.best_epoch_ in (1, 2, 3)
    assert fitted.rows_per_second_ > 0


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
    with pytest.raises(TrainingError, match="at least 10 rows"):
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
    with pytest.raises(RuntimeError, match="not fitted"):
        gan.sample(3)


def test_loss_monitor_stops_on_divergence_and_logs_to_an_active_run(monkeypatch):
    logged: list[tuple[dict, int]] = []
    fake = types.SimpleNamespace(
        active_run=lambda: object(), log_metrics=lambda m, step: logged.append((m, step))
    )
    monkeypatch.setitem(__import__("sys").modules, "mlflow", fake)
    history: dict[str, list[float]] = {}
    monitor = LossMonitor(history, max_loss=1e3)
    monitor.on_epoch_end(0, {"d_loss": 1.5, "g_loss": -0.5})
    assert logged == [({"gan_d_loss": 1.5, "gan_g_loss": -0.5}, 1)]
    assert history["d_loss"] == [1.5]
    with pytest.raises(TrainingError, match="diverged at epoch 2: d_loss=nan"):
        monitor.on_epoch_end(1, {"d_loss": math.nan, "g_loss": 0.0})
    with pytest.raises(TrainingError, match="g_loss=1e\\+04"):
        monitor.on_epoch_end(2, {"d_loss": 0.0, "g_loss": 1e4})


def test_c2st_is_near_half_for_one_distribution_and_high_for_two():
    rng = np.random.default_rng(0)
    same = c2st_auc(rng.normal(size=(300, 3)), rng.normal(size=(300, 3)), seed=0)
    apart = c2st_auc(rng.normal(size=(300, 3)), rng.normal(3, 1, size=(300, 3)), seed=0)
    assert abs(same - 0.5) < 0.1 and apart > 0.95
