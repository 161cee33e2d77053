"""Two replicas of the app on one database and one Redis: a customer on one hears the staff member
on the other, an activation on one is followed by both, and training goes to the worker queue.

Both run in this process (two apps, two event loops, two Redis connections); what they share
goes through Redis and the database only, as between machines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rq import Queue

import chatbot.main
from chatbot import jobs
from chatbot.config import Settings
from chatbot.db.model_versions import activate, get_version, register_version
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.events import BackendUnavailable
from chatbot.jobs import queue_name
from chatbot.main import create_app
from tests.api.conftest import (
    ADMIN_EMAIL,
    KNOWLEDGE,
    STAFF_EMAIL,
    add_account,
    start_conversation,
    store_knowledge,
)
from tests.api.test_chat import say
from tests.fakes import HashingEncoder

ASK_FOR_A_PERSON = "I want to speak to a human"
OTHER_VERSION = "base-other"


def replica_settings(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str, **overrides: object
) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        rate_limits_enabled=False,  # counts in Redis would outlive the test
        **overrides,  # type: ignore[arg-type]
    )


def two_replicas(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    first = create_app(settings, encoder=HashingEncoder())
    second = create_app(settings, encoder=HashingEncoder())
    with TestClient(first) as a, TestClient(second) as b:
        yield a, b


@pytest.fixture
def replicas(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, TestClient]]:
    # Jobs wait in Redis for a `chatbot worker`, on CHATBOT_TEST_BACKEND=postgres too (whose apps
    # otherwise get a worker thread of their own: tests/backends.py).
    monkeypatch.setattr(chatbot.main, "make_job_runner", jobs.make_job_runner)
    # No periodic check to speak of: what follows an activation here is the event.
    store_knowledge(db_url, KNOWLEDGE)
    settings = replica_settings(db_url, tmp_path, redis_url, redis_prefix, model_check_seconds=600)
    yield from two_replicas(settings)


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def register_other_version(db_url: str) -> None:
    """A second servable version (a base-kind row: it needs no files of its own)."""
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            register_version(
                session, version=OTHER_VERSION, kind="base", base_model="hashing", status="ready"
            )
    finally:
        engine.dispose()


def serving(client: TestClient) -> str:
    version: str = client.app.state.manager.engine.version  # type: ignore[attr-defined]
    return version


def test_a_customer_on_one_replica_hears_staff_on_the_other(
    replicas: tuple[TestClient, TestClient], db_url: str
) -> None:
    a, b = replicas
    customer = start_conversation(a)
    say(a, customer, ASK_FOR_A_PERSON)
    staff_token = {"Authorization": f"Bearer {add_account(db_url, STAFF_EMAIL, 'staff')}"}

    with a.websocket_connect(f"/api/v1/conversations/{customer.id}/ws") as widget:
        widget.send_json({"token": customer.token})
        # Its own typing comes back through Redis: the socket's subscription is in place.
        widget.send_json({"typing": True})
        assert widget.receive_json() == {"type": "typing", "role": "customer", "typing": True}

        staff = f"/api/v1/staff/conversations/{customer.id}"
        assert b.post(f"{staff}/claim", headers=staff_token).status_code == 200
        assert widget.receive_json() == {"type": "status", "status": "with_staff", "agent": "sam"}
        sent = b.post(f"{staff}/reply", json={"text": "Hello from B"}, headers=staff_token)
        assert sent.status_code == 200, sent.text
        event = widget.receive_json()
        assert event["type"] == "message"
        assert (event["message"]["id"], event["message"]["text"]) == (
            sent.json()["id"],
            "Hello from B",
        )


def test_an_activation_on_one_replica_is_followed_by_both(
    replicas: tuple[TestClient, TestClient], db_url: str
) -> None:
    a, b = replicas
    register_other_version(db_url)
    base = serving(a)
    assert serving(b) == base
    admin = {"Authorization": f"Bearer {add_account(db_url, ADMIN_EMAIL, 'admin')}"}

    response = a.post(f"/api/v1/admin/models/{OTHER_VERSION}/activate", headers=admin)
    assert response.status_code == 200, response.text
    # The periodic check is ten minutes away: the event did this, without any message sent.
    assert eventually(lambda: serving(a) == serving(b) == OTHER_VERSION), (serving(a), serving(b))


def test_without_the_event_the_periodic_check_follows_within_seconds(
    db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    register_other_version(db_url)
    settings = replica_settings(db_url, tmp_path, redis_url, redis_prefix, model_check_seconds=0.2)
    pair = two_replicas(settings)
    a, b = next(pair)
    try:
        engine = make_engine(db_url)
        try:  # activated behind the replicas' backs (a script, another deployment's CLI)
            with transaction(make_session_factory(engine)) as session:
                row = get_version(session, OTHER_VERSION)
                assert row is not None
                activate(session, row)
        finally:
            engine.dispose()
        assert eventually(lambda: serving(a) == serving(b) == OTHER_VERSION)
    finally:
        pair.close()


def test_training_started_on_a_replica_is_queued_for_a_worker_and_seen_from_both(
    replicas: tuple[TestClient, TestClient], db_url: str, redis_prefix: str
) -> None:
    a, b = replicas
    admin = {"Authorization": f"Bearer {add_account(db_url, ADMIN_EMAIL, 'admin')}"}
    response = a.post("/api/v1/admin/training", json={"epochs": 1}, headers=admin)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]

    queue = Queue(queue_name(redis_prefix), connection=a.app.state.jobs.connection)  # type: ignore[attr-defined]
    (job,) = queue.get_jobs()
    assert job.args == ("chatbot.worker:training", {"run_id": run_id})
    # Nothing ran it here: it waits for `chatbot worker` (tests/test_worker.py runs one).
    for replica in (a, b):
        run = replica.get(f"/api/v1/admin/training/{run_id}", headers=admin).json()
        assert run["status"] == "queued"
    cancelled = b.post(f"/api/v1/admin/training/{run_id}/cancel", headers=admin).json()
    assert cancelled["status"] == "cancelled"
    queue.empty()


def test_an_unreachable_redis_stops_the_start_with_a_clear_message(
    db_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, encoder=HashingEncoder())
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"cannot reach Redis at redis://127.0.0.1:1/0"):
        TestClient(app).__enter__()
    assert time.monotonic() - started < 15
