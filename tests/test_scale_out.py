"""The scaled-out set-up as real processes: two `chatbot serve` replicas on different ports sharing
PostgreSQL, Redis and one model store, plus one `chatbot worker`.

It checks what several replicas must get right together: a customer's WebSocket on one replica
receives a staff reply sent through the other; a training run started on one is run by the worker,
its progress visible from both; the version it activates is followed by both, and so is an
activation made through either; concurrent sends to one conversation through both replicas get
exactly one reply each, in the order of the messages they answer.

The base model is a tiny random-weight BERT written by the test (CHATBOT_BASE_MODEL), so the
processes load and train in seconds; what is under test is the plumbing, not the answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from chatbot.db.models import Message, Role, TrainingRun
from chatbot.db.session import make_engine, make_session_factory
from chatbot.knowledge.spec import IntentSpec
from tests.api.conftest import ADMIN_EMAIL, STAFF_EMAIL, add_account, store_knowledge
from tests.factories import tiny_bert
from tests.servers import free_port

REPO = Path(__file__).resolve().parent.parent
KNOWLEDGE = [
    IntentSpec(
        "opening_hours",
        "We are open 9 to 5.",
        ("when are you open", "what are your opening hours", "are you open today", "hours"),
    ),
    IntentSpec(
        "track_order",
        "Track it from your account.",
        ("where is my order", "track my order", "my parcel has not arrived", "order status"),
    ),
    IntentSpec(
        "refund",
        "Refunds take 5 days.",
        ("i want a refund", "how do refunds work", "money back please", "refund status"),
    ),
    IntentSpec(
        "delivery_cost",
        "Delivery is free over 50.",
        ("how much is delivery", "shipping cost", "is delivery free", "delivery price"),
    ),
]
pytestmark = pytest.mark.postgres


@dataclass
class Deployment:
    database_url: str
    replicas: list[str]  # base URLs
    processes: dict[str, subprocess.Popen[bytes]]
    admin: dict[str, str]
    staff: dict[str, str]

    def get(self, replica: int, path: str, **kwargs: Any) -> Any:
        response = httpx.get(self.replicas[replica] + path, timeout=30, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, replica: int, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.replicas[replica] + path, timeout=60, **kwargs)

    def serving(self, replica: int) -> str:
        model: str = self.get(replica, "/readyz")["model"]
        return model


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "chatbot.cli", *command],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def deployment(
    postgres_schema_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Deployment]:
    store_knowledge(postgres_schema_url, KNOWLEDGE)
    admin = {"Authorization": f"Bearer {add_account(postgres_schema_url, ADMIN_EMAIL, 'admin')}"}
    staff = {"Authorization": f"Bearer {add_account(postgres_schema_url, STAFF_EMAIL)}"}
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": postgres_schema_url,
        "CHATBOT_REDIS_URL": redis_url,
        "CHATBOT_REDIS_PREFIX": redis_prefix,
        "CHATBOT_DATA_DIR": str(tmp_path / "model-store"),
        "CHATBOT_BASE_MODEL": str(tiny_bert(tmp_path / "tiny-bert", KNOWLEDGE, ("hello", "sam"))),
        "CHATBOT_DEVICE": "cpu",
        "CHATBOT_TORCH_THREADS": "1",
        "CHATBOT_RATE_LIMITS_ENABLED": "false",  # counts in Redis would outlive the test
        "CHATBOT_FALLBACKS_BEFORE_HANDOFF": "1000",  # every message gets a bot reply
        "CHATBOT_MODEL_CHECK_SECONDS": "600",  # activations must arrive as events
        "CHATBOT_JOB_HEARTBEAT_SECONDS": "1",
    }
    ports = [free_port(), free_port()]
    processes = {
        f"app-{n}": start(
            ["serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / f"app-{n}.log"
        )
        for n, port in enumerate(ports)
    }
    processes["worker"] = start(["worker"], env, tmp_path / "worker.log")
    replicas = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in replicas:
            eventually(lambda url=url: ready(url), 180, f"{url} to be ready")  # type: ignore[misc]
        yield Deployment(postgres_schema_url, replicas, processes, admin, staff)
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_two_replicas_and_a_worker_work_as_one(deployment: Deployment) -> None:
    d = deployment
    # -- a customer on replica 0 hears a staff member on replica 1
    created = d.post(0, "/api/v1/conversations").json()
    conversation, token = created["id"], created["token"]
    customer = {"Authorization": f"Bearer {token}"}
    ws_url = d.replicas[0].replace("http", "ws") + f"/api/v1/conversations/{conversation}/ws"
    with connect(ws_url, open_timeout=30) as widget:
        widget.send(json.dumps({"token": token}))
        widget.send(json.dumps({"typing": True}))  # comes back through Redis: subscribed
        assert json.loads(widget.recv(timeout=30))["type"] == "typing"
        staff_path = f"/api/v1/staff/conversations/{conversation}"
        assert d.post(1, f"{staff_path}/claim", headers=d.staff).status_code == 200
        sent = d.post(1, f"{staff_path}/reply", json={"text": "hello"}, headers=d.staff)
        assert sent.status_code == 200, sent.text
        events = [json.loads(widget.recv(timeout=30)) for _ in range(2)]
        assert events[0] == {"type": "status", "status": "with_staff", "agent": "sam"}
        assert events[1]["type"] == "message"
        assert (events[1]["message"]["id"], events[1]["message"]["text"]) == (
            sent.json()["id"],
            "hello",
        )
    assert d.post(1, f"{staff_path}/handback", headers=d.staff).status_code == 200

    # -- training started on replica 0 runs on the worker; both replicas show its progress
    base = d.serving(0)
    assert d.serving(1) == base
    started = d.post(
        0, "/api/v1/admin/training", json={"epochs": 1, "activate": True}, headers=d.admin
    )
    assert started.status_code == 202, started.text
    run_path = f"/api/v1/admin/training/{started.json()['id']}"
    seen_running: set[int] = set()

    def finished() -> bool:
        runs = [d.get(n, run_path, headers=d.admin) for n in (0, 1)]
        seen_running.update(n for n, run in enumerate(runs) if run["status"] == "running")
        assert not [run for run in runs if run["status"] in ("failed", "cancelled")], runs
        return all(run["status"] == "succeeded" for run in runs)

    eventually(finished, 300, "the training run to succeed")
    runs = [d.get(n, run_path, headers=d.admin) for n in (0, 1)]
    assert runs[0] == runs[1]
    assert runs[0]["progress"]["step"] == runs[0]["progress"]["total_steps"] > 0
    assert seen_running, "no replica ever showed the run running"
    trained = runs[0]["model_version"]
    engine = make_engine(d.database_url)
    with make_session_factory(engine)() as session:
        row = session.get(TrainingRun, runs[0]["id"])
        assert row is not None
        app_pids = {d.processes["app-0"].pid, d.processes["app-1"].pid}
        assert row.pid not in app_pids  # the worker's job process trained it

    # -- the version it activated is served by both, without a message sent to either
    eventually(lambda: d.serving(0) == d.serving(1) == trained, 60, "both to serve it")
    # -- and rolling back through replica 1 reaches replica 0 too
    assert d.post(1, f"/api/v1/admin/models/{base}/activate", headers=d.admin).status_code == 200
    eventually(lambda: d.serving(0) == d.serving(1) == base, 60, "both to roll back")

    # -- concurrent sends to one conversation through both replicas: one reply each
    texts = [f"when are you open {n}" for n in range(12)]

    def send(n: int) -> int:
        body = {"text": texts[n], "client_id": str(uuid.uuid4())}
        response = d.post(
            n % 2, f"/api/v1/conversations/{conversation}/messages", json=body, headers=customer
        )
        assert response.status_code == 200, response.text
        return int(response.json()["reply"]["id"])

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(send, range(len(texts))))
    assert len(set(replies)) == len(texts)
    with make_session_factory(engine)() as session:
        messages = session.scalars(
            select(Message).where(Message.conversation_id == conversation).order_by(Message.id)
        ).all()
    engine.dispose()
    sent_ids = {m.id for m in messages if m.role is Role.CUSTOMER and m.text in texts}
    bot = [m for m in messages if m.role is Role.BOT and m.reply_to_id in sent_ids]
    assert len(sent_ids) == len(texts)
    assert sorted(m.reply_to_id for m in bot) == sorted(sent_ids)  # exactly one reply each
    # ... in the order of the messages they answer, whichever replica answered
    assert [m.reply_to_id for m in sorted(bot, key=lambda m: m.id)] == sorted(sent_ids)
    assert all(m.id > m.reply_to_id for m in bot if m.reply_to_id is not None)
    assert sorted(replies) == sorted(m.id for m in bot)


def test_a_replica_stopping_tells_its_websockets_to_reconnect(db_url: str, tmp_path: Path) -> None:
    # A rolling restart: SIGTERM to one replica. Its sockets close with 1012 (service restart),
    # which the widget answers by reconnecting, through the proxy, to another replica.
    store_knowledge(db_url, KNOWLEDGE)
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": db_url,
        "CHATBOT_DATA_DIR": str(tmp_path),
        "CHATBOT_BASE_MODEL": str(tiny_bert(tmp_path / "tiny-bert", KNOWLEDGE, ("hello", "sam"))),
        "CHATBOT_DEVICE": "cpu",
        "CHATBOT_LOG_FORMAT": "json",
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "app.log"
    process = start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    try:
        eventually(lambda: ready(url), 180, "the replica to be ready")
        created = httpx.post(url + "/api/v1/conversations", timeout=30).json()
        ws_url = url.replace("http", "ws") + f"/api/v1/conversations/{created['id']}/ws"
        with connect(ws_url, open_timeout=30) as widget:
            widget.send(json.dumps({"token": created["token"]}))
            widget.send(json.dumps({"typing": True}))
            assert json.loads(widget.recv(timeout=30))["type"] == "typing"
            os.killpg(process.pid, signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                widget.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        # uvicorn raises the signal again once it has shut down cleanly
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # JSON log lines, the request's id on each line that belongs to a request.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "uvicorn.error" for line in lines)
    assert "Finished server process" in " ".join(str(line["message"]) for line in lines)
