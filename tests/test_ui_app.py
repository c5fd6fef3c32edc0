"""`fraudgan ui` serves MLflow's app opening in the model-training view (see pipeline.ui_app)."""

from __future__ import annotations

import asyncio
import importlib.metadata

from pipeline.servers import mlflow_ui_command
from pipeline.ui_app import (
    APP_NAME,
    DEFAULT_VIEW_SCRIPT,
    DefaultViewMiddleware,
    plugin_path,
    with_default_view,
)

PAGE = b"<!doctype html><html><head><title>MLflow</title></head><body></body></html>"


def test_the_page_chooses_model_training_unless_the_browser_chose_already():
    page = with_default_view(PAGE)
    assert page.startswith(b"<!doctype html><html><head><script>")
    assert page.endswith(b"<title>MLflow</title></head><body></body></html>")
    script = DEFAULT_VIEW_SCRIPT
    # the key and the JSON value MLflow 3's `useLocalStorage` reads, set only when unset
    assert 'localStorage.getItem("mlflow.workflowType_v1")===null' in script
    assert 'setItem("mlflow.workflowType_v1","\\"machine_learning\\"")' in script
    assert with_default_view(b"{}") == b"{}"


def serve(app, path: str) -> tuple[dict, bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "path": path}, receive, send))
    start = sent[0]
    return dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


async def mlflow_like(scope, receive, send) -> None:
    html = scope["path"] == "/"
    body = PAGE if html else b'{"ok": true}'
    kind = b"text/html; charset=utf-8" if html else b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body[:10], "more_body": True})
    await send({"type": "http.response.body", "body": body[10:], "more_body": False})


def test_the_middleware_changes_the_html_page_only():
    app = DefaultViewMiddleware(mlflow_like)
    headers, body = serve(app, "/")
    assert body == with_default_view(PAGE)
    assert headers[b"content-length"] == str(len(body)).encode()
    headers, body = serve(app, "/ajax-api/2.0/mlflow/experiments/search")
    assert body == b'{"ok": true}'


def test_the_app_is_declared_to_mlflow_by_a_folder_on_the_servers_path(tmp_path, monkeypatch):
    folder = plugin_path(tmp_path)
    found = [
        (ep.name, ep.value)
        for dist in importlib.metadata.distributions(path=[str(folder)])
        for ep in dist.entry_points
        if ep.group == "mlflow.app"
    ]
    assert found == [(APP_NAME, "pipeline.ui_app:app")]
    monkeypatch.syspath_prepend(str(folder))
    from mlflow.server import _find_app

    assert _find_app(APP_NAME) == "pipeline.ui_app:app"
    cmd, env = mlflow_ui_command("sqlite:///x.db", 5123, folder)
    assert cmd[cmd.index("--app-name") + 1] == APP_NAME
    assert env["PYTHONPATH"].split(":")[0] == str(folder)


def test_the_app_is_mlflows_own_behind_the_middleware():
    from mlflow.server.fastapi_app import app as mlflow_app

    import pipeline.ui_app as ui_app

    assert isinstance(ui_app.app, DefaultViewMiddleware) and ui_app.app.app is mlflow_app
