"""What the `fraudgan` commands print: the two consoles, logging, and fraudgan's errors as messages."""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from models.errors import FraudganError

# Piped or redirected output gets a wide console: `compare --wide` is wide.
console = Console(width=None if sys.stdout.isatty() else 240)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

NOISY_LOGGERS = ("mlflow", "alembic", "urllib3", "matplotlib", "PIL", "absl", "h5py", "py4j")


_RETURNED_KEY = "fraudgan_returned"
RETURNED = {_RETURNED_KEY: True}
"""`extra=` of a log record whose message its function also returns (a summary's warnings): the
commands print those themselves, so their log handler skips the record; a caller of the
function without the commands still sees it logged."""


def _not_returned(record: logging.LogRecord) -> bool:
    return not getattr(record, _RETURNED_KEY, False)


def setup_logging(verbose: bool) -> None:
    """fraudgan's log lines on stderr through rich (debug with `verbose`); libraries' warnings
    only; records the commands print themselves (`RETURNED`) left out."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if verbose else "WARNING")
    handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
    handler.addFilter(_not_returned)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


LOG_FILE = "fraudgan.log"
"""Library chatter of a launch goes to this file, beside the tracking store's database."""


def library_log() -> Path:
    """The log file of library chatter (`LOG_FILE`), beside the tracking store's database."""
    from pipeline import tracking
    from pipeline.config import MLRUNS_DIR, tracking_uri

    db = tracking.sqlite_path(tracking_uri())
    return (MLRUNS_DIR if db is None else db.parent) / LOG_FILE


def route_chatter(path: Path) -> None:
    """Send Python warnings (Keras' `shuffle` note, MLflow's schema hints) to the log file
    `path` instead of the terminal; fraudgan's own log lines stay on the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.captureWarnings(True)
    chatter = logging.getLogger("py.warnings")
    chatter.handlers = [handler]
    chatter.propagate = False


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Within the block, the process's stderr is appended to `path`: file descriptor 2 (what
    compiled libraries print, and the stderr of a child process started in the block, for good)
    and `sys.stderr` (what Python code prints, also where `sys.stderr` is not descriptor 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with (
            open(path, "a", encoding="utf-8", errors="replace") as log_file,
            contextlib.redirect_stderr(log_file),
        ):
            os.dup2(log_file.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()  # what was written in the block goes to the file, not the terminal
        os.dup2(saved, 2)
        os.close(saved)


def import_quietly(module: str, path: Path) -> None:
    """Import `module` with stderr appended to `path`: the lines compiled libraries print on
    import (TensorFlow's oneDNN and absl notes) go there."""
    with stderr_to(path):
        importlib.import_module(module)


def print_warning(text: str) -> None:
    """One warning on stderr, `text` as it is (a `[...]` in it is no rich markup)."""
    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)


def friendly_errors(fn: F) -> F:
    """Print fraudgan's own errors as one clear message (exit 2), without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FraudganError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
