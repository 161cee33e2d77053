"""The takeover rules on a real database: who may claim, reply, hand back and close."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation import takeover
from chatbot.db import conversations as store
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation, ConversationStatus, Role, User


def _person(session: Session, email: str, name: str | None = None) -> User:
    user = User(email=email, name=name, password_hash="not used here")
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def sam(db_session: Session) -> User:
    return _person(db_session, "sam@staff.example", "Sam")


@pytest.fixture
def olga(db_session: Session) -> User:
    return _person(db_session, "olga@staff.example")


def _waiting(session: Session, language: str = "en") -> Conversation:
    conversation, _token = store.start_conversation(session, language=language)
    store.add_message(session, conversation, Role.CUSTOMER, "a person please")
    store.add_message(session, conversation, Role.BOT, "connecting you", action="handoff")
    store.set_status(session, conversation, ConversationStatus.WAITING)
    return conversation


def test_claiming_a_waiting_conversation(db_session: Session, sam: User) -> None:
    conversation = _waiting(db_session)
    change = takeover.claim(db_session, conversation, sam)
    assert conversation.status is ConversationStatus.WITH_STAFF
    assert conversation.assigned_to_id == sam.id
    assert change.status_changed and change.agent == "Sam"
    again = takeover.claim(db_session, conversation, sam)
    assert not again.status_changed  # already theirs: nothing new to announce


def test_a_conversation_with_the_bot_can_be_claimed_too(db_session: Session, sam: User) -> None:
    conversation, _token = store.start_conversation(db_session)
    takeover.claim(db_session, conversation, sam)
    assert conversation.status is ConversationStatus.WITH_STAFF


def test_someone_elses_conversation_is_refused_unless_taken_over(
    db_session: Session, sam: User, olga: User
) -> None:
    conversation = _waiting(db_session)
    takeover.claim(db_session, conversation, sam)
    with pytest.raises(takeover.HeldByAnother, match="Sam is already talking"):
        takeover.claim(db_session, conversation, olga)
    assert conversation.assigned_to_id == sam.id
    change = takeover.claim(db_session, conversation, olga, take_over=True)
    assert conversation.assigned_to_id == olga.id
    assert change.agent == "olga"  # no name: customers see the email's local part, not the address


def test_only_the_holder_replies_and_replying_claims(
    db_session: Session, sam: User, olga: User
) -> None:
    conversation = _waiting(db_session)
    change = takeover.reply(db_session, conversation, sam, "Hi, Sam here.")
    assert conversation.status is ConversationStatus.WITH_STAFF
    assert conversation.assigned_to_id == sam.id
    [message] = change.messages
    assert (message.role, message.text, message.author_id) == (Role.STAFF, "Hi, Sam here.", sam.id)
    with pytest.raises(takeover.HeldByAnother):
        takeover.reply(db_session, conversation, olga, "Me too")
    assert [m.role for m in store.list_messages(db_session, conversation.id)] == [
        Role.CUSTOMER,
        Role.BOT,
        Role.STAFF,
    ]


def test_handing_back_tells_the_customer_in_their_language(db_session: Session, sam: User) -> None:
    conversation = _waiting(db_session, language="zh")
    takeover.claim(db_session, conversation, sam)
    change = takeover.hand_back(db_session, conversation, sam)
    assert conversation.status is ConversationStatus.BOT
    assert conversation.assigned_to_id is None
    [notice] = change.messages
    assert notice.role is Role.SYSTEM and notice.text == takeover.BACK_WITH_BOT["zh"]
    with pytest.raises(takeover.WrongState):
        takeover.hand_back(db_session, conversation, sam)  # the bot has it already


def test_only_the_holder_hands_back_or_closes(db_session: Session, sam: User, olga: User) -> None:
    conversation = _waiting(db_session)
    takeover.claim(db_session, conversation, sam)
    with pytest.raises(takeover.HeldByAnother):
        takeover.hand_back(db_session, conversation, olga)
    with pytest.raises(takeover.HeldByAnother):
        takeover.close(db_session, conversation, olga)
    assert conversation.status is ConversationStatus.WITH_STAFF


def test_closing_then_rating(db_session: Session, sam: User) -> None:
    conversation = _waiting(db_session)
    with pytest.raises(takeover.WrongState):
        takeover.rate(db_session, conversation, 4)  # not closed yet
    change = takeover.close(db_session, conversation, sam)
    assert conversation.status is ConversationStatus.CLOSED
    assert conversation.closed_at is not None and conversation.assigned_to_id is None
    assert change.messages[0].role is Role.SYSTEM
    with pytest.raises(takeover.WrongState):
        takeover.close(db_session, conversation, sam)
    with pytest.raises(takeover.WrongState):
        takeover.claim(db_session, conversation, sam)
    with pytest.raises(ValueError, match="rating"):
        takeover.rate(db_session, conversation, 6)
    takeover.rate(db_session, conversation, 4)
    assert conversation.satisfaction == 4 and conversation.feedback_given


def test_the_queue_puts_the_longest_waiting_first(db_session: Session, sam: User) -> None:
    first, second, held = _waiting(db_session), _waiting(db_session), _waiting(db_session)
    takeover.claim(db_session, held, sam)
    with_bot, _token = store.start_conversation(db_session)
    entries = takeover.queue(db_session)
    assert [e["id"] for e in entries] == [first.id, second.id, held.id]
    assert entries[2]["assignee"] == "Sam" and entries[2]["status"] == "with_staff"
    assert entries[0]["last_message"]["text"] == "connecting you"
    assert with_bot.id not in {e["id"] for e in entries}


def test_the_queue_comes_a_page_at_a_time_in_queue_order(db_session: Session, sam: User) -> None:
    waiting = [_waiting(db_session) for _ in range(4)]
    held = _waiting(db_session)
    takeover.claim(db_session, held, sam)
    store.start_conversation(db_session)  # with the bot: not in the queue
    order = [c.id for c in waiting] + [held.id]
    pages = [takeover.queue(db_session, limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [[e["id"] for e in page] for page in pages] == [order[:2], order[2:4], order[4:], []]
    assert takeover.queue_counts(db_session) == {"waiting": 4, "with_staff": 1}


def test_a_page_never_holds_more_than_the_cap(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        _waiting(db_session)
    monkeypatch.setattr(takeover, "MAX_QUEUE_PAGE", 2)
    assert len(takeover.queue(db_session, limit=1000)) == 2


def test_idle_conversations_close_and_leave_the_queue(db_session: Session, sam: User) -> None:
    abandoned, held, with_bot, recent = (
        _waiting(db_session),
        _waiting(db_session),
        store.start_conversation(db_session)[0],
        _waiting(db_session, language="zh"),
    )
    takeover.claim(db_session, held, sam)
    an_hour_ago = utcnow() - timedelta(minutes=61)
    for conversation in (abandoned, held, with_bot):
        conversation.updated_at = an_hour_ago
    db_session.flush()

    changes = takeover.close_idle(db_session, timedelta(minutes=60))

    assert {c.conversation.id for c in changes} == {abandoned.id, held.id, with_bot.id}
    for conversation in (abandoned, held, with_bot):
        assert conversation.status is ConversationStatus.CLOSED and conversation.closed_at
        assert conversation.assigned_to_id is None
    notices = {c.conversation.id: [m.text for m in c.messages] for c in changes}
    assert notices[with_bot.id] == []  # nobody was waiting there: no notice
    assert "closed after a long time without messages" in notices[abandoned.id][0]
    assert recent.status is ConversationStatus.WAITING
    assert [e["id"] for e in takeover.queue(db_session)] == [recent.id]
    assert takeover.close_idle(db_session, timedelta(minutes=60)) == []  # nothing left to close
