"""MLflow servers run by `fraudgan ui` and `fraudgan serve`: their command lines, and running
them in a process group of their own so that stopping fraudgan stops the whole server, and
killing it (`kill -9`) too: a watchdog process stops the group when fraudgan is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from models.errors import FraudganError


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for an MLflow child process, plus `extra`.

    The interpreter's own `bin` folder goes first on the PATH: MLflow starts console scripts of
    this environment by name (`uvicorn` for `models serve`), and a venv that was not activated
    (`.venv/bin/fraudgan ...`) is otherwise not on the PATH.
    """
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        path = os.pathsep.join([scripts, path]) if path else scripts
    return {**os.environ, "PATH": path, **extra}


STOP_SECONDS = 15  # how long a stopped server may take to shut down before it is killed
WATCH_SECONDS = 0.2  # how often the watchdog looks for its parent

# The watchdog: a tiny Python process, a child of fraudgan in a session of its own, that waits
# for fraudgan to disappear (its parent pid changes) and then stops the server's process group
# as `_stop_group` does. argv: fraudgan's pid, the server's group, the grace period.
_WATCHDOG = """
import os, signal, sys, time
parent, group, grace, every = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
signal.signal(signal.SIGINT, signal.SIG_IGN)
def alive():
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
while os.getppid() == parent and alive():
    time.sleep(every)
if alive():
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(every)
    if alive():
        os.killpg(group, signal.SIGKILL)
"""


def _die_with_parent() -> None:
    """In the server's process, before it runs (Linux): SIGTERM when fraudgan dies."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def _watchdog(server: subprocess.Popen) -> subprocess.Popen | None:
    """Start the watchdog of a server's process group (POSIX), or None."""
    if os.name != "posix":
        return None
    cmd = [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(server.pid)]
    cmd += [str(STOP_SECONDS), str(WATCH_SECONDS)]
    return subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL)


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """`FraudganError` "port N is in use" when a server already listens on `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError:
            raise FraudganError(
                f"port {port} is in use on {host} (another server, or an earlier one still "
                "running); stop it, or choose another port with --port"
            ) from None


def run_server(cmd: list[str], env: dict[str, str], what: str) -> None:
    """Run a server command (`mlflow ui`, `mlflow models serve`) until it exits or is stopped.

    The server runs in its own process group; SIGINT (Ctrl-C) and SIGTERM sent to this process
    are forwarded to the whole group, and whatever of the group is still running when this
    returns is stopped (SIGTERM, then SIGKILL after `STOP_SECONDS`), so that no server process
    is left behind holding its port. When this process is killed outright (SIGKILL), the
    server gets SIGTERM (Linux: a parent-death signal) and a watchdog process stops its whole
    group. Raises `FraudganError` when the server exits by itself with an error status.
    """
    started: list[subprocess.Popen] = []
    stopped: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        stopped.append(signum)
        if started:
            _signal_group(started[0], signum)

    handled = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, forward) for sig in handled}
    watchdog: subprocess.Popen | None = None
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            start_new_session=os.name == "posix",
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        started.append(proc)
        watchdog = _watchdog(proc)
        if stopped:  # a signal came while the server was starting
            _signal_group(proc, stopped[0])
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if started:
            _stop_group(started[0])
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()
    if not stopped and code not in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143):
        raise FraudganError(f"{what} exited with status {code}")


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(proc.pid, signum)
        elif proc.poll() is None:
            proc.terminate()


def _group_alive(proc: subprocess.Popen) -> bool:
    if os.name != "posix":
        return proc.poll() is None
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop every process of the server's group that is still running."""
    if not _group_alive(proc):
        return
    _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while _group_alive(proc) and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.2)
    if _group_alive(proc):
        _signal_group(proc, signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def serve_command(model_uri: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow models serve` command line for a model on a loopback port."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "-p",
        str(port),
    ]


def mlflow_ui_command(
    uri: str, port: int, plugin: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The MLflow server command line for one local user, and the environment it needs.

    One web worker and no job runner: MLflow's defaults (four workers, a job queue with its own
    workers) start about 15 processes for features a local comparison does not use. With
    `plugin` (a folder written by `pipeline.ui_app.plugin_path`) the server runs fraudgan's app,
    which opens the UI in its model-training view.
    """
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if plugin is not None:
        from pipeline.config import PROJECT_ROOT
        from pipeline.ui_app import APP_NAME

        cmd += ["--app-name", APP_NAME]
        paths = [str(plugin), str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        # importing MLflow's app in the server's own process too repeats this notice of MLflow's
        env["PYTHONWARNINGS"] = "ignore:starlette.middleware.wsgi is deprecated"
    return cmd, env
