"""The old sample (an intent per language: track_order, track_order_zh) still imports, and
merging its pairs into bilingual intents leaves every answer the bot gives as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager
from chatbot.conversation.policies import Thresholds
from chatbot.db import conversations as store
from chatbot.db.knowledge import import_intents, load_intents
from chatbot.db.languages import merge_language_copies
from chatbot.knowledge.files import read_faq_file
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine

OLD_SAMPLE = (
    Path(__file__).parents[1] / "knowledge" / "data" / "sample_one_language_per_intent.jsonl"
)


def _old_sample() -> list[IntentSpec]:
    return read_faq_file(OLD_SAMPLE, max_bytes=10**7)


def test_the_old_sample_imports_as_separate_intents(db_session: Session) -> None:
    import_intents(db_session, _old_sample(), replace=True)
    stored = {intent.key: intent for intent in load_intents(db_session)}
    assert len(stored) == 66
    assert stored["track_order_zh"].language == "zh" and stored["track_order"].language == "en"


def test_merging_makes_one_intent_per_pair(db_session: Session) -> None:
    import_intents(db_session, _old_sample(), replace=True)
    merged = merge_language_copies(db_session)
    assert len(merged.plan.pairs) == 19
    stored = {intent.key: intent for intent in load_intents(db_session)}
    assert len(stored) == 47 and not any(key.endswith("_zh") for key in stored)
    track = stored["track_order"]
    assert track.languages == ("en", "zh")
    assert track.answer_in("zh")[0].startswith(_by_key(_old_sample())["track_order_zh"].answer[:20])
    # Follow-ups that pointed at a merged copy point at the merged intent.
    assert all(target in stored for intent in stored.values() for target in intent.follow_ups)
    # A second run finds nothing left to merge.
    assert merge_language_copies(db_session).plan.pairs == []


def test_a_dry_run_changes_nothing(db_session: Session) -> None:
    import_intents(db_session, _old_sample(), replace=True)
    before = load_intents(db_session)
    assert len(merge_language_copies(db_session, dry_run=True).plan.pairs) == 19
    assert load_intents(db_session) == before


def _by_key(intents: list[IntentSpec]) -> dict[str, IntentSpec]:
    return {intent.key: intent for intent in intents}


@pytest.mark.model
def test_the_bots_answers_are_unchanged_by_the_merge(
    real_encoder: SentenceEncoder, db_session: Session
) -> None:
    old = _old_sample()
    import_intents(db_session, old, replace=True)
    manager = ConversationManager(
        ActiveModel(IntentEngine(real_encoder, version="v-test")), BotSettings(Thresholds())
    )
    # Every phrasing of the sample, and a few paraphrases, each the first message of a new
    # conversation (whose language it sets).
    messages = [p for intent in old for p in intent.phrasings[:3]] + [
        "my parcel still hasn't come, what now",
        "我的包裹还没到，怎么办",
        "退款什么时候到账",
        "what's the weather like tomorrow",
        "明天天气怎么样",
    ]

    def answers() -> list[tuple[str, str | None, str]]:
        replies = []
        for text in messages:
            conversation, _ = store.start_conversation(db_session)
            turn = manager.handle_message(db_session, conversation, text)
            assert turn.reply is not None
            replies.append((turn.reply.text, turn.reply.intent, turn.reply.action or ""))
        return replies

    before = answers()
    renamed = merge_language_copies(db_session).plan.renamed
    after = answers()
    assert len(renamed) == 19
    assert after == [(text, renamed.get(key or "", key), action) for text, key, action in before]
    # The comparison covers both languages answering.
    assert any(key and key.endswith("_zh") and action == "answer" for _, key, action in before)


BILINGUAL = [
    IntentSpec(
        "refunds",
        "Refunds take 3-5 working days.",
        ("when do i get my refund", "退款多久到账"),
        follow_ups=("hours",),
        answers=(("zh", "退款 3-5 个工作日到账。"),),
        phrasing_languages=(("退款多久到账", "zh"),),
    ),
    IntentSpec("hours", "We open at 9.", ("what are your opening hours",)),
]


def _hashing_manager(db_session: Session) -> ConversationManager:
    from tests.fakes import HashingEncoder

    import_intents(db_session, BILINGUAL, replace=True)
    return ConversationManager(
        ActiveModel(IntentEngine(HashingEncoder(), version="v-test")), BotSettings(Thresholds())
    )


@pytest.mark.parametrize(
    ("language", "answer", "button"),
    [
        ("zh", "退款 3-5 个工作日到账。", "what are your opening hours"),
        ("en", "Refunds take 3-5 working days.", "what are your opening hours"),
    ],
)
def test_a_chosen_intent_answers_in_the_conversations_language(
    db_session: Session, language: str, answer: str, button: str
) -> None:
    manager = _hashing_manager(db_session)
    conversation, _ = store.start_conversation(db_session, language=language)
    turn = manager.handle_message(db_session, conversation, "refund", chosen_intent="refunds")
    assert turn.reply is not None and turn.reply.text == answer
    assert turn.reply.follow_ups == [{"intent": "hours", "question": button}]


def test_without_the_customers_language_the_first_language_answers_under_a_note(
    db_session: Session,
) -> None:
    manager = _hashing_manager(db_session)
    conversation, _ = store.start_conversation(db_session, language="zh-CN")
    turn = manager.handle_message(db_session, conversation, "hours", chosen_intent="hours")
    assert turn.reply is not None
    assert turn.reply.text == "_这个问题暂时只有英文的回答：_\n\nWe open at 9."
