"""Sharing the work: automatic assignment, transfer to a colleague, reminders of a waiting customer.

Automatic assignment (CHATBOT_AUTO_ASSIGN) gives a conversation entering the queue to the
available staff member whose turn it is, round robin, skipping anyone who already holds
CHATBOT_MAX_OPEN_CONVERSATIONS; with nobody free it waits in the queue as before, and the
replica's upkeep tries again until someone is. Like the takeover rules, each returns a
``Change`` (or a ``Reminder``) for the caller to announce once it has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from chatbot.conversation import takeover
from chatbot.conversation.takeover import Change, TakeoverError, WrongState
from chatbot.db import assignment as store
from chatbot.db import conversations
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation, ConversationStatus, User
from chatbot.events import Event

ASSIGN_BATCH = 50  # waiting conversations looked at per upkeep turn


class NotAColleague(TakeoverError):
    """The person to hand the conversation to cannot take it (unknown, disabled, oneself)."""


@dataclass
class Assigned:
    """A conversation given to someone: the change to announce, and who gave it (None: the
    round robin)."""

    change: Change
    assignee: User
    by: User | None = None


def _give(session: Session, conversation: Conversation, user: User) -> Change:
    conversations.assign(session, conversation, user)
    conversations.set_status(session, conversation, ConversationStatus.WITH_STAFF)
    return Change(conversation, status_changed=True, agent=takeover.public_name(user))


def auto_assign(
    session: Session, conversation: Conversation, max_open: int, *, now: datetime | None = None
) -> Assigned | None:
    """Give a waiting conversation nobody holds to the staff member whose turn it is; None when
    it is not waiting unassigned or nobody available has room."""
    if conversation.status is not ConversationStatus.WAITING or conversation.assigned_to_id:
        return None
    user = store.next_in_turn(session, max_open, now=now)
    if user is None:
        return None
    store.mark_assigned(session, user.id, now=now)
    return Assigned(_give(session, conversation, user), user)


def assign_waiting(
    session: Session, max_open: int, *, now: datetime | None = None
) -> list[Assigned]:
    """Hand out what waits in the queue, longest waiting first, while anybody has room (a
    staff member became available, or closed a conversation)."""
    done: list[Assigned] = []
    for conversation_id in store.waiting_unassigned(session, ASSIGN_BATCH):
        conversation = conversations.lock_conversation(session, conversation_id)
        if conversation is None:
            continue
        assigned = auto_assign(session, conversation, max_open, now=now)
        if assigned is None:
            if conversation.status is ConversationStatus.WAITING:
                break  # nobody has room: the rest waits too
            continue
        done.append(assigned)
    return done


def transfer(
    session: Session, conversation: Conversation, user: User, colleague: User | None
) -> Assigned:
    """``user`` hands a live conversation to ``colleague``, who holds it from now on.

    Refused for a conversation not waiting for or held by a person, one a third person holds,
    and a colleague who is not an active staff member or admin, or ``user`` themselves.
    """
    if conversation.status not in takeover.LIVE:
        raise WrongState("only a conversation waiting for or held by a person can be transferred")
    takeover.check_not_held_by_another(session, conversation, user)
    if colleague is None or not colleague.is_active:
        raise NotAColleague("to: no such active staff member")
    if colleague.id == user.id:
        raise NotAColleague("to: choose a colleague, not yourself")
    return Assigned(_give(session, conversation, colleague), colleague, by=user)


def assigned_event(assigned: Assigned, entry: dict[str, Any]) -> Event:
    """What every console hears: the conversation went to ``assignee_id`` (whose console
    notifies them), given by ``by`` (None: the round robin)."""
    return {
        "type": "assigned",
        "conversation": entry,
        "assignee_id": assigned.assignee.id,
        "by": takeover.display_name(assigned.by),
    }


# ---- reminders


@dataclass(frozen=True)
class Reminder:
    """The customer of a conversation someone holds has waited past the threshold for a reply."""

    conversation: Conversation
    assignee_id: int
    waiting_since: datetime


def _overdue(session: Session, threshold: timedelta, now: datetime | None) -> dict[str, datetime]:
    """Conversations waiting longer than ``threshold`` for a staff reply and not yet reminded
    of this wait, with since when they wait (reads only)."""
    cutoff = (now or utcnow()) - threshold
    waiting = {
        key: since for key, since in store.awaiting_reply(session).items() if since <= cutoff
    }
    reminded = store.reminded_at(session, list(waiting))
    return {
        key: since
        for key, since in waiting.items()
        if (at := reminded.get(key)) is None or at < since
    }


def reminders_due(session: Session, threshold: timedelta, *, now: datetime | None = None) -> bool:
    """Whether :func:`due_reminders` has anything to send: a read, so that a replica takes no
    write lock for nothing."""
    return bool(_overdue(session, threshold, now))


def due_reminders(
    session: Session, threshold: timedelta, *, now: datetime | None = None
) -> list[Reminder]:
    """Conversations whose customer has waited longer than ``threshold`` for a staff reply,
    each claimed for this wait (a later wait, after the next staff reply, may remind again)."""
    due = []
    for conversation_id, since in sorted(_overdue(session, threshold, now).items()):
        if not store.claim_reminder(session, conversation_id, since):
            continue  # another replica was first
        conversation = conversations.get_conversation(session, conversation_id)
        if conversation is not None and conversation.assigned_to_id is not None:
            session.refresh(conversation)
            due.append(Reminder(conversation, conversation.assigned_to_id, since))
    return due


def can_assign(session: Session, max_open: int) -> bool:
    """Whether :func:`assign_waiting` would give anything out: a conversation waits that nobody
    holds, and someone available has room (a read)."""
    return bool(store.waiting_unassigned(session, 1)) and (
        store.next_in_turn(session, max_open) is not None
    )


def reminder_event(reminder: Reminder, entry: dict[str, Any]) -> Event:
    return {
        "type": "reminder",
        "conversation": entry,
        "assignee_id": reminder.assignee_id,
        "waiting_since": reminder.waiting_since.isoformat(),
    }


def announcements(
    session: Session, assigned: Assigned, view: takeover.MessageView
) -> list[tuple[str, Event]]:
    """What to publish once ``assigned`` is committed: the takeover's events (the customer sees
    who joined, every console the queue) and the assignment itself, for the assignee's console."""
    events = takeover.announcements(session, assigned.change, view)
    entry = takeover.queue_entry(session, assigned.change.conversation)
    events.append((takeover.STAFF_QUEUE, assigned_event(assigned, entry)))
    return events
