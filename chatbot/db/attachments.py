"""Attachment rows: which file belongs to which conversation, under what name and type."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.models import Attachment, Conversation


def add_attachment(
    session: Session,
    conversation: Conversation,
    *,
    stored_name: str,
    name: str,
    content_type: str,
    size: int,
) -> Attachment:
    attachment = Attachment(
        conversation_id=conversation.id,
        stored_name=stored_name,
        name=name,
        content_type=content_type,
        size=size,
    )
    session.add(attachment)
    session.flush()
    return attachment


def get_attachment(session: Session, attachment_id: int) -> Attachment | None:
    return session.get(Attachment, attachment_id)


def stored_names(session: Session, conversation_ids: Sequence[str]) -> list[str]:
    """The files of these conversations' attachments (to remove once their rows are gone)."""
    return list(
        session.scalars(
            select(Attachment.stored_name).where(Attachment.conversation_id.in_(conversation_ids))
        )
    )
