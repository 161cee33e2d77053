from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation import builtins
from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager, Turn
from chatbot.conversation.policies import Thresholds
from chatbot.db import app_settings
from chatbot.db import conversations as store
from chatbot.db.knowledge import import_intents, knowledge_revision
from chatbot.db.models import AppSetting, ConversationStatus, Role
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine
from chatbot.nlu.scoring import Scoring
from tests.factories import shop_intents

pytestmark = pytest.mark.model  # every test here understands messages with the real encoder


@pytest.fixture
def manager(real_encoder: SentenceEncoder, db_session: Session) -> ConversationManager:
    import_intents(db_session, shop_intents(), replace=True)
    return ConversationManager(
        ActiveModel(IntentEngine(real_encoder, version="v-test")),
        BotSettings(Thresholds(), fallbacks_before_handoff=2),
    )


def test_a_paraphrase_is_answered_and_both_messages_are_stored(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(db_session, conversation, "has my parcel shipped yet?")
    assert turn.reply is not None
    assert (turn.reply.action, turn.reply.intent) == ("answer", "track_order")
    assert turn.reply.text.startswith("Follow your parcel")
    assert turn.reply.model_version == "v-test"
    assert turn.reply.latency_ms is not None and turn.reply.latency_ms > 0
    assert turn.reply.follow_ups == [
        {"intent": "cancel_order", "question": "How do I cancel my order?"}
    ]
    stored = store.list_messages(db_session, conversation.id)
    assert [(m.role, m.text) for m in stored] == [
        (Role.CUSTOMER, "has my parcel shipped yet?"),
        (Role.BOT, turn.reply.text),
    ]


def test_a_clicked_suggestion_answers_that_intent(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(
        db_session, conversation, "How do I cancel my order?", chosen_intent="cancel_order"
    )
    assert turn.reply is not None
    assert (turn.reply.intent, turn.reply.confidence) == ("cancel_order", 1.0)


def test_unrelated_questions_fall_back_then_hand_off(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    first = manager.handle_message(db_session, conversation, "what is the capital of Peru?")
    assert first.reply is not None and first.reply.action == "fallback"
    assert first.reply.suggestions[0]["intent"] == "human"
    second = manager.handle_message(db_session, conversation, "who painted the mona lisa?")
    assert second.reply is not None and second.reply.action == "handoff"
    assert conversation.status is ConversationStatus.WAITING


def test_after_handoff_the_bot_stays_silent_until_handed_back(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    handoff = manager.handle_message(db_session, conversation, "I want to talk to a human")
    assert handoff.reply is not None and handoff.reply.action == "handoff"
    silent = manager.handle_message(db_session, conversation, "where is my order?")
    assert silent.reply is None
    assert silent.customer.role is Role.CUSTOMER
    store.set_status(db_session, conversation, ConversationStatus.BOT)
    back = manager.handle_message(db_session, conversation, "where is my order?")
    assert back.reply is not None and back.reply.intent == "track_order"


def test_small_talk_is_answered_in_the_customers_language(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(db_session, conversation, "你好")
    assert turn.reply is not None
    assert (turn.reply.action, turn.reply.intent) == ("smalltalk", "greeting")
    assert "您好" in turn.reply.text
    thanks = manager.handle_message(db_session, conversation, "谢谢")
    assert thanks.reply is not None and "不客气" in thanks.reply.text


def test_chinese_questions_get_chinese_answers(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(db_session, conversation, "请问怎么申请退货")
    assert turn.reply is not None and turn.reply.intent == "return_item_zh"


def test_close_rivals_are_offered_as_suggestions(
    real_encoder: SentenceEncoder, db_session: Session
) -> None:
    import_intents(db_session, shop_intents(), replace=True)
    strict = ConversationManager(
        ActiveModel(IntentEngine(real_encoder, version="v")),
        BotSettings(Thresholds(answer=0.99, clarify=0.01)),
    )
    conversation, _ = store.start_conversation(db_session)
    turn = strict.handle_message(db_session, conversation, "order")
    assert turn.reply is not None and turn.reply.action == "clarify"
    offered = [s["intent"] for s in turn.reply.suggestions]
    assert 1 <= len(offered) <= 3
    assert {"track_order", "cancel_order"} & set(offered)


def test_a_knowledge_base_change_is_picked_up_at_the_next_message(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    manager.handle_message(db_session, conversation, "hello")
    before = knowledge_revision(db_session)
    import_intents(
        db_session,
        [
            IntentSpec(
                "gift_cards",
                "Gift cards never expire.",
                ("Do gift cards expire?", "how long is a gift card valid"),
            )
        ],
        replace=False,
    )
    assert knowledge_revision(db_session) == before + 1
    turn = manager.handle_message(db_session, conversation, "is my gift card still valid?")
    assert turn.reply is not None and turn.reply.intent == "gift_cards"
    assert manager.engine.revision == before + 1


# ---- an admin's settings, followed without a restart


def _admin_saves(session: Session, **changes: object) -> None:
    app_settings.update(session, app_settings.RuntimeSettings(), changes, "ada@admin.example")


def test_stored_thresholds_and_texts_apply_at_the_next_message(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    first = manager.handle_message(db_session, conversation, "has my parcel shipped yet?")
    assert first.reply is not None and first.reply.action == "answer"
    _admin_saves(db_session, answer_threshold=1.0, greeting_en="Ahoy! Ask me anything.")
    second = manager.handle_message(db_session, conversation, "has my parcel shipped yet?")
    assert second.reply is not None and second.reply.action == "clarify"
    greeting = manager.handle_message(db_session, conversation, "hello")
    assert greeting.reply is not None and greeting.reply.text == "Ahoy! Ask me anything."
    chinese, _ = store.start_conversation(db_session)
    ni_hao = manager.handle_message(db_session, chinese, "你好")
    assert ni_hao.reply is not None and "您好" in ni_hao.reply.text  # no zh text was set
    assert builtins.REPLIES[builtins.GREETING]["en"] == "Hello! How can I help you today?"


def test_a_handoff_says_the_stored_text_in_the_customers_language(
    manager: ConversationManager, db_session: Session
) -> None:
    _admin_saves(db_session, handoff_zh="请稍等，同事马上来。")
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(db_session, conversation, "我要转人工")
    assert turn.reply is not None and turn.reply.text == "请稍等，同事马上来。"
    other, _ = store.start_conversation(db_session, language="en")
    button = manager.request_handoff(db_session, other)
    assert button is not None and button.text == builtins.REPLIES[builtins.HUMAN]["en"]


def test_settings_are_reread_only_when_their_revision_changes(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    manager.handle_message(db_session, conversation, "hello")
    # A row written behind the revision's back is not noticed: the revision is the only check.
    db_session.add(AppSetting(key="greeting_en", value="Sneaky hello"))
    db_session.flush()
    quiet = manager.handle_message(db_session, conversation, "hello")
    assert quiet.reply is not None and quiet.reply.text == "Hello! How can I help you today?"
    _admin_saves(db_session, fallback_en="No idea.")
    noticed = manager.handle_message(db_session, conversation, "hello")
    assert noticed.reply is not None and noticed.reply.text == "Sneaky hello"


def test_an_admins_clarify_threshold_wins_over_the_models_fitted_one(
    real_encoder: SentenceEncoder, db_session: Session
) -> None:
    import_intents(db_session, shop_intents(), replace=True)
    engine = IntentEngine(real_encoder, version="v-tuned", scoring=Scoring(fallback_threshold=0.5))
    settings = BotSettings(Thresholds())
    assert settings.thresholds_for(engine).clarify == 0.5
    _admin_saves(db_session, answer_threshold=0.7)
    settings.follow(db_session)
    assert (settings.thresholds_for(engine).answer, settings.thresholds_for(engine).clarify) == (
        0.7,
        0.5,
    )
    _admin_saves(db_session, clarify_threshold=0.2)
    settings.follow(db_session)
    assert settings.thresholds_for(engine).clarify == 0.2


def test_a_person_who_takes_over_while_the_model_thinks_silences_the_bot(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    pending = manager.receive(db_session, conversation, "has my parcel shipped yet?")
    assert not isinstance(pending, Turn)
    engine, prediction = manager.model.predict([pending.text])[0]
    store.set_status(db_session, conversation, ConversationStatus.WITH_STAFF)
    turn = manager.respond(db_session, conversation, pending, engine, prediction)
    assert turn.reply is None
    assert [m.role for m in store.list_messages(db_session, conversation.id)] == [Role.CUSTOMER]


def test_a_message_answered_once_is_not_answered_twice(
    manager: ConversationManager, db_session: Session
) -> None:
    conversation, _ = store.start_conversation(db_session)
    pending = manager.receive(db_session, conversation, "has my parcel shipped yet?", client_id="a")
    assert not isinstance(pending, Turn)
    engine, prediction = manager.model.predict([pending.text])[0]
    first = manager.respond(db_session, conversation, pending, engine, prediction)
    assert first.reply is not None and first.reply.reply_to_id == pending.customer.id
    # A retry that was stored before, answered while this try ran: the same reply, not a second.
    retry = replace(pending, retried=True)
    second = manager.respond(db_session, conversation, retry, engine, prediction)
    assert second.reply is not None and second.reply.id == first.reply.id
    again = manager.receive(db_session, conversation, "has my parcel shipped yet?", client_id="a")
    assert isinstance(again, Turn) and again.repeated
    assert again.reply is not None and again.reply.id == first.reply.id
    assert len(store.list_messages(db_session, conversation.id)) == 2


def test_a_turn_detects_the_messages_language_once(
    manager: ConversationManager, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatbot.nlu import language

    asked: list[str] = []
    original = language.detect_language

    def detect(text: str) -> str:
        asked.append(text)
        return original(text)

    for module in ("chatbot.conversation.manager", "chatbot.nlu.engine", "chatbot.nlu.language"):
        monkeypatch.setattr(f"{module}.detect_language", detect)
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(db_session, conversation, "has my parcel shipped yet?")
    assert turn.reply is not None and turn.reply.action == "answer"
    assert asked.count("has my parcel shipped yet?") == 1
