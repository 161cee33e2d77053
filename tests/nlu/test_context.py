from collections.abc import Sequence

import pytest
import torch
from torch import Tensor

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.context import (
    ContextMixing,
    PreviousTurn,
    Utterance,
    joined,
    may_need_context,
    mix,
    word_count,
)
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine

GIFT_CARDS = PreviousTurn("gift_cards", "Do you sell gift cards?")
POINTS = PreviousTurn("loyalty_points", "How do loyalty points work?")


class RecordingEncoder:
    """The real encoder, keeping each call's texts."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        self.calls.append(list(texts))
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def engine(real_encoder: SentenceEncoder) -> IntentEngine:
    engine = IntentEngine(RecordingEncoder(real_encoder), version="test")
    engine.load_knowledge(
        [
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
            IntentSpec(
                "reset_password",
                "Use Forgot password on the sign-in page.",
                ("How do I reset my password?", "I forgot my password"),
            ),
        ],
        revision=1,
    )
    return engine


def test_words_are_counted_with_han_characters_as_half_words() -> None:
    assert word_count("what about Norway?") == 3
    assert word_count("美国呢？") == 1.5
    assert word_count("有1.8米的吗") == 4  # two numbers, four characters


def test_only_short_follow_ups_in_the_previous_questions_script_may_use_context() -> None:
    mixing = ContextMixing(max_words=4)
    assert may_need_context(Utterance("do they expire?", GIFT_CARDS), "en", mixing)
    long = "could you tell me how I reset the password of my account"
    assert not may_need_context(Utterance(long, GIFT_CARDS), "en", mixing)
    assert not may_need_context(Utterance("会过期吗？", GIFT_CARDS), "zh", mixing)
    assert not may_need_context(Utterance("do they expire?"), "en", mixing)
    assert not may_need_context(Utterance("expire?", GIFT_CARDS), "en", ContextMixing(weight=0))


def test_the_joined_reading_puts_the_previous_question_first() -> None:
    assert joined(Utterance("会过期吗？", PreviousTurn("gift_cards", "有礼品卡吗？"))) == (
        "有礼品卡吗？ 会过期吗？"
    )
    assert joined(Utterance("do they expire?")) == "do they expire?"


def test_mixing_applies_only_between_the_confidence_bounds() -> None:
    alone, together = torch.tensor([0.2, 0.4]), torch.tensor([0.8, float("-inf")])
    mixing = ContextMixing(weight=0.5, below_confidence=0.9, above_confidence=0.1)
    assert mix(alone, together, 0.5, mixing).tolist() == pytest.approx([0.5, float("-inf")])
    assert mix(alone, together, 0.95, mixing) is alone  # sure alone
    assert mix(alone, together, 0.05, mixing) is alone  # matches nothing: likely a new subject
    assert mix(alone, together, 0.5, ContextMixing(weight=1.0)) is together


@pytest.mark.model
def test_the_same_follow_up_goes_with_the_question_before_it(engine: IntentEngine) -> None:
    alone, after_gift_cards, after_points = engine.predict(
        [
            "do they expire?",
            Utterance("do they expire?", GIFT_CARDS),
            Utterance("do they expire?", POINTS),
        ]
    )
    assert alone.confidence < 0.9  # alone, either could be meant
    assert (after_gift_cards.intent, after_points.intent) == ("gift_cards", "loyalty_points")
    assert after_gift_cards.confidence > alone.confidence


@pytest.mark.model
def test_questions_context_does_not_help_are_read_alone(engine: IntentEngine) -> None:
    standalone = "How do I reset my password?"
    unrelated = "what's the weather like tomorrow?"
    with_context = engine.predict(
        [Utterance(standalone, GIFT_CARDS), Utterance(unrelated, GIFT_CARDS)]
    )
    alone = engine.predict([standalone, unrelated])
    # The same reading (up to the float noise of batching other texts beside them).
    assert [p.intent for p in with_context] == [p.intent for p in alone]
    assert [p.confidence for p in with_context] == pytest.approx([p.confidence for p in alone])
    assert with_context[0].intent == "reset_password"
    assert with_context[1].confidence < 0.3  # still falls back


@pytest.mark.model
def test_a_follow_up_and_its_joined_reading_share_one_forward_pass(engine: IntentEngine) -> None:
    encoder = engine.encoder
    assert isinstance(encoder, RecordingEncoder)
    encoder.calls.clear()
    engine.predict([Utterance("do they expire?", GIFT_CARDS), "I forgot my password"])
    assert encoder.calls == [
        ["do they expire?", "I forgot my password", "Do you sell gift cards? do they expire?"]
    ]
