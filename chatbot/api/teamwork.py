"""Staff sharing the work on a conversation: transfer to a colleague, private notes, labels.

Everything here is for staff only. Notes and label changes are announced on the staff queue's
channel, which only consoles hear: never on the conversation's own channel, the customer's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chatbot.api import schemas
from chatbot.api.deps import BusDep, SessionDep
from chatbot.api.principals import StaffUser
from chatbot.conversation import assignment, takeover
from chatbot.db import assignment as assignments
from chatbot.db import audit, labels, notes, presence
from chatbot.db import conversations as store
from chatbot.db.base import as_utc
from chatbot.db.models import Conversation, ConversationNote, User
from chatbot.events import Event, EventBus

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
CONVERSATION = "/conversations/{conversation_id}"
ConversationId = Annotated[str, Path(max_length=36)]
LabelText = Annotated[str, Path(max_length=200)]


class Colleague(BaseModel):
    id: int
    name: str
    available: bool = Field(description="Chose 'available' with a live console open.")
    open_conversations: int = Field(description="Conversations they hold now.")


class TransferCreate(BaseModel):
    to: int = Field(ge=1, le=2**31 - 1, description="The colleague's user id.")


class NoteCreate(BaseModel):
    text: str = Field(max_length=notes.MAX_NOTE_CHARS * 2)


class NotePublic(BaseModel):
    id: int
    conversation_id: str
    author: str | None
    text: str
    created_at: datetime


class LabelCreate(BaseModel):
    label: str = Field(max_length=200)


class LabelsPublic(BaseModel):
    conversation_id: str
    labels: list[str]


def _conversation(session: Session, conversation_id: str, *, lock: bool = False) -> Conversation:
    find = store.lock_conversation if lock else store.get_conversation
    conversation = find(session, conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"conversation {conversation_id} not found")
    return conversation


def _unprocessable(error: ValueError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error))


def _publish(bus: EventBus, events: list[tuple[str, Event]]) -> None:
    for channel, event in events:
        bus.publish(channel, event)


# ---- assignment


@router.get("/colleagues")
def list_colleagues(session: SessionDep, principal: StaffUser) -> list[Colleague]:
    """Everyone a conversation can be transferred to, with who is available now."""
    people = assignments.colleagues(session)
    available = {user.id for user in presence.available_staff(session)}
    counts = assignments.open_counts(session, [user.id for user in people])
    return [
        Colleague(
            id=user.id,
            name=takeover.display_name(user) or "",
            available=user.id in available,
            open_conversations=counts[user.id],
        )
        for user in people
    ]


@router.post(f"{CONVERSATION}/transfer")
def transfer_conversation(
    conversation_id: ConversationId,
    body: TransferCreate,
    session: SessionDep,
    bus: BusDep,
    principal: StaffUser,
) -> schemas.QueueEntry:
    """Hand the conversation to a colleague: they hold it from now on and their console says so."""
    conversation = _conversation(session, conversation_id, lock=True)
    before = takeover.display_name(store.get_user(session, conversation.assigned_to_id))
    colleague = store.get_user(session, body.to)
    try:
        assigned = assignment.transfer(session, conversation, principal.user, colleague)
    except assignment.NotAColleague as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except takeover.TakeoverError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    audit.record(
        session,
        principal.actor,
        "conversation.transfer",
        conversation.id,
        before={"assignee": before},
        after={"assignee": takeover.display_name(assigned.assignee)},
    )
    events = assignment.announcements(session, assigned, schemas.message_json)
    session.commit()
    _publish(bus, events)
    return schemas.QueueEntry.model_validate(takeover.queue_entry(session, conversation))


# ---- private notes


def _note(note: ConversationNote, author: User | None) -> NotePublic:
    return NotePublic(
        id=note.id,
        conversation_id=note.conversation_id,
        author=takeover.display_name(author),
        text=note.text,
        created_at=as_utc(note.created_at),
    )


@router.get(f"{CONVERSATION}/notes")
def list_notes(
    conversation_id: ConversationId, session: SessionDep, principal: StaffUser
) -> list[NotePublic]:
    """The conversation's private notes, oldest first (never shown to the customer)."""
    _conversation(session, conversation_id)
    return [_note(note, author) for note, author in notes.list_notes(session, conversation_id)]


@router.post(f"{CONVERSATION}/notes", status_code=status.HTTP_201_CREATED)
def add_note(
    conversation_id: ConversationId,
    body: NoteCreate,
    session: SessionDep,
    bus: BusDep,
    principal: StaffUser,
) -> NotePublic:
    """Write a note for colleagues; the customer never sees it."""
    conversation = _conversation(session, conversation_id)
    try:
        note = notes.add_note(session, conversation, principal.user, body.text)
    except notes.NoteError as exc:
        session.rollback()
        raise _unprocessable(exc) from exc
    # The audit names the note, not its words: they may quote the customer.
    audit.record(
        session, principal.actor, "conversation.note", conversation.id, after={"note": note.id}
    )
    session.commit()
    public = _note(note, principal.user)
    bus.publish(
        takeover.STAFF_QUEUE,
        {
            "type": "note",
            "conversation_id": conversation.id,
            "note": public.model_dump(mode="json"),
        },
    )
    return public


# ---- labels


def _labels_changed(session: Session, bus: EventBus, conversation: Conversation) -> LabelsPublic:
    current = LabelsPublic(
        conversation_id=conversation.id, labels=labels.labels_of(session, conversation.id)
    )
    bus.publish(takeover.STAFF_QUEUE, {"type": "labels", **current.model_dump()})
    return current


@router.get(f"{CONVERSATION}/labels")
def list_labels(
    conversation_id: ConversationId, session: SessionDep, principal: StaffUser
) -> LabelsPublic:
    """The conversation's labels, alphabetically."""
    _conversation(session, conversation_id)
    return LabelsPublic(
        conversation_id=conversation_id, labels=labels.labels_of(session, conversation_id)
    )


@router.post(f"{CONVERSATION}/labels")
def add_label(
    conversation_id: ConversationId,
    body: LabelCreate,
    session: SessionDep,
    bus: BusDep,
    principal: StaffUser,
) -> LabelsPublic:
    """Put a label on the conversation (lower-cased; no commas); adding it twice changes nothing."""
    conversation = _conversation(session, conversation_id)
    try:
        added = labels.add_label(session, conversation, body.label, by=principal.actor)
        if added:
            label = labels.normalized(body.label)
            audit.record(
                session,
                principal.actor,
                "conversation.label",
                conversation.id,
                after={"label": label},
            )
        session.commit()
    except labels.LabelError as exc:
        session.rollback()
        raise _unprocessable(exc) from exc
    except IntegrityError:  # a colleague added the same label at the same moment
        session.rollback()
    return _labels_changed(session, bus, conversation)


@router.delete(f"{CONVERSATION}/labels/{{label}}")
def remove_label(
    conversation_id: ConversationId,
    label: LabelText,
    session: SessionDep,
    bus: BusDep,
    principal: StaffUser,
) -> LabelsPublic:
    """Take a label off the conversation; 404 when it does not carry it."""
    conversation = _conversation(session, conversation_id)
    try:
        removed = labels.remove_label(session, conversation, label)
    except labels.LabelError as exc:
        raise _unprocessable(exc) from exc
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"label: the conversation has no {label!r}")
    audit.record(
        session,
        principal.actor,
        "conversation.unlabel",
        conversation.id,
        before={"label": labels.normalized(label)},
    )
    session.commit()
    return _labels_changed(session, bus, conversation)
