"""Webhooks and their deliveries: the only module that writes these tables.

An event is recorded in the transaction of the change it reports (:func:`emit`), one delivery
row per webhook that chose it, so it is sent if and only if the change commits, and survives a
restart: the rows are the outbox that the dispatcher (chatbot/webhooks.py) hands to the job
queue, and afterwards the delivery log the admin console shows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from chatbot.db import revisions
from chatbot.db.base import as_utc, utcnow
from chatbot.db.models import Conversation, Message, Webhook, WebhookDelivery

# What an admin may subscribe a webhook to.
EVENTS = (
    "conversation.started",
    "message.created",
    "handoff.requested",
    "conversation.claimed",
    "conversation.closed",
    "feedback.given",
    "model.activated",
)
TEST_EVENT = "webhook.test"  # sent by the "send test event" button, to one webhook only
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# Set in a session's info when it recorded deliveries: after its commit the dispatcher is woken.
RECORDED = "webhooks.recorded"
MAX_ERROR_CHARS = 500
# Asked in a turn's second transaction, which has not read the revisions: built once.
_ENABLED = select(Webhook).where(Webhook.enabled.is_(True))


def emit(
    session: Session, event_type: str, data: dict[str, Any], *, conversation_id: str | None = None
) -> int:
    """Record ``event_type`` for every enabled webhook that chose it, in the caller's
    transaction; returns how many deliveries were recorded.

    Args:
        data: the event's JSON-ready ``data``; never secrets, customers' words only in message
            events.
        conversation_id: the conversation the event is about, so that erasing or expiring it
            also deletes the copies of its words in the log.
    """
    known = revisions.seen(session)
    if known is not None and not known.webhooks:
        return 0  # the turn read that no webhook is enabled: no query of them per message
    webhooks = [webhook for webhook in session.scalars(_ENABLED) if event_type in webhook.events]
    if not webhooks:
        return 0
    event_id = str(uuid.uuid4())
    body = payload(event_id, event_type, data)
    for webhook in webhooks:
        _record(session, webhook, event_id, event_type, body, conversation_id)
    return len(webhooks)


def payload(event_id: str, event_type: str, data: dict[str, Any]) -> str:
    """The JSON body of an event: the same bytes for every webhook and every attempt."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": utcnow().isoformat(),
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _record(
    session: Session,
    webhook: Webhook,
    event_id: str,
    event_type: str,
    body: str,
    conversation_id: str | None,
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        webhook_id=webhook.id,
        event_id=event_id,
        event_type=event_type,
        body=body,
        conversation_id=conversation_id,
        status=PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    session.info[RECORDED] = True
    return delivery


def record_test(session: Session, webhook: Webhook, actor: str | None) -> WebhookDelivery:
    """A test event for ``webhook`` alone."""
    data = {"webhook_id": webhook.id, "sent_by": actor, "message": "A test event from the chatbot."}
    event_id = str(uuid.uuid4())
    body = payload(event_id, TEST_EVENT, data)
    return _record(session, webhook, event_id, TEST_EVENT, body, None)


# ---- what events say


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "status": conversation.status.value if conversation.status else "bot",
        "language": conversation.language,
        "assigned_to": conversation.assigned_to_id,
        "message_count": conversation.message_count or 0,
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "role": message.role.value,
        "text": message.text,
        "intent": message.intent,
        "confidence": message.confidence,
        "action": message.action,
        "author_id": message.author_id,
        "created_at": as_utc(message.created_at or utcnow()).isoformat(),
    }


# ---- webhooks


def list_webhooks(session: Session) -> Sequence[Webhook]:
    return session.scalars(select(Webhook).order_by(Webhook.id)).all()


def get_webhook(session: Session, webhook_id: int) -> Webhook | None:
    return session.get(Webhook, webhook_id)


def add_webhook(
    session: Session,
    *,
    url: str,
    events: list[str],
    secret: str,
    description: str = "",
    enabled: bool = True,
    created_by: str | None = None,
) -> Webhook:
    webhook = Webhook(
        url=url,
        events=events,
        secret=secret,
        description=description,
        enabled=enabled,
        created_by=created_by,
    )
    session.add(webhook)
    revisions.forget(session)
    session.flush()
    return webhook


def snapshot(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook: everything but its secret."""
    return {
        "url": webhook.url,
        "description": webhook.description,
        "events": list(webhook.events),
        "enabled": webhook.enabled,
    }


def delete_webhook(session: Session, webhook: Webhook) -> None:
    # Its deliveries go with it (ON DELETE CASCADE), explicitly so for the ORM's own session.
    session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id)
        .execution_options(synchronize_session=False)
    )
    session.delete(webhook)
    session.flush()


# ---- deliveries


def list_deliveries(
    session: Session, *, webhook_id: int | None = None, limit: int = 50
) -> Sequence[WebhookDelivery]:
    """The delivery log, newest first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    return session.scalars(query).all()


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def due(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Pending deliveries that may be sent now and no job holds."""
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                (WebhookDelivery.queued_until.is_(None)) | (WebhookDelivery.queued_until < now),
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )


def claim_for_queue(
    session: Session, delivery_ids: Sequence[int], now: datetime, lease: timedelta
) -> list[int]:
    """Mark the deliveries as handed to the job queue until ``now + lease``; returns those this
    caller claimed (a conditional update: another replica's sweep claims the others)."""
    claimed = []
    for delivery_id in delivery_ids:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == PENDING,
                (WebhookDelivery.queued_until.is_(None)) | (WebhookDelivery.queued_until < now),
            )
            .values(queued_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(delivery_id)
    return claimed


@dataclass(frozen=True)
class Attempt:
    """What a job needs to send one delivery, read once it claimed it."""

    delivery_id: int
    webhook_id: int
    event_id: str
    event_type: str
    body: str
    url: str
    secret: str


def start_attempt(session: Session, delivery_id: int, hold: timedelta) -> Attempt | None:
    """Claim the delivery for one attempt, or None: delivered or given up already, not due, or
    another job sending it. Its next attempt moves past ``hold``, so should this job die while
    sending, the sweep retries it then."""
    now = utcnow()
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + hold)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    webhook = session.get(Webhook, delivery.webhook_id)
    if webhook is None or not webhook.enabled:
        _finish(delivery, FAILED, None, "not sent: the webhook is disabled")
        session.flush()
        return None
    return Attempt(
        delivery.id,
        webhook.id,
        delivery.event_id,
        delivery.event_type,
        delivery.body,
        webhook.url,
        webhook.secret,
    )


def finish_attempt(
    session: Session,
    delivery_id: int,
    *,
    response_code: int | None,
    error: str | None,
    max_attempts: int,
    retry_in: Callable[[int], timedelta],
) -> WebhookDelivery | None:
    """Record how an attempt went: delivered (no error), retried after ``retry_in(attempts
    made)``, or failed for good after ``max_attempts``."""
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:  # its conversation was erased meanwhile
        return None
    delivery.attempts = (delivery.attempts or 0) + 1
    if error is None:
        _finish(delivery, DELIVERED, response_code, None)
    elif delivery.attempts >= max_attempts:
        _finish(delivery, FAILED, response_code, error)
    else:
        delivery.response_code = response_code
        delivery.last_error = error[:MAX_ERROR_CHARS]
        delivery.next_attempt_at = utcnow() + retry_in(delivery.attempts)
        delivery.queued_until = None
    session.flush()
    return delivery


def _finish(
    delivery: WebhookDelivery, status: str, response_code: int | None, error: str | None
) -> None:
    delivery.status = status
    delivery.response_code = response_code
    delivery.last_error = error[:MAX_ERROR_CHARS] if error else None
    delivery.finished_at = utcnow()
    delivery.queued_until = None


def prune(session: Session, before: datetime) -> int:
    """Delete finished deliveries created before ``before``; returns how many."""
    result = session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.status != PENDING, WebhookDelivery.created_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
