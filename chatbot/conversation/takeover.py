"""Live takeover: a person claims a conversation, replies, hands it back to the bot or closes it.

The rules only read and write through ``chatbot.db``; each returns a ``Change`` saying what
happened, which the caller announces on the event bus once it has committed (so nobody hears of a
change that was rolled back). The bot itself stays silent while a conversation is waiting or held:
that is the manager's rule, this module only moves conversations between those states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from chatbot.conversation import builtins
from chatbot.db import conversations as store
from chatbot.db.base import as_utc, utcnow
from chatbot.db.models import Conversation, ConversationStatus, Message, Role, User
from chatbot.events import Event, EventBus, conversation_channel

STAFF_QUEUE = "staff:queue"  # every signed-in console hears of conversations entering/leaving it
LIVE = store.LIVE_STATUSES
LAST_MESSAGE_PREVIEW_CHARS = 200
QUEUE_PAGE = 50  # conversations the console shows at once (it asks for more on demand)
MAX_QUEUE_PAGE = 200  # the most one request may ask for
IDLE_BATCH = 500  # idle conversations closed per query

BACK_WITH_BOT = {
    "en": "You are back with our assistant. Ask me anything, or ask for a person again.",
    "zh": "您已回到智能助手。请继续提问，也可以再次转接人工客服。",
}
CLOSED = {
    "en": "This conversation has been closed by our team. Thank you for contacting us.",
    "zh": "本次对话已由客服结束，感谢您的咨询。",
}
IDLE_CLOSED = {
    "en": "This conversation was closed after a long time without messages. "
    "Write again whenever you like.",
    "zh": "由于长时间没有新消息，本次对话已结束。如需帮助，欢迎随时再次留言。",
}


class TakeoverError(Exception):
    """A rule refused: the message says why, for the person who tried."""


class HeldByAnother(TakeoverError):
    """Someone else holds the conversation."""


class WrongState(TakeoverError):
    """The conversation is not in a state that allows this (closed, or with the bot)."""


@dataclass
class Change:
    """What a rule did to one conversation, to announce after the commit."""

    conversation: Conversation
    messages: list[Message] = field(default_factory=list)  # new staff or system messages
    status_changed: bool = False
    agent: str | None = None  # who holds it now, as the customer sees them


def display_name(user: User | None) -> str | None:
    """How staff see a colleague: their name, else their email."""
    return (user.name or user.email) if user is not None else None


def public_name(user: User) -> str:
    """How a customer sees a staff member: their name, never their email address."""
    return user.name or user.email.split("@", 1)[0]


def check_not_held_by_another(
    session: Session, conversation: Conversation, user: User, *, take_over: bool = False
) -> None:
    holder = conversation.assigned_to_id
    held = conversation.status is ConversationStatus.WITH_STAFF and holder is not None
    if held and holder != user.id and not take_over:
        name = display_name(store.get_user(session, holder)) or "another person"
        raise HeldByAnother(f"{name} is already talking to this customer")


def claim(
    session: Session, conversation: Conversation, user: User, *, take_over: bool = False
) -> Change:
    """``user`` takes the conversation (waiting or with the bot) and the bot falls silent.

    A conversation someone else holds is refused unless ``take_over`` is set.
    """
    if conversation.status is ConversationStatus.CLOSED:
        raise WrongState("the conversation is closed")
    check_not_held_by_another(session, conversation, user, take_over=take_over)
    change = Change(conversation, agent=public_name(user))
    if conversation.status is ConversationStatus.WITH_STAFF and conversation.assigned_to_id == (
        user.id
    ):
        return change  # already theirs: nothing to announce
    store.assign(session, conversation, user)
    store.set_status(session, conversation, ConversationStatus.WITH_STAFF)
    change.status_changed = True
    return change


def reply(session: Session, conversation: Conversation, user: User, text: str) -> Change:
    """A staff message from ``user``; replying to a conversation nobody holds claims it first."""
    change = claim(session, conversation, user)
    change.messages.append(
        store.add_message(session, conversation, Role.STAFF, text, author_id=user.id)
    )
    return change


def hand_back(session: Session, conversation: Conversation, user: User) -> Change:
    """The bot answers again; the customer is told so."""
    if conversation.status not in LIVE:
        raise WrongState("only a conversation waiting for or held by a person can be handed back")
    return _release(session, conversation, user, ConversationStatus.BOT, BACK_WITH_BOT)


def close(session: Session, conversation: Conversation, user: User) -> Change:
    """End the conversation; the customer's widget then asks how satisfied they were (1-5)."""
    if conversation.status is ConversationStatus.CLOSED:
        raise WrongState("the conversation is already closed")
    return _release(session, conversation, user, ConversationStatus.CLOSED, CLOSED)


def _release(
    session: Session,
    conversation: Conversation,
    user: User,
    status: ConversationStatus,
    notice: dict[str, str],
) -> Change:
    """People let go of the conversation: nobody holds it, and the customer is told why."""
    check_not_held_by_another(session, conversation, user)
    store.assign(session, conversation, None)
    store.set_status(session, conversation, status)
    text = builtins.localized(notice, (conversation.language or "en").lower())
    message = store.add_message(session, conversation, Role.SYSTEM, text, author_id=user.id)
    return Change(conversation, [message], status_changed=True)


def rate(session: Session, conversation: Conversation, rating: int) -> None:
    """The customer's 1-5 satisfaction with a closed conversation (a later rating replaces it)."""
    if conversation.status is not ConversationStatus.CLOSED:
        raise WrongState("satisfaction can be given once the conversation is closed")
    if not 1 <= rating <= 5:
        raise ValueError(f"rating: 1 to 5, got {rating}")
    store.set_satisfaction(session, conversation, rating)


# ---- the staff queue


def queue_entry(
    session: Session,
    conversation: Conversation,
    *,
    last_message: Message | None = None,
    waiting_since: datetime | None = None,
) -> dict[str, Any]:
    """One conversation as the live queue shows it (JSON-ready)."""
    if last_message is None:
        last_message = store.last_messages(session, [conversation.id]).get(conversation.id)
    if waiting_since is None:
        waiting_since = store.handoff_times(session, [conversation.id]).get(conversation.id)
    since = as_utc(waiting_since or conversation.updated_at)
    return {  # waiting_since is never None: the queue sorts on it
        "id": conversation.id,
        "status": conversation.status.value,
        "offline": conversation.contact_email is not None,
        "contact_email": conversation.contact_email,
        "assignee": display_name(store.get_user(session, conversation.assigned_to_id)),
        "assignee_id": conversation.assigned_to_id,
        "language": conversation.language,
        "last_message": (
            {
                "role": last_message.role.value,
                "text": last_message.text[:LAST_MESSAGE_PREVIEW_CHARS],
                "created_at": as_utc(last_message.created_at).isoformat(),
            }
            if last_message is not None
            else None
        ),
        "waiting_since": since.isoformat(),
        "updated_at": as_utc(conversation.updated_at).isoformat()
        if conversation.updated_at
        else None,
    }


def queue(session: Session, *, limit: int = QUEUE_PAGE, offset: int = 0) -> list[dict[str, Any]]:
    """One page of the queue: waiting conversations, longest waiting first, then those people
    hold (oldest first)."""
    page = store.live_queue_page(session, limit=min(limit, MAX_QUEUE_PAGE), offset=offset)
    last = store.last_messages(session, [c.id for c, _asked in page])
    return [
        queue_entry(session, c, last_message=last.get(c.id), waiting_since=asked)
        for c, asked in page
    ]


def queue_counts(session: Session) -> dict[str, int]:
    """The whole queue's size: ``waiting`` for a person and ``with_staff``."""
    return {status.value: count for status, count in store.live_counts(session).items()}


# ---- abandoned conversations


def close_idle(
    session: Session, idle_for: timedelta, *, now: datetime | None = None
) -> list[Change]:
    """Close every open conversation nobody wrote in for ``idle_for``.

    Abandoned conversations leave the staff queue and stop holding a person; one that waited
    for or was held by a person gets a notice saying why it closed. A customer who writes again
    reopens it with the bot, as after any close.
    """
    idle_since = (now or utcnow()) - idle_for
    changes: list[Change] = []
    while True:
        batch = store.idle_conversations(session, idle_since, IDLE_BATCH)
        for conversation in batch:
            with_people = conversation.status in LIVE
            store.assign(session, conversation, None)
            store.set_status(session, conversation, ConversationStatus.CLOSED)
            change = Change(conversation, status_changed=True)
            if with_people:
                text = builtins.localized(IDLE_CLOSED, (conversation.language or "en").lower())
                change.messages.append(store.add_message(session, conversation, Role.SYSTEM, text))
            changes.append(change)
        if len(batch) < IDLE_BATCH:
            return changes


# ---- announcing: every live event about a conversation is built here


MessageView = Callable[[Message], dict[str, Any]]


def message_event(view: MessageView, message: Message) -> Event:
    """A new message, as ``view`` (the API's JSON of it) shows it."""
    return {"type": "message", "message": view(message)}


def status_event(conversation: Conversation, agent: str | None = None) -> Event:
    return {**customer_status_event(conversation), "agent": agent}


def customer_status_event(conversation: Conversation) -> Event:
    """The status after a customer's own turn: no "agent", as it never puts a person in charge."""
    return {"type": "status", "status": conversation.status.value}


def typing_event(role: Role) -> Event:
    # "typing": true is what the widget reads; the role says who types.
    return {"type": "typing", "role": role.value, "typing": True}


def queue_event(entry: dict[str, Any]) -> Event:
    return {"type": "queue", "conversation": entry}


def queue_update(session: Session, conversation: Conversation) -> tuple[str, Event]:
    """How the conversation now stands in the queue, for every staff console."""
    return STAFF_QUEUE, queue_event(queue_entry(session, conversation))


def announcements(session: Session, change: Change, view: MessageView) -> list[tuple[str, Event]]:
    """What to publish, channel by channel, once ``change`` is committed: its messages and
    status to the conversation, and how it stands in the queue to every console."""
    channel = conversation_channel(change.conversation.id)
    events = [(channel, message_event(view, message)) for message in change.messages]
    if change.status_changed:
        events.append((channel, status_event(change.conversation, change.agent)))
    if change.status_changed or change.conversation.status in LIVE:
        events.append(queue_update(session, change.conversation))
    return events


def announce(bus: EventBus, session: Session, change: Change, view: MessageView) -> None:
    """Publish what ``change`` did (see :func:`announcements`)."""
    for channel, event in announcements(session, change, view):
        bus.publish(channel, event)


def announce_queue(bus: EventBus, session: Session, conversation: Conversation) -> None:
    """Tell every staff console how the conversation now stands in the queue."""
    bus.publish(*queue_update(session, conversation))


def concerns_queue(before: ConversationStatus, after: ConversationStatus) -> bool:
    """Whether a customer's turn changes what the queue shows: it entered or left the queue, or
    the customer wrote while it was in it."""
    return before in LIVE or after in LIVE
