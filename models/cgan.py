"""A conditional tabular WGAN-GP in Keras 3: learns from every row, is asked for one class.

The pieces:

- `TabularTransformer` (models/transformer.py) encodes the table; its spans drive the generator's
  output activations (tanh for scalars, Gumbel-softmax for one-hots).
- `build_generator`: residual blocks (dense, batch norm, ReLU, concatenated with the block's input)
  mapping noise + condition to the raw encoded row.
- `build_critic`: scores packs of `pac` rows that share a condition (PacGAN), leaky ReLU and
  dropout, with the condition both in every row and projected onto the last hidden layer
  (a projection discriminator).
- `ConditionalWGAN`: a `keras.Model` whose `train_step` does the critic update (Wasserstein loss
  plus gradient penalty) and the generator update (Wasserstein loss plus a cross-entropy that makes
  the generated condition column honour its condition), with two optimizers, `keras.metrics.Mean`
  trackers and a `keras.random.SeedGenerator`.
- `CGANSynthesizer`: fit(df, label) / sample(n, label) / save / load around all of it, with
  training-by-sampling, model selection by a classifier two-sample test and divergence checks.

The condition vector is the class label (one-hot), optionally followed by the one-hot of one
categorical column. Training batches draw their conditions so that classes are balanced
(`class_balance`) and, within a class, categories by log-frequency; each pack of `pac` rows gets one
condition and real rows that have it.

Training length matters more than anything else here: on the simulator's 23 features the
two-sample AUC of generated fraud rows against held-out real ones falls from 0.99 after 700
batches to about 0.91 after 3,000 (benchmarks/gan_speed.py), so the defaults train for up to
3,000 batches with generous early-stopping patience.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf
from keras import layers, ops

from models.transformer import Span, TabularTransformer
from pipeline.errors import DataError, TrainingError

log = logging.getLogger(__name__)

MIN_CLASS_ROWS = 10
"""Fewest rows of any class the GAN trains on."""

_MIN_HOLDOUT_ROWS = 20
_EAGER_MAX_STEPS = 8
_MIN_FAKE_EVAL_ROWS = (
    500  # model selection needs at least this many held-out rows of the target class
)
_GENERATOR_FILE = "generator.keras"
_STATE_FILE = "state.pkl"
_CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class CGANConfig:
    """Hyper-parameters of the conditional GAN (all JSON-serialisable).

    An epoch is `steps_per_epoch` class-balanced batches (None: enough batches to draw as many
    rows of each class as the rarest class has). Losses are logged per epoch and two-sample tests
    run every `eval_every` epochs. The defaults (at most 300 x 10 batches of 500 rows, learning
    rate 1e-3) take 2-4 minutes on two busy CPU cores for a 20-40 column table, whatever the
    number of rows; fewer epochs train faster and generate rows that are easier to tell apart.
    """

    epochs: int = 300
    batch_size: int = 500
    steps_per_epoch: int | None = 10
    embedding_dim: int = 128
    generator_dim: tuple[int, ...] = (128, 128)
    critic_dim: tuple[int, ...] = (128, 128)
    pac: int = 10
    critic_steps: int = 1
    learning_rate: float = 1e-3
    gp_weight: float = 10.0
    dropout: float = 0.5
    tau: float = 0.2
    class_balance: float = 1.0  # 0: empirical class frequencies; 1: every class equally often
    eval_every: int = 10  # epochs between two-sample tests; 0 disables model selection
    patience: int = 20  # two-sample tests without improvement before stopping
    holdout_fraction: float = 0.2  # of the target class, kept out of training for model selection
    eval_rows: int = 1000  # most held-out rows used by one two-sample test
    max_loss: float = 1e6  # a loss beyond this (or NaN) stops training with TrainingError
    max_modes: int = 10
    transformer_subsample: int = 10_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "generator_dim", tuple(int(d) for d in self.generator_dim))
        object.__setattr__(self, "critic_dim", tuple(int(d) for d in self.critic_dim))

    def validate(self) -> None:
        """Raise ValueError on values the training cannot use."""
        positive = ("epochs", "batch_size", "embedding_dim", "pac", "critic_steps", "eval_rows")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CGAN {name} must be >= 1, got {getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"CGAN steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.batch_size % self.pac:
            raise ValueError(
                f"CGAN batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})"
            )
        if not 0.0 <= self.class_balance <= 1.0:
            raise ValueError(f"CGAN class_balance must be in [0, 1], got {self.class_balance}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(
                f"CGAN holdout_fraction must be in [0, 1), got {self.holdout_fraction}"
            )
        if not self.generator_dim or not self.critic_dim:
            raise ValueError("CGAN generator_dim and critic_dim need at least one layer each")
        if self.learning_rate <= 0 or self.tau <= 0 or not 0 <= self.dropout < 1:
            raise ValueError("CGAN learning_rate and tau must be > 0 and dropout in [0, 1)")


# ----------------------------------------------------------------------------- networks


def build_generator(
    noise_dim: int, cond_dim: int, data_dim: int, hidden: Sequence[int], seed: int
) -> keras.Model:
    """Noise + condition -> raw encoded row (activations are applied per span outside)."""
    seeds = np.random.default_rng(seed)
    noise = keras.Input((noise_dim,), name="noise")
    cond = keras.Input((cond_dim,), name="condition")
    h = layers.Concatenate(name="input")([noise, cond])
    for i, width in enumerate(hidden):
        out = layers.Dense(width, kernel_initializer=_init(seeds), name=f"res{i}_dense")(h)
        out = layers.BatchNormalization(momentum=0.9, name=f"res{i}_bn")(out)
        out = layers.ReLU(name=f"res{i}_relu")(out)
        h = layers.Concatenate(name=f"res{i}_concat")([out, h])
    raw = layers.Dense(data_dim, kernel_initializer=_init(seeds), name="raw")(h)
    return keras.Model([noise, cond], raw, name="generator")


def build_critic(
    row_dim: int, cond_dim: int, pac: int, hidden: Sequence[int], dropout: float, seed: int
) -> keras.Model:
    """A pack of `pac` (row, condition) vectors, flattened, and the pack's condition -> one
    Wasserstein score.

    The rows of a pack share one condition; besides seeing it in every row, the critic projects
    it onto its last hidden layer (a projection discriminator), which makes the class matter.
    """
    seeds = np.random.default_rng(seed)
    packed = keras.Input((row_dim * pac,), name="pack")
    cond = keras.Input((cond_dim,), name="pack_condition")
    h = packed
    for i, width in enumerate(hidden):
        h = layers.Dense(width, kernel_initializer=_init(seeds), name=f"dense{i}")(h)
        h = layers.LeakyReLU(negative_slope=0.2, name=f"leaky{i}")(h)
        h = layers.Dropout(dropout, seed=int(seeds.integers(2**31 - 1)), name=f"dropout{i}")(h)
    score = layers.Dense(1, kernel_initializer=_init(seeds), name="score")(h)
    embedded = layers.Dense(
        hidden[-1], use_bias=False, kernel_initializer=_init(seeds), name="embed_condition"
    )(cond)
    projection = layers.Dot(axes=1, name="projection")([embedded, h])
    total = layers.Add(name="total")([score, projection])
    return keras.Model([packed, cond], total, name="critic")


def _init(seeds: np.random.Generator) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=int(seeds.integers(2**31 - 1)))


class ConditionalWGAN(keras.Model):
    """Generator + critic trained with WGAN-GP and a conditional cross-entropy.

    `fit` takes batches of (encoded real rows, condition vectors): the real rows must match their
    conditions. `cond_span` is (start, dim) of the conditioned column inside the encoded row and
    `cond_offset` where that column's one-hot starts inside the condition vector (None: the
    condition is the class label only).
    """

    def __init__(
        self,
        generator: keras.Model,
        critic: keras.Model,
        spans: Sequence[Span],
        *,
        noise_dim: int,
        pac: int,
        gp_weight: float = 10.0,
        tau: float = 0.2,
        critic_steps: int = 1,
        cond_span: tuple[int, int] | None = None,
        cond_offset: int = 0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.critic = critic
        self.spans = list(spans)
        self._layout_tables()
        self.noise_dim = noise_dim
        self.pac = pac
        self.gp_weight = gp_weight
        self.tau = tau
        self.critic_steps = critic_steps
        self.cond_span = cond_span
        self.cond_offset = cond_offset
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.gp_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.cond_loss_tracker = keras.metrics.Mean(name="cond_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        **kwargs: Any,
    ) -> None:
        """Two optimizers; `kwargs` (e.g. `steps_per_execution`) go to `keras.Model.compile`."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.critic.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.gp_tracker,
            self.cond_loss_tracker,
            self.wasserstein_tracker,
        ]

    def call(self, inputs: Any, training: bool = False) -> Any:
        noise, cond = inputs
        return self.activate(self.generator([noise, cond], training=training))

    def activate(self, raw: Any) -> Any:
        """tanh on scalar spans, Gumbel-softmax (temperature `tau`) on one-hot spans.

        Vectorised over spans: the one-hot spans are gathered into a padded (rows, spans, widest)
        tensor, so the graph has a handful of ops however many columns the table has.
        """
        u = keras.random.uniform(ops.shape(raw), 1e-10, 1.0, seed=self.seed_generator)
        logits = (raw - ops.log(-ops.log(u))) / self.tau
        padded = ops.take(logits, self._soft_index, axis=1) + self._soft_pad
        soft = ops.reshape(ops.softmax(padded, axis=-1), (-1, self._soft_index.size))
        soft = ops.take(soft, self._soft_position, axis=1)
        return ops.where(self._scalar_mask, ops.tanh(raw), soft)

    def _layout_tables(self) -> None:
        dim = max(s.start + s.dim for s in self.spans)
        soft = [s for s in self.spans if s.activation == "softmax"]
        widest = max((s.dim for s in soft), default=1)
        index = np.zeros((max(len(soft), 1), widest), dtype=np.int32)
        pad = np.full(index.shape, -1e9, dtype=np.float32)
        position = np.zeros(dim, dtype=np.int32)
        scalar = np.ones(dim, dtype=bool)
        for i, span in enumerate(soft):
            cols = np.arange(span.start, span.start + span.dim)
            index[i, : span.dim] = cols
            pad[i, : span.dim] = 0.0
            position[cols] = i * widest + np.arange(span.dim)
            scalar[cols] = False
        self._soft_index, self._soft_pad = index, pad
        self._soft_position, self._scalar_mask = position, scalar

    def _pack(self, rows: Any, cond: Any) -> Any:
        x = ops.concatenate([rows, cond], axis=1)
        return ops.reshape(x, (-1, self.pac * x.shape[1]))

    def _pack_condition(self, cond: Any) -> Any:
        """The condition of each pack (its first row's: the sampler gives a pack one)."""
        return ops.reshape(cond, (-1, self.pac, cond.shape[1]))[:, 0, :]

    def _noise(self, batch: int) -> Any:
        return keras.random.normal((batch, self.noise_dim), seed=self.seed_generator)

    def train_step(self, data: Any) -> dict[str, Any]:
        real, cond = data
        batch = real.shape[0]
        pack_cond = self._pack_condition(cond)
        for _ in range(self.critic_steps):
            fake = self.activate(self.generator([self._noise(batch), cond], training=True))
            real_pack = self._pack(real, cond)
            fake_pack = self._pack(fake, cond)
            with tf.GradientTape() as tape:
                real_score = ops.mean(self.critic([real_pack, pack_cond], training=True))
                fake_score = ops.mean(self.critic([fake_pack, pack_cond], training=True))
                penalty = self._gradient_penalty(real_pack, fake_pack, pack_cond)
                d_loss = fake_score - real_score + self.gp_weight * penalty
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(grads, self.critic.trainable_variables, strict=True)
            )

        with tf.GradientTape() as tape:
            raw = self.generator([self._noise(batch), cond], training=True)
            fake = self.activate(raw)
            g_score = ops.mean(self.critic([self._pack(fake, cond), pack_cond], training=True))
            cond_loss = self._condition_loss(raw, cond)
            g_loss = -g_score + cond_loss
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables, strict=True)
        )

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.gp_tracker.update_state(penalty)
        self.cond_loss_tracker.update_state(cond_loss)
        self.wasserstein_tracker.update_state(real_score - fake_score)
        return {m.name: m.result() for m in self.metrics}

    def _gradient_penalty(self, real_pack: Any, fake_pack: Any, pack_cond: Any) -> Any:
        alpha = keras.random.uniform((ops.shape(real_pack)[0], 1), seed=self.seed_generator)
        mixed = alpha * real_pack + (1.0 - alpha) * fake_pack
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            score = self.critic([mixed, pack_cond], training=True)
        grads = tape.gradient(score, mixed)
        norm = ops.sqrt(ops.sum(ops.square(grads), axis=1) + 1e-12)
        return ops.mean(ops.square(norm - 1.0))

    def _condition_loss(self, raw: Any, cond: Any) -> Any:
        if self.cond_span is None:
            return ops.zeros(())
        start, dim = self.cond_span
        logits = raw[:, start : start + dim]
        target = cond[:, self.cond_offset : self.cond_offset + dim]
        return ops.mean(ops.categorical_crossentropy(target, logits, from_logits=True))


# ----------------------------------------------------------------------------- callbacks


class LossMonitor(keras.callbacks.Callback):
    """Keeps per-epoch losses, logs them to the active MLflow run, stops on divergence."""

    def __init__(self, history: dict[str, list[float]], max_loss: float, prefix: str = "gan_"):
        super().__init__()
        self.history = history
        self.max_loss = max_loss
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history.setdefault("epoch", []).append(epoch + 1)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        bad = {k: v for k, v in logs.items() if not math.isfinite(v) or abs(v) > self.max_loss}
        if bad:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in bad.items())
            raise TrainingError(
                f"GAN training diverged at epoch {epoch + 1}: {shown} (limit {self.max_loss:g}); "
                "try a lower learning_rate or a larger batch_size"
            )
        _mlflow_log({f"{self.prefix}{k}": v for k, v in logs.items()}, step=epoch + 1)


class ModelSelection(keras.callbacks.Callback):
    """Every `every` epochs scores the generator (lower is better), keeps the best weights, and
    stops after `patience` scores without improvement; restores the best weights at the end."""

    def __init__(
        self,
        generator: keras.Model,
        score: Callable[[int], float],
        every: int,
        patience: int,
        history: dict[str, list[float]],
    ) -> None:
        super().__init__()
        self.generator = generator
        self.score = score
        self.every = every
        self.patience = patience
        self.history = history
        self.best: float = math.inf
        self.best_auc: float | None = None
        self.best_epoch = 0
        self.seconds = 0.0
        self.best_weights: list[np.ndarray] | None = None
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        start = time.perf_counter()
        auc = self.score(epoch + 1)
        self.seconds += time.perf_counter() - start
        self.history.setdefault("c2st_epoch", []).append(epoch + 1)
        self.history.setdefault("c2st_auc", []).append(auc)
        _mlflow_log({"gan_c2st_auc": auc}, step=epoch + 1)
        distance = abs(auc - 0.5)
        if distance < self.best - 1e-3:
            self.best, self.best_auc, self.best_epoch, self.wait = distance, auc, epoch + 1, 0
            self.best_weights = self.generator.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                log.info("GAN early stopping at epoch %d (best %d)", epoch + 1, self.best_epoch)
                self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.generator.set_weights(self.best_weights)


def _mlflow_log(metrics: dict[str, float], step: int) -> None:
    mlflow = sys.modules.get("mlflow")  # a run can only be active if mlflow was imported
    if mlflow is None or mlflow.active_run() is None:
        return
    mlflow.log_metrics(metrics, step=step)


# ---------------------------------------------------------------------------- synthesizer


class CGANSynthesizer:
    """Fit a conditional GAN on a table with a class label; sample rows of a requested class.

    Parameters
    ----------
    config : CGANConfig, optional
        Hyper-parameters; keyword overrides (e.g. ``epochs=50``) replace single fields.
    random_state : int or None
        Same seed and data on CPU give the same synthetic rows.

    Fitted attributes: ``transformer_``, ``generator_``, ``classes_``, ``target_label_``,
    ``history_`` (per-epoch losses and two-sample AUCs), ``best_epoch_``, ``c2st_auc_``,
    ``train_seconds_``, ``rows_per_second_``, ``seed_``.
    """

    def __init__(
        self, config: CGANConfig | None = None, *, random_state: int | None = None, **overrides: Any
    ) -> None:
        base = config or CGANConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        df: pd.DataFrame,
        label: str,
        categorical_columns: Sequence[str] = (),
        condition_column: str | None = None,
        *,
        target_label: Any = None,
    ) -> CGANSynthesizer:
        """Train on every row of `df`; `label` is the class column (any dtype, >= 2 classes).

        `condition_column`: one categorical column to condition on as well. `target_label`: the
        class whose held-out rows drive model selection (default: the rarest class).
        """
        cfg = self.config
        cfg.validate()
        self._check_input(df, label, categorical_columns, condition_column)
        seed = (
            int(self.random_state) % (2**31 - 1)  # Keras seeds are 32-bit
            if self.random_state is not None
            else int(np.random.default_rng().integers(2**31 - 1))
        )
        self.seed_ = seed
        rng = np.random.default_rng(seed)
        y_raw = df[label]
        classes, y = np.unique(y_raw.to_numpy(), return_inverse=True)
        counts = np.bincount(y, minlength=len(classes))
        if len(classes) < 2:
            raise DataError(
                f"label column {label!r} has a single class ({classes[0]!r}): the conditional GAN "
                "needs at least two classes"
            )
        few = [(c, int(n)) for c, n in zip(classes, counts, strict=True) if n < MIN_CLASS_ROWS]
        if few:
            shown = ", ".join(f"{c!r}: {n} rows" for c, n in few)
            raise TrainingError(
                f"too few rows to train the GAN ({shown}); every class needs at least "
                f"{MIN_CLASS_ROWS} rows"
            )
        self.label_ = label
        self.label_dtype_ = y_raw.dtype
        self._all_columns = [str(c) for c in df.columns]
        self.classes_ = [_py(c) for c in classes]
        target = int(np.argmin(counts)) if target_label is None else self._class_index(target_label)
        self.target_label_ = self.classes_[target]

        features = df.drop(columns=[label])
        self.transformer_ = TabularTransformer(
            max_modes=cfg.max_modes,
            subsample=cfg.transformer_subsample,
            random_state=seed,
        ).fit(features, [c for c in categorical_columns if c != label], stratify=y)
        encoded = self.transformer_.transform(features)

        self.condition_column_ = condition_column
        if condition_column is not None:
            cond_start, cond_dim, categories = self.transformer_.categorical_span(condition_column)
            cat = self.transformer_.category_codes(features, condition_column)
            self.condition_categories_ = categories
            self._cond_span: tuple[int, int] | None = (cond_start, cond_dim)
        else:
            cat = np.zeros(len(df), dtype=np.int64)
            self.condition_categories_ = []
            self._cond_span = None
        n_classes, n_cats = len(classes), max(len(self.condition_categories_), 1)
        # Empirical category frequencies within each class: what `sample` draws from.
        joint = np.zeros((n_classes, n_cats))
        np.add.at(joint, (y, cat), 1.0)
        self.category_frequencies_ = joint / joint.sum(axis=1, keepdims=True)

        train_rows, holdout = self._holdout(y, target, rng)
        sampler = _ConditionSampler(y[train_rows], cat[train_rows], n_classes, n_cats, cfg)
        real_train = encoded[train_rows]
        steps = cfg.steps_per_epoch or max(
            1, math.ceil(n_classes * int(sampler.class_counts.min()) / cfg.batch_size)
        )

        cond_dim = n_classes + (n_cats if condition_column is not None else 0)
        data_dim = self.transformer_.output_dim_
        self.generator_ = build_generator(
            cfg.embedding_dim, cond_dim, data_dim, cfg.generator_dim, seed=seed + 1
        )
        critic = build_critic(
            data_dim + cond_dim, cond_dim, cfg.pac, cfg.critic_dim, cfg.dropout, seed + 2
        )
        gan = ConditionalWGAN(
            self.generator_,
            critic,
            self.transformer_.output_info_,
            noise_dim=cfg.embedding_dim,
            pac=cfg.pac,
            gp_weight=cfg.gp_weight,
            tau=cfg.tau,
            critic_steps=cfg.critic_steps,
            cond_span=self._cond_span,
            cond_offset=n_classes,
            seed=seed + 3,
        )
        gan.compile(
            g_optimizer=_adam(cfg.learning_rate),
            d_optimizer=_adam(cfg.learning_rate),
            # Tracing the graph costs about a second: not worth it for a handful of steps.
            run_eagerly=cfg.epochs * steps <= _EAGER_MAX_STEPS,
        )

        batch_rng = np.random.default_rng(seed + 4)
        dataset = tf.data.Dataset.from_generator(
            lambda: sampler.batches(real_train, steps, batch_rng),
            output_signature=(
                tf.TensorSpec((cfg.batch_size, data_dim), tf.float32),
                tf.TensorSpec((cfg.batch_size, cond_dim), tf.float32),
            ),
        ).prefetch(2)

        self.history_: dict[str, list[float]] = {}
        callbacks: list[keras.callbacks.Callback] = [LossMonitor(self.history_, cfg.max_loss)]
        selection = None
        if holdout is not None and cfg.eval_every > 0:
            real_holdout = self._numeric(features.iloc[holdout])
            selection = ModelSelection(
                self.generator_,
                lambda epoch: self._c2st(real_holdout, target, seed + 5 + epoch),
                cfg.eval_every,
                cfg.patience,
                self.history_,
            )
            callbacks.append(selection)

        start = time.perf_counter()
        gan.fit(
            dataset,
            epochs=cfg.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )
        self.train_seconds_ = time.perf_counter() - start
        epochs_run = len(self.history_.get("epoch", []))
        self.steps_per_epoch_ = steps
        eval_seconds = selection.seconds if selection else 0.0
        self.rows_per_second_ = (
            epochs_run * steps * cfg.batch_size / max(self.train_seconds_ - eval_seconds, 1e-9)
        )  # training only, without the two-sample tests
        self.best_epoch_ = selection.best_epoch if selection and selection.best_weights else None
        self.c2st_auc_ = selection.best_auc if selection else None
        self._sample_rng = np.random.default_rng(seed + 6)
        log.info(
            "GAN trained: %d epochs x %d steps in %.1f s (%.0f rows/s), best epoch %s",
            epochs_run,
            steps,
            self.train_seconds_,
            self.rows_per_second_,
            self.best_epoch_,
        )
        return self

    def _check_input(
        self,
        df: pd.DataFrame,
        label: str,
        categorical_columns: Sequence[str],
        condition_column: str | None,
    ) -> None:
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"CGANSynthesizer.fit expects a DataFrame, got {type(df)}")
        if label not in df.columns:
            raise DataError(f"label column {label!r} is not in the data: {list(df.columns)}")
        if df[label].isna().any():
            raise DataError(f"label column {label!r} has {int(df[label].isna().sum())} missing")
        if df.shape[1] < 2:
            raise DataError("CGANSynthesizer.fit needs at least one feature column besides label")
        if condition_column is not None:
            if condition_column == label:
                raise DataError("condition_column must be a feature column, not the label")
            if condition_column not in categorical_columns:
                raise DataError(
                    f"condition_column {condition_column!r} must be one of the categorical "
                    f"columns {list(categorical_columns)}"
                )
            if df[condition_column].isna().any():
                raise DataError(
                    f"condition column {condition_column!r} has missing values: fill them with "
                    "an explicit category first"
                )
            if df[condition_column].nunique() < 2:
                raise DataError(f"condition column {condition_column!r} has a single value")

    def _holdout(
        self, y: np.ndarray, target: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows to train on, and held-out rows of the target class for model selection."""
        cfg = self.config
        target_rows = np.flatnonzero(y == target)
        n_out = min(int(len(target_rows) * cfg.holdout_fraction), cfg.eval_rows)
        if cfg.eval_every <= 0 or n_out < _MIN_HOLDOUT_ROWS:
            if cfg.eval_every > 0:
                log.info(
                    "GAN model selection off: %d rows of the target class give %d held-out rows, "
                    "fewer than %d",
                    len(target_rows),
                    n_out,
                    _MIN_HOLDOUT_ROWS,
                )
            return np.arange(len(y)), None
        holdout = np.sort(rng.choice(target_rows, n_out, replace=False))
        keep = np.ones(len(y), dtype=bool)
        keep[holdout] = False
        return np.flatnonzero(keep), holdout

    def _c2st(self, real: np.ndarray, target: int, seed: int) -> float:
        """Cross-validated AUC of a small XGBoost telling real from generated target-class rows."""
        n_fake = max(len(real), _MIN_FAKE_EVAL_ROWS)  # more generated rows: a steadier AUC
        fake_df = self._generate(n_fake, target, None, np.random.default_rng(seed))
        fake = self._numeric(fake_df.drop(columns=[self.label_]))
        return c2st_auc(real, fake, seed=seed)

    def _numeric(self, features: pd.DataFrame) -> np.ndarray:
        """Features as numbers: continuous values as they are, categories as their index."""
        t = self.transformer_
        columns = []
        for name, kind in t.column_kinds_.items():
            if kind == "categorical":
                codes = t.category_codes(features, name).astype(np.float64)
                codes[codes < 0] = np.nan
                columns.append(codes)
            elif kind == "continuous":
                columns.append(features[name].to_numpy(dtype=np.float64, na_value=np.nan))
        return np.column_stack(columns) if columns else np.zeros((len(features), 0))

    def _class_index(self, label: Any) -> int:
        for i, c in enumerate(self.classes_):
            if c == label or str(c) == str(label):
                return i
        raise DataError(
            f"label {label!r} was never seen in column {self.label_!r}; classes are {self.classes_}"
        )

    # --------------------------------------------------------------- sample

    def sample(
        self,
        n: int,
        label: Any = 1,
        condition_value: Any = None,
        *,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """`n` synthetic rows of class `label`, with the fitted columns and dtypes.

        With a condition column, `condition_value` fixes its value in every row; None draws it
        from its frequencies within the class. Without `seed`, successive calls continue one
        random stream that starts from the fit's seed.
        """
        self._check_fitted()
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        k = self._class_index(label)
        rng = np.random.default_rng(seed) if seed is not None else self._sample_rng
        return self._generate(int(n), k, condition_value, rng)

    def _generate(
        self, n: int, k: int, condition_value: Any, rng: np.random.Generator
    ) -> pd.DataFrame:
        n_classes = len(self.classes_)
        cats = self.condition_categories_
        cond = np.zeros((n, n_classes + len(cats)), dtype=np.float32)
        cond[:, k] = 1.0
        chosen: np.ndarray | None = None
        if self.condition_column_ is not None:
            if condition_value is None:
                chosen = rng.choice(len(cats), n, p=self.category_frequencies_[k])
            else:
                index = [i for i, c in enumerate(cats) if c == condition_value]
                if not index:
                    raise DataError(
                        f"condition value {condition_value!r} was never seen in column "
                        f"{self.condition_column_!r}; seen values are {cats}"
                    )
                chosen = np.full(n, index[0])
            cond[np.arange(n), n_classes + chosen] = 1.0
        elif condition_value is not None:
            raise DataError(
                "condition_value given, but the GAN was fitted without condition_column"
            )
        encoded = self._decode_raw(cond, rng)
        df = self.transformer_.inverse_transform(encoded)
        if chosen is not None:
            values = np.empty(len(cats), dtype=object)
            values[:] = cats
            df[self.condition_column_] = pd.Series(values[chosen], index=df.index).astype(
                df[self.condition_column_].dtype
            )
        label = pd.Series([self.classes_[k]] * n, index=df.index)
        df[self.label_] = label.astype(self.label_dtype_) if n else label
        return df[self._columns]

    def _decode_raw(self, cond: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Run the generator in inference mode and sample hard one-hots from its logits."""
        n = len(cond)
        dim = self.transformer_.output_dim_
        out = np.zeros((n, dim), dtype=np.float32)
        chunk = 8192
        for lo in range(0, n, chunk):
            c = cond[lo : lo + chunk]
            noise = rng.standard_normal((len(c), self.config.embedding_dim)).astype(np.float32)
            raw = ops.convert_to_numpy(self.generator_([noise, c], training=False))
            gumbel = rng.gumbel(size=raw.shape).astype(np.float32)
            block = out[lo : lo + len(c)]
            for span in self.transformer_.output_info_:
                sl = slice(span.start, span.start + span.dim)
                if span.activation == "tanh":
                    block[:, sl] = np.tanh(raw[:, sl])
                else:
                    pick = (raw[:, sl] + gumbel[:, sl]).argmax(axis=1)
                    block[np.arange(len(c)), span.start + pick] = 1.0
        return out

    @property
    def _columns(self) -> list[str]:
        return self._all_columns

    def _check_fitted(self) -> None:
        if not hasattr(self, "generator_"):
            raise RuntimeError("CGANSynthesizer is not fitted: call fit() or load() first")

    # ------------------------------------------------------------ save/load

    def save(self, directory: str | Path) -> Path:
        """Write the generator (.keras), the fitted transformer and the config to `directory`."""
        self._check_fitted()
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.generator_.save(path / _GENERATOR_FILE)
        state = {k: getattr(self, k) for k in _STATE_ATTRS}
        with open(path / _STATE_FILE, "wb") as fh:
            pickle.dump(state, fh)
        summary = {
            "config": dataclasses.asdict(self.config),
            "random_state": self.random_state,
            "label": self.label_,
            "classes": [str(c) for c in self.classes_],
            "condition_column": self.condition_column_,
            "best_epoch": self.best_epoch_,
            "c2st_auc": self.c2st_auc_,
            "columns": list(self._all_columns),
        }
        (path / _CONFIG_FILE).write_text(json.dumps(summary, indent=2, default=str))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> CGANSynthesizer:
        """Load a synthesizer written by `save` (the pickle is trusted: load only your own)."""
        path = Path(directory)
        for name in (_GENERATOR_FILE, _STATE_FILE, _CONFIG_FILE):
            if not (path / name).exists():
                raise DataError(f"{path}: {name} is missing; not a saved CGANSynthesizer")
        summary = json.loads((path / _CONFIG_FILE).read_text())
        config = CGANConfig(**summary["config"])
        self = cls(config, random_state=summary["random_state"])
        with open(path / _STATE_FILE, "rb") as fh:
            state = pickle.load(fh)
        for key, value in state.items():
            setattr(self, key, value)
        self.generator_ = keras.models.load_model(path / _GENERATOR_FILE, compile=False)
        self._sample_rng = np.random.default_rng(self.seed_ + 6)
        return self

    def log_to_mlflow(self, name: str = "cgan") -> None:
        """Save into the active MLflow run's artifacts under `name` (no-op without a run)."""
        import tempfile

        mlflow = sys.modules.get("mlflow")
        if mlflow is None or mlflow.active_run() is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            self.save(Path(tmp) / name)
            mlflow.log_artifacts(str(Path(tmp) / name), artifact_path=name)


_STATE_ATTRS = (
    "transformer_",
    "label_",
    "label_dtype_",
    "classes_",
    "target_label_",
    "condition_column_",
    "condition_categories_",
    "category_frequencies_",
    "_cond_span",
    "_all_columns",
    "history_",
    "best_epoch_",
    "c2st_auc_",
    "train_seconds_",
    "rows_per_second_",
    "steps_per_epoch_",
    "seed_",
)


# ------------------------------------------------------------------------------- helpers


class _ConditionSampler:
    """Draws class-balanced conditions (categories by log-frequency), one per pack of `pac`
    rows, and real rows that match them."""

    def __init__(
        self, y: np.ndarray, cat: np.ndarray, n_classes: int, n_cats: int, cfg: CGANConfig
    ) -> None:
        self.n_classes, self.n_cats = n_classes, n_cats
        self.with_category = n_cats > 1
        group = y * n_cats + cat
        self.order = np.argsort(group, kind="stable")
        counts = np.bincount(group, minlength=n_classes * n_cats)
        self.offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.counts = counts
        self.class_counts = counts.reshape(n_classes, n_cats).sum(axis=1)
        freq = self.class_counts / self.class_counts.sum()
        self.class_p = (1 - cfg.class_balance) * freq + cfg.class_balance / n_classes
        logf = np.log1p(counts.reshape(n_classes, n_cats).astype(np.float64))
        self.cat_p = logf / logf.sum(axis=1, keepdims=True)
        self.batch_size = cfg.batch_size
        self.pac = cfg.pac

    def batches(
        self, real: np.ndarray, steps: int, rng: np.random.Generator
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless stream of (real rows, condition vectors); one epoch drawn at a time."""
        b = self.batch_size
        cond_dim = self.n_classes + (self.n_cats if self.with_category else 0)
        while True:
            n = steps * b
            # One condition per pack of `pac` rows: the critic compares like with like.
            packs = n // self.pac
            k = rng.choice(self.n_classes, packs, p=self.class_p)
            if self.with_category:
                u = rng.random(packs)
                cdf = np.cumsum(self.cat_p, axis=1)[k]
                j = np.minimum((u[:, None] > cdf).sum(axis=1), self.n_cats - 1)
            else:
                j = np.zeros(packs, dtype=np.int64)
            k, j = np.repeat(k, self.pac), np.repeat(j, self.pac)
            g = k * self.n_cats + j
            pick = self.offsets[g] + (rng.random(n) * self.counts[g]).astype(np.int64)
            rows = self.order[pick]
            cond = np.zeros((n, cond_dim), dtype=np.float32)
            cond[np.arange(n), k] = 1.0
            if self.with_category:
                cond[np.arange(n), self.n_classes + j] = 1.0
            for s in range(steps):
                sl = slice(s * b, (s + 1) * b)
                yield real[rows[sl]], cond[sl]


def c2st_auc(real: np.ndarray, fake: np.ndarray, *, seed: int = 0, folds: int = 3) -> float:
    """Classifier two-sample test: cross-validated ROC-AUC of XGBoost on real vs fake (0.5 best)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from xgboost import XGBClassifier

    X = np.vstack([real, fake]).astype(np.float32)
    y = np.concatenate([np.zeros(len(real)), np.ones(len(fake))])
    pred = np.zeros(len(y))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**31 - 1))
    for train, test in cv.split(X, y):
        clf = XGBClassifier(
            n_estimators=50,
            max_depth=3,
            learning_rate=0.2,
            tree_method="hist",
            n_jobs=1,
            random_state=seed % (2**31 - 1),
        )
        clf.fit(X[train], y[train])
        pred[test] = clf.predict_proba(X[test])[:, 1]
    return float(roc_auc_score(y, pred))


def _adam(learning_rate: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5, beta_2=0.9)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
