"""Every handoff records why (asked, low confidence, repeated fallback), and the conversation
when a person was first involved: what the analytics dashboard counts."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager
from chatbot.conversation.policies import Thresholds
from chatbot.db import conversations as store
from chatbot.db.knowledge import import_intents
from chatbot.db.models import ConversationStatus, HandoffReason
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine
from tests.fakes import HashingEncoder

KNOWLEDGE = [
    IntentSpec("returns", "Within 30 days.", ("How do I return an item?",)),
    IntentSpec("delivery", "3-5 working days.", ("How long does delivery take?",)),
]


@pytest.fixture
def manager(db_session: Session) -> ConversationManager:
    import_intents(db_session, KNOWLEDGE, replace=True)
    engine = IntentEngine(HashingEncoder(), version="v-hash")
    manager = ConversationManager(
        ActiveModel(engine), BotSettings(Thresholds(), fallbacks_before_handoff=2)
    )
    manager.model.follow(db_session)
    return manager


def test_asking_first_thing_is_asked(manager: ConversationManager, db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    assert conversation.handed_off_at is None
    turn = manager.handle_message(db_session, conversation, "I want to talk to a human")
    assert turn.reply is not None and turn.reply.action == "handoff"
    assert turn.reply.handoff_reason == HandoffReason.ASKED
    assert conversation.handed_off_at is not None


def test_asking_after_a_fallback_is_low_confidence(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    first = manager.handle_message(db_session, conversation, "zebra quantum paint")
    assert first.reply is not None and first.reply.action == "fallback"
    assert conversation.handed_off_at is None
    clicked = manager.handle_message(
        db_session, conversation, "Talk to a person", chosen_intent="human"
    )
    assert clicked.reply is not None and clicked.reply.action == "handoff"
    assert clicked.reply.handoff_reason == HandoffReason.LOW_CONFIDENCE


def test_the_handoff_button_after_an_answer_is_asked(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    manager.handle_message(db_session, conversation, "How do I return an item?")
    message = manager.request_handoff(db_session, conversation)
    assert message is not None and message.handoff_reason == HandoffReason.ASKED


def test_one_fallback_too_many_is_repeated_fallback(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    manager.handle_message(db_session, conversation, "zebra quantum paint")
    second = manager.handle_message(db_session, conversation, "violet orbit tambourine")
    assert second.reply is not None and second.reply.action == "handoff"
    assert second.reply.handoff_reason == HandoffReason.REPEATED_FALLBACK
    assert conversation.status is ConversationStatus.WAITING


def test_staff_taking_over_marks_the_conversation_too(db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    store.set_status(db_session, conversation, ConversationStatus.WITH_STAFF)
    first = conversation.handed_off_at
    assert first is not None
    store.set_status(db_session, conversation, ConversationStatus.CLOSED)
    store.set_status(db_session, conversation, ConversationStatus.WAITING)
    assert conversation.handed_off_at == first  # the first time a person was involved
