"""Storing conversations: hashed tokens, ordered messages, status changes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db import conversations as store
from chatbot.db.models import Conversation, ConversationStatus, Role


def test_the_token_is_stored_only_hashed(db_session: Session) -> None:
    conversation, token = store.start_conversation(db_session, language="en")
    assert len(token) >= 32
    stored = db_session.scalar(
        select(Conversation.token_hash).where(Conversation.id == conversation.id)
    )
    assert stored is not None and token not in stored
    assert len(stored) == 64  # a sha256 hex digest
    assert conversation.status is ConversationStatus.BOT
    assert conversation.language == "en"


def test_each_conversation_gets_its_own_id_and_token(db_session: Session) -> None:
    first, first_token = store.start_conversation(db_session)
    second, second_token = store.start_conversation(db_session)
    assert first.id != second.id
    assert first_token != second_token
    assert store.get_conversation(db_session, first.id) is first
    assert store.get_conversation(db_session, "no-such-id") is None


def test_token_matches(db_session: Session) -> None:
    conversation, token = store.start_conversation(db_session)
    _, other_token = store.start_conversation(db_session)
    assert store.token_matches(conversation, token)
    assert not store.token_matches(conversation, other_token)
    assert not store.token_matches(conversation, token + "x")
    assert not store.token_matches(conversation, "")
    assert not store.token_matches(conversation, conversation.token_hash)  # the hash is no token


def test_messages_come_back_in_the_order_they_were_added(db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    other, _ = store.start_conversation(db_session)
    store.add_message(db_session, conversation, Role.CUSTOMER, "first")
    store.add_message(db_session, other, Role.CUSTOMER, "someone else's")
    store.add_message(db_session, conversation, Role.BOT, "second", intent="x", confidence=0.9)
    store.add_message(db_session, conversation, Role.CUSTOMER, "third")
    messages = store.list_messages(db_session, conversation.id)
    assert [(m.role, m.text) for m in messages] == [
        (Role.CUSTOMER, "first"),
        (Role.BOT, "second"),
        (Role.CUSTOMER, "third"),
    ]
    assert (messages[1].intent, messages[1].confidence) == ("x", 0.9)
    assert [m.text for m in store.list_messages(db_session, other.id)] == ["someone else's"]


def test_recent_bot_actions_newest_first(db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    assert store.recent_bot_actions(db_session, conversation.id, 5) == []
    for action in ("answer", "clarify", "fallback"):
        store.add_message(db_session, conversation, Role.CUSTOMER, "?")
        store.add_message(db_session, conversation, Role.BOT, "!", action=action)
    store.add_message(db_session, conversation, Role.STAFF, "a person", action="ignored")
    assert store.recent_bot_actions(db_session, conversation.id, 2) == ["fallback", "clarify"]
    assert store.recent_bot_actions(db_session, conversation.id, 10) == [
        "fallback",
        "clarify",
        "answer",
    ]


def test_set_status_and_closed_at(db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    assert conversation.closed_at is None
    store.set_status(db_session, conversation, ConversationStatus.WAITING)
    assert (conversation.status, conversation.closed_at) == (ConversationStatus.WAITING, None)
    store.set_status(db_session, conversation, ConversationStatus.CLOSED)
    assert conversation.closed_at is not None
    db_session.expire_all()
    reloaded = store.get_conversation(db_session, conversation.id)
    assert reloaded is not None
    assert reloaded.status is ConversationStatus.CLOSED and reloaded.closed_at is not None
    store.set_status(db_session, reloaded, ConversationStatus.BOT)  # reopened
    assert reloaded.closed_at is None


def test_feedback_is_stored_on_the_message(db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    reply = store.add_message(db_session, conversation, Role.BOT, "Answer.", action="answer")
    assert reply.helpful is None
    store.set_feedback(db_session, reply, False)
    db_session.expire_all()
    reloaded = store.get_message(db_session, reply.id)
    assert reloaded is not None and reloaded.helpful is False
    assert store.get_message(db_session, reply.id + 1000) is None
