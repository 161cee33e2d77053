"""The webhooks page: add, edit, rotate the secret, test, delete (the same as a JSON API:
chatbot/api/webhooks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from chatbot import webhooks as hooks
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.principals import AdminUser, Principal
from chatbot.api.webhooks import (
    LOG_PAGE,
    add_webhook,
    change_webhook,
    find_webhook,
    remove_webhook,
    rotate_secret,
    send_test,
)
from chatbot.console.views import render
from chatbot.db import webhooks as store
from chatbot.db.models import Webhook

router = APIRouter(default_response_class=HTMLResponse)


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


@router.get("/webhooks")
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


@router.post("/webhooks")
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
        webhook, made = add_webhook(
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


@router.post("/webhooks/{webhook_id}", response_model=None)
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
    webhook = find_webhook(session, webhook_id)
    try:
        change_webhook(
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


@router.post("/webhooks/{webhook_id}/secret")
def rotate_secret_page(
    webhook_id: RowId, request: Request, session: SessionDep, principal: AdminUser
) -> HTMLResponse:
    """A new secret, shown this once; the old one stops signing at once."""
    webhook = find_webhook(session, webhook_id)
    return _page(
        request,
        session,
        principal,
        new_secret=(webhook, rotate_secret(session, principal, webhook)),
    )


@router.post("/webhooks/{webhook_id}/test", response_model=None)
def send_test_page(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> Response:
    """The "send test event" button."""
    send_test(session, principal, find_webhook(session, webhook_id))
    return _see("test")


@router.post("/webhooks/{webhook_id}/delete", response_model=None)
def delete_webhook_page(webhook_id: RowId, session: SessionDep, principal: AdminUser) -> Response:
    remove_webhook(session, principal, find_webhook(session, webhook_id))
    return _see("deleted")
