"""`ConditionalWGAN`: the training step of the conditional GAN (WGAN-GP, Keras 3 on TensorFlow).

Each step draws its own batch inside the compiled graph from `BatchTables` (class-balanced
conditions, one per pack of `pac` rows, and real rows that have them), so training runs many
steps per call without Python in the loop. Then:

- critic: Wasserstein loss `E[D(fake)] - E[D(real)]` plus `gp_weight` times the gradient
  penalty `E[(||grad D(mix)|| - 1)^2]` on random interpolates of real and fake packs;
- generator: `-E[D(fake)]`, plus a cross-entropy that makes the generated condition column
  honour its condition, plus (with `aux_weight` > 0) the cross-entropy of an auxiliary
  classifier, trained on real rows, on the generated rows against their class (Engelmann &
  Lessmann, 2021): rows that carry their class's signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from models.transformer import Span


@dataclass
class BatchTables:
    """The encoded training rows and how to draw class-balanced batches from them.

    Rows are grouped by (class, category of the condition column); `order` lists row indices
    group by group, `offsets`/`counts` locate each group. A pack's class is drawn from
    `class_logits`, its category from that class's row of `category_logits`.
    """

    data: np.ndarray
    order: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray
    class_logits: np.ndarray
    category_logits: np.ndarray

    @classmethod
    def build(
        cls,
        data: np.ndarray,
        y: np.ndarray,
        category: np.ndarray,
        n_classes: int,
        n_categories: int,
        class_balance: float,
    ) -> BatchTables:
        """Tables for rows of classes `y` and condition categories `category` (0 without one).

        Classes are drawn between their frequencies (`class_balance` 0) and uniformly (1);
        within a class, categories by the log of their frequency, so rare ones are seen often.
        """
        group = y.astype(np.int64) * n_categories + category.astype(np.int64)
        counts = np.bincount(group, minlength=n_classes * n_categories)
        class_counts = counts.reshape(n_classes, n_categories).sum(axis=1)
        freq = class_counts / class_counts.sum()
        class_p = (1 - class_balance) * freq + class_balance / n_classes
        log_freq = np.log1p(counts.reshape(n_classes, n_categories).astype(np.float64))
        cat_p = log_freq / np.maximum(log_freq.sum(axis=1, keepdims=True), 1e-12)
        with np.errstate(divide="ignore"):
            class_logits = np.where(class_p > 0, np.log(class_p), -1e9)
            category_logits = np.where(cat_p > 0, np.log(cat_p), -1e9)
        return cls(
            data=np.ascontiguousarray(data, dtype=np.float32),
            order=np.argsort(group, kind="stable").astype(np.int32),
            offsets=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32),
            counts=counts.astype(np.int32),
            class_logits=class_logits.astype(np.float32),
            category_logits=category_logits.astype(np.float32),
        )

    @property
    def n_classes(self) -> int:
        return self.category_logits.shape[0]

    @property
    def n_categories(self) -> int:
        return self.category_logits.shape[1]


def gradient_penalty(
    critic: keras.Model, real_pack: Any, fake_pack: Any, pack_cond: Any, alpha: Any
) -> Any:
    """Mean over packs of (||d critic / d pack|| - 1)^2 at `alpha * real + (1 - alpha) * fake`."""
    mixed = alpha * real_pack + (1.0 - alpha) * fake_pack
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        score = critic([mixed, pack_cond], training=True)
    grads = tape.gradient(score, mixed)
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=1) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))


class ConditionalWGAN(keras.Model):
    """Generator + critic (+ auxiliary classifier) trained with WGAN-GP on `BatchTables`.

    `fit` takes any dataset of the right length (its elements are ignored: each step draws its
    batch from the tables). `cond_span` is (start, dim) of the conditioned column inside the
    encoded row, and its one-hot starts at index `n_classes` of the condition vector (None: the
    condition is the class only).
    """

    def __init__(
        self,
        generator: keras.Model,
        critic: keras.Model,
        spans: Sequence[Span],
        tables: BatchTables,
        *,
        noise_dim: int,
        batch_size: int,
        pac: int,
        gp_weight: float = 10.0,
        tau: float = 0.2,
        critic_steps: int = 1,
        cond_span: tuple[int, int] | None = None,
        classifier: keras.Model | None = None,
        aux_weight: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.critic = critic
        self.classifier = classifier if aux_weight > 0 else None
        self.spans = list(spans)
        self._layout_tables()
        self.noise_dim = noise_dim
        self.batch_size = batch_size
        self.pac = pac
        self.gp_weight = gp_weight
        self.tau = tau
        self.critic_steps = critic_steps
        self.cond_span = cond_span
        self.aux_weight = aux_weight
        self.n_classes = tables.n_classes
        self.n_categories = tables.n_categories if cond_span is not None else 1
        self.tables = tables
        self._data = keras.Variable(tables.data, trainable=False, name="real_rows")
        self._order = ops.convert_to_tensor(tables.order)
        self._offsets = ops.convert_to_tensor(tables.offsets)
        self._counts = ops.convert_to_tensor(tables.counts)
        self._class_logits = ops.convert_to_tensor(tables.class_logits[None, :])
        self._category_logits = ops.convert_to_tensor(tables.category_logits)
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["d_loss", "g_loss", "gradient_penalty", "wasserstein"]
        if cond_span is not None:
            names.append("cond_loss")
        if self.classifier is not None:
            names += ["aux_loss", "aux_real_loss"]
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        c_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        """Two optimizers (three with the auxiliary classifier); `kwargs` (e.g.
        `steps_per_execution`, `jit_compile`) go to `keras.Model.compile`."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.critic.trainable_variables)
        self.c_optimizer = None
        if self.classifier is not None:
            self.c_optimizer = c_optimizer or keras.optimizers.Adam(1e-3)
            self.c_optimizer.build(self.classifier.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def call(self, inputs: Any, training: bool = False) -> Any:
        noise, cond = inputs
        return self.activate(self.generator([noise, cond], training=training))

    # ---- output activations

    def activate(self, raw: Any) -> Any:
        """tanh on bounded scalar spans, identity on linear ones (normal scores), Gumbel-softmax
        (temperature `tau`) on one-hot spans.

        Vectorised over spans: the one-hot spans are gathered into a padded (rows, spans, widest)
        tensor, so the graph has a handful of ops however many columns the table has.
        """
        scalar = ops.where(self._linear_mask, raw, ops.tanh(raw))
        if not self._has_soft:
            return scalar
        u = keras.random.uniform(ops.shape(raw), 1e-10, 1.0, seed=self.seed_generator)
        logits = (raw - ops.log(-ops.log(u))) / self.tau
        padded = ops.take(logits, self._soft_index, axis=1) + self._soft_pad
        soft = ops.reshape(ops.softmax(padded, axis=-1), (-1, self._soft_index.size))
        soft = ops.take(soft, self._soft_position, axis=1)
        return ops.where(self._scalar_mask, scalar, soft)

    def _layout_tables(self) -> None:
        dim = max(s.start + s.dim for s in self.spans)
        soft = [s for s in self.spans if s.activation == "softmax"]
        widest = max((s.dim for s in soft), default=1)
        index = np.zeros((max(len(soft), 1), widest), dtype=np.int32)
        pad = np.full(index.shape, -1e9, dtype=np.float32)
        position = np.zeros(dim, dtype=np.int32)
        scalar = np.ones(dim, dtype=bool)
        linear = np.zeros(dim, dtype=bool)
        for span in self.spans:
            if span.activation == "linear":
                linear[span.start : span.start + span.dim] = True
        for i, span in enumerate(soft):
            cols = np.arange(span.start, span.start + span.dim)
            index[i, : span.dim] = cols
            pad[i, : span.dim] = 0.0
            position[cols] = i * widest + np.arange(span.dim)
            scalar[cols] = False
        self._soft_index, self._soft_pad = index, pad
        self._soft_position, self._scalar_mask = position, scalar
        self._linear_mask = linear
        self._has_soft = bool(soft)

    # ---- batches

    def draw_batch(self) -> tuple[Any, Any, Any]:
        """(real rows, their condition vectors, their class indices): one condition per pack."""
        packs = self.batch_size // self.pac
        k = keras.random.categorical(self._class_logits, packs, seed=self.seed_generator)[0]
        if self.cond_span is not None:
            logits = ops.take(self._category_logits, k, axis=0)
            j = keras.random.categorical(logits, 1, seed=self.seed_generator)[:, 0]
        else:
            j = ops.zeros_like(k)
        k, j = ops.repeat(k, self.pac), ops.repeat(j, self.pac)
        group = k * self.tables.n_categories + j
        count = ops.take(self._counts, group)
        u = keras.random.uniform((self.batch_size,), seed=self.seed_generator)
        within = ops.minimum(ops.cast(u * ops.cast(count, "float32"), "int32"), count - 1)
        rows = ops.take(self._order, ops.take(self._offsets, group) + within)
        real = ops.take(self._data, rows, axis=0)
        cond = ops.one_hot(k, self.n_classes)
        if self.cond_span is not None:
            cond = ops.concatenate([cond, ops.one_hot(j, self.tables.n_categories)], axis=1)
        return real, cond, k

    def _pack(self, rows: Any, cond: Any) -> Any:
        x = ops.concatenate([rows, cond], axis=1)
        return ops.reshape(x, (-1, self.pac * x.shape[1]))

    def _pack_condition(self, cond: Any) -> Any:
        """The condition of each pack (its first row's: every row of a pack shares it)."""
        return ops.reshape(cond, (-1, self.pac, cond.shape[1]))[:, 0, :]

    def _noise(self) -> Any:
        return keras.random.normal((self.batch_size, self.noise_dim), seed=self.seed_generator)

    # ---- the step

    def train_step(self, data: Any) -> dict[str, Any]:
        real, cond, k = self.draw_batch()
        pack_cond = self._pack_condition(cond)
        real_pack = self._pack(real, cond)

        # The critic's steps' fake rows first: the generator does not change during them, so
        # its passes can run side by side; then the critic's steps in a graph loop, so that the
        # critic's step (a double backward pass) is traced once, not once per critic step.
        # Random draws in the order of one step after the other: noise, then alpha.
        fakes, alphas = [], []
        for _ in range(self.critic_steps):
            fake = self.activate(self.generator([self._noise(), cond], training=True))
            fakes.append(self._pack(fake, cond))
            alphas.append(
                keras.random.uniform((self.batch_size // self.pac, 1), seed=self.seed_generator)
            )
        fake_packs, alpha_draws = ops.stack(fakes), ops.stack(alphas)

        def critic_step(step: Any, *_: Any) -> tuple[Any, ...]:
            fake_pack, alpha = fake_packs[step], alpha_draws[step]
            with tf.GradientTape() as tape:
                real_score = ops.mean(self.critic([real_pack, pack_cond], training=True))
                fake_score = ops.mean(self.critic([fake_pack, pack_cond], training=True))
                penalty = gradient_penalty(self.critic, real_pack, fake_pack, pack_cond, alpha)
                d_loss = fake_score - real_score + self.gp_weight * penalty
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(
                zip(grads, self.critic.trainable_variables, strict=True)
            )
            return step + 1, d_loss, penalty, real_score - fake_score

        zero = tf.constant(0.0, dtype=self._data.dtype)
        _, d_loss, penalty, wasserstein = tf.while_loop(
            lambda step, *_: step < self.critic_steps,
            critic_step,
            (tf.constant(0), zero, zero, zero),
        )
        values = {"d_loss": d_loss, "gradient_penalty": penalty, "wasserstein": wasserstein}
        if self.classifier is not None:
            with tf.GradientTape() as tape:
                logits = self.classifier(real, training=True)
                aux_real = ops.mean(
                    ops.sparse_categorical_crossentropy(k, logits, from_logits=True)
                )
            grads = tape.gradient(aux_real, self.classifier.trainable_variables)
            self.c_optimizer.apply_gradients(
                zip(grads, self.classifier.trainable_variables, strict=True)
            )
            values["aux_real_loss"] = aux_real

        with tf.GradientTape() as tape:
            raw = self.generator([self._noise(), cond], training=True)
            fake = self.activate(raw)
            g_score = ops.mean(self.critic([self._pack(fake, cond), pack_cond], training=True))
            g_loss = -g_score
            if self.cond_span is not None:
                values["cond_loss"] = self._condition_loss(raw, cond)
                g_loss = g_loss + values["cond_loss"]
            if self.classifier is not None:
                logits = self.classifier(fake, training=False)
                values["aux_loss"] = ops.mean(
                    ops.sparse_categorical_crossentropy(k, logits, from_logits=True)
                )
                g_loss = g_loss + self.aux_weight * values["aux_loss"]
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables, strict=True)
        )
        values["g_loss"] = g_loss

        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _condition_loss(self, raw: Any, cond: Any) -> Any:
        start, dim = self.cond_span
        logits = raw[:, start : start + dim]
        target = cond[:, self.n_classes : self.n_classes + dim]
        return ops.mean(ops.categorical_crossentropy(target, logits, from_logits=True))
