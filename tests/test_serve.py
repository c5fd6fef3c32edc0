"""The exported scorer behind `mlflow models serve` on a loopback port (as `fraudgan serve` runs it)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
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
from models.scorer.drift import SERVED_EXPECTED_ALERTS
from pipeline.config import load_config
from pipeline.export import build_scorer, retraining_runner, scorer_code_paths, scoring_requirements
from pipeline.runner import prepare
from pipeline.servers import child_env, serve_command

STARTUP_SECONDS = 180
REQUEST_SECONDS = 20
# One real `fraudgan serve` of a tiny model for the whole module (starting it takes 5-40 s on a
# small shared machine); the last test stops it with SIGTERM.
TINY = ["data.rows=3000", "data.fraud_rate=0.03", "classifier.n_estimators=10"]


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


def wait_until_up(proc: subprocess.Popen, port: int, log_path: Path, path: str = "/ping") -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not up in {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)


def fraudgan(*args: str, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`fraudgan ARGS` as its own process group (the test, not a terminal, sends the signals)."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *args],
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def processes() -> dict[int, tuple[int, str]]:
    """Every live process of this machine: pid -> (parent pid, state); zombies left out."""
    out: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            out[int(entry.name)] = (int(fields[1]), fields[0])
    return out


def descendants(pid: int) -> set[int]:
    table = processes()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _) in table.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_gone(pids: set[int], port: int, seconds: float = 30) -> set[int]:
    """The pids of `pids` still running once they are gone and `port` is free, or at the end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pids & set(processes()) and port_is_free(port):
            break
        time.sleep(0.2)
    return pids & set(processes())


def assert_stopped(children: set[int], port: int, after: str) -> None:
    """Every pid of `children` gone and `port` free once the server's parent got `after`; what is
    left running is killed, so that a failure does not leak servers."""
    left = wait_gone(children, port)
    try:
        assert not left, f"processes left running after {after}: {sorted(left)}"
        assert port_is_free(port), f"port {port} is still in use after {after}"
    finally:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def stop_with_sigterm(proc: subprocess.Popen, port: int) -> None:
    """SIGTERM to `fraudgan` alone (as `kill -TERM PID` does): it must stop its whole server."""
    children = descendants(proc.pid)
    assert children, "the server runs in child processes of fraudgan"
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    assert_stopped(children, port, "SIGTERM")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A tiny scorer saved as a pyfunc model and served by `fraudgan serve` on 127.0.0.1."""
    root = tmp_path_factory.mktemp("serve")
    cfg = load_config("experiments/quick.yaml", TINY)
    prepared = prepare(cfg)
    runner = retraining_runner(cfg, prepared)
    fitted = runner.fit("none", {}, {})
    scorer = build_scorer(cfg, runner, fitted.pipe, 0.2)
    frame = prepared.frame[["transaction_id", *scorer.columns]]
    rows = frame.iloc[:5]
    # the slice's figures as export keeps them: its alert rate, here that of the whole frame
    alerts = scorer.score(frame)["alert"]
    scorer.metadata["validation"] = {
        "rows": len(frame),
        "alert_rate": float(alerts.mean()),
        "fraud_rate": float(prepared.y.mean()),
        "calibrated": False,
    }
    model_dir = root / "model"
    (root / "code").mkdir()
    mlflow.pyfunc.save_model(
        path=str(model_dir),
        python_model=scorer,
        signature=scorer.signature(),
        input_example=scorer.signature_frame(rows.head(2)),
        code_paths=scorer_code_paths(root / "code"),
        pip_requirements=scoring_requirements(),
    )
    port = free_port()
    log_path = root / "serve.log"
    env = child_env(MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}")
    proc = fraudgan(
        "serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        cwd=root,
        env=env,
        log_path=log_path,
    )
    try:
        wait_until_up(proc, port, log_path)
        yield SimpleNamespace(
            url=f"http://127.0.0.1:{port}/invocations",
            port=port,
            proc=proc,
            scorer=scorer,
            rows=rows,
            quiet=frame[alerts.to_numpy() == 0],
            model_dir=model_dir,
            log_path=log_path,
        )
    finally:
        # normally stopped by the last test; here only when a test failed before it
        if proc.poll() is None:
            for pid in descendants(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=20)


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


def test_valid_payload_gets_probabilities(server):
    status, body = post(server.url, payload(server.rows))
    assert status == 200, body
    predictions = json.loads(body)["predictions"]
    expected = server.scorer.score(server.rows)
    assert [p["transaction_id"] for p in predictions] == expected["transaction_id"].tolist()
    np.testing.assert_allclose([p[PROBABILITY] for p in predictions], expected[PROBABILITY])
    assert {p["alert"] for p in predictions} <= {0, 1}


def test_a_categorical_column_written_another_way_is_a_warning_in_the_servers_log(server):
    """Channels in capitals score every row as an unseen category: answered 200, and said once
    in the server's log when the values received reach the warning's minimum."""
    said = "REST input: categorical column 'channel'"
    upper = server.rows.assign(channel=server.rows["channel"].str.upper())
    assert (upper["channel"] != server.rows["channel"]).all()
    for _ in range(5):  # 5 rows a request: the fourth reaches 20 values
        status, body = post(server.url, payload(upper))
        assert status == 200, body
    deadline = time.monotonic() + 10
    while said not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = " ".join(server.log_path.read_text().split())
    assert log.count(said) == 1, log[-2000:]
    assert re.search(r"\d+ of its \d+ values in the latest requests \(\d+%\)", log)


def test_requests_that_alert_far_less_than_the_validation_slice_are_a_warning(server):
    """A window of requests none of which alerts, where the slice's rate gives 25 alerts: said
    in the server's log (`models.scorer.drift.ServedAlerts`)."""
    window = math.ceil(SERVED_EXPECTED_ALERTS / server.scorer.metadata["validation"]["alert_rate"])
    assert len(server.quiet) >= window
    status, body = post(server.url, payload(server.quiet.head(window)))
    assert status == 200, body
    assert not any(p["alert"] for p in json.loads(body)["predictions"])
    said = "REST input: in the latest requests,"
    deadline = time.monotonic() + 10
    while said not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = " ".join(server.log_path.read_text().split())
    assert re.search(said + r" \d+ alerts in [\d,]+ rows \([\d.]+%\), where the validation", log), (
        log[-2000:]
    )


def test_explain_param_adds_reason_codes(server):
    status, body = post(server.url, payload(server.rows.head(1), params={"explain": True}))
    assert status == 200, body
    row = json.loads(body)["predictions"][0]
    assert row["reason_1"] in server.scorer.columns
    assert isinstance(row["reason_3_value"], float)


def test_missing_columns_get_a_4xx_naming_them(server):
    status, body = post(server.url, payload(server.rows.drop(columns=["amount", "channel"])))
    assert 400 <= status < 500
    message = json.loads(body)["message"]
    assert "missing 2 column(s)" in message and "channel, amount" in message


def test_wrong_type_and_malformed_json_get_a_4xx(server):
    bad = server.rows.astype({"amount": object})
    bad.loc[bad.index[0], "amount"] = "lots"
    status, body = post(server.url, payload(bad))
    assert 400 <= status < 500
    assert "amount" in json.loads(body)["message"]
    status, body = post(server.url, b'{"dataframe_split": {"columns": ["amount"], "data": [[1.0]')
    assert 400 <= status < 500
    assert "JSON" in body


def test_payloads_that_are_not_rows_of_columns_are_a_400_naming_the_columns(server):
    for body in (
        {"instances": [1, 2, 3]},
        {"inputs": [1, 2, 3]},
        {"instances": [[1, 2], [3, 4]]},
        {"dataframe_split": {"data": [[1, 2, 3]]}},
        {"dataframe_records": []},
    ):
        status, text = post(server.url, json.dumps(body).encode())
        assert status == 400, (body, text)
        message = json.loads(text)["message"]
        assert "amount" in message and "channel" in message, message


def test_null_in_an_integer_column_is_scored_as_missing(server):
    rows = server.rows.head(2)
    integer = [c for c in server.scorer.numeric if server.scorer.dtypes[c].startswith("int")]
    assert integer
    split = json.loads(rows.to_json(orient="split", index=False))
    position = split["columns"].index(integer[0])
    split["data"][0][position] = None
    status, text = post(server.url, json.dumps({"dataframe_split": split}).encode())
    assert status == 200, text
    expected = rows.astype({integer[0]: float})
    expected.iloc[0, expected.columns.get_loc(integer[0])] = np.nan
    got = [p[PROBABILITY] for p in json.loads(text)["predictions"]]
    np.testing.assert_allclose(got, server.scorer.score(expected)[PROBABILITY])


def test_a_row_shorter_or_longer_than_columns_is_a_400_naming_the_row(server):
    split = json.loads(server.rows.head(3).to_json(orient="split", index=False))
    for change, found in ((lambda r: r.pop(2), "has {} value(s)"), (lambda r: r.append(1), "")):
        data = [list(r) for r in split["data"]]
        change(data[1])
        body = {"dataframe_split": {"columns": split["columns"], "data": data}}
        status, text = post(server.url, json.dumps(body).encode())
        assert status == 400, text
        message = json.loads(text)["message"]
        assert "row 1" in message and found.format(len(data[1])) in message, message
        assert f"'columns' names {len(split['columns'])}" in message, message


def test_a_repeated_column_name_is_a_400_naming_it(server):
    split = json.loads(server.rows.head(2).to_json(orient="split", index=False))
    columns = ["amount", *split["columns"]]
    data = [[999.0, *r] for r in split["data"]]
    body = {"dataframe_split": {"columns": columns, "data": data}}
    status, text = post(server.url, json.dumps(body).encode())
    assert status == 400, text
    message = json.loads(text)["message"]
    assert "'amount'" in message and "more than once" in message, message


def test_the_scoring_servers_parsing_is_checked_once_loaded(monkeypatch):
    from mlflow.pyfunc import scoring_server

    from models.scorer.inputs import ScoringInputError
    from models.scorer.model import guard_scoring_server

    monkeypatch.setattr(
        scoring_server, "dataframe_from_parsed_json", scoring_server.dataframe_from_parsed_json
    )
    guard_scoring_server()
    guard_scoring_server()  # installed once
    ok = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, None]]}}
    assert scoring_server.infer_and_parse_data(ok).shape == (2, 2)
    short = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}
    with pytest.raises(ScoringInputError, match="row 1 of 'data' has 1 value"):
        scoring_server.infer_and_parse_data(short)
    ragged = {"dataframe_split": {"data": [[1, 2], [3, 4], [5, 6, 7]]}}
    with pytest.raises(ScoringInputError, match="row 2 of 'data' has 3 value.*row 0 has 2"):
        scoring_server.infer_and_parse_data(ragged)
    twice = {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}
    with pytest.raises(ScoringInputError, match=r"\['a'\] appear more than once"):
        scoring_server.infer_and_parse_data(twice)


def kill_9(proc: subprocess.Popen, port: int) -> None:
    """SIGKILL to the fraudgan process alone: its server must not outlive it."""
    children = descendants(proc.pid)
    assert len(children) >= 2, "a server and its own child (mlflow, then uvicorn)"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert_stopped(children, port, "kill -9")


# A server like `mlflow models serve`: a process that starts another (uvicorn) which holds the
# port, and ignores the death of its parent.
FAKE_SERVER = """
import pathlib, socket, subprocess, sys, time
port, role, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if role == "mlflow":
    subprocess.Popen([sys.executable, __file__, str(port), "uvicorn", ready])
else:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    pathlib.Path(ready).write_text("up")
while True:
    time.sleep(1)
"""


def test_kill_9_of_a_server_runner_stops_its_server_and_frees_the_port(tmp_path):
    script, ready, port = tmp_path / "server.py", tmp_path / "ready", free_port()
    script.write_text(FAKE_SERVER)
    code = (
        "import sys; from pipeline.servers import child_env, run_server; "
        f"run_server([sys.executable, {str(script)!r}, '{port}', 'mlflow', {str(ready)!r}], "
        "child_env(), 'fake server')"
    )
    with (tmp_path / "runner.log").open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, (tmp_path / "runner.log").read_text()
            assert time.monotonic() < deadline, "the fake server did not start"
            time.sleep(0.1)
        assert not port_is_free(port)
        kill_9(proc, port)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_and_ui_on_a_busy_port_say_so_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args in (["serve", "--model", str(model)], ["ui"]):
            result = CliRunner().invoke(app, [*args, "--port", str(port)])
            assert result.exit_code == 2, result.output
            lines = [x for x in result.output.splitlines() if x.strip()]
            assert len(lines) == 1 and f"error: port {port} is in use" in lines[0], result.output


@pytest.mark.slow
def test_kill_9_of_fraudgan_serve_stops_mlflow_and_uvicorn(server, tmp_path):
    port = free_port()
    env = child_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    log_path = tmp_path / "serve.log"
    proc = fraudgan(
        "serve", "--model", str(server.model_dir), "--port", str(port),
        cwd=tmp_path, env=env, log_path=log_path,
    )  # fmt: skip
    try:
        wait_until_up(proc, port, log_path)
        kill_9(proc, port)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_stops_fraudgan_serve_its_children_and_frees_the_port(server):
    """The last test of the module: it stops the server."""
    stop_with_sigterm(server.proc, server.port)


@pytest.mark.slow
def test_sigterm_stops_fraudgan_ui_too(tmp_path):
    port = free_port()
    env = child_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    proc = fraudgan("ui", "--port", str(port), cwd=tmp_path, env=env, log_path=tmp_path / "ui.log")
    try:
        wait_until_up(proc, port, tmp_path / "ui.log", "/health")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=REQUEST_SECONDS) as r:
            assert "mlflow.workflowType_v1" in r.read().decode()  # opens in model training
        stop_with_sigterm(proc, port)
    finally:
        if proc.poll() is None:
            proc.kill()
