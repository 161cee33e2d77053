"""Conversations and their messages: the only module that writes these tables."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.base import utcnow
from chatbot.db.models import Conversation, ConversationStatus, Message, Role


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_conversation(
    session: Session, *, language: str | None = None
) -> tuple[Conversation, str]:
    """Create a conversation; returns it and the customer's bearer token (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    conversation = Conversation(
        id=str(uuid.uuid4()), token_hash=_hash_token(token), language=language
    )
    session.add(conversation)
    session.flush()
    return conversation, token


def get_conversation(session: Session, conversation_id: str) -> Conversation | None:
    return session.get(Conversation, conversation_id)


def token_matches(conversation: Conversation, token: str) -> bool:
    return hmac.compare_digest(conversation.token_hash, _hash_token(token))


def add_message(
    session: Session, conversation: Conversation, role: Role, text: str, **fields: Any
) -> Message:
    message = Message(conversation_id=conversation.id, role=role, text=text, **fields)
    session.add(message)
    conversation.updated_at = utcnow()
    conversation.message_count = (conversation.message_count or 0) + 1
    if fields.get("action") == "fallback":
        conversation.had_fallback = True
    session.flush()
    return message


def list_messages(session: Session, conversation_id: str) -> Sequence[Message]:
    return session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    ).all()


def recent_bot_actions(session: Session, conversation_id: str, limit: int) -> list[str | None]:
    """Actions of the latest bot replies, newest first."""
    return list(
        session.scalars(
            select(Message.action)
            .where(Message.conversation_id == conversation_id, Message.role == Role.BOT)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    )


def set_status(session: Session, conversation: Conversation, status: ConversationStatus) -> None:
    conversation.status = status
    conversation.closed_at = utcnow() if status is ConversationStatus.CLOSED else None
    session.flush()


def get_message(session: Session, message_id: int) -> Message | None:
    return session.get(Message, message_id)


def set_feedback(session: Session, message: Message, helpful: bool) -> None:
    message.helpful = helpful
    message.conversation.feedback_given = True
    session.flush()
