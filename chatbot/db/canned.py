"""Canned replies: ready-made answers staff insert while talking to a customer.

Every change is audited here, in the caller's transaction, so the console's form and the JSON
API write the same entries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db import audit
from chatbot.db.models import CannedReply

MAX_TITLE_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_LANGUAGE_CHARS = 16


class CannedReplyError(ValueError):
    """A refused field: empty or too long (``field`` must have 1 to ``limit`` characters), or
    holding control characters (``limit`` is None)."""

    def __init__(self, field: str, limit: int | None, got: int = 0) -> None:
        if limit is None:
            problem = "no control characters (line breaks and tabs are fine)"
        else:
            problem = f"1 to {limit} characters, got {got}"
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.limit = limit


# PostgreSQL refuses NUL in text (a 500 if it got there); none of these is meant in a reply.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _cleaned(title: str, text: str, language: str | None) -> tuple[str, str, str | None]:
    title, text = title.strip(), text.strip()
    language = (language or "").strip() or None
    if not 1 <= len(title) <= MAX_TITLE_CHARS:
        raise CannedReplyError("title", MAX_TITLE_CHARS, len(title))
    if not 1 <= len(text) <= MAX_TEXT_CHARS:
        raise CannedReplyError("text", MAX_TEXT_CHARS, len(text))
    if language is not None and len(language) > MAX_LANGUAGE_CHARS:
        raise CannedReplyError("language", MAX_LANGUAGE_CHARS, len(language))
    for field, value in (("title", title), ("text", text), ("language", language or "")):
        if _CONTROL.search(value):
            raise CannedReplyError(field, None)
    return title, text, language


def list_canned(session: Session) -> Sequence[CannedReply]:
    """Every canned reply, by title."""
    return session.scalars(select(CannedReply).order_by(CannedReply.title, CannedReply.id)).all()


def get_canned(session: Session, reply_id: int) -> CannedReply | None:
    return session.get(CannedReply, reply_id)


def create_canned(
    session: Session, title: str, text: str, *, language: str | None = None, actor: str | None
) -> CannedReply:
    """Add a canned reply, audited; raises CannedReplyError naming the bad field."""
    title, text, language = _cleaned(title, text, language)
    reply = CannedReply(title=title, text=text, language=language, updated_by=actor)
    session.add(reply)
    session.flush()
    audit.record(session, actor, "canned.create", str(reply.id), after=snapshot(reply))
    return reply


def update_canned(
    session: Session,
    reply: CannedReply,
    title: str,
    text: str,
    *,
    language: str | None = None,
    actor: str | None,
) -> CannedReply:
    """Change a canned reply, audited; raises CannedReplyError naming the bad field (nothing
    changes)."""
    before = snapshot(reply)
    reply.title, reply.text, reply.language = _cleaned(title, text, language)
    reply.updated_by = actor
    session.flush()
    audit.record(
        session, actor, "canned.update", str(reply.id), before=before, after=snapshot(reply)
    )
    return reply


def delete_canned(session: Session, reply: CannedReply, *, actor: str | None) -> None:
    """Remove a canned reply, audited."""
    audit.record(session, actor, "canned.delete", str(reply.id), before=snapshot(reply))
    session.delete(reply)
    session.flush()


def snapshot(reply: CannedReply) -> dict[str, str | None]:
    """What the audit log keeps of a canned reply."""
    return {"title": reply.title, "text": reply.text, "language": reply.language}
