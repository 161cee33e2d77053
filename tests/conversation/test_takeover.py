"""The takeover rules on a real database: who may claim, reply, hand back and close."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation import takeover
from chatbot.db import conversations as store
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
