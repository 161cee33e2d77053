"""Admin console: the knowledge base's synonym groups (page and JSON API).

Terms a company's customers use for the same thing (退款 / 退钱 / refund / money back), one group
per line, first term canonical. Saving replaces the whole list (``chatbot.authoring``: audited
in the same transaction, the knowledge base's revision bumped, which serving processes follow:
the next message is matched with the new groups, without a restart).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from chatbot import authoring
from chatbot.api.deps import SessionDep
from chatbot.api.principals import AdminUser, Principal
from chatbot.console.views import render
from chatbot.db import knowledge as store
from chatbot.knowledge.synonyms import (
    MAX_GROUPS,
    MAX_TERM_CHARS,
    SynonymsRejected,
    format_synonyms,
    parse_synonyms,
)

pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api = APIRouter(prefix="/api/v1/admin/synonyms", tags=["knowledge"])
# Enough for MAX_GROUPS groups of a few terms each.
MAX_TEXT_CHARS = 500_000


# ---- the page


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


@pages.get("/admin/synonyms")
def synonyms_page(
    request: Request, session: SessionDep, principal: AdminUser, saved: str = ""
) -> HTMLResponse:
    """The synonym groups as one editable text, one group per line."""
    text = format_synonyms(store.load_synonyms(session))
    return _page(request, principal, text, saved=bool(saved))


@pages.post("/admin/synonyms", response_model=None)
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


# ---- the JSON API


class SynonymsPublic(BaseModel):
    groups: list[list[str]]
    revision: int


class SynonymsUpdate(BaseModel):
    groups: list[list[Annotated[str, Field(max_length=MAX_TERM_CHARS * 4)]]] = Field(
        max_length=MAX_GROUPS
    )


@api.get("")
def read_synonyms(session: SessionDep, principal: AdminUser) -> SynonymsPublic:
    """The synonym groups, each group's first term canonical."""
    return SynonymsPublic(
        groups=[list(group) for group in store.load_synonyms(session)],
        revision=store.knowledge_revision(session),
    )


@api.put("")
def replace_synonyms(
    body: SynonymsUpdate, session: SessionDep, principal: AdminUser
) -> SynonymsPublic:
    """Replace every synonym group at once (422 naming each bad group; nothing is saved)."""
    try:
        authoring.replace_synonyms(session, principal.actor, body.groups)
    except SynonymsRejected as rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, rejected.problems) from None
    return read_synonyms(session, principal)


router = APIRouter()
router.include_router(pages)
router.include_router(api)
