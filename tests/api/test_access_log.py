"""Access log lines, as `chatbot serve` writes uvicorn's, never carry a customer's token."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chatbot.logs import configure
from tests.servers import free_port


@pytest.fixture
def served(app: FastAPI) -> Iterator[tuple[str, io.StringIO]]:
    """The app under uvicorn with `chatbot serve`'s logging: uvicorn's lines go to stderr."""
    loggers = [
        logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    ]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    configure("text")
    written = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)  # what would go to stderr
    port = free_port()
    config = uvicorn.Config(app, port=port, log_level="info", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}", written
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def test_no_access_log_line_carries_the_token(served: tuple[str, io.StringIO]) -> None:
    address, written = served
    http = httpx.Client(base_url=f"http://{address}")
    conversation = http.post("/api/v1/conversations").json()
    token, base = conversation["token"], f"/api/v1/conversations/{conversation['id']}"
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get(f"{base}/messages", headers=bearer).status_code == 200
    with connect(f"ws://{address}{base}/ws") as widget:  # as the widget does: the first frame
        widget.send(json.dumps({"token": token}))
        http.post(f"{base}/messages", json={"text": "hello"}, headers=bearer)
        assert json.loads(widget.recv(timeout=10))["type"] == "message"
    # An old client that still puts it in the URL is refused, and the log blanks it.
    with pytest.raises(InvalidStatus), connect(f"ws://{address}{base}/ws?token={token}"):
        pass
    http.get(f"{base}/messages?token={token}")
    http.close()
    time.sleep(0.2)  # the last lines are written after the responses

    log = written.getvalue()
    assert f'"GET {base}/messages HTTP/1.1" 200' in log
    assert f'"WebSocket {base}/ws" [accepted]' in log
    assert f"{base}/ws?token=[redacted]" in log
    assert f"{base}/messages?token=[redacted]" in log
    assert token not in log
