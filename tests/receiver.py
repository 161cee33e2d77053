"""A real HTTP server that receives webhook deliveries, as a company's system would."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What arrived, in order; ``answers`` are the status codes to give, one per request (200
    once they run out)."""

    url: str
    answers: list[int] = field(default_factory=list)
    # While cleared, every request waits (up to a minute) before it is answered: a slow receiver.
    answering: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 30.0
    ) -> list[Received]:
        """The requests once ``predicate`` holds for them; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                seen = list(self.requests)
            if predicate(seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"not received within {timeout} s; got {len(seen)} request(s)")


@contextmanager
def receiving(answers: list[int] | None = None) -> Iterator[Receiver]:
    """A receiver on a free 127.0.0.1 port until the block ends."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append(Received(self.path, headers, body))
                code = receiver.answers.pop(0) if receiver.answers else 200
            receiver.answering.wait(60)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_port}/hooks", list(answers or []))
    receiver.answering.set()
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.answering.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def documented_verify() -> Callable[..., bool]:
    """The verification snippet of README.md's Webhooks section, as a receiver would paste it."""
    section = README.read_text(encoding="utf-8").split("### Webhooks", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet, "README.md's Webhooks section has no Python snippet"
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify
