"""Who gets a conversation: open conversations per person, the round robin's turn, reminders.

The rules (chatbot/conversation/assignment.py) decide; these functions only read and write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from chatbot.db import presence
from chatbot.db.base import as_utc, utcnow
from chatbot.db.models import (
    Conversation,
    ConversationStatus,
    Message,
    Role,
    StaffPresence,
    User,
    UserRole,
)

HANDOFF = "handoff"  # a bot message's action when it put the conversation in the queue


def open_counts(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """How many conversations each of ``user_ids`` holds now (status with_staff)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(Conversation.assigned_to_id, func.count())
        .where(
            Conversation.status == ConversationStatus.WITH_STAFF,
            Conversation.assigned_to_id.in_(user_ids),
        )
        .group_by(Conversation.assigned_to_id)
    )
    counts = dict.fromkeys(user_ids, 0)
    counts.update({user_id: count for user_id, count in rows if user_id is not None})
    return counts


def next_in_turn(session: Session, max_open: int, *, now: datetime | None = None) -> User | None:
    """The available staff member whose turn it is: holding fewer than ``max_open``
    conversations, and the least recently assigned (never assigned first, then by account age);
    None when everybody available is full, or nobody is available."""
    available = presence.available_staff(session, now=now)
    counts = open_counts(session, [user.id for user in available])
    free = [user for user in available if counts[user.id] < max_open]
    if not free:
        return None
    last = dict(
        session.execute(
            select(StaffPresence.user_id, StaffPresence.last_assigned_at).where(
                StaffPresence.user_id.in_([user.id for user in free])
            )
        )
        .tuples()
        .all()
    )

    def turn(user: User) -> tuple[bool, datetime, int]:
        at = last.get(user.id)
        return (at is not None, as_utc(at) if at is not None else utcnow(), user.id)

    return min(free, key=turn)


def mark_assigned(session: Session, user_id: int, *, now: datetime | None = None) -> None:
    """``user_id`` was just given a conversation: the round robin moves past them."""
    session.execute(
        update(StaffPresence)
        .where(StaffPresence.user_id == user_id)
        .values(last_assigned_at=now or utcnow())
    )


def waiting_unassigned(session: Session, limit: int = 50) -> list[str]:
    """Conversations waiting for a person that nobody holds, longest waiting first."""
    started = func.coalesce(Conversation.handed_off_at, Conversation.updated_at)
    return list(
        session.scalars(
            select(Conversation.id)
            .where(
                Conversation.status == ConversationStatus.WAITING,
                Conversation.assigned_to_id.is_(None),
            )
            .order_by(started, Conversation.id)
            .limit(limit)
        )
    )


def colleagues(session: Session) -> Sequence[User]:
    """Every active staff member and admin, by name: whom a conversation may be handed to."""
    return session.scalars(
        select(User)
        .where(User.is_active, User.role.in_((UserRole.STAFF, UserRole.ADMIN)))
        .order_by(func.lower(func.coalesce(User.name, User.email)), User.id)
    ).all()


# ---- reminders


def awaiting_reply(session: Session) -> dict[str, datetime]:
    """Conversations a person holds whose customer waits for a staff reply, with since when.

    The wait starts at the latest handoff if no staff message came after it (the customer
    asked and nobody has written yet), else at the first customer message after the latest
    staff message; a conversation whose customer has not written since the last staff reply
    does not wait.
    """
    held = (Conversation.status == ConversationStatus.WITH_STAFF) & (
        Conversation.assigned_to_id.is_not(None)
    )
    last_turn = (
        select(Message.conversation_id, func.max(Message.id).label("message_id"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(held, or_(Message.role == Role.STAFF, Message.action == HANDOFF))
        .group_by(Message.conversation_id)
        .subquery()
    )
    resets = session.execute(
        select(Message.conversation_id, Message.role, Message.created_at).join(
            last_turn, last_turn.c.message_id == Message.id
        )
    ).all()
    waiting = {
        conversation_id: as_utc(at)
        for conversation_id, role, at in resets
        if role is not Role.STAFF
    }
    written_since = session.execute(
        select(Message.conversation_id, func.min(Message.created_at))
        .join(last_turn, last_turn.c.conversation_id == Message.conversation_id)
        .where(Message.role == Role.CUSTOMER, Message.id > last_turn.c.message_id)
        .group_by(Message.conversation_id)
    )
    for conversation_id, at in written_since:
        waiting.setdefault(conversation_id, as_utc(at))
    return waiting


def reminded_at(session: Session, conversation_ids: Sequence[str]) -> dict[str, datetime | None]:
    """When each conversation's assignee was last reminded (None: never)."""
    if not conversation_ids:
        return {}
    rows = session.execute(
        select(Conversation.id, Conversation.reminded_at).where(
            Conversation.id.in_(conversation_ids)
        )
    )
    return {key: as_utc(at) if at is not None else None for key, at in rows}


def claim_reminder(session: Session, conversation_id: str, since: datetime) -> bool:
    """Mark the conversation reminded for the wait that began at ``since``; False when it
    already was (by this replica or another: a conditional update)."""
    result = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(Conversation.reminded_at.is_(None), Conversation.reminded_at < since),
        )
        .values(reminded_at=utcnow())
        # Compared in SQL only: SQLite's naive datetimes cannot be compared to ``since`` here.
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1
