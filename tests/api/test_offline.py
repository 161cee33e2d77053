"""Offline requests: nobody can come, so the customer leaves a message and an e-mail address;
a staff reply reaches them by e-mail (a real SMTP server) and in the chat."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from tests.api.conftest import (
    STAFF_EMAIL,
    Customer,
    Staff,
    in_database,
    start_conversation,
)
from tests.api.test_chat import say, transcript
from tests.api.test_presence import ALWAYS, set_hours
from tests.api.test_takeover import ASK_FOR_A_PERSON, queue_ids, url
from tests.mailbox import Mailbox, smtp_server

API = "/api/v1/staff"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as mailbox:
        yield mailbox


@pytest.fixture
def settings(db_url: str, tmp_path: Path, mailbox: Mailbox) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_tls="none",
        smtp_sender="Harbor & Pine support <help@harbor.example>",
    )


def leave(client: TestClient, customer: Customer, **body: Any) -> Any:
    return client.post(
        f"{customer.messages_url.rsplit('/', 1)[0]}/offline", json=body, headers=customer.headers
    )


def test_nobody_on_duty_the_bot_offers_to_take_a_message(client: TestClient, db_url: str) -> None:
    set_hours(db_url, hours_en=ALWAYS, offline_en="Nobody here. Leave your address!")
    customer = start_conversation(client)
    reply = say(client, customer, ASK_FOR_A_PERSON)["reply"]
    assert (reply["action"], reply["text"], reply["handoff"]) == (
        "offline",
        "Nobody here. Leave your address!",
        False,
    )
    assert transcript(client, customer)["conversation"]["status"] == "bot"  # not queued yet
    button = client.post(f"/api/v1/conversations/{customer.id}/handoff", headers=customer.headers)
    assert button.json()["message"]["action"] == "offline"
    # Without opening hours, a request for a person is queued as always.
    set_hours(db_url, hours_en="")
    assert say(client, start_conversation(client), ASK_FOR_A_PERSON)["reply"]["handoff"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"email": "ada.example.org", "text": "Where is my order?"}, "email: 'ada.example.org'"),
        ({"email": "ada@localhost", "text": "Where is my order?"}, "email: "),
        ({"email": "Ada <ada@example.org>", "text": "Hi"}, "email: "),
        ({"email": "  ", "text": "Where is my order?"}, "email: enter your e-mail address"),
        ({"email": "ada@example.org", "text": "   "}, "text: the message is empty"),
    ],
)
def test_a_bad_address_or_message_is_refused_naming_the_field(
    client: TestClient, customer: Customer, body: dict[str, str], problem: str
) -> None:
    response = leave(client, customer, **body)
    assert response.status_code == 422, response.text
    assert problem in response.json()["detail"]
    assert transcript(client, customer)["messages"] == []


def test_a_staff_reply_to_an_offline_request_is_e_mailed_and_shown_in_the_chat(
    client: TestClient, staff: Staff, db_url: str, mailbox: Mailbox
) -> None:
    set_hours(db_url, hours_en=ALWAYS)
    customer = start_conversation(client)
    say(client, customer, ASK_FOR_A_PERSON)
    left = leave(client, customer, email=" Ada@Example.ORG ", text="My lamp arrived broken.")
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "waiting"
    assert "Ada@example.org" in left.json()["reply"]["text"]
    again = leave(client, customer, email="ada@example.org", text="Hello?")
    assert again.status_code == 409

    assert customer.id in queue_ids(client, staff)
    entry = client.get(f"{API}/queue", headers=staff.headers).json()["conversations"][0]
    assert (entry["offline"], entry["contact_email"]) == (True, "Ada@example.org")

    sent = client.post(
        url(customer, "reply"),
        json={"text": "Sorry! A new lamp is on its way."},
        headers=staff.headers,
    )
    assert sent.status_code == 200, sent.text
    (email,) = mailbox.wait_for(1)
    assert email["To"] == "Ada@example.org"
    assert email["From"] == "Harbor & Pine support <help@harbor.example>"
    assert email["Subject"] == "Reply from Harbor & Pine"
    body = email.get_body(preferencelist=("plain",))
    assert body is not None
    content = body.get_content()
    assert "Sorry! A new lamp is on its way." in content
    assert STAFF_EMAIL not in content and STAFF_EMAIL not in str(email)  # never staff addresses

    # The customer comes back: the reply is in the chat.
    messages = transcript(client, customer)["messages"]
    assert messages[-1]["role"] == "staff"
    assert messages[-1]["text"] == "Sorry! A new lamp is on its way."


def test_an_offline_request_is_not_closed_as_abandoned(client: TestClient, db_url: str) -> None:
    from datetime import timedelta

    from chatbot.conversation import takeover

    set_hours(db_url, hours_en=ALWAYS)
    customer = start_conversation(client)
    say(client, customer, ASK_FOR_A_PERSON)
    assert leave(client, customer, email="ada@example.org", text="Call me").status_code == 200
    closed = in_database(
        db_url,
        lambda session: takeover.close_idle(session, timedelta(0)),
    )
    assert customer.id not in [change.conversation.id for change in closed]


def test_staff_on_duty_are_e_mailed_about_a_conversation_left_waiting(
    client: TestClient,
    staff: Staff,
    settings: Settings,
    mailbox: Mailbox,
) -> None:
    from tests.api.test_takeover import staff_socket

    # The watcher reads these at each check.
    settings.queue_email, settings.queue_email_delay_seconds = True, 0
    client.post("/api/v1/staff/presence", json={"status": "available"}, headers=staff.headers)
    with staff_socket(client) as socket:
        assert socket.receive_json() == {"type": "ready"}
        customer = start_conversation(client)
        say(client, customer, ASK_FOR_A_PERSON)  # no opening hours: queued
        (email,) = mailbox.wait_for(1, timeout=30)
    assert email["To"] == STAFF_EMAIL
    assert email["Subject"] == "A customer is waiting (en)"
    body = email.get_body(preferencelist=("plain",))
    assert body is not None and f"conversation={customer.id}" in body.get_content()
    time.sleep(6)  # another check of the queue, and no second e-mail
    assert len(mailbox.messages) == 1  # once per wait
