"""Admin console: webhooks out (page and JSON API).

Admins register URLs, choose the events each receives, and read the delivery log; "send test
event" records a ``webhook.test`` delivery for one webhook. The secret is shown in full once,
in the answer that created or rotated it, and masked everywhere after; the audit log never holds
it. Page forms and JSON routes share the functions below, so both behave the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot import webhooks as hooks
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.principals import AdminUser, Principal
from chatbot.db import audit, revisions
from chatbot.db import webhooks as store
from chatbot.db.base import as_utc
from chatbot.db.models import Webhook, WebhookDelivery

router = APIRouter(prefix="/api/v1/admin/webhooks", tags=["admin"])
LOG_PAGE = 50
MAX_LOG_PAGE = 200

EventName = Literal[
    "conversation.started",
    "message.created",
    "handoff.requested",
    "conversation.claimed",
    "conversation.closed",
    "feedback.given",
    "model.activated",
]


# ---- what both the page and the API do


def find_webhook(session: Session, webhook_id: int) -> Webhook:
    webhook = store.get_webhook(session, webhook_id)
    if webhook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return webhook


def add_webhook(
    session: Session,
    principal: Principal,
    *,
    url: str,
    events: list[str],
    description: str,
    enabled: bool,
    secret: str | None,
) -> tuple[Webhook, str]:
    """A new webhook, audited; returns it and its secret (given, or made here)."""
    url, events = hooks.check_url(url), hooks.check_events(events)
    secret = hooks.check_secret(secret) if secret else hooks.new_secret()
    webhook = store.add_webhook(
        session,
        url=url,
        events=events,
        secret=secret,
        description=description.strip(),
        enabled=enabled,
        created_by=principal.actor,
    )
    audit.record(
        session, principal.actor, "webhook.create", str(webhook.id), after=store.snapshot(webhook)
    )
    session.commit()
    return webhook, secret


def change_webhook(
    session: Session,
    principal: Principal,
    webhook: Webhook,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> None:
    before = store.snapshot(webhook)
    if url is not None:
        webhook.url = hooks.check_url(url)
    if events is not None:
        webhook.events = hooks.check_events(events)
    if description is not None:
        webhook.description = description.strip()
    if enabled is not None:
        webhook.enabled = enabled
        revisions.forget(session)  # what this transaction read of enabled webhooks is stale
    after = store.snapshot(webhook)
    if after != before:
        audit.record(
            session, principal.actor, "webhook.update", str(webhook.id), before=before, after=after
        )
    session.commit()


def rotate_secret(session: Session, principal: Principal, webhook: Webhook) -> str:
    webhook.secret = hooks.new_secret()
    # The audit log says that it changed, never what it is.
    audit.record(session, principal.actor, "webhook.rotate_secret", str(webhook.id))
    session.commit()
    return webhook.secret


def remove_webhook(session: Session, principal: Principal, webhook: Webhook) -> None:
    before = store.snapshot(webhook)
    target = str(webhook.id)
    store.delete_webhook(session, webhook)
    audit.record(session, principal.actor, "webhook.delete", target, before=before)
    session.commit()


def send_test(session: Session, principal: Principal, webhook: Webhook) -> WebhookDelivery:
    if not webhook.enabled:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"webhook {webhook.id} is disabled: enable it first"
        )
    delivery = store.record_test(session, webhook, principal.actor)
    audit.record(
        session,
        principal.actor,
        "webhook.test",
        str(webhook.id),
        after={"event": delivery.event_id},
    )
    # The commit wakes the dispatcher, which queues the delivery at once.
    session.commit()
    return delivery


def _invalid(exc: hooks.WebhookInvalid) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


# ---- the JSON API


class WebhookCreate(BaseModel):
    url: str = Field(max_length=hooks.MAX_URL_CHARS, examples=["https://crm.example/chat-events"])
    events: list[EventName] = Field(min_length=1, max_length=len(store.EVENTS))
    description: str = Field("", max_length=200)
    enabled: bool = True
    secret: str | None = Field(
        None,
        min_length=hooks.MIN_SECRET_CHARS,
        max_length=200,
        description="Signs every delivery; left out, a random one is made and returned once.",
    )


class WebhookUpdate(BaseModel):
    url: str | None = Field(None, max_length=hooks.MAX_URL_CHARS)
    events: list[EventName] | None = Field(None, min_length=1, max_length=len(store.EVENTS))
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = None
    rotate_secret: bool = Field(False, description="Make a new secret, returned once.")


class WebhookPublic(BaseModel):
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    secret_hint: str = Field(description="The secret's last four characters.")
    secret: str | None = Field(
        None, description="The whole secret: only in the answer that created or rotated it."
    )
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, webhook: Webhook, *, secret: str | None = None) -> WebhookPublic:
        return cls(
            id=webhook.id,
            url=webhook.url,
            description=webhook.description,
            events=list(webhook.events),
            enabled=webhook.enabled,
            secret_hint=hooks.masked(webhook.secret),
            secret=secret,
            created_by=webhook.created_by,
            created_at=as_utc(webhook.created_at),
            updated_at=as_utc(webhook.updated_at),
        )


class DeliveryPublic(BaseModel):
    id: int
    webhook_id: int
    event_id: str = Field(description="The payload's id: the same on every attempt.")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryPublic:
        pending = delivery.status == store.PENDING
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            response_code=delivery.response_code,
            last_error=delivery.last_error,
            next_attempt_at=as_utc(delivery.next_attempt_at) if pending else None,
            created_at=as_utc(delivery.created_at),
            finished_at=as_utc(delivery.finished_at) if delivery.finished_at else None,
        )


@router.get("")
def list_webhooks(session: SessionDep, principal: AdminUser) -> list[WebhookPublic]:
    """Every webhook, secrets masked."""
    return [WebhookPublic.of(webhook) for webhook in store.list_webhooks(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(body: WebhookCreate, session: SessionDep, principal: AdminUser) -> WebhookPublic:
    """Register a URL for the chosen events; the answer holds the secret, once."""
    try:
        webhook, secret = add_webhook(
            session,
            principal,
            url=body.url,
            events=list(body.events),
            description=body.description,
            enabled=body.enabled,
            secret=body.secret,
        )
    except hooks.WebhookInvalid as exc:
        session.rollback()
        raise _invalid(exc) from None
    return WebhookPublic.of(webhook, secret=secret)


@router.get("/{webhook_id}")
def read_webhook(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> WebhookPublic:
    """One webhook, its secret masked."""
    return WebhookPublic.of(find_webhook(session, webhook_id))


@router.patch("/{webhook_id}")
def update_webhook(
    webhook_id: RowId, body: WebhookUpdate, session: SessionDep, principal: AdminUser
) -> WebhookPublic:
    """Change the URL, events, description or enabled state, or rotate the secret."""
    webhook = find_webhook(session, webhook_id)
    try:
        change_webhook(
            session,
            principal,
            webhook,
            url=body.url,
            events=list(body.events) if body.events is not None else None,
            description=body.description,
            enabled=body.enabled,
        )
    except hooks.WebhookInvalid as exc:
        session.rollback()
        raise _invalid(exc) from None
    secret = rotate_secret(session, principal, webhook) if body.rotate_secret else None
    return WebhookPublic.of(webhook, secret=secret)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> None:
    """Remove a webhook and its delivery log; nothing more is sent to it."""
    remove_webhook(session, principal, find_webhook(session, webhook_id))


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED)
def send_test_event(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> DeliveryPublic:
    """Send a ``webhook.test`` event to this webhook (queued; follow it in the delivery log)."""
    delivery = send_test(session, principal, find_webhook(session, webhook_id))
    return DeliveryPublic.of(delivery)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: RowId,
    session: SessionDep,
    principal: AdminUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE)] = LOG_PAGE,
) -> list[DeliveryPublic]:
    """This webhook's delivery log, newest first: status, attempts, answer and last error."""
    find_webhook(session, webhook_id)
    deliveries = store.list_deliveries(session, webhook_id=webhook_id, limit=limit)
    return [DeliveryPublic.of(delivery) for delivery in deliveries]
