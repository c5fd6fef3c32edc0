"""Headless-Chromium check of the MLflow UI as `fraudgan ui` serves it (issue 22, item 11).

A tiny launch goes into a temporary store; `fraudgan ui` starts on a free loopback port; Chromium
(Debian's `chromium`, driven over the DevTools protocol on a pipe: no downloads, no packages)
opens the link `fraudgan ui` prints, clicks a summary run's name in the run list as a user would,
and checks that the run page is in MLflow's model-training view (side bar Runs / Models /
Traces / Model registry, breadcrumb "Runs"), not the GenAI one (Judges, Evaluation runs,
Prompts; breadcrumb "Evaluations"). It also checks the summary run's "Model metrics" tab opens on
the headline section, that the parent's description links the figure with error bars in the
model-training view, that the exported model's page shows its description and a readable
versions list, and, as a control that the check can fail, that the same click on a plain
`mlflow server` of the same store lands in the GenAI view. Then a second tiny launch tracks to
the running server over http:// (`MLFLOW_TRACKING_URI=http://127.0.0.1:PORT`) and `compare
--latest` reads it back.

    .venv/bin/python benchmarks/ui_check.py [--chromium chromium] [--shots /tmp/ui-check]

Screenshots go to --shots (not committed); the result to benchmarks/results/ui_check.json.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "ui_check.json"
LAUNCH = [
    "experiments/quick.yaml",
    "--set",
    "data.rows=3000",
    "--set",
    "data.fraud_rate=0.03",
    "--set",
    "classifier.n_estimators=15",
    "--set",
    "strategies=[none, class_weight]",
]
CLICKED = "class_weight-summary"  # the summary run the check opens from the run list
GENAI_WORDS = ("Judges", "Evaluation runs", "Prompts & versions")
TRAINING_WORDS = ("Model registry",)


class Chromium:
    """Chromium headless, driven over the DevTools protocol on `--remote-debugging-pipe`:
    JSON messages ending in a NUL byte on file descriptors 3 (to Chromium) and 4 (from it)."""

    def __init__(self, binary: str, profile: str, width: int = 1400, height: int = 1000) -> None:
        to_chrome, from_chrome = os.pipe(), os.pipe()

        def on_fds_3_and_4() -> None:
            a, b = os.dup(to_chrome[0]), os.dup(from_chrome[1])
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=tuple({3, 4, to_chrome[0], from_chrome[1]}),
            preexec_fn=on_fds_3_and_4,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome[0])
        os.close(from_chrome[1])
        self.out, self.inp = to_chrome[1], from_chrome[0]
        self.buffer = b""
        self.last_id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)

    def send(self, method: str, params: dict | None = None, *, session: bool = False) -> dict:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method}")
            self.buffer += os.read(self.inp, 1 << 20)
            *complete, self.buffer = self.buffer.split(b"\0")
            for raw in complete:
                answer = json.loads(raw)
                if answer.get("id") == self.last_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.5)
        raise TimeoutError(f"not true after {seconds} s: {expression}")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, session=True)

    def click_link(self, text: str) -> None:
        """A left click at the middle of the link showing `text`, as a mouse would."""
        x, y = self.wait_for(
            "(() => { const a = Array.from(document.querySelectorAll('a')).find("
            f"a => a.innerText.trim() === {json.dumps(text)}); if (!a) return null; "
            "const r = a.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
                session=True,
            )

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def view_of(page: Chromium) -> dict[str, Any]:
    """Which MLflow view the page shows: its side bar's words and its breadcrumb."""
    text = page.js("document.body.innerText") or ""
    crumbs = page.js(
        "Array.from(document.querySelectorAll('nav a, [class*=breadcrumb] a, ol a'))"
        ".map(a => a.innerText.trim()).filter(Boolean)"
    )
    genai = [w for w in GENAI_WORDS if w in text]
    training = [w for w in TRAINING_WORDS if w in text]
    return {
        "url": page.js("location.href"),
        "genai_words": genai,
        "training_words": training,
        "breadcrumb": crumbs,
        "view": "model training" if training and not genai else "genai" if genai else "unknown",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_up(port: int, proc: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r,
        ):
            if r.status == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"server on {port} not up:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def fraudgan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def open_and_click(page: Chromium, link: str, shots: Path, stem: str) -> dict[str, Any]:
    """Open the printed link, click the summary run, and describe both pages' views."""
    page.goto(link)
    page.wait_for(
        f"Array.from(document.querySelectorAll('a')).some(a => a.innerText.trim() === "
        f"{json.dumps(CLICKED)})"
    )
    time.sleep(1)
    listing = view_of(page)
    page.screenshot(shots / f"{stem}-list.png")
    page.click_link(CLICKED)
    page.wait_for("/\\/runs\\/[0-9a-f]{32}/.test(location.href)")
    page.wait_for(f"document.body.innerText.includes({json.dumps(CLICKED)})")
    time.sleep(3)
    run = view_of(page)
    page.screenshot(shots / f"{stem}-run.png")
    return {"list": listing, "run": run}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--shots", type=Path, default=Path(tempfile.gettempdir()) / "ui-check")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fraudgan-ui-check-"))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": uri,
        "OMP_NUM_THREADS": "2",
        "COLUMNS": "400",
    }
    checks: dict[str, Any] = {}
    processes: list[subprocess.Popen] = []
    page: Chromium | None = None
    started = time.time()
    try:
        launch = fraudgan("run", *LAUNCH, env=env)
        assert launch.returncode == 0, launch.stdout + launch.stderr
        parent_id = re.search(r"parent run: ([0-9a-f]{32})", launch.stdout).group(1)

        port = free_port()
        ui = start(
            [sys.executable, "-m", "pipeline.cli", "ui", "--port", str(port)], env, work / "ui.log"
        )
        processes.append(ui)
        wait_up(port, ui, work / "ui.log")
        printed = (work / "ui.log").read_text()
        link = re.search(r"latest launch, its strategies best first: (\S+)", printed).group(1)
        checks["printed_link"] = link

        page = Chromium(args.chromium, str(work / "profile"))
        clicked = open_and_click(page, link, args.shots, "fraudgan-ui")
        checks["fraudgan_ui"] = clicked
        checks["list_in_model_training_view"] = clicked["list"]["view"] == "model training"
        checks["clicked_summary_run_in_model_training_view"] = (
            clicked["run"]["view"] == "model training"
            and "Evaluations" not in clicked["run"]["breadcrumb"]
        )

        # the summary run's "Model metrics" tab: the first section is the headline
        page.goto(clicked["run"]["url"].split("?")[0] + "/model-metrics")
        first = page.wait_for(
            "(() => { const t = document.body.innerText; const m = t.match("
            "/\\n([^\\n]+)\\n\\((\\d+)\\)\\n/); return m ? m[1] : null; })()"
        )
        page.screenshot(args.shots / "fraudgan-ui-model-metrics.png")
        checks["model_metrics_first_section"] = first
        checks["model_metrics_open_on_the_headline"] = first == "AUPRC"

        # the parent's description links the figure with error bars, in the model-training view
        from mlflow import MlflowClient

        os.environ["MLFLOW_TRACKING_URI"] = uri
        description = MlflowClient(uri).get_run(parent_id).data.tags["mlflow.note.content"]
        figure = next(u for u in re.findall(r"\]\(([^)]+)\)", description) if "metrics.png" in u)
        page.goto(f"http://127.0.0.1:{port}{figure}")
        page.wait_for("document.body.innerText.includes('metrics.png')")
        time.sleep(3)
        shown = view_of(page)
        page.screenshot(args.shots / "fraudgan-ui-figure.png")
        checks["description_figure_link"] = figure
        checks["figure_link_in_model_training_view"] = shown["view"] == "model training"

        # the registered model and its versions list: a description, a plain first line
        exported = fraudgan("export", "--latest", env=env)
        checks["export_exit_code"] = exported.returncode
        page.goto(f"http://127.0.0.1:{port}/#/models/fraud-detector?workflowType=machine_learning")
        page.wait_for("document.body.innerText.includes('Version 1')")
        time.sleep(2)
        text = page.js("document.body.innerText")
        page.screenshot(args.shots / "fraudgan-ui-model.png")
        strategy = re.search(r"exported '([^']+)'", exported.stdout)
        first_line = f"{strategy.group(1) if strategy else '?'}: AUPRC "
        checks["model_page_text"] = text[:1500]
        checks["model_described_and_versions_readable"] = (
            exported.returncode == 0
            and "Fraud scorer exported by fraudgan" in text
            and first_line in text
            and "**Strategy" not in text
        )
        page.close()
        page = None

        # control: MLflow's own server, a fresh browser: the same click lands in GenAI
        plain_port = free_port()
        plain = start(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
             "--host", "127.0.0.1", "--port", str(plain_port), "--workers", "1"],
            {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            work / "plain.log",
        )  # fmt: skip
        processes.append(plain)
        wait_up(plain_port, plain, work / "plain.log")
        page = Chromium(args.chromium, str(work / "profile-plain"))
        control = open_and_click(
            page, link.replace(f":{port}/", f":{plain_port}/"), args.shots, "plain-mlflow"
        )
        checks["control_plain_mlflow_server"] = control
        checks["control_click_lands_in_genai"] = control["run"]["view"] == "genai"
        page.close()
        page = None
        stop(plain)

        # item 6: a launch tracked to the running server over http://, read back by compare
        http_env = {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        over_http = fraudgan("run", *LAUNCH, env=http_env)
        compared = fraudgan("compare", "--latest", env=http_env)
        checks["http_launch_exit_code"] = over_http.returncode
        checks["http_compare_exit_code"] = compared.returncode
        checks["http_tracking_server_works"] = (
            over_http.returncode == 0
            and compared.returncode == 0
            and "finished children" in compared.stdout
        )
        if not checks["http_tracking_server_works"]:
            checks["http_output"] = (over_http.stderr + compared.stderr)[-2000:]
    finally:
        if page is not None:
            page.close()
        for proc in processes:
            stop(proc)
    verdicts = [k for k, v in checks.items() if isinstance(v, bool)]
    passed = all(checks[k] for k in verdicts)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    chromium = subprocess.run([args.chromium, "--version"], capture_output=True, text=True)
    import mlflow

    result = {
        "command": "python benchmarks/ui_check.py",
        "commit": commit,
        "passed": passed,
        "checks_passed": {k: checks[k] for k in verdicts},
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "details": checks,
        "chromium": chromium.stdout.strip(),
        "mlflow": mlflow.__version__,
        "seconds": round(time.time() - started, 1),
        "screenshots": f"{args.shots} (not committed)",
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["checks_passed"], indent=2))
    print(("PASS" if passed else "FAIL") + f": {RESULT}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
