"""Canned replies as a JSON API (the console page: chatbot/console/staff/canned.py).

Both call chatbot/db/canned.py, which validates each field and writes the audit entry, so a form
and an API call with the same values store and log the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot.api.deps import RowId, SessionDep
from chatbot.api.principals import StaffUser
from chatbot.api.schemas import answer_example
from chatbot.db import canned
from chatbot.db.base import as_utc
from chatbot.db.models import CannedReply

router = APIRouter(prefix="/api/v1/staff/canned", tags=["canned replies"])


def find_canned_reply(session: Session, reply_id: int) -> CannedReply:
    """The canned reply, or 404."""
    reply = canned.get_canned(session, reply_id)
    if reply is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"canned reply {reply_id} not found")
    return reply


# ---- the JSON API


class CannedReplyCreate(BaseModel):
    title: str = Field(max_length=10_000, description="1 to 100 characters once trimmed.")
    text: str = Field(max_length=10_000, description="1 to 2000 characters once trimmed.")
    language: str | None = Field(
        None, max_length=16, description="The customers' language it is for; null: any."
    )


class CannedReplyUpdate(BaseModel):
    """Only the fields sent change."""

    title: str | None = Field(None, max_length=10_000)
    text: str | None = Field(None, max_length=10_000)
    language: str | None = Field(None, max_length=16, description="null or '': any language.")


class CannedReplyPublic(BaseModel):
    id: int
    title: str
    text: str
    language: str | None
    updated_by: str | None = Field(description="Who last saved it.")
    updated_at: datetime

    @classmethod
    def of(cls, reply: CannedReply) -> CannedReplyPublic:
        return cls(
            id=reply.id,
            title=reply.title,
            text=reply.text,
            language=reply.language,
            updated_by=reply.updated_by,
            updated_at=as_utc(reply.updated_at),
        )


EXAMPLE_REPLY = {
    "id": 3,
    "title": "Refund timing",
    "text": "Refunds reach your account within **3-5 working days**.",
    "language": "en",
    "updated_by": "sam@shop.example",
    "updated_at": "2026-11-30T09:15:00Z",
}
CREATE_EXAMPLES: Any = {
    "reply": {
        "summary": "An English reply",
        "value": {"title": "Refund timing", "text": EXAMPLE_REPLY["text"], "language": "en"},
    }
}
UPDATE_EXAMPLES: Any = {
    "text": {"summary": "New wording only", "value": {"text": "Refunds take 3-5 working days."}},
}


def _saved(session: Session, save: Callable[[], CannedReply]) -> CannedReplyPublic:
    try:
        reply = save()
    except canned.CannedReplyError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return CannedReplyPublic.of(reply)


@router.get("", responses=answer_example([EXAMPLE_REPLY]))
def list_canned_replies(session: SessionDep, principal: StaffUser) -> list[CannedReplyPublic]:
    """Every canned reply, by title: the picker beside the reply box."""
    return [CannedReplyPublic.of(reply) for reply in canned.list_canned(session)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=answer_example(EXAMPLE_REPLY, 201),
)
def create_canned_reply(
    body: Annotated[CannedReplyCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    session: SessionDep,
    principal: StaffUser,
) -> CannedReplyPublic:
    """Add a canned reply (audited as ``canned.create``)."""
    return _saved(
        session,
        lambda: canned.create_canned(
            session, body.title, body.text, language=body.language, actor=principal.actor
        ),
    )


@router.get("/{reply_id}", responses=answer_example(EXAMPLE_REPLY))
def read_canned_reply(
    reply_id: RowId, session: SessionDep, principal: StaffUser
) -> CannedReplyPublic:
    """One canned reply."""
    return CannedReplyPublic.of(find_canned_reply(session, reply_id))


@router.patch("/{reply_id}", responses=answer_example(EXAMPLE_REPLY))
def update_canned_reply(
    reply_id: RowId,
    body: Annotated[CannedReplyUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    session: SessionDep,
    principal: StaffUser,
) -> CannedReplyPublic:
    """Change a canned reply's title, text or language (audited as ``canned.update``)."""
    reply = find_canned_reply(session, reply_id)
    sent = body.model_fields_set
    title = body.title if body.title is not None else reply.title
    text = body.text if body.text is not None else reply.text
    language = body.language if "language" in sent else reply.language
    return _saved(
        session,
        lambda: canned.update_canned(
            session, reply, title, text, language=language, actor=principal.actor
        ),
    )


@router.delete("/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_canned_reply(reply_id: RowId, session: SessionDep, principal: StaffUser) -> None:
    """Remove a canned reply (audited as ``canned.delete``, with what it said)."""
    canned.delete_canned(session, find_canned_reply(session, reply_id), actor=principal.actor)
    session.commit()
