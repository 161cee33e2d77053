"""Webhooks out, end to end: a real HTTP receiver started here gets signed deliveries from the
job queue, a 500 is retried, and the delivery log and the audit log say so. The console's page
is tested in tests/console/admin/test_webhooks.py, with this module's fixtures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db import webhooks as store
from chatbot.db.models import AuditEntry, WebhookDelivery
from chatbot.main import create_app
from chatbot.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.api.conftest import (
    ADMIN_EMAIL,
    KNOWLEDGE,
    Staff,
    add_account,
    another_browser,
    committed,
    start_conversation,
    store_knowledge,
)
from tests.fakes import HashingEncoder
from tests.receiver import Received, Receiver, documented_verify, receiving

API = "/api/v1/admin/webhooks"
ADMIN_TOKEN = "cbt_webhooks-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def verified(secret: str, request: Received) -> bool:
    return documented_verify()(
        secret,
        request.headers[TIMESTAMP_HEADER.lower()],
        request.headers[SIGNATURE_HEADER.lower()],
        request.body,
    )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Retries within the test's patience: 0.2 s, then 0.4 s.
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        webhook_backoff_seconds=0.2,
        webhook_timeout_seconds=20,
        webhook_max_attempts=3,
    )


@pytest.fixture
def app(settings: Settings, db_url: str) -> FastAPI:
    store_knowledge(db_url, KNOWLEDGE)
    add_account(db_url, ADMIN_EMAIL, "admin", token=ADMIN_TOKEN)
    return create_app(settings, encoder=HashingEncoder())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


def register(client: TestClient, url: str, events: list[str], **fields: Any) -> dict[str, Any]:
    response = client.post(API, json={"url": url, "events": events, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def wait_for_log(
    client: TestClient, webhook_id: int, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        log = client.get(f"{API}/{webhook_id}/deliveries", headers=ADMIN).json()
        if done(log) or time.monotonic() > deadline:
            return list(log)
        time.sleep(0.05)


def events_of(requests: list[Received]) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in requests]


def test_a_delivery_is_signed_retried_after_a_500_and_logged(client: TestClient) -> None:
    with receiving(answers=[500]) as receiver:
        webhook = register(client, receiver.url, ["conversation.started"])
        customer = start_conversation(client)
        first, second = receiver.wait_for(lambda seen: len(seen) >= 2)
        log = wait_for_log(client, webhook["id"], lambda log: log[0]["status"] != "pending")

    secret = webhook["secret"]
    assert verified(secret, first) and verified(secret, second)
    # The documented check refuses a body changed on the way and a wrong secret.
    assert not documented_verify()(
        secret,
        first.headers["x-chatbot-timestamp"],
        first.headers["x-chatbot-signature"],
        first.body.replace(customer.id.encode(), b"someone-else"),
    )
    assert not verified(secret[:-1] + "x", first)
    assert first.body == second.body  # the same event, the same id: the receiver can drop repeats
    event = json.loads(second.body)
    assert event["type"] == "conversation.started"
    assert event["data"]["conversation"]["id"] == customer.id
    assert second.headers["x-chatbot-event-id"] == event["id"]
    [delivery] = log
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 2
    assert delivery["response_code"] == 200
    assert delivery["event_id"] == event["id"]
    assert delivery["last_error"] is None


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt(
    client: TestClient,
) -> None:
    with receiving(answers=[500, 503, 502]) as receiver:
        webhook = register(client, receiver.url, ["conversation.started"])
        start_conversation(client)
        receiver.wait_for(lambda seen: len(seen) >= 3)
        log = wait_for_log(client, webhook["id"], lambda log: log[0]["status"] != "pending")
        time.sleep(1.0)  # a fourth attempt would come within the backoff and a sweep
        assert len(receiver.requests) == 3
    [delivery] = log
    assert (delivery["status"], delivery["attempts"], delivery["response_code"]) == (
        "failed",
        3,
        502,
    )
    assert delivery["last_error"] == "answered 502"


def test_a_customer_conversation_fires_every_event_it_goes_through(
    client: TestClient, receiver: Receiver, staff: Staff
) -> None:
    register(client, receiver.url, list(store.EVENTS))
    customer = start_conversation(client)
    turn = client.post(
        customer.messages_url, json={"text": "How do I return an item?"}, headers=customer.headers
    ).json()
    reply_id = turn["reply"]["id"]
    assert (
        client.post(
            f"/api/v1/messages/{reply_id}/feedback",
            json={"helpful": True},
            headers=customer.headers,
        ).status_code
        == 200
    )
    handoff = client.post(f"/api/v1/conversations/{customer.id}/handoff", headers=customer.headers)
    assert handoff.status_code == 200, handoff.text
    staff_api = f"/api/v1/staff/conversations/{customer.id}"
    assert client.post(f"{staff_api}/claim", headers=staff.headers).status_code == 200
    assert client.post(f"{staff_api}/close", headers=staff.headers).status_code == 200
    rated = client.post(
        f"/api/v1/conversations/{customer.id}/satisfaction",
        json={"rating": 4},
        headers=customer.headers,
    )
    assert rated.status_code == 200, rated.text
    version = client.get("/api/v1/admin/models", headers=ADMIN).json()[0]["version"]
    assert client.post(f"/api/v1/admin/models/{version}/activate", headers=ADMIN).status_code == 200

    def seen_all(seen: list[Received]) -> bool:
        return {event["type"] for event in events_of(seen)} >= set(store.EVENTS)

    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events_of(receiver.wait_for(seen_all)):
        by_type.setdefault(event["type"], []).append(event["data"])
    assert by_type["conversation.started"] == [
        {
            "conversation": {
                "id": customer.id,
                "status": "bot",
                "language": None,
                "assigned_to": None,
                "message_count": 0,
            }
        }
    ]
    messages = {(m["message"]["role"], m["message"]["text"]) for m in by_type["message.created"]}
    assert ("customer", "How do I return an item?") in messages
    assert any(role == "bot" for role, _text in messages)
    assert any(role == "system" for role, _text in messages)  # the notice that it closed
    assert [d["conversation"]["status"] for d in by_type["handoff.requested"]] == ["waiting"]
    [claimed] = by_type["conversation.claimed"]
    assert claimed["conversation"]["status"] == "with_staff"
    assert claimed["conversation"]["assigned_to"] is not None
    assert [d["conversation"]["status"] for d in by_type["conversation.closed"]] == ["closed"]
    feedback = sorted(by_type["feedback.given"], key=lambda d: d["kind"])
    assert feedback == [
        {"kind": "answer", "conversation_id": customer.id, "message_id": reply_id, "helpful": True},
        {"kind": "satisfaction", "conversation_id": customer.id, "satisfaction": 4},
    ]
    assert by_type["model.activated"][0]["version"] == version
    # Customers' words travel only in message events.
    for kind, data in by_type.items():
        if kind != "message.created":
            assert "How do I return" not in json.dumps(data)


def test_a_receiver_that_hangs_does_not_slow_the_customer(
    client: TestClient, receiver: Receiver, settings: Settings
) -> None:
    register(client, receiver.url, ["message.created"])
    customer = start_conversation(client)
    receiver.answering.clear()  # it takes every request and answers none
    started = time.monotonic()
    turn = client.post(
        customer.messages_url, json={"text": "How do I return an item?"}, headers=customer.headers
    )
    took = time.monotonic() - started
    assert turn.status_code == 200 and turn.json()["reply"] is not None
    receiver.wait_for(lambda seen: len(seen) >= 1)  # the delivery is on its way meanwhile
    # Sent within the turn, the reply would have waited for the receiver's timeout.
    assert took < settings.webhook_timeout_seconds / 2


def test_only_chosen_events_of_enabled_webhooks_are_sent(
    client: TestClient, receiver: Receiver, db_url: str
) -> None:
    chosen = register(client, receiver.url, ["conversation.started"])
    disabled = register(client, receiver.url + "/off", ["conversation.started"], enabled=False)
    customer = start_conversation(client)
    client.post(customer.messages_url, json={"text": "hello"}, headers=customer.headers)
    receiver.wait_for(lambda seen: len(seen) >= 1)
    time.sleep(0.5)
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["conversation.started"]
    assert [r.path for r in receiver.requests] == ["/hooks"]
    with committed(db_url) as session:
        hooks = {d.webhook_id for d in session.query(WebhookDelivery)}
    assert hooks == {chosen["id"]} and disabled["id"] not in hooks


def test_a_delivery_recorded_before_a_restart_is_sent_by_the_next_start(
    settings: Settings, db_url: str, receiver: Receiver
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    with committed(db_url) as session:
        webhook = store.add_webhook(
            session, url=receiver.url, events=["model.activated"], secret="s" * 20
        )
        # As a process that recorded an event, handed it to its job queue and died would leave it.
        store.emit(session, "model.activated", {"version": "ft-before-restart"})
        delivery = session.query(WebhookDelivery).one()
        delivery.queued_until = delivery.next_attempt_at  # its lease ran out long ago
    assert webhook.id
    with TestClient(create_app(settings, encoder=HashingEncoder())):
        [request] = receiver.wait_for(lambda seen: len(seen) >= 1)
    assert json.loads(request.body)["data"] == {"version": "ft-before-restart"}
    assert verified("s" * 20, request)


# ---- managing webhooks


@pytest.mark.parametrize(
    "url", ["ftp://files.example/hook", "https://user:pass@crm.example/hook", "not a url"]
)
def test_a_bad_url_is_refused_with_a_422_and_nothing_stored(
    client: TestClient, url: str, db_url: str
) -> None:
    response = client.post(API, json={"url": url, "events": ["message.created"]}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert "url" in json.dumps(response.json()["detail"])
    assert client.get(API, headers=ADMIN).json() == []


def test_unknown_or_no_events_are_refused(client: TestClient, receiver: Receiver) -> None:
    for events in ([], ["message.deleted"], "message.created"):
        response = client.post(API, json={"url": receiver.url, "events": events}, headers=ADMIN)
        assert response.status_code == 422, response.text
    webhook = register(client, receiver.url, ["message.created"])
    response = client.patch(f"{API}/{webhook['id']}", json={"events": []}, headers=ADMIN)
    assert response.status_code == 422
    assert client.get(f"{API}/{webhook['id']}", headers=ADMIN).json()["events"] == [
        "message.created"
    ]


def test_the_secret_is_shown_once_and_every_change_is_audited_without_it(
    client: TestClient, receiver: Receiver, db_url: str
) -> None:
    webhook = register(client, receiver.url, ["message.created"], secret="my-own-secret-123456")
    assert webhook["secret"] == "my-own-secret-123456"
    assert webhook["secret_hint"] == "…3456"
    listed = client.get(API, headers=ADMIN).json()
    assert [(w["id"], w["secret"], w["secret_hint"]) for w in listed] == [
        (webhook["id"], None, "…3456")
    ]
    url = f"{API}/{webhook['id']}"
    changed = client.patch(url, json={"enabled": False, "description": "CRM"}, headers=ADMIN)
    assert changed.json()["enabled"] is False and changed.json()["secret"] is None
    rotated = client.patch(url, json={"rotate_secret": True}, headers=ADMIN).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != webhook["secret"]
    assert client.post(f"{url}/test", headers=ADMIN).status_code == 409  # disabled
    client.patch(url, json={"enabled": True}, headers=ADMIN)
    assert client.post(f"{url}/test", headers=ADMIN).status_code == 202
    receiver.wait_for(lambda seen: len(seen) >= 1)
    assert client.delete(url, headers=ADMIN).status_code == 204
    assert client.get(url, headers=ADMIN).status_code == 404

    with committed(db_url) as session:
        entries = session.query(AuditEntry).filter(AuditEntry.action.startswith("webhook."))
        trail = [(e.action, e.actor, e.target) for e in entries.order_by(AuditEntry.id)]
        dumped = json.dumps([(e.before, e.after) for e in entries])
        deliveries = session.query(WebhookDelivery).count()
    target = str(webhook["id"])
    assert trail == [
        ("webhook.create", ADMIN_EMAIL, target),
        ("webhook.update", ADMIN_EMAIL, target),
        ("webhook.rotate_secret", ADMIN_EMAIL, target),
        ("webhook.update", ADMIN_EMAIL, target),
        ("webhook.test", ADMIN_EMAIL, target),
        ("webhook.delete", ADMIN_EMAIL, target),
    ]
    assert receiver.url in dumped
    assert "my-own-secret" not in dumped and rotated["secret"] not in dumped
    assert deliveries == 0  # its log went with it


def test_staff_customers_and_strangers_cannot_touch_webhooks(
    client: TestClient, staff: Staff, receiver: Receiver
) -> None:
    webhook = register(client, receiver.url, ["message.created"])
    customer = start_conversation(client)
    for headers, expected in (
        (staff.token_headers, 403),
        (customer.headers, 401),
        ({}, 401),
    ):
        anonymous = another_browser(client)
        calls = [
            anonymous.get(API, headers=headers),
            anonymous.post(
                API, json={"url": receiver.url, "events": ["message.created"]}, headers=headers
            ),
            anonymous.post(f"{API}/{webhook['id']}/test", headers=headers),
            anonymous.delete(f"{API}/{webhook['id']}", headers=headers),
            anonymous.get(f"{API}/{webhook['id']}/deliveries", headers=headers),
        ]
        assert [c.status_code for c in calls] == [expected] * len(calls)
    assert len(client.get(API, headers=ADMIN).json()) == 1
    time.sleep(0.3)
    assert [json.loads(r.body)["type"] for r in receiver.requests] == []


# ---- the console
