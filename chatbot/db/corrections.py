"""Staff corrections (the right intent for a message, or none: out of scope): the only module
that writes their table. Training reads them as extra phrasings and out-of-scope examples."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.models import Correction


def add_correction(
    session: Session,
    text: str,
    intent: str | None,
    *,
    message_id: int | None = None,
    created_by: str | None = None,
) -> Correction:
    correction = Correction(text=text, intent=intent, message_id=message_id, created_by=created_by)
    session.add(correction)
    session.flush()
    return correction


def list_corrections(session: Session) -> Sequence[Correction]:
    return session.scalars(select(Correction).order_by(Correction.id)).all()


def set_correction(
    session: Session,
    message_id: int,
    text: str,
    intent: str | None,
    *,
    created_by: str | None = None,
) -> Correction:
    """Record the verdict on one bot turn, replacing any earlier one: one correction per message.

    >>> from chatbot.db.conversations import add_message, start_conversation
    >>> from chatbot.db.models import Role
    >>> conversation, _token = start_conversation(session)
    >>> reply = add_message(session, conversation, Role.BOT, "You can cancel within an hour.")
    >>> session.flush()
    >>> _ = set_correction(session, reply.id, "where is my parcel", "cancel_order")
    >>> _ = set_correction(session, reply.id, "where is my parcel", "track_order", created_by="sam")
    >>> [(c.message_id == reply.id, c.intent) for c in list_corrections(session)]
    [(True, 'track_order')]
    """
    for earlier in session.scalars(select(Correction).where(Correction.message_id == message_id)):
        session.delete(earlier)
    session.flush()
    return add_correction(session, text, intent, message_id=message_id, created_by=created_by)
