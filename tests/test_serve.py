"""The exported scorer behind `mlflow models serve` on a loopback port (as `fraudgan serve` runs it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest

from models.scorer import PROBABILITY
from pipeline.config import load_config
from pipeline.export import build_scorer, retraining_runner, scorer_code_paths, scoring_requirements
from pipeline.runner import prepare
from pipeline.serving_cli import child_env, serve_command

STARTUP_SECONDS = 120
REQUEST_SECONDS = 20
# Starting `mlflow models serve` takes 15-40 s on a small shared machine: the tests that need the
# server are slow tests (`pytest -m slow tests/test_serve.py`).
needs_server = pytest.mark.slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_SECONDS) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A scorer trained on the quick data, saved as a pyfunc model and served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("serve")
    cfg = load_config("experiments/quick.yaml")
    prepared = prepare(cfg)
    runner = retraining_runner(cfg, prepared)
    fitted = runner.fit("none", {}, {})
    scorer = build_scorer(cfg, runner, fitted.pipe, 0.2)
    rows = prepared.frame[["transaction_id", *scorer.columns]].iloc[:5]
    model_dir = root / "model"
    (root / "code").mkdir()
    mlflow.pyfunc.save_model(
        path=str(model_dir),
        python_model=scorer,
        signature=scorer.signature(),
        input_example=rows.head(2),
        code_paths=scorer_code_paths(root / "code"),
        pip_requirements=scoring_requirements(),
    )
    port = free_port()
    log_path = root / "serve.log"
    env = child_env(MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}")
    with log_path.open("wb") as log_file:
        # from an empty folder: the model's own code copy must be enough to load the scorer
        proc = subprocess.Popen(
            serve_command(str(model_dir), port),
            cwd=root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow models serve exited early:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"server not up in {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield SimpleNamespace(url=f"{url}/invocations", scorer=scorer, rows=rows)
    finally:
        # the server and its workers share the session we started: stop that process group
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def payload(frame, **extra) -> bytes:
    split = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split, **extra}).encode()


def test_child_processes_find_this_environments_scripts(monkeypatch):
    # `mlflow models serve` starts `uvicorn` by name: a venv that is not activated must work
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = child_env(MLFLOW_TRACKING_URI="sqlite:///x.db")
    scripts = str(Path(sys.executable).parent)
    assert env["PATH"].split(os.pathsep) == [scripts, "/usr/bin", "/bin"]
    assert env["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"
    monkeypatch.setenv("PATH", env["PATH"])
    assert child_env()["PATH"] == env["PATH"]  # not added twice


def test_command_line_is_loopback_and_local_env():
    cmd = serve_command("models:/fraud-detector@champion", 5055)
    assert cmd[1:5] == ["-m", "mlflow", "models", "serve"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--env-manager") + 1] == "local"
    assert cmd[cmd.index("-p") + 1] == "5055"


@needs_server
def test_valid_payload_gets_probabilities(server):
    status, body = post(server.url, payload(server.rows))
    assert status == 200, body
    predictions = json.loads(body)["predictions"]
    expected = server.scorer.score(server.rows)
    assert [p["transaction_id"] for p in predictions] == expected["transaction_id"].tolist()
    np.testing.assert_allclose([p[PROBABILITY] for p in predictions], expected[PROBABILITY])
    assert {p["alert"] for p in predictions} <= {0, 1}


@needs_server
def test_explain_param_adds_reason_codes(server):
    status, body = post(server.url, payload(server.rows.head(1), params={"explain": True}))
    assert status == 200, body
    row = json.loads(body)["predictions"][0]
    assert row["reason_1"] in server.scorer.columns
    assert isinstance(row["reason_3_value"], float)


@needs_server
def test_missing_columns_get_a_4xx_naming_them(server):
    status, body = post(server.url, payload(server.rows.drop(columns=["amount", "channel"])))
    assert 400 <= status < 500
    message = json.loads(body)["message"]
    assert "missing 2 column(s)" in message and "channel, amount" in message


@needs_server
def test_wrong_type_and_malformed_json_get_a_4xx(server):
    bad = server.rows.astype({"amount": object})
    bad.loc[bad.index[0], "amount"] = "lots"
    status, body = post(server.url, payload(bad))
    assert 400 <= status < 500
    assert "amount" in json.loads(body)["message"]
    status, body = post(server.url, b'{"dataframe_split": {"columns": ["amount"], "data": [[1.0]')
    assert 400 <= status < 500
    assert "JSON" in body
