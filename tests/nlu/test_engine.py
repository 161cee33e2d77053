from collections.abc import Sequence

import pytest
from torch import Tensor

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.context import PreviousTurn, Utterance
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine
from tests.factories import shop_intents


class CountingEncoder:
    """The real encoder, counting what it is asked to embed."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def engine(real_encoder: SentenceEncoder) -> IntentEngine:
    engine = IntentEngine(real_encoder, version="test")
    engine.load_knowledge(shop_intents(), revision=1)
    return engine


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("has my parcel been shipped yet", "track_order"),
        ("I'd like to send back these shoes", "return_item"),
        ("do you accept paypal payments?", "payment_methods"),
        ("I can't remember my password", "reset_password"),
        ("我要退货", "return_item_zh"),
        ("发票怎么下载", "invoice_zh"),
    ],
)
@pytest.mark.model
def test_paraphrases_find_their_intent(engine: IntentEngine, message: str, intent: str) -> None:
    prediction = engine.predict([message])[0]
    assert prediction.intent == intent
    assert prediction.confidence >= 0.5


@pytest.mark.model
def test_unrelated_questions_get_low_confidence(engine: IntentEngine) -> None:
    for prediction in engine.predict(["what's the capital of Peru?", "今天天气怎么样"]):
        assert prediction.confidence < 0.3


@pytest.mark.model
def test_chinese_messages_only_match_chinese_intents(engine: IntentEngine) -> None:
    prediction = engine.predict(["我的包裹在哪里"])[0]
    assert prediction.language == "zh"
    assert {r.intent for r in prediction.ranking} <= {"return_item_zh", "invoice_zh"}
    english = engine.predict(["where is my parcel"])[0]
    assert not any(r.intent.endswith("_zh") for r in english.ranking)


@pytest.mark.model
def test_ranking_is_sorted_with_confidences_in_range(engine: IntentEngine) -> None:
    ranking = engine.predict(["how can I pay"], top_k=3)[0].ranking
    assert len(ranking) == 3
    assert [r.score for r in ranking] == sorted((r.score for r in ranking), reverse=True)
    assert all(0.0 <= r.confidence <= 1.0 for r in ranking)


@pytest.mark.model
def test_rebuild_encodes_only_new_phrasings(real_encoder: SentenceEncoder) -> None:
    counting = CountingEncoder(real_encoder)
    engine = IntentEngine(counting, version="test")
    intents = shop_intents()
    engine.load_knowledge(intents, revision=1)
    first = len(counting.texts)
    added = IntentSpec("gift_cards", "Gift cards never expire.", ("do gift cards expire?",))
    engine.load_knowledge([*intents, added], revision=2)
    assert counting.texts[first:] == ["do gift cards expire?"]
    assert engine.revision == 2
    assert engine.intent("gift_cards") == added
    engine.load_knowledge(intents[:1], revision=3)
    assert engine.intent("gift_cards") is None
    assert engine.predict(["do gift cards expire"])[0].intent == "track_order"


@pytest.mark.model
def test_an_empty_knowledge_base_predicts_nothing(real_encoder: SentenceEncoder) -> None:
    engine = IntentEngine(real_encoder, version="test")
    assert engine.predict(["hello?"])[0].intent is None
    engine.load_knowledge([], revision=1)
    prediction = engine.predict(["hello?"])[0]
    assert (prediction.intent, prediction.confidence, prediction.ranking) == (None, 0.0, ())


@pytest.mark.model
def test_a_language_the_caller_detected_is_not_detected_again(
    engine: IntentEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = engine.predict(["我的包裹在哪里", "where is my parcel"])
    asked: list[str] = []

    def detect(text: str) -> str:
        asked.append(text)
        return "zh" if "包裹" in text else "en"

    monkeypatch.setattr("chatbot.nlu.engine.detect_language", detect)
    given = engine.predict(
        [Utterance("我的包裹在哪里", language="zh"), Utterance("where is my parcel", language="en")]
    )
    assert asked == []
    assert given == expected


@pytest.mark.model
def test_a_prediction_stands_for_another_utterance_only_when_read_alike(
    engine: IntentEngine,
) -> None:
    delivery = PreviousTurn("track_order", "where is my parcel")
    refund = PreviousTurn("return_item", "can I send this back")
    short, long = "and express?", "and what about express delivery to another country please"
    # A short message is read with the turn before it: only the same turn reads it alike.
    assert engine.reads_alike(Utterance(short, delivery), Utterance(short, delivery))
    assert not engine.reads_alike(Utterance(short, delivery), Utterance(short, refund))
    assert not engine.reads_alike(Utterance(short), Utterance(short, refund))
    # A long one is read alone whatever came before; other words are never alike.
    assert engine.reads_alike(Utterance(long), Utterance(long, refund))
    assert not engine.reads_alike(Utterance(short), Utterance("and standard?"))
    # "Alike" is a promise about predict (not alike only costs a second reading).
    for first, second in [
        (Utterance(long), Utterance(long, refund)),
        (Utterance(short, refund),) * 2,
    ]:
        (a,), (b,) = engine.predict([first]), engine.predict([second])
        assert a == b
