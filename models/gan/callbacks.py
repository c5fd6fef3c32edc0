"""Training callbacks of the conditional GAN: loss history and divergence, model selection."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from models.classifier import smoothed
from models.errors import TrainingError

log = logging.getLogger(__name__)

SMOOTHING = 3
"""Two-sample tests averaged to choose the weights (single tests on a few hundred rows jitter)."""


class LossMonitor(keras.callbacks.Callback):
    """Keeps each epoch's losses in `history`; stops on divergence (NaN or beyond `max_loss`)."""

    def __init__(self, history: dict[str, list[float]], max_loss: float) -> None:
        super().__init__()
        self.history = history
        self.max_loss = max_loss

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


class ModelSelection(keras.callbacks.Callback):
    """Every `every` epochs scores the generator with a two-sample AUC (0.5 best) and keeps its
    weights; stops after `patience` scores past both the best moving average and epoch `min_epochs`
    without a better one (0: never early).

    `checkpoints` holds (epoch, AUC, weights) of every test; `best_epoch` is the epoch whose
    `SMOOTHING`-test moving average of |AUC - 0.5| is lowest.
    """

    def __init__(
        self,
        generator: keras.Model,
        score: Callable[[int], float],
        every: int,
        patience: int,
        history: dict[str, list[float]],
        min_epochs: int = 0,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.score = score
        self.every = every
        self.patience = patience
        self.history = history
        self.min_epochs = min_epochs
        self.checkpoints: list[tuple[int, float, list[np.ndarray]]] = []
        self.seconds = 0.0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        start = time.perf_counter()
        auc = self.score(epoch + 1)
        self.seconds += time.perf_counter() - start
        self.history.setdefault("c2st_epoch", []).append(epoch + 1)
        self.history.setdefault("c2st_auc", []).append(auc)
        self.checkpoints.append((epoch + 1, auc, self.generator.get_weights()))
        best = self.best_index
        since = max(self.checkpoints[best][0], self.min_epochs)
        if self.patience and (epoch + 1 - since) // self.every >= self.patience:
            log.info("GAN early stopping at epoch %d (best %d)", epoch + 1, self.best_epoch)
            self.model.stop_training = True

    @property
    def best_index(self) -> int:
        distance = np.abs(np.array([c[1] for c in self.checkpoints]) - 0.5)
        return int(np.argmin(smoothed(distance, SMOOTHING)))

    @property
    def best_epoch(self) -> int | None:
        return self.checkpoints[self.best_index][0] if self.checkpoints else None

    @property
    def best_auc(self) -> float | None:
        return self.checkpoints[self.best_index][1] if self.checkpoints else None

    def restore_best(self) -> None:
        """Put the chosen checkpoint's weights back into the generator."""
        if self.checkpoints:
            self.generator.set_weights(self.checkpoints[self.best_index][2])
