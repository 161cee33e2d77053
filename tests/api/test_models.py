"""Model versions over the JSON API: listing, activating (also under load), and the test pane.

Listing and activating use an admin's API token; the pane, used from the console, a signed-in
admin's session. The fake encoder serves unless a test needs a real fine-tuned version.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import make_url

from chatbot.api.models import VersionEngines
from chatbot.config import Settings
from chatbot.db import app_settings
from chatbot.db.conversations import add_message, get_conversation
from chatbot.db.conversations import start_conversation as start_customer_conversation
from chatbot.db.model_versions import activate, active_version_name, get_version, register_version
from chatbot.db.models import Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine
from tests.api.conftest import KNOWLEDGE, Staff, in_database, start_conversation, store_knowledge
from tests.api.model_admin import (
    ADMIN,
    BASE,
    PNG,
    admin_settings,
    client_for,
    models,
    register,
    write_report,
)
from tests.factories import SINGLE, save_tuned_model
from tests.fakes import HashingEncoder


@pytest.fixture
def token_client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app with the fake encoder and a knowledge base, used with the admin's API token."""
    store_knowledge(db_url, KNOWLEDGE)
    with client_for(admin_settings(db_url, tmp_path), HashingEncoder()) as client:
        yield client


@pytest.fixture(scope="module")
def tuned_with_report(
    real_encoder: SentenceEncoder, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fine-tuned version's directory with a report, as a training run leaves it: made once for
    the tests that switch to one or ask it."""
    directory = save_tuned_model(real_encoder, tmp_path_factory.mktemp("tuned") / "ft-tuned")
    truth: list[str | None] = ["delivery", "delivery", "returns", "hours", None]
    write_report(directory, truth, ["delivery", "returns", "returns", "hours", None])
    return directory


@pytest.fixture
def model_client(
    db_url: str, tmp_path: Path, real_encoder: SentenceEncoder, tuned_with_report: Path
) -> Iterator[TestClient]:
    store_knowledge(db_url, SINGLE)
    register(db_url, "ft-tuned", tuned_with_report, metrics={"accuracy": 0.8})
    with client_for(admin_settings(db_url, tmp_path), real_encoder) as client:
        yield client


def ask(client: TestClient, version: str, text: str, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/admin/models/{version}/ask", json={"text": text}, headers=headers)


# Listing and activating versions


def test_the_base_model_is_listed_as_the_active_version(token_client: TestClient) -> None:
    client = token_client
    listed = models(client)
    assert [(m["version"], m["kind"], m["status"], m["active"]) for m in listed] == [
        (f"base-{HashingEncoder.weights_sha256[:12]}", "base", "ready", True)
    ]
    assert listed[0]["activated_at"] is not None


def test_activating_an_unknown_version_is_404(token_client: TestClient) -> None:
    client = token_client
    response = client.post("/api/v1/admin/models/ft-nope/activate", headers=ADMIN)
    assert response.status_code == 404
    assert "ft-nope" in response.json()["detail"]
    assert [m["active"] for m in models(client)] == [True]


def test_a_version_that_is_not_ready_cannot_be_activated(
    token_client: TestClient, db_url: str
) -> None:
    client = token_client
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


def test_a_version_catching_far_less_out_of_scope_asks_before_it_is_activated(
    token_client: TestClient, db_url: str
) -> None:
    client = token_client

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


@pytest.mark.model
def test_activating_a_version_under_load_drops_no_request(
    db_url: str, tmp_path: Path, real_encoder: SentenceEncoder, tuned_with_report: Path
) -> None:
    store_knowledge(db_url, SINGLE)
    in_database(
        db_url,
        lambda session: register_version(
            session,
            version="ft-tuned",
            kind="fine-tuned",
            base_model="packaged",
            path=str(tuned_with_report),
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


# The test pane


def test_staff_members_may_not_use_the_test_pane(client: TestClient, staff: Staff) -> None:
    assert ask(client, BASE, "How do I return an item?", staff.headers).status_code == 403


def test_asking_an_unknown_version_is_404(client: TestClient, admin: Staff) -> None:
    response = ask(client, "ft-nope", "hello", admin.headers)
    assert response.status_code == 404
    assert "ft-nope" in response.json()["detail"]


def test_the_pane_answers_like_the_bot_with_sanitised_markdown(
    client: TestClient, admin: Staff
) -> None:
    response = ask(client, BASE, "How do I return an item?", admin.headers)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert (reply["version"], reply["intent"], reply["decision"]) == (BASE, "returns", "answer")
    assert 0.55 <= reply["confidence"] <= 1
    assert "<strong>30 days</strong>" in reply["answer_html"]

    reply = ask(client, BASE, "How do I look after oiled oak?", admin.headers).json()
    assert reply["intent"] == "wood_care"
    html = reply["answer_html"]
    assert "&lt;script&gt;" in html  # the markup is shown as text ...
    assert "<script" not in html and "<img" not in html and "href" not in html  # ... never run


def test_the_pane_asks_when_unsure_and_falls_back_when_lost(
    client: TestClient, admin: Staff
) -> None:
    unsure = ask(client, BASE, "how long will it take", admin.headers).json()
    assert unsure["decision"] == "clarify"
    assert {"delivery_time", "refund_time"} <= {s["intent"] for s in unsure["suggestions"]}
    lost = ask(client, BASE, "do you offer gift wrapping", admin.headers).json()
    assert lost["decision"] == "fallback"
    assert lost["suggestions"] == [{"intent": "human", "question": "Talk to a person"}]


@pytest.mark.parametrize(
    "text", ["do you offer gift wrapping", "How do I return an item?", "hello", "a person please"]
)
def test_the_pane_says_what_a_customer_gets_with_the_admins_texts(
    client: TestClient, admin: Staff, settings: Settings, db_url: str, text: str
) -> None:
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            app_settings.update(
                session,
                app_settings.RuntimeSettings.from_settings(settings),
                {
                    "fallback_en": "Sorry, **that** is beyond me.",
                    "greeting_en": "Ahoy!",
                    "handoff_en": "Fetching a human.",
                },
                "ada@admin.example",
            )
    finally:
        engine.dispose()
    customer = start_conversation(client)
    turn = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    reply = turn.json()["reply"]
    pane = ask(client, BASE, text, admin.headers).json()
    assert (pane["answer_html"], pane["decision"]) == (reply["html"], reply["action"])
    assert pane["suggestions"] == (reply["suggestions"] or reply["follow_ups"])


def test_the_pane_uses_the_current_knowledge_base(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    question = "Do you sell gift cards?"
    assert ask(client, BASE, question, admin.headers).json()["intent"] != "gift_cards"
    store_knowledge(db_url, [IntentSpec("gift_cards", "Yes, from 10 to 200 euros.", (question,))])
    reply = ask(client, BASE, question, admin.headers).json()
    assert (reply["intent"], reply["decision"]) == ("gift_cards", "answer")


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_empty_or_too_long_messages_are_422(client: TestClient, admin: Staff, text: str) -> None:
    response = ask(client, BASE, text, admin.headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("text: ")


def test_the_pane_needs_the_csrf_token_of_a_signed_in_admin(
    client: TestClient, admin: Staff
) -> None:
    response = client.post(f"/api/v1/admin/models/{BASE}/ask", json={"text": "hi"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_version_that_is_not_ready_cannot_be_asked(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    register(db_url, "ft-half", status="training")
    response = ask(client, "ft-half", "hello", admin.headers)
    assert response.status_code == 409


def test_a_version_whose_files_are_gone_is_409_not_500(
    client: TestClient, admin: Staff, db_url: str, tmp_path: Path
) -> None:
    register(db_url, "ft-gone", tmp_path / "nowhere")
    response = ask(client, "ft-gone", "hello", admin.headers)
    assert response.status_code == 409
    assert "cannot load model version 'ft-gone'" in response.json()["detail"]


def test_the_engine_cache_keeps_the_two_most_recently_used_versions() -> None:
    cache = VersionEngines(capacity=2)
    built: list[str] = []

    def build(version: str):
        def make() -> IntentEngine:
            built.append(version)
            return IntentEngine(HashingEncoder(), version=version)

        return make

    first = cache.get("ft-1", build("ft-1"))
    cache.get("ft-2", build("ft-2"))
    assert cache.get("ft-1", build("ft-1")) is first  # reused, and now the most recent
    cache.get("ft-3", build("ft-3"))  # evicts ft-2, the least recently used
    assert cache.versions() == ["ft-1", "ft-3"]
    cache.get("ft-2", build("ft-2"))
    assert built == ["ft-1", "ft-2", "ft-3", "ft-2"]


# A real fine-tuned version that is not active (the real encoder)


@pytest.mark.model
def test_a_fine_tuned_versions_report_and_pane_work_while_another_is_active(
    model_client: TestClient,
) -> None:
    client = model_client
    page = client.get("/admin/models/ft-tuned", headers=ADMIN).text
    assert page.count('data-testid="per-intent-row"') == 3
    for src in re.findall(r'<img data-testid="report-image" src="([^"]+)"', page):
        assert client.get(src, headers=ADMIN).content.startswith(PNG)

    reply = ask(client, "ft-tuned", "How long does delivery take?", ADMIN).json()
    assert (reply["version"], reply["intent"]) == ("ft-tuned", "delivery")
    assert reply["decision"] in ("answer", "clarify")
    assert client.app.state.model_engines.versions() == ["ft-tuned"]
    active = client.app.state.manager.engine
    assert active.version.startswith("base-")  # asking did not activate it

    reply = ask(client, active.version, "What are your opening hours?", ADMIN).json()
    assert (reply["version"], reply["intent"]) == (active.version, "hours")
    # The active version answers with the server's own engine: nothing more was loaded.
    assert client.app.state.model_engines.versions() == ["ft-tuned"]
