"""The manager hands the model the question it answered last, for reading short follow-ups."""

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager, Pending
from chatbot.conversation.policies import Thresholds
from chatbot.db import conversations as store
from chatbot.db.knowledge import import_intents
from chatbot.db.models import Conversation
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.context import PreviousTurn
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine
from tests.factories import shop_intents

pytestmark = pytest.mark.model  # every test here understands messages with the real encoder

REWARDS = [
    IntentSpec(
        "gift_cards",
        "From 10 to 200 pounds, valid for two years.",
        ("Do you sell gift cards?", "can I buy a gift voucher", "do gift cards expire"),
    ),
    IntentSpec(
        "loyalty_points",
        "One point a pound; points last a year.",
        ("How do loyalty points work?", "how many points do I earn", "do my points expire"),
    ),
]


def manager_for(
    encoder: SentenceEncoder, session: Session, *, follow_up_context: bool = True
) -> ConversationManager:
    import_intents(session, [*shop_intents(), *REWARDS], replace=True)
    return ConversationManager(
        ActiveModel(IntentEngine(encoder, version="v-test")),
        BotSettings(Thresholds()),
        follow_up_context=follow_up_context,
    )


@pytest.fixture
def manager(real_encoder: SentenceEncoder, db_session: Session) -> ConversationManager:
    return manager_for(real_encoder, db_session)


def answered(
    manager: ConversationManager, session: Session, conversation: Conversation, text: str
) -> str | None:
    turn = manager.handle_message(session, conversation, text)
    assert turn.reply is not None
    return turn.reply.intent if turn.reply.action == "answer" else None


def test_a_follow_up_is_answered_with_the_intent_it_follows(
    manager: ConversationManager, db_session: Session
) -> None:
    for question, intent in [
        ("Do you sell gift cards?", "gift_cards"),
        ("How do loyalty points work?", "loyalty_points"),
    ]:
        conversation, _ = store.start_conversation(db_session)
        assert answered(manager, db_session, conversation, question) == intent
        assert answered(manager, db_session, conversation, "do they expire?") == intent


def test_a_standalone_question_is_not_pulled_towards_the_previous_answer(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    assert answered(manager, db_session, conversation, "Do you sell gift cards?") == "gift_cards"
    assert answered(manager, db_session, conversation, "I forgot my password") == "reset_password"
    # ... and the next follow-up goes with the new subject.
    pending = manager.receive(db_session, conversation, "what now?")
    assert isinstance(pending, Pending)
    assert pending.previous == PreviousTurn("reset_password", "I forgot my password")


def test_only_an_answer_gives_context(manager: ConversationManager, db_session: Session) -> None:
    conversation, _ = store.start_conversation(db_session)
    first = manager.receive(db_session, conversation, "Do you sell gift cards?")
    assert isinstance(first, Pending) and first.previous is None  # nothing said before
    manager.handle_message(db_session, conversation, "what is the capital of Peru?")  # fallback
    after_fallback = manager.receive(db_session, conversation, "do they expire?")
    assert isinstance(after_fallback, Pending) and after_fallback.previous is None


def test_turned_off_a_follow_up_is_read_alone(
    real_encoder: SentenceEncoder, db_session: Session
) -> None:
    manager = manager_for(real_encoder, db_session, follow_up_context=False)
    conversation, _ = store.start_conversation(db_session)
    manager.handle_message(db_session, conversation, "Do you sell gift cards?")
    turn = manager.handle_message(db_session, conversation, "do they expire?")
    assert turn.reply is not None
    # Alone it could be either: the bot asks which was meant.
    assert turn.reply.action == "clarify"
    assert {s["intent"] for s in turn.reply.suggestions} == {"gift_cards", "loyalty_points"}
    pending = manager.receive(db_session, conversation, "and how?")
    assert isinstance(pending, Pending) and pending.previous is None
