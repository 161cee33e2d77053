"""Labels staff put on conversations ("refund", "vip") to find and export them by.

A label is short lower-case text without commas (the export joins a conversation's labels with
them); each conversation carries a label once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chatbot.db.models import Conversation, ConversationLabel

MAX_LABEL_CHARS = 40
MAX_LABELS = 20  # per conversation
_SPACES = re.compile(r"\s+")


class LabelError(ValueError):
    """Not a label, or one too many; the message names the field."""


def normalized(raw: str) -> str:
    """``raw`` as a label: trimmed, inner spaces collapsed, lower case.

    Example:
        >>> normalized("  Refund   Request ")
        'refund request'
    """
    label = _SPACES.sub(" ", raw).strip().lower()
    if not label:
        raise LabelError("label: enter a label")
    if len(label) > MAX_LABEL_CHARS:
        raise LabelError(f"label: at most {MAX_LABEL_CHARS} characters, got {len(label)}")
    if "," in label or not label.isprintable():
        raise LabelError("label: no commas or control characters")
    return label


def labels_of(session: Session, conversation_id: str) -> list[str]:
    return list(
        session.scalars(
            select(ConversationLabel.label)
            .where(ConversationLabel.conversation_id == conversation_id)
            .order_by(ConversationLabel.label)
        )
    )


def labels_by_conversation(session: Session, ids: Sequence[str]) -> dict[str, list[str]]:
    """Each conversation's labels, sorted (one query)."""
    if not ids:
        return {}
    found: dict[str, list[str]] = {}
    for conversation_id, label in session.execute(
        select(ConversationLabel.conversation_id, ConversationLabel.label)
        .where(ConversationLabel.conversation_id.in_(list(ids)))
        .order_by(ConversationLabel.label)
    ):
        found.setdefault(conversation_id, []).append(label)
    return found


def add_label(session: Session, conversation: Conversation, raw: str, *, by: str | None) -> bool:
    """Put the label on the conversation; False when it already carried it."""
    label = normalized(raw)
    current = labels_of(session, conversation.id)
    if label in current:
        return False
    if len(current) >= MAX_LABELS:
        raise LabelError(f"label: a conversation carries at most {MAX_LABELS} labels")
    session.add(ConversationLabel(conversation_id=conversation.id, label=label, added_by=by))
    session.flush()
    return True


def remove_label(session: Session, conversation: Conversation, raw: str) -> bool:
    """Take the label off; False when the conversation did not carry it."""
    label = normalized(raw)
    result = session.execute(
        delete(ConversationLabel).where(
            ConversationLabel.conversation_id == conversation.id, ConversationLabel.label == label
        )
    )
    return getattr(result, "rowcount", 0) == 1


def known_labels(session: Session, limit: int = 200) -> list[str]:
    """Labels in use, alphabetically: what the transcript filter offers."""
    return list(
        session.scalars(
            select(ConversationLabel.label)
            .distinct()
            .order_by(ConversationLabel.label)
            .limit(limit)
        )
    )
