"""Related questions under an answer: asked next first (from stored history, past a minimum),
then the nearest intents by embedding; never the answered intent or a follow-up, only intents
answering in the customer's language; a click is stored when that answer offered it."""

from __future__ import annotations

import pytest
import torch
from sqlalchemy.orm import Session

from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager, NotOffered
from chatbot.conversation.policies import Action, Thresholds
from chatbot.conversation.related import RelatedQuestions
from chatbot.db import conversations as store
from chatbot.db.knowledge import import_intents, knowledge_revision, load_intents
from chatbot.db.models import Role
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine
from tests.fakes import HashingEncoder


def _bilingual(
    key: str, answer: str, en: tuple[str, ...], zh: tuple[str, ...], **extra: tuple[str, ...]
) -> IntentSpec:
    """An intent with English and Chinese phrasings and an answer in each."""
    return IntentSpec(
        key,
        answer,
        en + zh,
        follow_ups=extra.get("follow_ups", ()),
        answers=(("zh", f"{answer}（中文）"),),
        phrasing_languages=tuple((p, "zh") for p in zh),
    )


KNOWLEDGE = [
    _bilingual(
        "delivery_time",
        "3-5 working days.",
        ("How long does delivery take?", "When will my order arrive?"),
        ("多久能送到？",),
        follow_ups=("returns",),
    ),
    _bilingual("returns", "Within 30 days.", ("How do I return an item?",), ("怎么退货？",)),
    _bilingual("refund_time", "3-5 days.", ("How long does a refund take?",), ("退款多久到账？",)),
    # English only: never offered to a customer writing Chinese.
    IntentSpec("refund_how", "From your orders page.", ("How do I get a refund for my order?",)),
    _bilingual("wood_care", "A cloth.", ("How do I clean my oak table?",), ("怎么保养木桌？",)),
    _bilingual("gift_cards", "Any amount.", ("Do you sell gift cards?",), ("有礼品卡吗？",)),
]


@pytest.fixture
def engine(db_session: Session) -> IntentEngine:
    import_intents(db_session, KNOWLEDGE, replace=True)
    engine = IntentEngine(HashingEncoder(), version="v-test")
    engine.load_knowledge(load_intents(db_session), knowledge_revision(db_session))
    return engine


def _answered(session: Session, intents: list[str], *, clicked_last: bool = False) -> None:
    """One conversation whose customer was answered these intents in turn."""
    conversation, _ = store.start_conversation(session)
    offered = None
    for n, intent in enumerate(intents):
        last = n == len(intents) - 1
        asked = store.add_message(
            session,
            conversation,
            Role.CUSTOMER,
            "q",
            related_from_id=offered.id if offered is not None and clicked_last and last else None,
        )
        offered = store.add_message(
            session,
            conversation,
            Role.BOT,
            "a",
            action=Action.ANSWER,
            intent=intent,
            reply_to_id=asked.id,
            related=[{"intent": intents[-1], "question": "?"}],
        )


def _nearest_by_hand(key: str, language: str) -> list[str]:
    """Intents by the cosine of their phrasing centroids to ``key``'s, in one script."""
    encoder = HashingEncoder()
    chinese = language == "zh"

    def centroid(spec: IntentSpec) -> torch.Tensor | None:
        texts = [p for p in spec.phrasings if (spec.language_of(p) == "zh") == chinese]
        if not texts:
            return None
        return torch.nn.functional.normalize(encoder.encode(texts).sum(0), dim=0)

    centroids = {spec.key: centroid(spec) for spec in KNOWLEDGE}
    mine = centroids[key]
    assert mine is not None
    scored = [(-float(mine @ c), k) for k, c in centroids.items() if c is not None and k != key]
    return [k for _, k in sorted(scored)]


def test_without_history_the_nearest_intents_by_embedding_are_offered(
    engine: IntentEngine, db_session: Session
) -> None:
    related = RelatedQuestions(3, min_count=1)
    related.refresh(db_session)  # nothing stored yet: nothing learnt
    assert related.asked_next == {}
    assert engine.nearest_intents("refund_time", "en") == tuple(
        _nearest_by_hand("refund_time", "en")
    )
    assert engine.nearest_intents("refund_time", "en", limit=2) == tuple(
        _nearest_by_hand("refund_time", "en")[:2]
    )
    buttons = related.buttons(engine, "refund_time", "en")
    assert [b["intent"] for b in buttons] == _nearest_by_hand("refund_time", "en")[:3]
    assert buttons[0]["intent"] == "delivery_time"  # "how long does ... take"
    spec = {s.key: s for s in KNOWLEDGE}
    assert all(b["question"] == spec[b["intent"]].phrasings[0] for b in buttons)


def test_what_customers_asked_next_comes_first_once_past_the_minimum(
    engine: IntentEngine, db_session: Session
) -> None:
    for _ in range(2):
        _answered(db_session, ["refund_time", "gift_cards"])
    _answered(db_session, ["refund_time", "wood_care"])  # once: under the minimum
    _answered(db_session, ["refund_time", "wood_care"], clicked_last=True)  # a click: not learnt
    related = RelatedQuestions(3, min_count=2)
    related.refresh(db_session)
    assert related.asked_next == {"refund_time": ("gift_cards",)}
    intents = [b["intent"] for b in related.buttons(engine, "refund_time", "en")]
    nearest = [k for k in _nearest_by_hand("refund_time", "en") if k != "gift_cards"]
    assert intents == ["gift_cards", *nearest[:2]]

    lower = RelatedQuestions(3, min_count=1)
    lower.refresh(db_session)
    assert lower.asked_next == {"refund_time": ("gift_cards", "wood_care")}


def test_never_the_answered_intent_a_follow_up_or_one_without_an_answer_in_that_language(
    engine: IntentEngine, db_session: Session
) -> None:
    related = RelatedQuestions(5, min_count=1)
    _answered(db_session, ["delivery_time", "returns"])
    _answered(db_session, ["delivery_time", "refund_how"])
    related.refresh(db_session)
    english = related.buttons(engine, "delivery_time", "en", besides=("returns",))
    assert "delivery_time" not in [b["intent"] for b in english]
    assert "returns" not in [b["intent"] for b in english]  # a follow-up already shown
    assert english[0]["intent"] == "refund_how"  # learnt: before any nearest intent
    chinese = related.buttons(engine, "delivery_time", "zh", besides=("returns",))
    keys = [b["intent"] for b in chinese]
    assert "refund_how" not in keys and keys  # it has no Chinese answer
    spec = {s.key: s for s in KNOWLEDGE}
    assert all(b["question"] == spec[b["intent"]].question_in("zh") for b in chinese)
    assert all("\u4e00" <= b["question"][0] <= "\u9fff" for b in chinese)
    assert RelatedQuestions(0).buttons(engine, "delivery_time", "en") == []


def test_an_answer_stores_its_related_questions_and_a_click_is_stored_with_the_message(
    engine: IntentEngine, db_session: Session
) -> None:
    manager = ConversationManager(
        ActiveModel(engine), BotSettings(Thresholds(answer=0.0, clarify=0.0, margin=0.0))
    )
    conversation, _ = store.start_conversation(db_session)
    turn = manager.handle_message(
        db_session, conversation, "How long does a refund take?", chosen_intent="refund_time"
    )
    assert turn.reply is not None and turn.reply.intent == "refund_time"
    offered = turn.reply.related
    assert offered and [b["intent"] for b in offered] == _nearest_by_hand("refund_time", "en")[:3]

    with pytest.raises(NotOffered, match="related_to"):  # not one of the answer's questions
        manager.handle_message(
            db_session, conversation, "?", chosen_intent="refund_time", related_to=turn.reply.id
        )
    with pytest.raises(NotOffered):  # not a bot answer
        manager.handle_message(
            db_session,
            conversation,
            "?",
            chosen_intent=offered[0]["intent"],
            related_to=turn.customer.id,
        )
    assert len(store.list_messages(db_session, conversation.id)) == 2  # nothing stored

    click = manager.handle_message(
        db_session,
        conversation,
        offered[1]["question"],
        chosen_intent=offered[1]["intent"],
        related_to=turn.reply.id,
    )
    assert click.customer.related_from_id == turn.reply.id
    assert click.reply is not None and click.reply.intent == offered[1]["intent"]
    # A message typed, or a follow-up clicked, is no related click.
    typed = manager.handle_message(db_session, conversation, "Do you sell gift cards?")
    assert typed.customer.related_from_id is None
