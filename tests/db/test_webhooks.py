"""Webhook deliveries as rows: recorded with the change they report, claimed by one replica and
one job at a time, retried, given up, pruned, and erased with their conversation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db import conversations as conversation_store
from chatbot.db import model_versions, privacy, revisions
from chatbot.db import webhooks as store
from chatbot.db.base import utcnow
from chatbot.db.models import ConversationStatus, Role, Webhook, WebhookDelivery
from tests.statements import statements

RETRY = timedelta(seconds=30)


def webhook(session: Session, events: list[str], *, enabled: bool = True) -> Webhook:
    return store.add_webhook(
        session,
        url="https://crm.example/hook",
        events=events,
        secret="whsec_" + "x" * 30,
        enabled=enabled,
    )


def deliveries(session: Session) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_an_event_is_recorded_once_for_each_enabled_webhook_that_chose_it(
    db_session: Session,
) -> None:
    closes = webhook(db_session, ["conversation.closed", "message.created"])
    also = webhook(db_session, ["conversation.closed"])
    webhook(db_session, ["message.created"])
    webhook(db_session, ["conversation.closed"], enabled=False)
    conversation, _token = conversation_store.start_conversation(db_session)
    before = len(deliveries(db_session))
    conversation_store.set_status(db_session, conversation, ConversationStatus.CLOSED)
    recorded = deliveries(db_session)[before:]
    assert sorted(d.webhook_id for d in recorded) == sorted([closes.id, also.id])
    assert len({d.body for d in recorded}) == 1  # one event, the same bytes for each webhook
    event = json.loads(recorded[0].body)
    assert event["type"] == "conversation.closed"
    assert event["id"] == recorded[0].event_id == recorded[1].event_id
    assert event["data"]["conversation"]["status"] == "closed"
    assert {d.conversation_id for d in recorded} == {conversation.id}
    assert db_session.info[store.RECORDED] is True


def test_no_webhook_no_row(db_session: Session) -> None:
    conversation, _token = conversation_store.start_conversation(db_session)
    conversation_store.add_message(db_session, conversation, Role.CUSTOMER, "hello")
    assert deliveries(db_session) == []
    assert store.RECORDED not in db_session.info


def test_a_due_delivery_is_claimed_by_one_sweep_and_sent_by_one_job(db_session: Session) -> None:
    webhook(db_session, ["model.activated"])
    store.emit(db_session, "model.activated", {"version": "v2"})
    [delivery] = deliveries(db_session)
    now = utcnow()
    assert store.due(db_session, now) == [delivery.id]
    lease = timedelta(minutes=5)
    assert store.claim_for_queue(db_session, [delivery.id], now, lease) == [delivery.id]
    assert store.claim_for_queue(db_session, [delivery.id], now, lease) == []  # another replica
    assert store.due(db_session, now) == []
    hold = timedelta(seconds=40)
    attempt = store.start_attempt(db_session, delivery.id, hold)
    assert attempt is not None and attempt.url == "https://crm.example/hook"
    assert store.start_attempt(db_session, delivery.id, hold) is None  # a second job
    # A job that died mid-call: its lease and hold run out, and it is due again.
    later = utcnow() + lease + hold
    assert store.due(db_session, later) == [delivery.id]


def test_a_failure_is_retried_with_the_delay_given_then_given_up(db_session: Session) -> None:
    webhook(db_session, ["model.activated"])
    store.emit(db_session, "model.activated", {"version": "v2"})
    [delivery] = deliveries(db_session)
    waits: list[int] = []

    def retry_in(attempts: int) -> timedelta:
        waits.append(attempts)
        return timedelta(seconds=10 * 2 ** (attempts - 1))

    for attempt in (1, 2):
        before = utcnow()
        store.finish_attempt(
            db_session,
            delivery.id,
            response_code=500,
            error="answered 500",
            max_attempts=3,
            retry_in=retry_in,
        )
        db_session.refresh(delivery)
        assert (delivery.status, delivery.attempts) == ("pending", attempt)
        wait = delivery.next_attempt_at.replace(tzinfo=None) - before.replace(tzinfo=None)
        assert wait >= timedelta(seconds=10 * 2 ** (attempt - 1)) - timedelta(seconds=1)
    store.finish_attempt(
        db_session,
        delivery.id,
        response_code=None,
        error="ConnectError: refused",
        max_attempts=3,
        retry_in=retry_in,
    )
    db_session.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "failed",
        3,
        "ConnectError: refused",
    )
    assert waits == [1, 2]
    assert delivery.finished_at is not None
    assert store.due(db_session, utcnow() + timedelta(days=1)) == []


def test_a_disabled_webhook_gets_nothing_more(db_session: Session) -> None:
    hook = webhook(db_session, ["model.activated"])
    store.emit(db_session, "model.activated", {"version": "v2"})
    hook.enabled = False
    [delivery] = deliveries(db_session)
    assert store.start_attempt(db_session, delivery.id, timedelta(seconds=40)) is None
    db_session.refresh(delivery)
    assert delivery.status == "failed" and "disabled" in (delivery.last_error or "")


def test_old_finished_deliveries_are_pruned_pending_ones_kept(db_session: Session) -> None:
    webhook(db_session, ["model.activated"])
    for version in ("v1", "v2"):
        store.emit(db_session, "model.activated", {"version": version})
    done, pending = deliveries(db_session)
    store.finish_attempt(
        db_session, done.id, response_code=200, error=None, max_attempts=3, retry_in=lambda n: RETRY
    )
    assert store.prune(db_session, utcnow() + timedelta(seconds=1)) == 1
    assert [d.id for d in deliveries(db_session)] == [pending.id]


def test_erasing_a_conversation_erases_the_deliveries_that_carry_its_words(
    db_session: Session,
) -> None:
    webhook(db_session, ["message.created", "model.activated"])
    conversation, _token = conversation_store.start_conversation(db_session)
    conversation_store.add_message(db_session, conversation, Role.CUSTOMER, "my address is 1 Elm")
    store.emit(db_session, "model.activated", {"version": "v2"})
    assert "1 Elm" in deliveries(db_session)[0].body
    privacy.erase_conversation(db_session, conversation.id, actor=None)
    assert [json.loads(d.body)["type"] for d in deliveries(db_session)] == ["model.activated"]


@pytest.mark.parametrize("status", list(ConversationStatus))
def test_each_status_change_is_the_event_it_means(
    db_session: Session, status: ConversationStatus
) -> None:
    webhook(db_session, list(store.EVENTS))
    conversation, _token = conversation_store.start_conversation(db_session)
    before = len(deliveries(db_session))
    conversation_store.set_status(db_session, conversation, status)
    fired = [json.loads(d.body)["type"] for d in deliveries(db_session)[before:]]
    expected = {
        ConversationStatus.BOT: [],
        ConversationStatus.WAITING: ["handoff.requested"],
        ConversationStatus.WITH_STAFF: ["conversation.claimed"],
        ConversationStatus.CLOSED: ["conversation.closed"],
    }
    assert fired == expected[status]


def test_activating_a_version_from_anywhere_is_one_event_naming_the_one_it_replaced(
    db_session: Session,
) -> None:
    # chatbot/db/model_versions.activate is what the API, `chatbot models activate` and a
    # training run's "activate when done" all call.
    webhook(db_session, ["model.activated"])
    old = model_versions.register_version(db_session, version="base-a", base_model="m")
    new = model_versions.register_version(db_session, version="ft-b", base_model="m")
    model_versions.activate(db_session, old)
    model_versions.activate(db_session, new)
    fired = [json.loads(d.body) for d in deliveries(db_session)]
    assert [(e["type"], e["data"]) for e in fired] == [
        ("model.activated", {"version": "base-a", "kind": "base", "previous": None}),
        ("model.activated", {"version": "ft-b", "kind": "base", "previous": "base-a"}),
    ]


def _statements_about_webhooks(session: Session, work: Callable[[], object]) -> list[str]:
    return [s for s in statements(session, work) if "FROM webhooks" in s]


def test_a_turn_that_read_no_webhook_is_enabled_records_its_messages_without_asking_again(
    db_session: Session,
) -> None:
    conversation, _token = conversation_store.start_conversation(db_session)
    assert revisions.current(db_session).webhooks == 0

    def messages() -> None:
        conversation_store.add_message(db_session, conversation, Role.CUSTOMER, "hello")
        conversation_store.add_message(db_session, conversation, Role.BOT, "Hi!")

    assert _statements_about_webhooks(db_session, messages) == []
    # Adding one in the same transaction forgets what was read: its events are recorded.
    hook = webhook(db_session, ["message.created"])
    assert _statements_about_webhooks(db_session, messages) != []
    assert [d.webhook_id for d in deliveries(db_session)] == [hook.id, hook.id]
    assert revisions.current(db_session).webhooks == 1


def test_without_the_revisions_read_each_event_asks_for_the_webhooks(db_session: Session) -> None:
    hook = webhook(db_session, ["message.created"])
    conversation, _token = conversation_store.start_conversation(db_session)
    conversation_store.add_message(db_session, conversation, Role.CUSTOMER, "hello")
    assert [d.webhook_id for d in deliveries(db_session)] == [hook.id]
