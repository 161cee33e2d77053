"""The customer API runs an intent's action: a two-turn order lookup against a real local order
service, and what the customer sees when the service is slow or failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db import conversations as store
from chatbot.knowledge.spec import IntentSpec
from chatbot.main import create_app
from tests.api.conftest import Customer, committed, start_conversation, store_knowledge
from tests.fakes import HashingEncoder
from tests.order_api import FAILING, SLOW, TOKEN, OrderApi, order_action, order_api


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OrderApi]:
    monkeypatch.setenv("CHATBOT_ACTION_SECRET_ORDERS_TOKEN", TOKEN)
    with order_api() as running:
        yield running


@pytest.fixture
def shop(db_url: str, tmp_path: Path, api: OrderApi) -> Iterator[TestClient]:
    store_knowledge(
        db_url,
        [
            IntentSpec(
                "order_status",
                "I can look up your order.",
                ("Where is my order?", "Track my order"),
                action=order_action(api.url),
            ),
            IntentSpec("opening_hours", "9 to 5.", ("When are you open?",)),
        ],
    )
    app = create_app(Settings(database_url=db_url, data_dir=tmp_path), encoder=HashingEncoder())
    with TestClient(app) as client:
        yield client


def send(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["reply"]
    return reply


def test_a_two_turn_order_lookup(shop: TestClient, api: OrderApi, db_url: str) -> None:
    customer = start_conversation(shop)

    asked = send(shop, customer, "Where is my order?")
    assert (asked["text"], asked["intent"], asked["handoff"]) == (
        "What is your order number?",
        "order_status",
        False,
    )
    answered = send(shop, customer, "AB1234")

    assert answered["text"] == "Order AB1234 is **shipped** (DHL)."
    assert answered["intent"] == "order_status" and answered["suggestions"] == []
    assert [path for _, path, _ in api.requests] == ["/orders/AB1234"]
    with committed(db_url) as session:
        conversation = store.get_conversation(session, customer.id)
        assert conversation is not None and conversation.slot_filling is None
        bot = [m for m in store.list_messages(session, customer.id) if m.role.value == "bot"]
        assert [m.action for m in bot] == ["slot", "answer"]


def test_an_invalid_number_is_asked_again_and_never_mind_calls_it_off(
    shop: TestClient, api: OrderApi
) -> None:
    customer = start_conversation(shop)
    send(shop, customer, "Where is my order?")

    again = send(shop, customer, "my order")
    assert again["text"] == "Order numbers look like AB1234. What is your order number?"
    cancelled = send(shop, customer, "never mind")

    assert cancelled["text"] == "OK, never mind. Is there anything else I can help with?"
    assert send(shop, customer, "When are you open?")["intent"] == "opening_hours"
    assert api.requests == []


def test_an_unknown_order_is_answered_from_the_404(shop: TestClient) -> None:
    customer = start_conversation(shop)
    send(shop, customer, "Where is my order?")

    assert send(shop, customer, "ZZ9999")["text"] == "I can't find order ZZ9999."


@pytest.mark.parametrize("number", [SLOW, FAILING])
def test_a_slow_or_failing_service_gets_an_apology_and_a_person(
    shop: TestClient, number: str
) -> None:
    customer = start_conversation(shop)
    send(shop, customer, "Where is my order?")

    reply = send(shop, customer, number)

    assert reply["text"].startswith("Sorry, I couldn't look that up just now.")
    assert reply["suggestions"] == [{"intent": "human", "question": "Talk to a person"}]
    assert reply["handoff"] is False
    # The offered person is one click away.
    handoff = shop.post(f"/api/v1/conversations/{customer.id}/handoff", headers=customer.headers)
    assert handoff.status_code == 200, handoff.text


def test_an_order_number_in_the_first_message_answers_in_one_turn(shop: TestClient) -> None:
    customer = start_conversation(shop)

    reply = send(shop, customer, "Where is my order AB1234?")

    assert reply["text"] == "Order AB1234 is **shipped** (DHL)."


def test_while_the_service_thinks_other_customers_are_answered(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_ACTION_SECRET_ORDERS_TOKEN", TOKEN)
    with order_api(slow_s=5.0) as api:
        lookup = order_action(api.url, timeout_s=3.0)
        store_knowledge(
            db_url,
            [
                IntentSpec("order_status", "Orders.", ("Where is my order?",), action=lookup),
                IntentSpec("opening_hours", "9 to 5.", ("When are you open?",)),
            ],
        )
        settings = Settings(database_url=db_url, data_dir=tmp_path)
        with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
            waiting, other = start_conversation(client), start_conversation(client)
            send(client, waiting, "Where is my order?")
            slow = threading.Thread(target=send, args=(client, waiting, SLOW))
            slow.start()
            deadline = time.monotonic() + 10
            while not api.requests and time.monotonic() < deadline:
                time.sleep(0.01)
            assert api.requests, "the slow lookup never reached the service"

            # The call holds no transaction: SQLite's one writer is free for this turn.
            assert send(client, other, "When are you open?")["text"] == "9 to 5."
            assert slow.is_alive()
            slow.join(timeout=10)
