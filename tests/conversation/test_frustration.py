"""The frustration signal: a customer negative twice in a conversation is offered a person."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation import builtins
from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager
from chatbot.conversation.policies import Thresholds
from chatbot.db import app_settings
from chatbot.db import conversations as store
from chatbot.db.knowledge import import_intents
from chatbot.db.models import Role
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine
from tests.factories import shop_intents

pytestmark = pytest.mark.model  # the real encoder understands the messages

# Questions the shop's knowledge base answers, asked angrily and calmly.
ANGRY = ("This is ridiculous, where is my order?", "Terrible service. How can I track my parcel?")
CALM = ("Where is my order?", "How can I track my parcel?")


@pytest.fixture
def manager(real_encoder: SentenceEncoder, db_session: Session) -> ConversationManager:
    import_intents(db_session, shop_intents(), replace=True)
    return ConversationManager(
        ActiveModel(IntentEngine(real_encoder, version="v-test")), BotSettings(Thresholds())
    )


def _offered_a_person(text: str, suggestions: list[dict[str, str]]) -> bool:
    offered = any(button["intent"] == builtins.HUMAN for button in suggestions)
    return offered and text.endswith(builtins.FRUSTRATED["en"])


def test_the_second_negative_message_is_answered_with_a_person_offered(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    first = manager.handle_message(db_session, conversation, ANGRY[0])
    assert first.customer.sentiment == "negative" and first.customer.sentiment_score < 0
    assert first.reply is not None and first.reply.action == "answer"
    assert not _offered_a_person(first.reply.text, first.reply.suggestions)
    second = manager.handle_message(db_session, conversation, ANGRY[1])
    assert second.reply is not None and second.reply.action == "answer"
    assert second.reply.intent == "track_order"  # still answered, with a person offered below
    assert _offered_a_person(second.reply.text, second.reply.suggestions)
    assert conversation.negative_messages == 2
    stored = store.list_messages(db_session, conversation.id)
    assert [m.sentiment for m in stored if m.role is Role.CUSTOMER] == ["negative", "negative"]


def test_calm_messages_are_not_offered_a_person(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    for text in CALM:
        turn = manager.handle_message(db_session, conversation, text)
        assert turn.reply is not None and turn.reply.action == "answer"
        assert not _offered_a_person(turn.reply.text, turn.reply.suggestions)
    assert (conversation.negative_messages, conversation.positive_messages) == (0, 0)


def test_with_the_setting_off_nobody_is_offered(
    manager: ConversationManager, db_session: Session
) -> None:
    app_settings.update(
        db_session, app_settings.RuntimeSettings(), {"offer_person_when_frustrated": "off"}, None
    )
    conversation, _ = store.start_conversation(db_session)
    for text in ANGRY:
        turn = manager.handle_message(db_session, conversation, text)
        assert turn.reply is not None and turn.reply.action == "answer"
        assert not _offered_a_person(turn.reply.text, turn.reply.suggestions)
    assert conversation.negative_messages == 2  # still measured, only not acted on


def test_the_environments_default_holds_until_an_admin_chooses(
    real_encoder: SentenceEncoder, db_session: Session
) -> None:
    import_intents(db_session, shop_intents(), replace=True)
    engine = IntentEngine(real_encoder, version="v-test")
    manager = ConversationManager(
        ActiveModel(engine), BotSettings(Thresholds(), offer_person_when_frustrated=False)
    )
    quiet, _ = store.start_conversation(db_session)
    replies = [manager.handle_message(db_session, quiet, text).reply for text in ANGRY]
    assert all(r is not None and not _offered_a_person(r.text, r.suggestions) for r in replies)
    defaults = app_settings.RuntimeSettings(offer_person_when_frustrated=False)
    app_settings.update(db_session, defaults, {"offer_person_when_frustrated": "on"}, None)
    offered, _ = store.start_conversation(db_session)
    replies = [manager.handle_message(db_session, offered, text).reply for text in ANGRY]
    assert replies[1] is not None and _offered_a_person(replies[1].text, replies[1].suggestions)
