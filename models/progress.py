"""Progress of a training GAN, for whoever shows it (the `fraudgan run` progress display).

One listener per process, set with `listening`; `keras_callback` returns the Keras callback the
GAN's training loop carries, which tells the listener, after each epoch, the generator steps
done and planned and the latest two-sample AUC. Importing this module does not import Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GANProgress:
    """Where a GAN's training stands: generator steps done of planned, and the latest C2ST AUC
    (0.5: generated rows indistinguishable from held-out real ones; None before the first test)."""

    step: int
    steps: int
    c2st_auc: float | None

    def __str__(self) -> str:
        test = "" if self.c2st_auc is None else f", C2ST {self.c2st_auc:.3f}"
        return f"GAN step {self.step:,}/{self.steps:,}{test}"


Listener = Callable[[GANProgress], None]
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every training GAN's progress to `listener` inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def report(progress: GANProgress) -> None:
    """Tell the current listener, if any."""
    if _listeners:
        _listeners[-1](progress)


def keras_callback(history: dict[str, list[float]]) -> Any:
    """A Keras callback reporting after each epoch; `history` holds the two-sample tests
    (`c2st_auc`) of the training it follows (put it after the callback that adds them)."""
    import keras

    class ReportProgress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if not _listeners:
                return
            per_epoch = int(self.params.get("steps") or 1)
            tests = history.get("c2st_auc") or [None]
            report(
                GANProgress(
                    step=(epoch + 1) * per_epoch,
                    steps=int(self.params.get("epochs") or epoch + 1) * per_epoch,
                    c2st_auc=tests[-1],
                )
            )

    return ReportProgress()
