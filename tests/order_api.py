"""A real HTTP order-lookup service, as a shop's own system would answer an intent's action.

``GET /orders/AB1234`` finds the order; an unknown number is a 404; ``SL0000`` answers only
after ``slow_s`` (past any sensible timeout); ``TR0000`` sends its answer a byte at a time;
``ER5000`` fails with a 500. Every request is kept.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chatbot.knowledge.actions import IntentAction, action_from_json

ORDERS = {"AB1234": {"state": "shipped", "carrier": "DHL", "items": 2}}
SLOW = "SL0000"
FAILING = "ER5000"
TRICKLING = "TR0000"  # a byte every 0.1 s: each wait is short, the whole answer is not
TOKEN = "s3cr3t-order-token"


@dataclass
class OrderApi:
    url: str
    slow_s: float = 3.0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@contextmanager
def order_api(slow_s: float = 3.0) -> Iterator[OrderApi]:
    """The service on a free 127.0.0.1 port until the block ends."""
    api: OrderApi
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            api.requests.append(("GET", self.path, headers))
            number = self.path.rsplit("/", 1)[-1]
            if headers.get("authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"detail": "who are you?"})
            elif number == SLOW:
                stop.wait(api.slow_s)
                self._answer(200, ORDERS["AB1234"])
            elif number == TRICKLING:
                self._trickle(ORDERS["AB1234"])
            elif number == FAILING:
                self._answer(500, {"detail": "database down"})
            elif number in ORDERS:
                self._answer(200, ORDERS[number])
            else:
                self._answer(404, {"detail": "no such order"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the caller gave up waiting (the slow order)

        def _trickle(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for position in range(len(data)):
                    if stop.wait(0.1):
                        return
                    self.wfile.write(data[position : position + 1])
                    self.wfile.flush()
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api = OrderApi(f"http://127.0.0.1:{server.server_port}", slow_s)
    thread = threading.Thread(target=server.serve_forever, name="order-api", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def order_lookup(base_url: str, timeout_s: float = 0.5) -> dict[str, Any]:
    """The order-lookup action (JSON, as a knowledge base file holds it) against ``base_url``."""
    return {
        "slots": [
            {
                "name": "order_number",
                "prompt": {"en": "What is your order number?", "zh": "请问您的订单号是多少？"},
                "validator": {"regex": "[A-Z]{2}[0-9]{4}"},
                "invalid": {"en": "Order numbers look like AB1234."},
            }
        ],
        "call": {
            "method": "GET",
            "url": base_url + "/orders/{order_number}",
            "headers": {"Authorization": "Bearer {secret:ORDERS_TOKEN}"},
            "timeout_s": timeout_s,
        },
        "answer": {
            "en": "{% if found %}Order {{ slots.order_number }} is **{{ response.state }}** "
            "({{ response.carrier }}).{% else %}I can't find order {{ slots.order_number }}."
            "{% endif %}",
            "zh": "{% if found %}订单 {{ slots.order_number }} 状态：{{ response.state }}"
            "{% else %}没有找到订单 {{ slots.order_number }}。{% endif %}",
        },
    }


def order_action(base_url: str, timeout_s: float = 0.5) -> IntentAction:
    return action_from_json(order_lookup(base_url, timeout_s))
