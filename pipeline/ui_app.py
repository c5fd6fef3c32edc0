"""The web app `fraudgan ui` serves: MLflow's own tracking server, opening in its model-training
view.

MLflow 3's UI keeps one choice per browser between its "GenAI" and "Model training" views (the
`mlflow.workflowType_v1` entry of the page's local storage) and starts in GenAI. An address
can ask for a view (`workflowType=machine_learning`, which every link fraudgan builds carries:
`pipeline.tracking.ui_url`), but the UI's own links (a run's name in the run list) do not
carry it, so opening a run from the comparison switched to the GenAI pages (Evaluations,
Judges, Prompts). This app is MLflow's, with one addition to its HTML page: when the browser
has made no choice yet, the choice is "Model training". Switching to GenAI in the UI is kept.

`fraudgan ui` starts it as an MLflow server app (`mlflow server --app-name fraudgan-ui`): the
entry point is declared by a small package description written next to the server
(`plugin_path`), so nothing needs installing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

APP_NAME = "fraudgan-ui"
WORKFLOW_KEY = "mlflow.workflowType_v1"  # MLflow 3's local-storage key (`useLocalStorage`, v1)
MODEL_TRAINING = "machine_learning"
_KEY, _VALUE = json.dumps(WORKFLOW_KEY), json.dumps(json.dumps(MODEL_TRAINING))
DEFAULT_VIEW_SCRIPT = (
    f"<script>try{{if(localStorage.getItem({_KEY})===null)"
    f"localStorage.setItem({_KEY},{_VALUE})}}catch(e){{}}</script>"
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_default_view(html: bytes) -> bytes:
    """MLflow's HTML page with `DEFAULT_VIEW_SCRIPT` first in its head (unchanged if no head)."""
    marker = b"<head>"
    at = html.find(marker)
    if at < 0:
        return html
    at += len(marker)
    return html[:at] + DEFAULT_VIEW_SCRIPT.encode() + html[at:]


class DefaultViewMiddleware:
    """ASGI middleware: `with_default_view` applied to the HTML page served at `/`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("path") not in ("/", "/index.html"):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        body: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            content = b"".join(body)
            kind = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
            if kind.startswith(b"text/html"):
                content = with_default_view(content)
            headers.append((b"content-length", str(len(content)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": content, "more_body": False})

        await self.app(scope, receive, capture)


def plugin_path(folder: Path) -> Path:
    """Write into `folder` the package description that declares this app to MLflow (entry point
    `mlflow.app: fraudgan-ui`), and return `folder`: put it on the server's PYTHONPATH."""
    info = folder / "fraudgan_ui-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fraudgan-ui\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mlflow.app]\n{APP_NAME} = {__name__}:app\n")
    return folder


def __getattr__(name: str) -> Any:
    # `app` is built on first use: importing MLflow's server is slow and needs its environment
    if name == "app":
        from mlflow.server.fastapi_app import app as mlflow_app

        wrapped = DefaultViewMiddleware(mlflow_app)
        globals()["app"] = wrapped
        return wrapped
    raise AttributeError(name)
