"""Admin console: webhooks out (page and JSON API).

Admins register URLs, choose the events each receives, and read the delivery log; "send test
event" records a ``webhook.test`` delivery for one webhook. The secret is shown in full once,
in the answer that created or rotated it, and masked everywhere after; the audit log never holds
it. Page forms and JSON routes share the functions below, so both behave the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot import webhooks as hooks
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.principals import AdminUser, Principal
from chatbot.console.views import render
from chatbot.db import audit, revisions
from chatbot.db import webhooks as store
from chatbot.db.base import as_utc
from chatbot.db.models import Webhook, WebhookDelivery

pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api = APIRouter(prefix="/api/v1/admin/webhooks", tags=["admin"])
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


def _webhook(session: Session, webhook_id: int) -> Webhook:
    webhook = store.get_webhook(session, webhook_id)
    if webhook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return webhook


def _create(
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


def _update(
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


def _rotate(session: Session, principal: Principal, webhook: Webhook) -> str:
    webhook.secret = hooks.new_secret()
    # The audit log says that it changed, never what it is.
    audit.record(session, principal.actor, "webhook.rotate_secret", str(webhook.id))
    session.commit()
    return webhook.secret


def _delete(session: Session, principal: Principal, webhook: Webhook) -> None:
    before = store.snapshot(webhook)
    target = str(webhook.id)
    store.delete_webhook(session, webhook)
    audit.record(session, principal.actor, "webhook.delete", target, before=before)
    session.commit()


def _send_test(session: Session, principal: Principal, webhook: Webhook) -> WebhookDelivery:
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


@api.get("")
def list_webhooks(session: SessionDep, principal: AdminUser) -> list[WebhookPublic]:
    """Every webhook, secrets masked."""
    return [WebhookPublic.of(webhook) for webhook in store.list_webhooks(session)]


@api.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(body: WebhookCreate, session: SessionDep, principal: AdminUser) -> WebhookPublic:
    """Register a URL for the chosen events; the answer holds the secret, once."""
    try:
        webhook, secret = _create(
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


@api.get("/{webhook_id}")
def read_webhook(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> WebhookPublic:
    """One webhook, its secret masked."""
    return WebhookPublic.of(_webhook(session, webhook_id))


@api.patch("/{webhook_id}")
def update_webhook(
    webhook_id: RowId, body: WebhookUpdate, session: SessionDep, principal: AdminUser
) -> WebhookPublic:
    """Change the URL, events, description or enabled state, or rotate the secret."""
    webhook = _webhook(session, webhook_id)
    try:
        _update(
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
    secret = _rotate(session, principal, webhook) if body.rotate_secret else None
    return WebhookPublic.of(webhook, secret=secret)


@api.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> None:
    """Remove a webhook and its delivery log; nothing more is sent to it."""
    _delete(session, principal, _webhook(session, webhook_id))


@api.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED)
def send_test_event(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> DeliveryPublic:
    """Send a ``webhook.test`` event to this webhook (queued; follow it in the delivery log)."""
    delivery = _send_test(session, principal, _webhook(session, webhook_id))
    return DeliveryPublic.of(delivery)


@api.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: RowId,
    session: SessionDep,
    principal: AdminUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE)] = LOG_PAGE,
) -> list[DeliveryPublic]:
    """This webhook's delivery log, newest first: status, attempts, answer and last error."""
    _webhook(session, webhook_id)
    deliveries = store.list_deliveries(session, webhook_id=webhook_id, limit=limit)
    return [DeliveryPublic.of(delivery) for delivery in deliveries]


# ---- the page


def _problem(_: Translate, exc: hooks.WebhookInvalid) -> str:
    field, _colon, reason = str(exc).partition(":")
    if field == "events":
        if "unknown" in reason:
            return _("Choose events from the list.")
        return _("Choose at least one event.")
    if field == "secret":
        return _("A secret has at least 16 characters, without spaces.")
    return _(
        "Check the address: http:// or https:// with a host name, without a user name or password."
    )


def _notice(_: Translate, done: str) -> str | None:
    return {
        "saved": _("Saved."),
        "deleted": _("Webhook deleted; nothing more is sent to it."),
        "test": _("Test event queued: it shows in the delivery log below within seconds."),
    }.get(done)


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
    new_secret: tuple[Webhook, str] | None = None,
    draft: Mapping[str, object] | None = None,
    shown: int | None = None,
) -> HTMLResponse:
    return render(
        request,
        "console/webhooks.html",
        principal,
        status_code=status_code,
        webhooks=store.list_webhooks(session),
        deliveries=store.list_deliveries(session, webhook_id=shown, limit=LOG_PAGE),
        shown=shown,
        events=store.EVENTS,
        masked=hooks.masked,
        notice=notice,
        error=error,
        new_secret=new_secret,
        draft=draft or {},
        signature_header=hooks.SIGNATURE_HEADER,
        timestamp_header=hooks.TIMESTAMP_HEADER,
    )


def _see(done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/webhooks?done={done}", status.HTTP_303_SEE_OTHER)


@pages.get("/admin/webhooks")
def webhooks_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    done: Annotated[str, Query(max_length=20)] = "",
    webhook: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    """Webhooks, their events, and the delivery log."""
    _ = translator(request_language(request))
    return _page(request, session, principal, notice=_notice(_, done), shown=webhook)


@pages.post("/admin/webhooks")
def create_webhook_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    url: Annotated[str, Form(max_length=hooks.MAX_URL_CHARS)] = "",
    description: Annotated[str, Form(max_length=200)] = "",
    events: Annotated[list[str] | None, Form()] = None,
    secret: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """Register a webhook; the page shows its secret this once."""
    chosen = events or []
    try:
        webhook, made = _create(
            session,
            principal,
            url=url,
            events=chosen,
            description=description,
            enabled=True,
            secret=secret or None,
        )
    except hooks.WebhookInvalid as exc:
        session.rollback()
        _ = translator(request_language(request))
        draft = {"url": url, "description": description, "events": chosen}
        return _page(
            request, session, principal, status_code=422, error=_problem(_, exc), draft=draft
        )
    return _page(request, session, principal, new_secret=(webhook, made))


@pages.post("/admin/webhooks/{webhook_id}", response_model=None)
def update_webhook_page(
    request: Request,
    webhook_id: RowId,
    session: SessionDep,
    principal: AdminUser,
    url: Annotated[str, Form(max_length=hooks.MAX_URL_CHARS)] = "",
    description: Annotated[str, Form(max_length=200)] = "",
    events: Annotated[list[str] | None, Form()] = None,
    enabled: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Change a webhook's address, events, description or whether it is enabled."""
    webhook = _webhook(session, webhook_id)
    try:
        _update(
            session,
            principal,
            webhook,
            url=url,
            events=events or [],
            description=description,
            enabled=bool(enabled),
        )
    except hooks.WebhookInvalid as exc:
        session.rollback()
        _ = translator(request_language(request))
        return _page(request, session, principal, status_code=422, error=_problem(_, exc))
    return _see("saved")


@pages.post("/admin/webhooks/{webhook_id}/secret")
def rotate_secret_page(
    webhook_id: RowId, request: Request, session: SessionDep, principal: AdminUser
) -> HTMLResponse:
    """A new secret, shown this once; the old one stops signing at once."""
    webhook = _webhook(session, webhook_id)
    return _page(
        request, session, principal, new_secret=(webhook, _rotate(session, principal, webhook))
    )


@pages.post("/admin/webhooks/{webhook_id}/test", response_model=None)
def send_test_page(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> Response:
    """The "send test event" button."""
    _send_test(session, principal, _webhook(session, webhook_id))
    return _see("test")


@pages.post("/admin/webhooks/{webhook_id}/delete", response_model=None)
def delete_webhook_page(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> Response:
    _delete(session, principal, _webhook(session, webhook_id))
    return _see("deleted")


router = APIRouter()
router.include_router(pages)
router.include_router(api)
