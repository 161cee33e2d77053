"""The synonyms page: the groups of words the lexical matcher treats as one (as a JSON API:
chatbot/api/synonyms.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chatbot import authoring
from chatbot.api.deps import SessionDep
from chatbot.api.principals import AdminUser, Principal
from chatbot.api.synonyms import MAX_TEXT_CHARS
from chatbot.console.views import render
from chatbot.db import knowledge as store
from chatbot.knowledge.synonyms import (
    SynonymsRejected,
    format_synonyms,
    parse_synonyms,
)

router = APIRouter(default_response_class=HTMLResponse)


def _page(
    request: Request,
    principal: Principal,
    text: str,
    *,
    status_code: int = 200,
    problems: list[str] | None = None,
    saved: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "console/synonyms.html",
        principal,
        status_code=status_code,
        text=text,
        problems=problems or [],
        saved=saved,
        max_chars=MAX_TEXT_CHARS,
    )


@router.get("/synonyms")
def synonyms_page(
    request: Request, session: SessionDep, principal: AdminUser, saved: str = ""
) -> HTMLResponse:
    """The synonym groups as one editable text, one group per line."""
    text = format_synonyms(store.load_synonyms(session))
    return _page(request, principal, text, saved=bool(saved))


@router.post("/synonyms", response_model=None)
def save_synonyms_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    synonyms: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
) -> Response:
    """Replace the synonym groups; every problem is listed with its line, nothing is saved."""
    try:
        groups = parse_synonyms(synonyms)
    except SynonymsRejected as rejected:
        return _page(request, principal, synonyms, status_code=422, problems=rejected.problems)
    authoring.replace_synonyms(session, principal.actor, groups)
    return RedirectResponse("/admin/synonyms?saved=1", status.HTTP_303_SEE_OTHER)
