"""Conversations and their messages: the only module that writes these tables."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from chatbot.db import webhooks
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation, ConversationStatus, Message, Role, User


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
    webhooks.emit(
        session,
        "conversation.started",
        {"conversation": webhooks.conversation_data(conversation)},
        conversation_id=conversation.id,
    )
    return conversation, token


def get_conversation(session: Session, conversation_id: str) -> Conversation | None:
    return session.get(Conversation, conversation_id)


def token_matches(conversation: Conversation, token: str) -> bool:
    return hmac.compare_digest(conversation.token_hash, _hash_token(token))


def add_message(
    session: Session,
    conversation: Conversation,
    role: Role,
    text: str,
    *,
    reply_to_id: int | None = None,
    author_id: int | None = None,
    client_id: str | None = None,
    attachment_id: int | None = None,
    sentiment: str | None = None,
    sentiment_score: float | None = None,
    related_from_id: int | None = None,
    model_version: str | None = None,
    latency_ms: float | None = None,
    intent: str | None = None,
    confidence: float | None = None,
    action: str | None = None,
    suggestions: list[dict[str, str]] | None = None,
    follow_ups: list[dict[str, str]] | None = None,
    related: list[dict[str, str]] | None = None,
    handoff_reason: str | None = None,
) -> Message:
    """Store a message and count it on its conversation.

    Who wrote it: ``author_id`` (a staff member), ``client_id`` (the id a customer's browser
    gave it, so a retry is stored once). On a customer message: its ``sentiment`` and score,
    and ``related_from_id``, the bot answer whose related question it clicked. On a bot reply:
    ``reply_to_id`` (the customer message it answers), what the model made of that message
    (``intent``, ``confidence``, ``model_version``, ``latency_ms``), the ``action`` taken, the
    buttons offered and, on a handoff, its reason.
    """
    message = Message(
        conversation_id=conversation.id,
        role=role,
        text=text,
        reply_to_id=reply_to_id,
        author_id=author_id,
        client_id=client_id,
        attachment_id=attachment_id,
        sentiment=sentiment,
        sentiment_score=sentiment_score,
        related_from_id=related_from_id,
        model_version=model_version,
        latency_ms=latency_ms,
        intent=intent,
        confidence=confidence,
        action=action,
        suggestions=suggestions or [],
        follow_ups=follow_ups or [],
        related=related,
        handoff_reason=handoff_reason,
    )
    session.add(message)
    conversation.updated_at = utcnow()
    conversation.message_count = (conversation.message_count or 0) + 1
    if action == "fallback":
        conversation.had_fallback = True
    if sentiment == "negative":
        conversation.negative_messages = (conversation.negative_messages or 0) + 1
    elif sentiment == "positive":
        conversation.positive_messages = (conversation.positive_messages or 0) + 1
    session.flush()
    webhooks.emit(
        session,
        "message.created",
        {"message": webhooks.message_data(message)},
        conversation_id=conversation.id,
    )
    return message


def find_sent(session: Session, conversation_id: str, client_id: str) -> Message | None:
    """The customer message the browser sent with this id, if it was stored already."""
    return session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.client_id == client_id
        )
    )


def reply_to(session: Session, message_id: int) -> Message | None:
    """The bot's reply to a customer message, if it has one."""
    return session.scalar(select(Message).where(Message.reply_to_id == message_id))


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


# Built once: every turn asks these, and building an aliased join each time cost a turn more
# CPU than running it (with the statement cached, only the parameters change).
_ASKED = aliased(Message)
_LAST_REPLY_BEFORE = (
    select(Message, _ASKED.text)
    .outerjoin(_ASKED, _ASKED.id == Message.reply_to_id)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.role == Role.BOT,
        Message.id < bindparam("message_id"),
    )
    .order_by(Message.id.desc())
    .limit(1)
)


def last_reply_before(
    session: Session, conversation_id: str, message_id: int
) -> tuple[Message, str | None] | None:
    """The bot's latest message before ``message_id`` and the text of the customer message it
    replied to (None when it spoke unprompted); None when the bot has not spoken yet."""
    row = session.execute(
        _LAST_REPLY_BEFORE, {"conversation_id": conversation_id, "message_id": message_id}
    ).first()
    return None if row is None else (row[0], row[1])


def set_status(session: Session, conversation: Conversation, status: ConversationStatus) -> None:
    conversation.status = status
    conversation.closed_at = utcnow() if status is ConversationStatus.CLOSED else None
    if status is ConversationStatus.WAITING:
        conversation.staff_emailed_at = None  # a new wait: staff may be e-mailed about it again
    if status in LIVE_STATUSES and conversation.handed_off_at is None:
        conversation.handed_off_at = utcnow()  # a person is involved: not contained by the bot
    if status is not ConversationStatus.BOT:
        # A person, or a closed conversation, ends any slot asking: its next message is new.
        conversation.slot_filling = None
    session.flush()
    event = _STATUS_EVENTS.get(status)
    if event is not None:
        data = {"conversation": webhooks.conversation_data(conversation)}
        webhooks.emit(session, event, data, conversation_id=conversation.id)


# The webhook event each status change is (handing back to the bot is none).
_STATUS_EVENTS = {
    ConversationStatus.WAITING: "handoff.requested",
    ConversationStatus.WITH_STAFF: "conversation.claimed",
    ConversationStatus.CLOSED: "conversation.closed",
}


def claim_overdue(session: Session, waiting_since: datetime, limit: int = 50) -> list[str]:
    """Conversations waiting for a person since before ``waiting_since`` whose staff were not
    e-mailed yet, marked as e-mailed now (each by one replica only: a conditional update)."""
    started = func.coalesce(Conversation.offline_since, Conversation.handed_off_at)
    candidates = session.scalars(
        select(Conversation.id)
        .where(
            Conversation.status == ConversationStatus.WAITING,
            Conversation.staff_emailed_at.is_(None),
            started < waiting_since,
        )
        .limit(limit)
    ).all()
    claimed = []
    for conversation_id in candidates:
        result = session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.staff_emailed_at.is_(None))
            .values(staff_emailed_at=utcnow())
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(conversation_id)
    return claimed


def set_offline(session: Session, conversation: Conversation, email: str) -> None:
    """An offline request: the conversation waits for a person, who answers by e-mail."""
    conversation.contact_email = email
    conversation.offline_since = utcnow()
    conversation.staff_emailed_at = None
    set_status(session, conversation, ConversationStatus.WAITING)


def get_message(session: Session, message_id: int) -> Message | None:
    return session.get(Message, message_id)


def set_feedback(session: Session, message: Message, helpful: bool) -> None:
    message.helpful = helpful
    message.conversation.feedback_given = True
    session.flush()
    conversation_id = message.conversation_id
    data = {"kind": "answer", "conversation_id": conversation_id, "message_id": message.id}
    data["helpful"] = helpful
    webhooks.emit(session, "feedback.given", data, conversation_id=conversation_id)


# ---- live takeover: the staff queue and who holds a conversation

LIVE_STATUSES = (ConversationStatus.WAITING, ConversationStatus.WITH_STAFF)


def live_conversations(session: Session) -> Sequence[Conversation]:
    """Conversations waiting for a person or held by one, in no particular order."""
    return session.scalars(select(Conversation).where(Conversation.status.in_(LIVE_STATUSES))).all()


def live_queue_page(
    session: Session, *, limit: int, offset: int = 0
) -> list[tuple[Conversation, datetime | None]]:
    """One page of the live queue, each conversation with when it last asked for a person.

    Waiting conversations come first, longest waiting first, then those people hold (oldest
    first); a conversation that never asked waits since its last activity. Sorted and cut by
    the database, so a queue of thousands costs one page's rows.
    """
    asked = (
        select(Message.conversation_id, func.max(Message.created_at).label("at"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.status.in_(LIVE_STATUSES), Message.action == "handoff")
        .group_by(Message.conversation_id)
        .subquery()
    )
    waiting_first = case((Conversation.status == ConversationStatus.WAITING, 0), else_=1)
    rows = session.execute(
        select(Conversation, asked.c.at)
        .outerjoin(asked, asked.c.conversation_id == Conversation.id)
        .where(Conversation.status.in_(LIVE_STATUSES))
        .order_by(
            waiting_first, func.coalesce(asked.c.at, Conversation.updated_at), Conversation.id
        )
        .limit(limit)
        .offset(offset)
    )
    return [(conversation, at) for conversation, at in rows]


def live_counts(session: Session) -> dict[ConversationStatus, int]:
    """How many conversations wait for a person and how many people hold."""
    rows = session.execute(
        select(Conversation.status, func.count())
        .where(Conversation.status.in_(LIVE_STATUSES))
        .group_by(Conversation.status)
    )
    counts = dict.fromkeys(LIVE_STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts


def idle_conversations(session: Session, idle_since: datetime, limit: int) -> list[Conversation]:
    """Open conversations (not closed) with no activity since ``idle_since``, oldest first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(
                Conversation.status != ConversationStatus.CLOSED,
                Conversation.updated_at < idle_since,
                # An offline request waits for staff however long it takes: nobody was there.
                ~and_(
                    Conversation.status == ConversationStatus.WAITING,
                    Conversation.contact_email.is_not(None),
                ),
            )
            .order_by(Conversation.updated_at)
            .limit(limit)
        )
    )


def last_messages(session: Session, conversation_ids: Sequence[str]) -> dict[str, Message]:
    """The newest message of each conversation (one query)."""
    if not conversation_ids:
        return {}
    newest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids))
        .group_by(Message.conversation_id)
    )
    return {
        m.conversation_id: m for m in session.scalars(select(Message).where(Message.id.in_(newest)))
    }


def handoff_times(session: Session, conversation_ids: Sequence[str]) -> dict[str, datetime]:
    """When each conversation last asked for a person (its latest handoff message)."""
    if not conversation_ids:
        return {}
    rows = session.execute(
        select(Message.conversation_id, func.max(Message.created_at))
        .where(Message.conversation_id.in_(conversation_ids), Message.action == "handoff")
        .group_by(Message.conversation_id)
    )
    return {conversation_id: at for conversation_id, at in rows}


_REPLY = aliased(Message)
_UNANSWERED_BEFORE = (
    select(Message.id)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.id < bindparam("message_id"),
        Message.role == Role.CUSTOMER,
        Message.created_at >= bindparam("since"),
        ~exists().where(_REPLY.reply_to_id == Message.id),
    )
    .limit(1)
)


def unanswered_before(
    session: Session, conversation_id: str, message_id: int, since: datetime
) -> bool:
    """Whether an earlier customer message of the conversation, sent since ``since``, has no
    reply yet (its turn may be running, here or on another replica)."""
    earlier = session.scalar(
        _UNANSWERED_BEFORE,
        {"conversation_id": conversation_id, "message_id": message_id, "since": since},
    )
    return earlier is not None


_LOCKED = (
    select(Conversation)
    .where(Conversation.id == bindparam("conversation_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def lock_conversation(session: Session, conversation_id: str) -> Conversation | None:
    """The conversation, locked until commit where the database can (two people claiming at once
    on PostgreSQL: the second waits, then sees the first one's claim)."""
    return session.scalars(_LOCKED, {"conversation_id": conversation_id}).one_or_none()


def get_user(session: Session, user_id: int | None) -> User | None:
    return session.get(User, user_id) if user_id is not None else None


def assign(session: Session, conversation: Conversation, user: User | None) -> None:
    """Who holds the conversation; None hands it back to nobody."""
    conversation.assigned_to_id = user.id if user is not None else None
    session.flush()


def set_satisfaction(session: Session, conversation: Conversation, rating: int) -> None:
    conversation.satisfaction = rating
    conversation.feedback_given = True
    session.flush()
    data = {"kind": "satisfaction", "conversation_id": conversation.id, "satisfaction": rating}
    webhooks.emit(session, "feedback.given", data, conversation_id=conversation.id)
