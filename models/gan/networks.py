"""The networks of the conditional GAN: generator, critic and auxiliary classifier (Keras 3)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers


def _init(seeds: np.random.Generator) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=int(seeds.integers(2**31 - 1)))


def build_generator(
    noise_dim: int, cond_dim: int, data_dim: int, hidden: Sequence[int], seed: int
) -> keras.Model:
    """Noise + condition -> raw encoded row (per-span activations are applied by the GAN).

    Residual blocks in CTGAN's style: each block's dense + batch norm + ReLU output is
    concatenated with the block's input.
    """
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

    The rows of a pack share one condition (PacGAN); besides seeing it in every row, the critic
    projects it onto its last hidden layer (a projection discriminator), which makes the class
    matter.
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


def build_classifier(
    data_dim: int, n_classes: int, hidden: Sequence[int], seed: int
) -> keras.Model:
    """Encoded row -> class logits: the auxiliary classifier trained on real rows."""
    seeds = np.random.default_rng(seed)
    row = keras.Input((data_dim,), name="row")
    h = row
    for i, width in enumerate(hidden):
        h = layers.Dense(width, kernel_initializer=_init(seeds), name=f"dense{i}")(h)
        h = layers.LeakyReLU(negative_slope=0.2, name=f"leaky{i}")(h)
    logits = layers.Dense(n_classes, kernel_initializer=_init(seeds), name="logits")(h)
    return keras.Model(row, logits, name="classifier")
