"""The canned replies page: list, create, edit, delete (as a JSON API: chatbot/api/canned.py).

Both call chatbot/db/canned.py, which validates each field and writes the audit entry, so a form
and an API call with the same values store and log the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from chatbot.api.canned import find_canned_reply
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.principals import Principal, StaffUser
from chatbot.console.views import render
from chatbot.db import canned

router = APIRouter()


def _canned_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: canned.CannedReplyError | None = None,
    editing: int | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "console/canned.html",
        principal,
        status_code=status_code,
        replies=canned.list_canned(session),
        error=error,
        editing=editing,
        values=values or {},
        max_title=canned.MAX_TITLE_CHARS,
        max_text=canned.MAX_TEXT_CHARS,
    )


@router.get("/canned", response_class=HTMLResponse)
def canned_page(request: Request, session: SessionDep, principal: StaffUser) -> HTMLResponse:
    """Canned replies: list, create, edit, delete."""
    return _canned_page(request, session, principal)


Text = Annotated[str, Form(max_length=10_000)]
Language = Annotated[str, Form(max_length=16)]


def _page_saved(
    request: Request,
    session: Session,
    principal: Principal,
    save: Callable[[], object],
    values: dict[str, str],
    editing: int | None,
) -> Response:
    try:
        save()
    except canned.CannedReplyError as exc:
        session.rollback()
        return _canned_page(
            request,
            session,
            principal,
            error=exc,
            editing=editing,
            values=values,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    session.commit()
    return RedirectResponse("/staff/canned", status.HTTP_303_SEE_OTHER)


@router.post("/canned")
def create_canned_reply_form(
    request: Request,
    session: SessionDep,
    principal: StaffUser,
    title: Text = "",
    text: Text = "",
    language: Language = "",
) -> Response:
    return _page_saved(
        request,
        session,
        principal,
        lambda: canned.create_canned(
            session, title, text, language=language, actor=principal.actor
        ),
        {"title": title, "text": text, "language": language},
        None,
    )


@router.post("/canned/{reply_id}")
def update_canned_reply_form(
    request: Request,
    reply_id: RowId,
    session: SessionDep,
    principal: StaffUser,
    title: Text = "",
    text: Text = "",
    language: Language = "",
) -> Response:
    reply = find_canned_reply(session, reply_id)
    return _page_saved(
        request,
        session,
        principal,
        lambda: canned.update_canned(
            session, reply, title, text, language=language, actor=principal.actor
        ),
        {"title": title, "text": text, "language": language},
        reply_id,
    )


@router.post("/canned/{reply_id}/delete")
def delete_canned_reply_form(
    reply_id: RowId, session: SessionDep, principal: StaffUser
) -> Response:
    canned.delete_canned(session, find_canned_reply(session, reply_id), actor=principal.actor)
    session.commit()
    return RedirectResponse("/staff/canned", status.HTTP_303_SEE_OTHER)
