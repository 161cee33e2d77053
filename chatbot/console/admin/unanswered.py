"""The unanswered questions page: what the bot could not answer, grouped, and what to do with it
(the same actions as a JSON API: chatbot/api/unanswered.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from chatbot.api.analytics import period_of
from chatbot.api.deps import MAX_ROW_ID, SessionDep
from chatbot.api.i18n import request_language, translator
from chatbot.api.principals import AdminUser, Principal
from chatbot.api.unanswered import (
    MAX_IDS,
    add_phrasings,
    create_intent,
    dismiss,
    grouped,
    mark_out_of_scope,
    unprocessable,
)
from chatbot.console.views import render
from chatbot.db import knowledge as store

router = APIRouter()


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise unprocessable("message_ids: a comma-separated list of ids") from None
    if not ids or len(ids) > MAX_IDS:
        raise unprocessable(f"message_ids: 1 to {MAX_IDS} ids")
    if not all(1 <= i <= MAX_ROW_ID for i in ids):
        raise unprocessable("message_ids: ids are whole numbers from 1")
    return ids


async def _page(
    request: Request,
    principal: Principal,
    session: Session,
    chosen: dict[str, str],
    *,
    status_code: int = 200,
    error: Any = None,
    done: str = "",
) -> HTMLResponse:
    try:
        period = period_of(
            request.app.state.settings, chosen["since"], chosen["until"], chosen["language"]
        )
    except HTTPException as exc:
        return render(
            request,
            "console/unanswered.html",
            principal,
            status_code=exc.status_code,
            error=exc.detail,
            chosen=chosen,
            result=None,
            intents=[],
            done="",
        )
    _ = translator(request_language(request))
    result = await grouped(request, period)
    keys = await asyncio.to_thread(lambda: list(store.intent_languages(session)))
    return render(
        request,
        "console/unanswered.html",
        principal,
        status_code=status_code,
        error=error,
        chosen={
            "since": result["since"],
            "until": result["until"],
            "language": period.language or "all",
        },
        result=result,
        intents=keys,
        done=done,
        reason_labels={
            "fallback": _("Fell back"),
            "unhelpful": _("Thumbs down"),
            "clarification_abandoned": _("“Did you mean” unanswered"),
            "corrected": _("Corrected by staff"),
        },
    )


@router.get("/unanswered", response_class=HTMLResponse)
async def unanswered_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    since: str = "",
    until: str = "",
    language: str = "",
    done: str = "",
) -> HTMLResponse:
    """Unanswered questions of a period, grouped, with an action per group."""
    chosen = {"since": since, "until": until, "language": language}
    return await _page(request, principal, session, chosen, done=done)


@router.post("/unanswered/{action}", response_class=HTMLResponse)
async def unanswered_action(
    request: Request,
    action: str,
    session: SessionDep,
    principal: AdminUser,
    message_ids: Annotated[str, Form(max_length=20_000)] = "",
    intent: Annotated[str, Form(max_length=200)] = "",
    key: Annotated[str, Form(max_length=200)] = "",
    answer: Annotated[str, Form(max_length=20_000)] = "",
    phrasings: Annotated[str, Form(max_length=200_000)] = "",
    since: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
    language: Annotated[str, Form(max_length=10)] = "",
) -> Any:
    """One group's action from the page's forms; back to the page."""
    chosen = {"since": since, "until": until, "language": language}
    actor = principal.actor

    def act() -> None:
        ids = _ids(message_ids)
        if action == "phrasings":
            add_phrasings(session, actor, ids, intent)
        elif action == "intent":
            create_intent(
                session,
                actor,
                ids,
                key=key,
                answer=answer,
                phrasings=phrasings,
                language="",
                category="",
            )
        elif action == "out_of_scope":
            mark_out_of_scope(session, actor, ids)
        elif action == "dismiss":
            dismiss(session, actor, ids)
        else:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such action")
        session.commit()

    try:
        await asyncio.to_thread(act)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_422_UNPROCESSABLE_CONTENT:
            raise
        session.rollback()
        return await _page(request, principal, session, chosen, status_code=422, error=exc.detail)
    query = urlencode({**chosen, "done": action})
    return RedirectResponse(f"/admin/unanswered?{query}", status.HTTP_303_SEE_OTHER)
