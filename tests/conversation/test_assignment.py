"""Sharing the work on a real database: round robin, the cap, transfer, reminders."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation import assignment, takeover
from chatbot.db import conversations as store
from chatbot.db import presence
from chatbot.db.base import utcnow
from chatbot.db.models import (
    Conversation,
    ConversationStatus,
    PresenceStatus,
    Role,
    User,
    UserRole,
)


def _person(session: Session, email: str, *, available: bool = True) -> User:
    user = User(email=email, name=email.split("@")[0].title(), password_hash="not used here")
    session.add(user)
    session.flush()
    if available:
        presence.set_status(session, user.id, PresenceStatus.AVAILABLE)
        presence.connect(session, user.id)
    return user


def _waiting(session: Session) -> Conversation:
    conversation, _token = store.start_conversation(session, language="en")
    store.add_message(session, conversation, Role.CUSTOMER, "a person please")
    store.add_message(session, conversation, Role.BOT, "connecting you", action="handoff")
    store.set_status(session, conversation, ConversationStatus.WAITING)
    return conversation


@pytest.fixture
def team(db_session: Session) -> list[User]:
    return [_person(db_session, f"{name}@staff.example") for name in ("ann", "bob", "cat")]


def _moments(start: datetime | None = None) -> list[datetime]:
    start = start or utcnow()
    return [start + timedelta(seconds=second) for second in range(10)]


def test_conversations_go_round_the_available_staff(db_session: Session, team: list[User]) -> None:
    given = []
    for now in _moments()[:5]:
        assigned = assignment.auto_assign(db_session, _waiting(db_session), 5, now=now)
        assert assigned is not None
        assert assigned.change.conversation.status is ConversationStatus.WITH_STAFF
        assert assigned.change.agent == assigned.assignee.name  # the customer sees who joined
        given.append(assigned.assignee.email)
    assert given == [
        "ann@staff.example",
        "bob@staff.example",
        "cat@staff.example",
        "ann@staff.example",
        "bob@staff.example",
    ]


def test_nobody_gets_more_than_the_cap(db_session: Session, team: list[User]) -> None:
    ann, bob, _cat = team
    presence.set_status(db_session, _cat.id, PresenceStatus.AWAY)
    moments = _moments()
    first, second, third = (_waiting(db_session) for _ in range(3))
    assert assignment.auto_assign(db_session, first, 1, now=moments[0]).assignee == ann  # type: ignore[union-attr]
    assert assignment.auto_assign(db_session, second, 1, now=moments[1]).assignee == bob  # type: ignore[union-attr]
    assert assignment.auto_assign(db_session, third, 1, now=moments[2]) is None  # both full
    assert not assignment.can_assign(db_session, 1)  # so the upkeep takes no write lock
    assert third.status is ConversationStatus.WAITING and third.assigned_to_id is None
    # Ann closes hers: the next upkeep turn gives her the one still waiting.
    takeover.close(db_session, first, ann)
    assert assignment.can_assign(db_session, 1)
    done = assignment.assign_waiting(db_session, 1, now=moments[3])
    assert [(a.change.conversation.id, a.assignee) for a in done] == [(third.id, ann)]
    assert assignment.assign_waiting(db_session, 1, now=moments[4]) == []


def test_nobody_available_means_the_conversation_waits(db_session: Session) -> None:
    _person(db_session, "away@staff.example", available=False)
    closed_tab = _person(db_session, "gone@staff.example")
    for connection in db_session.query(presence.ConsoleConnection).filter_by(user_id=closed_tab.id):
        presence.disconnect(db_session, connection.id)
    disabled = _person(db_session, "off@staff.example")
    disabled.is_active = False
    conversation = _waiting(db_session)
    assert assignment.auto_assign(db_session, conversation, 5) is None
    assert assignment.assign_waiting(db_session, 5) == []
    assert conversation.status is ConversationStatus.WAITING
    assert conversation.assigned_to_id is None


def test_only_a_waiting_conversation_nobody_holds_is_assigned(
    db_session: Session, team: list[User]
) -> None:
    with_bot, _token = store.start_conversation(db_session)
    assert assignment.auto_assign(db_session, with_bot, 5) is None
    held = _waiting(db_session)
    takeover.claim(db_session, held, team[2])
    assert assignment.auto_assign(db_session, held, 5) is None
    assert held.assigned_to_id == team[2].id


def test_a_transfer_gives_the_conversation_to_the_colleague(
    db_session: Session, team: list[User]
) -> None:
    ann, bob, cat = team
    conversation = _waiting(db_session)
    takeover.claim(db_session, conversation, ann)
    moved = assignment.transfer(db_session, conversation, ann, bob)
    assert conversation.assigned_to_id == bob.id
    assert conversation.status is ConversationStatus.WITH_STAFF
    assert moved.by == ann and moved.assignee == bob and moved.change.agent == "Bob"
    # Ann no longer holds it: she cannot move it on, nor can a third person.
    with pytest.raises(takeover.HeldByAnother):
        assignment.transfer(db_session, conversation, ann, cat)
    with pytest.raises(assignment.NotAColleague):
        assignment.transfer(db_session, conversation, bob, bob)
    with pytest.raises(assignment.NotAColleague):
        assignment.transfer(db_session, conversation, bob, None)
    cat.is_active = False
    with pytest.raises(assignment.NotAColleague):
        assignment.transfer(db_session, conversation, bob, cat)
    takeover.close(db_session, conversation, bob)
    with pytest.raises(takeover.WrongState):
        assignment.transfer(db_session, conversation, bob, ann)
    assert conversation.assigned_to_id is None


def test_a_waiting_conversation_nobody_holds_can_be_transferred(
    db_session: Session, team: list[User]
) -> None:
    conversation = _waiting(db_session)
    assignment.transfer(db_session, conversation, team[0], team[1])
    assert conversation.assigned_to_id == team[1].id


def test_a_reminder_fires_once_after_the_threshold(db_session: Session, team: list[User]) -> None:
    ann = team[0]
    conversation = _waiting(db_session)
    assignment.auto_assign(db_session, conversation, 5)
    threshold = timedelta(minutes=5)
    now = utcnow()
    assert assignment.due_reminders(db_session, threshold, now=now + timedelta(minutes=4)) == []
    later = now + timedelta(minutes=6)
    assert not assignment.reminders_due(db_session, threshold, now=now + timedelta(minutes=4))
    assert assignment.reminders_due(db_session, threshold, now=later)
    [reminder] = assignment.due_reminders(db_session, threshold, now=later)
    assert reminder.conversation.id == conversation.id and reminder.assignee_id == ann.id
    # The same wait never reminds twice, however long it lasts or whatever the customer adds.
    store.add_message(db_session, conversation, Role.CUSTOMER, "hello?")
    assert assignment.due_reminders(db_session, threshold, now=later + timedelta(hours=1)) == []
    assert not assignment.reminders_due(db_session, threshold, now=later + timedelta(hours=1))
    # Ann replies: nobody waits now.
    takeover.reply(db_session, conversation, ann, "Hi, looking into it")
    assert assignment.due_reminders(db_session, threshold, now=later + timedelta(hours=2)) == []
    # A new question after her reply is a new wait, reminded once it is old enough.
    store.add_message(db_session, conversation, Role.CUSTOMER, "any news?")
    asked = utcnow()
    assert assignment.due_reminders(db_session, threshold, now=asked + timedelta(minutes=1)) == []
    [again] = assignment.due_reminders(db_session, threshold, now=asked + timedelta(minutes=6))
    assert again.conversation.id == conversation.id
    assert again.waiting_since > reminder.waiting_since


def test_no_reminder_for_conversations_nobody_holds(db_session: Session, team: list[User]) -> None:
    _waiting(db_session)  # waiting in the queue: the queue e-mail's business, not a reminder
    later = utcnow() + timedelta(hours=1)
    assert assignment.due_reminders(db_session, timedelta(minutes=5), now=later) == []


def test_colleagues_are_active_staff_and_admins(db_session: Session, team: list[User]) -> None:
    from chatbot.db import assignment as store_assignment

    admin = _person(db_session, "ada@admin.example", available=False)
    admin.role = UserRole.ADMIN
    team[2].is_active = False
    names = [user.email for user in store_assignment.colleagues(db_session)]
    assert names == ["ada@admin.example", "ann@staff.example", "bob@staff.example"]
