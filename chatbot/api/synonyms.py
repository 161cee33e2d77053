"""The knowledge base's synonym groups as a JSON API (the page: chatbot/console/admin/synonyms.py).

Terms a company's customers use for the same thing (退款 / 退钱 / refund / money back), one group
per line, first term canonical. Saving replaces the whole list (``chatbot.authoring``: audited
in the same transaction, the knowledge base's revision bumped, which serving processes follow:
the next message is matched with the new groups, without a restart).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from chatbot import authoring
from chatbot.api.deps import SessionDep
from chatbot.api.principals import AdminUser
from chatbot.db import knowledge as store
from chatbot.knowledge.synonyms import (
    MAX_GROUPS,
    MAX_TERM_CHARS,
    SynonymsRejected,
)

router = APIRouter(prefix="/api/v1/admin/synonyms", tags=["knowledge"])
# Enough for MAX_GROUPS groups of a few terms each.
MAX_TEXT_CHARS = 500_000


class SynonymsPublic(BaseModel):
    groups: list[list[str]]
    revision: int


class SynonymsUpdate(BaseModel):
    groups: list[list[Annotated[str, Field(max_length=MAX_TERM_CHARS * 4)]]] = Field(
        max_length=MAX_GROUPS
    )


@router.get("")
def read_synonyms(session: SessionDep, principal: AdminUser) -> SynonymsPublic:
    """The synonym groups, each group's first term canonical."""
    return SynonymsPublic(
        groups=[list(group) for group in store.load_synonyms(session)],
        revision=store.knowledge_revision(session),
    )


@router.put("")
def replace_synonyms(
    body: SynonymsUpdate, session: SessionDep, principal: AdminUser
) -> SynonymsPublic:
    """Replace every synonym group at once (422 naming each bad group; nothing is saved)."""
    try:
        authoring.replace_synonyms(session, principal.actor, body.groups)
    except SynonymsRejected as rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, rejected.problems) from None
    return read_synonyms(session, principal)
