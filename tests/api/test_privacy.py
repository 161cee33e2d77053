"""Privacy through the app: redaction before storage, erasure by admins, retention at start."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.config import Settings
from chatbot.db import conversations as store
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation, Message, Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, Customer, Staff, store_knowledge
from tests.fakes import HashingEncoder


def stored_texts(db_url: str, conversation_id: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            return list(
                session.scalars(
                    select(Message.text)
                    .where(Message.conversation_id == conversation_id)
                    .order_by(Message.id)
                )
            )
    finally:
        engine.dispose()


def test_card_and_phone_numbers_are_redacted_before_they_are_stored(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    sent = client.post(
        customer.messages_url,
        json={"text": "refund to card 4111 1111 1111 1111, call 13812345678"},
        headers=customer.headers,
    )
    assert sent.status_code == 200
    assert sent.json()["message"]["text"] == "refund to card [card], call [phone]"
    assert stored_texts(db_url, customer.id)[0] == "refund to card [card], call [phone]"


def test_redaction_can_be_turned_off(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    app = create_app(
        Settings(database_url=db_url, data_dir=tmp_path, redact=[]), encoder=HashingEncoder()
    )
    with TestClient(app) as client:
        created = client.post("/api/v1/conversations").json()
        sent = client.post(
            f"/api/v1/conversations/{created['id']}/messages",
            json={"text": "4111 1111 1111 1111"},
            headers={"Authorization": f"Bearer {created['token']}"},
        )
    assert sent.json()["message"]["text"] == "4111 1111 1111 1111"


def test_an_admin_erases_a_conversation_through_the_api(
    client: TestClient, customer: Customer, admin: Staff, db_url: str
) -> None:
    client.post(customer.messages_url, json={"text": "hello"}, headers=customer.headers)
    url = f"/api/v1/admin/conversations/{customer.id}"
    erased = client.delete(url, headers=admin.token_headers)
    assert erased.status_code == 200
    assert erased.json() == {"id": customer.id, "messages": 2, "corrections": 0}
    assert stored_texts(db_url, customer.id) == []
    gone = client.get(customer.messages_url, headers=customer.headers)
    assert gone.status_code == 404
    assert client.delete(url, headers=admin.token_headers).status_code == 404


def test_staff_cannot_erase(client: TestClient, customer: Customer, staff: Staff) -> None:
    url = f"/api/v1/admin/conversations/{customer.id}"
    assert client.delete(url, headers=staff.token_headers).status_code == 403
    assert client.get(customer.messages_url, headers=customer.headers).status_code == 200


def test_the_server_expires_old_conversations_when_it_starts(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    engine = make_engine(db_url)
    with transaction(make_session_factory(engine)) as session:
        old, _token = store.start_conversation(session)
        store.add_message(session, old, Role.CUSTOMER, "an old question")
        old.updated_at = utcnow() - timedelta(days=31)
        recent, _token = store.start_conversation(session)
        old_id, recent_id = old.id, recent.id
    settings = Settings(database_url=db_url, data_dir=tmp_path, conversation_retention_days=30)
    with TestClient(create_app(settings, encoder=HashingEncoder())):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with make_session_factory(engine)() as session:
                if session.get(Conversation, old_id) is None:
                    assert session.get(Conversation, recent_id) is not None
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the old conversation was not expired")
    engine.dispose()
