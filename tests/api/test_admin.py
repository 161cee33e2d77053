"""The admin API: who may use it, training runs over HTTP, and switching models under load.

Tests about access and refusals use the fake encoder; those that train or serve a fine-tuned
version use the real one, on a knowledge base of three one-phrasing intents (a step is quick).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import make_url

from chatbot.config import Settings
from chatbot.db.conversations import add_message, get_conversation
from chatbot.db.conversations import start_conversation as start_customer_conversation
from chatbot.db.model_versions import activate, active_version_name, get_version, register_version
from chatbot.db.models import Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.db.training_runs import create_run
from chatbot.main import create_app
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import Encoder
from tests.api.conftest import KNOWLEDGE, add_account, start_conversation, store_knowledge
from tests.factories import SINGLE, save_tuned_model
from tests.fakes import HashingEncoder

TOKEN = "cbt_test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
STAFF_TOKEN = "cbt_test-staff-token"
ENDPOINTS = [
    ("GET", "/api/v1/admin/training"),
    ("POST", "/api/v1/admin/training"),
    ("GET", "/api/v1/admin/training/1"),
    ("POST", "/api/v1/admin/training/1/cancel"),
    ("GET", "/api/v1/admin/models"),
    ("POST", "/api/v1/admin/models/base-x/activate"),
]
PROGRESS_KEYS = {"step", "total_steps", "epoch", "loss", "elapsed_seconds", "eta_seconds"}


def admin_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings of a database with an admin (API token TOKEN) and a staff member (STAFF_TOKEN)."""
    add_account(db_url, "ada@admin.example", "admin", token=TOKEN)
    add_account(db_url, "sam@staff.example", "staff", token=STAFF_TOKEN)
    return Settings(database_url=db_url, data_dir=tmp_path / "data")


@contextmanager
def client_for(settings: Settings, encoder: Encoder) -> Iterator[TestClient]:
    """A client of a started app (the lifespan has run: the manager is built)."""
    with TestClient(create_app(settings, encoder=encoder)) as client:
        yield client


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app with the fake encoder, a knowledge base and the admin API enabled."""
    store_knowledge(db_url, KNOWLEDGE)
    with client_for(admin_settings(db_url, tmp_path), HashingEncoder()) as client:
        yield client


@pytest.fixture
def model_client(
    db_url: str, tmp_path: Path, real_encoder: SentenceEncoder
) -> Iterator[TestClient]:
    """The app with the real encoder, which it trains from, and one-phrasing intents."""
    store_knowledge(db_url, SINGLE)
    with client_for(admin_settings(db_url, tmp_path), real_encoder) as client:
        yield client


@pytest.fixture(scope="module")
def tuned_model(real_encoder: SentenceEncoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fine-tuned version's directory, trained once for the tests that switch to one."""
    return save_tuned_model(real_encoder, tmp_path_factory.mktemp("tuned") / "ft-tuned")


def in_database(db_url: str, write: Callable[[Any], object]) -> None:
    """Write something and commit, as another process would."""
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            write(session)
    finally:
        engine.dispose()


def runs(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/admin/training", headers=ADMIN)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def models(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/admin/models", headers=ADMIN)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def wait_for_run(
    client: TestClient, run_id: int, done: Callable[[dict[str, Any]], bool], timeout: float = 180
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll the run until ``done``; returns it and every state seen on the way."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/admin/training/{run_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if done(seen[-1]):
            return seen[-1], seen
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not get there in {timeout} s: {seen[-1]}")


def finished(run: dict[str, Any]) -> bool:
    return run["status"] in ("succeeded", "failed", "cancelled")


def reply_version(client: TestClient, customer: Any, text: str) -> str:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply is not None and reply["action"] == "answer", reply
    version: str = reply["model_version"]
    return version


# Who may use it


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_wrong_token_is_refused(client: TestClient, method: str, path: str) -> None:
    for token in ("wrong", TOKEN + "x", TOKEN[:-1]):
        response = client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, json={}
        )
        assert response.status_code == 401, token
    assert runs(client) == []  # nothing was started


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_staff_members_token_is_refused(client: TestClient, method: str, path: str) -> None:
    headers = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs an admin account"
    assert runs(client) == []


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_missing_token_is_refused(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={})
    assert response.status_code in (401, 403)
    assert runs(client) == []


def test_the_customer_api_does_not_take_the_admin_token(client: TestClient) -> None:
    response = client.get("/api/v1/conversations/nope/messages", headers=ADMIN)
    assert response.status_code == 404


# Model versions


def test_the_base_model_is_listed_as_the_active_version(client: TestClient) -> None:
    listed = models(client)
    assert [(m["version"], m["kind"], m["status"], m["active"]) for m in listed] == [
        (f"base-{HashingEncoder.weights_sha256[:12]}", "base", "ready", True)
    ]
    assert listed[0]["activated_at"] is not None


def test_activating_an_unknown_version_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/admin/models/ft-nope/activate", headers=ADMIN)
    assert response.status_code == 404
    assert "ft-nope" in response.json()["detail"]
    assert [m["active"] for m in models(client)] == [True]


def test_a_version_that_is_not_ready_cannot_be_activated(client: TestClient, db_url: str) -> None:
    in_database(
        db_url,
        lambda session: register_version(
            session, version="ft-half", kind="fine-tuned", base_model="x", status="training"
        ),
    )
    response = client.post("/api/v1/admin/models/ft-half/activate", headers=ADMIN)
    assert response.status_code == 409
    assert "ft-half' is training" in response.json()["detail"]
    assert [(m["version"], m["active"]) for m in models(client)][1] == ("ft-half", False)


# Refusing to train


def test_training_on_an_empty_knowledge_base_is_422(db_url: str, tmp_path: Path) -> None:
    with client_for(admin_settings(db_url, tmp_path), HashingEncoder()) as client:
        response = client.post("/api/v1/admin/training", json={}, headers=ADMIN)
        assert response.status_code == 422
        assert "the knowledge base is empty" in response.json()["detail"]
        assert runs(client) == []


def test_a_second_run_is_409_while_one_is_active(client: TestClient, db_url: str) -> None:
    in_database(db_url, lambda session: create_run(session, config={}, device="cpu"))
    (queued,) = runs(client)
    response = client.post("/api/v1/admin/training", json={"epochs": 1}, headers=ADMIN)
    assert response.status_code == 409
    assert f"training run {queued['id']} is still queued" in response.json()["detail"]
    assert [r["id"] for r in runs(client)] == [queued["id"]]


@pytest.mark.parametrize(
    "body", [{"epochs": 0}, {"epochs": 51}, {"epochs": "many"}, {"device": "tpu"}]
)
def test_bad_training_settings_are_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/v1/admin/training", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert runs(client) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_one_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/admin/training", json={"device": "cuda"}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("device: ")
    assert "no CUDA device" in response.json()["detail"]
    assert runs(client) == []


def test_unknown_runs_are_404(client: TestClient) -> None:
    assert client.get("/api/v1/admin/training/999", headers=ADMIN).status_code == 404
    response = client.post("/api/v1/admin/training/999/cancel", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["detail"] == "training run 999 not found"


def test_cancelling_a_queued_run_ends_it_at_once(client: TestClient, db_url: str) -> None:
    in_database(db_url, lambda session: create_run(session, config={}, device="cpu"))
    (queued,) = runs(client)
    response = client.post(f"/api/v1/admin/training/{queued['id']}/cancel", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "cancelled before it started"
    assert response.json()["finished_at"] is not None


# Training over HTTP (the real encoder)


@pytest.mark.model
def test_a_run_started_over_http_trains_and_its_version_can_be_served(
    model_client: TestClient,
) -> None:
    client = model_client
    (base,) = models(client)
    response = client.post("/api/v1/admin/training", json={"epochs": 2}, headers=ADMIN)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "queued"
    assert started["device"] == ("cuda" if torch.cuda.is_available() else "cpu")

    run, seen = wait_for_run(client, started["id"], finished)

    assert run["status"] == "succeeded", run["error"]
    assert {s["status"] for s in seen} <= {"queued", "running", "succeeded"}
    assert set(run["progress"]) == PROGRESS_KEYS
    # Two epochs over the phrasings and the background negatives.
    assert run["progress"]["step"] == run["progress"]["total_steps"] > 2
    assert run["progress"]["epoch"] == 2
    assert run["losses"] and run["started_at"] and run["finished_at"]
    version = run["model_version"]
    listed = {m["version"]: m for m in models(client)}
    assert listed[version]["kind"] == "fine-tuned"
    assert listed[version]["active"] is False and listed[base["version"]]["active"] is True
    assert {"accuracy", "macro_f1", "training_seconds"} <= set(listed[version]["metrics"])
    assert runs(client)[0]["id"] == started["id"]

    response = client.post(f"/api/v1/admin/models/{version}/activate", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert [m["version"] for m in models(client) if m["active"]] == [version]

    customer = start_conversation(client)
    deadline = time.monotonic() + 120
    answered_by = reply_version(client, customer, "How long does delivery take?")
    while answered_by != version and time.monotonic() < deadline:
        answered_by = reply_version(client, customer, "How long does delivery take?")
    assert answered_by == version


@pytest.mark.model
def test_a_running_run_can_be_cancelled_over_http(model_client: TestClient) -> None:
    client = model_client
    before = models(client)
    response = client.post(
        "/api/v1/admin/training", json={"epochs": 50, "activate": True}, headers=ADMIN
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    # Cancel once the run has recorded a step, as an admin watching its progress would.
    wait_for_run(client, run_id, lambda run: bool(run["progress"]) or finished(run))

    response = client.post(f"/api/v1/admin/training/{run_id}/cancel", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["status"] in ("running", "cancelled")

    run, _ = wait_for_run(client, run_id, finished)
    assert (run["status"], run["error"], run["model_version"]) == ("cancelled", "cancelled", None)
    assert run["progress"]["step"] < run["progress"]["total_steps"]
    assert models(client) == before  # nothing registered, the active model unchanged


def write_locked(db_url: str) -> bool:
    """Whether some connection holds SQLite's write lock on the database right now."""
    probe = sqlite3.connect(make_url(db_url).database or "", timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()  # rolls back the probe's own transaction, if it began one
    return False


def test_an_activation_during_a_customer_message_lets_both_finish(db_url: str) -> None:
    """The interleaving behind the failures under load, made deterministic."""
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    activation_reached_database = threading.Event()

    def note_activation(*_: Any) -> None:
        if threading.current_thread().name == "activation":
            activation_reached_database.set()

    event.listen(engine, "before_cursor_execute", note_activation)
    try:
        with transaction(factory) as session:
            conversation, _ = start_customer_conversation(session)
            base = register_version(session, version="base-x", kind="base", base_model="x")
            activate(session, base)
            register_version(session, version="ft-new", kind="fine-tuned", base_model="x")
        outcome: list[str] = []

        def activate_new() -> None:
            try:
                with transaction(factory) as admin:
                    new = get_version(admin, "ft-new")
                    assert new is not None
                    activate(admin, new)
                outcome.append("activated")
            except Exception as exc:
                outcome.append(repr(exc))

        admin = threading.Thread(target=activate_new, name="activation")
        with factory() as customer:
            # A customer's message request has checked its token (a read) ...
            ongoing = get_conversation(customer, conversation.id)
            assert ongoing is not None
            # ... when an activation runs: if that read took the write lock, the activation must
            # wait for the request, so it is enough that it reached the database; otherwise
            # nothing holds it back and it finishes first ...
            request_holds_the_lock = write_locked(db_url)
            admin.start()
            if request_holds_the_lock:
                assert activation_reached_database.wait(timeout=60)
                assert outcome == []
            else:
                admin.join(timeout=60)
                assert outcome, "the activation did not finish"
            # ... and then the request stores the message.
            add_message(customer, ongoing, Role.CUSTOMER, "where is my parcel")
            customer.commit()
        admin.join(timeout=60)
        assert outcome == ["activated"]
        with factory() as session:
            assert active_version_name(session) == "ft-new"
    finally:
        event.remove(engine, "before_cursor_execute", note_activation)
        engine.dispose()


@pytest.mark.model
def test_activating_a_version_under_load_drops_no_request(
    db_url: str, tmp_path: Path, real_encoder: SentenceEncoder, tuned_model: Path
) -> None:
    store_knowledge(db_url, SINGLE)
    in_database(
        db_url,
        lambda session: register_version(
            session,
            version="ft-tuned",
            kind="fine-tuned",
            base_model="packaged",
            path=str(tuned_model),
        ),
    )
    # Two customers sending as fast as replies come: the per-conversation rate limit is not
    # what this test is about.
    settings = admin_settings(db_url, tmp_path).model_copy(update={"rate_limits_enabled": False})
    with client_for(settings, real_encoder) as client:
        base = next(m["version"] for m in models(client) if m["active"])
        stop = threading.Event()
        replies: list[list[tuple[int, str | None]]] = [[], []]  # two customers at once

        def chat(results: list[tuple[int, str | None]]) -> None:
            try:
                customer = start_conversation(client)
                while not stop.is_set():
                    response = client.post(
                        customer.messages_url,
                        json={"text": "How long does delivery take?"},
                        headers=customer.headers,
                    )
                    if response.status_code != 200:
                        results.append((response.status_code, response.text))
                        return
                    results.append((200, response.json()["reply"]["model_version"]))
            except Exception as exc:  # the main thread reports it
                results.append((0, repr(exc)))

        def failed() -> bool:
            return any(status != 200 for results in replies for status, _ in results)

        senders = [threading.Thread(target=chat, args=(r,), daemon=True) for r in replies]
        for sender in senders:
            sender.start()
        try:
            wait_until(
                lambda: failed() or all(len(r) >= 3 for r in replies), "messages before activating"
            )
            response = client.post("/api/v1/admin/models/ft-tuned/activate", headers=ADMIN)
            assert response.status_code == 200, response.text
            # Bounded: the new version must take over, and keep answering for a while.
            wait_until(
                lambda: (
                    failed()
                    or all(sum(version == "ft-tuned" for _, version in r) >= 3 for r in replies)
                ),
                "replies from the activated version",
            )
        finally:
            stop.set()
            for sender in senders:
                sender.join(timeout=30)

    for results in replies:
        assert [r for r in results if r[0] != 200] == []  # no request failed
        versions = [version for _, version in results]
        assert set(versions) == {base, "ft-tuned"}, versions
        switched = versions.index("ft-tuned")
        # Once a sender got the new version it never went back to the old one.
        assert versions[:switched] == [base] * switched
        assert versions[switched:] == ["ft-tuned"] * (len(versions) - switched)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def test_a_version_catching_far_less_out_of_scope_asks_before_it_is_activated(
    client: TestClient, db_url: str
) -> None:
    def register(session: Any) -> None:
        careful = register_version(
            session,
            version="ft-careful",
            kind="fine-tuned",
            base_model="x",
            status="ready",
            metrics={"oos_recall": 0.92},
        )
        register_version(
            session,
            version="ft-eager",
            kind="fine-tuned",
            base_model="x",
            status="ready",
            metrics={"oos_recall": 0.41},
        )
        activate(session, careful)

    in_database(db_url, register)
    response = client.post("/api/v1/admin/models/ft-eager/activate", headers=ADMIN)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail["confirm"] is True
    assert (detail["oos_recall"], detail["active"], detail["active_oos_recall"]) == (
        0.41,
        "ft-careful",
        0.92,
    )
    assert "51 points less" in detail["message"]
    assert [m["version"] for m in models(client) if m["active"]] == ["ft-careful"]

    response = client.post("/api/v1/admin/models/ft-eager/activate?force=true", headers=ADMIN)
    assert response.status_code == 200
    assert [m["version"] for m in models(client) if m["active"]] == ["ft-eager"]
