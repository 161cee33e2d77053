"""`chatbot serve` as an operator runs it: a process of its own that answers its probes and stops
cleanly when told to."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client

from chatbot.nlu.encoder import PACKAGED_WEIGHTS_SHA256

STARTUP_TIMEOUT_S = 240  # imports and the model's first load, on a busy 2-core machine
READY_LINE = "Application startup complete."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerLog:
    """The server's output, read line by line on a thread of its own so that waits can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        self._stream = process.stdout

        def read() -> None:
            for line in self._stream:
                self._queue.put(line)
            self._queue.put(None)  # the process closed its output: it has ended

        self._reader = threading.Thread(target=read, name="server-log", daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {text!r} within {timeout} s; the log so far:\n{self.text}")
            if line is None:
                pytest.fail(f"the server ended before {text!r}; its log:\n{self.text}")
            self.lines.append(line)
            if text in line:
                return

    def rest(self) -> str:
        while (line := self._queue.get(timeout=30)) is not None:
            self.lines.append(line)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def close(self) -> None:
        self._reader.join(timeout=30)  # the process has ended: its output is at its end
        self._stream.close()


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], ServerLog]]:
    port = free_port()
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": db_url,
        "CHATBOT_DATA_DIR": str(tmp_path / "data"),
        "CHATBOT_TORCH_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "chatbot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = ServerLog(process)
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        log.close()


@pytest.mark.model
def test_serve_answers_its_probes_and_stops_on_sigterm(
    server: tuple[str, subprocess.Popen[str], ServerLog],
) -> None:
    url, process, log = server
    log.wait_for(READY_LINE, STARTUP_TIMEOUT_S)

    health = httpx.get(f"{url}/healthz", timeout=30)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = httpx.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["status"], body["database"]) == ("ready", "ok")
    assert body["model"] == f"base-{PACKAGED_WEIGHTS_SHA256[:12]}"  # the packaged model, loaded

    # WebSocket frames past 64 KiB are refused by the server itself (1009: message too big).
    ws_url = url.replace("http://", "ws://") + "/api/v1/conversations/x/ws"
    with websockets.sync.client.connect(ws_url, max_size=None) as socket:
        socket.send("x" * 100_000)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            socket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    process.send_signal(signal.SIGTERM)  # what `docker stop` and systemd send
    # uvicorn shuts down gracefully, then exits by the signal it caught (0 before uvicorn 0.29).
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    output = log.rest()
    assert "Application shutdown complete." in output  # the app's lifespan ran its shutdown
    assert "Finished server process" in output
