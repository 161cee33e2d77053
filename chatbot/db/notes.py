"""Private notes: what staff write about a conversation for each other, never for the customer.

Kept apart from ``messages`` on purpose: every customer route reads messages, none reads notes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.models import Conversation, ConversationNote, User

MAX_NOTE_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class NoteError(ValueError):
    """The note is empty or too long; the message names the field."""


def add_note(
    session: Session, conversation: Conversation, author: User, text: str
) -> ConversationNote:
    """Store a note by ``author`` (trimmed; 1 to MAX_NOTE_CHARS characters)."""
    text = text.strip()
    if not 1 <= len(text) <= MAX_NOTE_CHARS:
        raise NoteError(f"text: 1 to {MAX_NOTE_CHARS} characters, got {len(text)}")
    if _CONTROL.search(text):  # PostgreSQL refuses NUL in text; none of them is meant
        raise NoteError("text: no control characters (line breaks and tabs are fine)")
    note = ConversationNote(conversation_id=conversation.id, author_id=author.id, text=text)
    session.add(note)
    session.flush()
    return note


def list_notes(
    session: Session, conversation_id: str
) -> Sequence[tuple[ConversationNote, User | None]]:
    """The conversation's notes, oldest first, each with its author (None once deleted)."""
    rows = session.execute(
        select(ConversationNote, User)
        .outerjoin(User, User.id == ConversationNote.author_id)
        .where(ConversationNote.conversation_id == conversation_id)
        .order_by(ConversationNote.id)
    )
    return [(note, author) for note, author in rows.tuples()]
