"""From a knowledge base and corrections to a validated, calibrated model.

Most training runs use two folds, one short step per epoch and only the top layer learning, and no
background set: those tests are about the pipeline's bookkeeping. The last ones train a knowledge
base of another domain, written here, with the shipped background set, and check what it is for:
unrelated questions fall back, paraphrases answer, and the knowledge base's own questions are never
refused because a background message resembles them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.policies import Action, decide
from chatbot.evaluation.report import build_report
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.background import BackgroundMessage, load_background
from chatbot.nlu.calibration import NEAREST_WEIGHTS, PROTOTYPE_WEIGHTS, FoldScores
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import IntentEngine
from chatbot.nlu.pipeline import (
    PipelineConfig,
    TrainedModel,
    TrainingDataError,
    _sampled,
    data_fingerprint,
    train_model,
)
from chatbot.nlu.scope import DEFAULT_STRICTNESS
from chatbot.nlu.scoring import Calibration, Mix
from chatbot.nlu.trainer import TrainingConfig
from chatbot.nlu.validation import Example, held_out_folds, phrasing_examples
from tests.factories import shop_intents

FAST = PipelineConfig(
    training=TrainingConfig(epochs=2, batch_size=32, trainable_layers=1, max_length=32), folds=2
)
ENGLISH = [intent for intent in shop_intents() if intent.language == "en"][:4]
OUT_OF_SCOPE = [
    Example("what is the capital of France", None),
    Example("who won the football match yesterday", None),
    Example("tell me a joke about cats", None),
]
REMOVED = Example("can I pay in bitcoin", "crypto_payments")  # names an intent no longer there
SINGLE = [
    IntentSpec("delivery", "3-5 working days.", ("How long does delivery take?",)),
    IntentSpec("returns", "Within 30 days.", ("How do I return an item?",)),
    IntentSpec("hours", "9:00-17:00.", ("What are your opening hours?",)),
]

# BUG (see test_fit_calibration_emits_no_warning in test_calibration.py): the first fit in a
# process warns, which the suite's warnings-as-errors setting turns into a failure; ignored where
# it is not the subject.


def engine_for(trained: TrainedModel, intents: list[IntentSpec]) -> IntentEngine:
    engine = IntentEngine(
        trained.encoder,
        version="trained",
        prototypes=trained.prototypes,
        scoring=trained.scoring,
    )
    engine.load_knowledge(intents, revision=1)
    return engine


@pytest.fixture(scope="module")
def base_vectors(real_encoder: SentenceEncoder) -> torch.Tensor:
    return real_encoder.encode([p for intent in ENGLISH for p in intent.phrasings])


@pytest.fixture(scope="module")
def trained(real_encoder: SentenceEncoder, base_vectors: torch.Tensor) -> Iterator[TrainedModel]:
    """Four intents of five phrasings, out-of-scope corrections and a stale one: trained once."""
    yield train_model(real_encoder, ENGLISH, [*OUT_OF_SCOPE, REMOVED], background=(), config=FAST)


@pytest.mark.model
def test_the_base_encoder_is_left_unchanged(
    real_encoder: SentenceEncoder, base_vectors: torch.Tensor, trained: TrainedModel
) -> None:
    texts = [p for intent in ENGLISH for p in intent.phrasings]
    assert torch.equal(real_encoder.encode(texts), base_vectors)
    assert trained.encoder is not real_encoder
    assert not torch.equal(trained.encoder.encode(texts), base_vectors)


@pytest.mark.model
def test_every_phrasing_is_validated_once_and_the_final_model_sees_everything(
    trained: TrainedModel,
) -> None:
    validation = trained.validation
    in_scope = [truth for truth in validation.truth if truth is not None]
    assert sorted(in_scope) == sorted(i.key for i in ENGLISH for _ in i.phrasings)
    # Out-of-scope corrections are judged in every fold.
    assert validation.truth.count(None) == len(OUT_OF_SCOPE) * FAST.folds
    rows = len(validation.truth)
    assert len(validation.predicted) == len(validation.confidence) == len(validation.answered)
    assert len(validation.predicted) == rows
    assert all(0.0 <= c <= 1.0 for c in validation.confidence)
    assert trained.final_fit
    # Two folds and the final fit, one step per epoch each.
    assert trained.steps == (FAST.folds + 1) * FAST.training.epochs
    assert trained.seconds > 0


@pytest.mark.model
def test_the_final_model_keeps_a_unit_prototype_per_intent(trained: TrainedModel) -> None:
    assert list(trained.prototypes) == [intent.key for intent in ENGLISH]
    for prototype in trained.prototypes.values():
        assert prototype.shape == (trained.encoder.dimension,)
        assert float(prototype.norm()) == pytest.approx(1.0, abs=1e-5)
    assert trained.scoring.mix.prototype in PROTOTYPE_WEIGHTS


@pytest.mark.model
def test_a_correction_naming_a_removed_intent_is_skipped_and_listed(
    trained: TrainedModel,
) -> None:
    assert trained.skipped_corrections == [REMOVED]
    # Neither validated (truth holds intent keys) nor learnt as an intent of its own.
    assert REMOVED.intent not in trained.validation.truth
    assert REMOVED.intent not in trained.prototypes


@pytest.mark.model
def test_out_of_scope_corrections_fit_a_fallback_threshold(trained: TrainedModel) -> None:
    assert trained.scoring.fallback_threshold is not None
    assert 0.0 <= trained.scoring.fallback_threshold <= 1.0
    assert trained.scoring.calibration != Calibration()  # fitted on the held-out scores
    assert trained.scoring.calibration.scale > 0
    assert trained.scoring.mix.nearest in NEAREST_WEIGHTS


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("has my parcel been shipped yet", "track_order"),
        ("how do I stop the order I placed", "cancel_order"),
        ("I'd like to send back these shoes", "return_item"),
        ("do you accept paypal payments?", "payment_methods"),
    ],
)
@pytest.mark.model
def test_a_trained_model_answers_in_scope_paraphrases(
    trained: TrainedModel, message: str, intent: str
) -> None:
    engine = engine_for(trained, ENGLISH)
    prediction = engine.predict([message])[0]
    decision = decide(prediction, BotSettings().thresholds_for(engine))
    assert (decision.action, decision.intent) == (Action.ANSWER, intent)


@pytest.mark.parametrize(
    "message",
    ["what's the capital of Peru?", "recommend a good movie", "how tall is mount everest"],
)
@pytest.mark.model
def test_a_trained_model_falls_back_on_unrelated_questions(
    trained: TrainedModel, message: str
) -> None:
    engine = engine_for(trained, ENGLISH)
    prediction = engine.predict([message])[0]
    decision = decide(prediction, BotSettings().thresholds_for(engine))
    assert decision.action is Action.FALLBACK


@pytest.mark.model
def test_intents_with_a_single_phrasing_train_unvalidated_and_answer(
    real_encoder: SentenceEncoder,
) -> None:
    trained = train_model(
        real_encoder, SINGLE, [*OUT_OF_SCOPE, REMOVED], background=(), config=FAST
    )
    # Nothing can be held out: no validation, no fitted curve or threshold, one run on it all.
    assert trained.validation.truth == []
    assert trained.scoring.calibration == Calibration()
    assert trained.scoring.fallback_threshold is None
    assert trained.final_fit
    assert trained.steps == FAST.training.epochs  # one batch per epoch
    assert trained.skipped_corrections == [REMOVED]
    assert list(trained.prototypes) == [intent.key for intent in SINGLE]
    engine = engine_for(trained, SINGLE)
    for intent in SINGLE:
        prediction = engine.predict([intent.phrasings[0]])[0]
        assert prediction.intent == intent.key
        assert decide(prediction, BotSettings().thresholds_for(engine)).action == (Action.ANSWER)


@pytest.mark.model
def test_an_empty_knowledge_base_cannot_train(real_encoder: SentenceEncoder) -> None:
    with pytest.raises(TrainingDataError, match="the knowledge base is empty: import a FAQ file"):
        train_model(real_encoder, [], config=FAST)


@pytest.mark.model
def test_one_intent_cannot_train(real_encoder: SentenceEncoder) -> None:
    with pytest.raises(TrainingDataError, match="at least two intents"):
        train_model(real_encoder, SINGLE[:1], [Example("hi", "delivery")], config=FAST)


@pytest.mark.model
def test_corrections_alone_do_not_make_an_empty_knowledge_base_trainable(
    real_encoder: SentenceEncoder,
) -> None:
    with pytest.raises(TrainingDataError, match="empty"):
        train_model(real_encoder, [], [Example("where is my parcel", "track_order")], config=FAST)


def test_folds_hold_out_only_what_an_intent_can_spare() -> None:
    examples = [Example(p, i.key) for i in ENGLISH for p in i.phrasings]
    examples += [Example("the only one", "lonely")]
    folds = held_out_folds(examples, FAST)
    assert len(folds) == FAST.folds
    held = [e for _, held_out in folds for e in held_out]
    assert sorted(e.text for e in held) == sorted(e.text for e in examples[:-1])  # each once
    for train, held_out in folds:
        assert Example("the only one", "lonely") in train
        assert {e.intent for e in train} == {e.intent for e in examples}
        assert set(train).isdisjoint(held_out)
        assert len(train) + len(held_out) == len(examples)
    assert held_out_folds(examples, FAST) == folds  # the seed decides


def test_folds_become_one_split_when_there_is_enough_to_hold_out() -> None:
    examples = [Example(f"question {n} about {k}", k) for k in "abcd" for n in range(80)]
    folds = held_out_folds(examples, FAST)
    assert len(folds) == 1
    train, held_out = folds[0]
    assert len(held_out) == 4 * 12  # 15% of each intent
    assert {e.intent for e in held_out} == set("abcd")
    assert len(train) == len(examples) - len(held_out)


def test_folds_of_single_phrasing_intents_are_empty() -> None:
    assert held_out_folds([Example(i.phrasings[0], i.key) for i in SINGLE], FAST) == []


def test_held_out_messages_are_reported_in_their_stored_or_detected_language() -> None:
    refunds = IntentSpec(
        "refunds",
        "Within 30 days.",
        ("How do I get a refund?", "怎么退款", "退款要多久"),
        phrasing_languages=(("怎么退款", "zh-CN"), ("退款要多久", "zh")),
    )
    held_out = phrasing_examples([refunds])
    # A background message keeps its set's language; a staff correction has none stored.
    evaluate = [Example("明天天气怎么样", None, "zh"), Example("tell me a joke", None)]
    evaluate.append(Example("明天会下雨吗", None))
    mix = Mix(0.7, 0.5, 0.1, 0.8)
    scores = FoldScores(
        [*held_out, *evaluate],
        ["held_out"] * 3 + ["evaluate"] * 3,
        {mix: [("refunds", 0.9)] * 3 + [("refunds", 0.2)] * 3},
    )
    validation = scores.outcomes(mix, Calibration(), floor=0.3)
    assert validation.language == ["en", "zh", "zh", "zh", "en", "zh"]
    assert validation.truth == ["refunds"] * 3 + [None] * 3
    report = build_report(
        validation.truth,
        validation.predicted,
        validation.confidence,
        validation.answered,
        languages=validation.language,
    )
    assert {
        k: (f["n_in_scope"], f["n_out_of_scope"]) for k, f in report["by_language"].items()
    } == {
        "en": (1, 1),
        "zh": (2, 2),
    }


def test_the_data_fingerprint_follows_the_data() -> None:
    corrections = [Example("where is my parcel", "delivery"), Example("weather?", None)]
    fingerprint = data_fingerprint(SINGLE, corrections)
    assert fingerprint == data_fingerprint(list(SINGLE), list(corrections))
    assert len(fingerprint) == 64
    changed = [replace(SINGLE[0], phrasings=("How long is delivery?",)), *SINGLE[1:]]
    assert data_fingerprint(changed, corrections) != fingerprint
    assert data_fingerprint(SINGLE, corrections[:1]) != fingerprint
    # Answers are not training data: editing one does not change what a model learns from.
    answered = [replace(SINGLE[0], answer="Two days."), *SINGLE[1:]]
    assert data_fingerprint(answered, corrections) == fingerprint


# A bicycle workshop, written for these tests (not the sample shop, not the background set).
BIKE_SHOP = [
    IntentSpec(
        "book_service",
        "Book a service slot online or call the workshop.",
        (
            "how do I book my bike in for a service",
            "can I get a service appointment this week",
            "book a tune-up",
            "I need my bicycle serviced",
            "when can you fit my bike in for a check",
            "do I need an appointment for a repair",
        ),
    ),
    IntentSpec(
        "puncture_repair",
        "Punctures are fixed while you wait, from 12 pounds.",
        (
            "can you fix a flat tyre",
            "my inner tube has a puncture",
            "how much to repair a puncture",
            "flat tire repair price",
            "my back wheel keeps going flat",
            "do you replace inner tubes",
        ),
    ),
    IntentSpec(
        "bike_hire",
        "Hire bikes cost 25 pounds a day, helmet and lock included.",
        (
            "do you rent out bikes",
            "how much is it to hire a bike for a day",
            "can I hire an e-bike",
            "bike rental prices",
            "I want to rent two bicycles for the weekend",
            "is a helmet included with hire",
        ),
    ),
    IntentSpec(
        "opening_hours",
        "Open Tuesday to Saturday, 9:00 to 18:00.",
        (
            "what time do you open",
            "are you open on sunday",
            "opening hours",
            "when does the workshop close today",
            "are you open on bank holidays",
            "what days are you open",
        ),
    ),
    IntentSpec(
        "gear_adjustment",
        "Gear indexing is 15 pounds and usually done the same day.",
        (
            "my gears keep slipping",
            "the chain jumps between gears",
            "can you adjust my derailleur",
            "gears won't shift properly",
            "how much for a gear tune",
            "my shifter is stiff",
        ),
    ),
]
BIKE_PARAPHRASES = [
    ("I'd like to bring my road bike in for a full service", "book_service"),
    ("got a flat, can you sort it out today?", "puncture_repair"),
    ("what does a day's rental of a bicycle cost", "bike_hire"),
    ("until what time is the shop open on saturday", "opening_hours"),
    ("changing gear makes a clicking noise and it skips", "gear_adjustment"),
]
# Written here; none is in the shipped background set.
UNRELATED = [
    "what is the square root of 144",
    "who painted the mona lisa",
    "give me a recipe for banana bread",
    "how many moons does jupiter have",
    "translate good morning into german",
    "is it safe to eat raw cookie dough",
    "what's a good name for a goldfish",
    "explain how vaccines work",
    "which team won the world cup in 2010",
    "how do I centre a div in css",
]
# A third of the shipped English background (every part keeps its share), and all its weather
# messages: the tests stay quick on two cores.
SHIPPED = [m for n, m in enumerate(load_background("en")) if n % 3 == 0 or m.domain == "weather"]
WITH_BACKGROUND = PipelineConfig(
    training=TrainingConfig(epochs=3, trainable_layers=2, max_length=32), folds=2, min_negatives=160
)


def answered(engine: IntentEngine, message: str) -> tuple[Action, str | None]:
    prediction = engine.predict([message])[0]
    decision = decide(prediction, BotSettings().thresholds_for(engine))
    return decision.action, decision.intent


@pytest.fixture(scope="module")
def bike_model(real_encoder: SentenceEncoder) -> TrainedModel:
    return train_model(real_encoder, BIKE_SHOP, background=SHIPPED, config=WITH_BACKGROUND)


@pytest.mark.model
def test_the_shipped_background_trains_negatives_and_fits_the_curve(
    bike_model: TrainedModel,
) -> None:
    used = bike_model.background
    assert used["negatives"] == WITH_BACKGROUND.min_negatives
    assert used["calibrate"] > 100 and used["evaluate"] > 100
    assert bike_model.scoring.oos_curve is not None
    fitted = bike_model.scoring.oos_curve.threshold(DEFAULT_STRICTNESS)
    assert bike_model.scoring.fallback_threshold == fitted
    # The held-out background slice is judged: out of scope rows in the validation.
    assert bike_model.validation.truth.count(None) == used["evaluate"] * WITH_BACKGROUND.folds
    # The base model was judged on the same held-out messages, for "does it beat the base".
    assert bike_model.base_validation.truth == bike_model.validation.truth
    # Stricter never answers more.
    thresholds = [bike_model.scoring.oos_curve.threshold(s) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert thresholds == sorted(thresholds)


@pytest.mark.model
def test_with_the_background_unrelated_questions_fall_back_and_paraphrases_answer(
    bike_model: TrainedModel,
) -> None:
    engine = engine_for(bike_model, BIKE_SHOP)
    caught = [m for m in UNRELATED if answered(engine, m)[0] is Action.FALLBACK]
    assert len(caught) >= 8, f"answered: {sorted(set(UNRELATED) - set(caught))}"
    for message, intent in BIKE_PARAPHRASES:
        action, predicted = answered(engine, message)
        assert predicted == intent, message
        assert action is not Action.FALLBACK, message


@pytest.mark.model
def test_the_report_shows_calibration_on_held_out_messages(bike_model: TrainedModel) -> None:
    validation = bike_model.validation
    report = build_report(
        validation.truth, validation.predicted, validation.confidence, validation.answered
    )
    assert report["ece"] is not None and report["ece"] < 0.15
    assert report["oos_recall"] >= 0.8
    assert report["oos_precision"] >= 0.9


@pytest.mark.model
def test_background_messages_too_close_to_the_knowledge_base_are_left_out(
    real_encoder: SentenceEncoder,
) -> None:
    # A weather app's FAQ: its customers ask what the background set calls everyday chatter.
    weather_app = [
        IntentSpec(
            "forecast",
            "Open the app's Today tab for the hourly forecast.",
            (
                "is it going to rain this afternoon",  # a background message, word for word
                "what's the forecast for the weekend",  # another one
                "will it be sunny tomorrow",
                "hourly forecast for my town",
            ),
        ),
        IntentSpec(
            "cancel_subscription",
            "Cancel Premium under Settings > Subscription.",
            (
                "how do I cancel premium",
                "stop my subscription",
                "I want to end my plan",
                "cancel the yearly subscription",
            ),
        ),
    ]
    trained = train_model(real_encoder, weather_app, background=SHIPPED, config=WITH_BACKGROUND)
    left_out = trained.background["too_close"]
    assert "is it going to rain this afternoon" in left_out
    assert "what's the forecast for the weekend" in left_out
    assert len(left_out) < 100  # only the weather questions, not every background message
    engine = engine_for(trained, weather_app)
    for message in ("is it going to rain this afternoon", "what will the weather be on sunday"):
        assert answered(engine, message) == (Action.ANSWER, "forecast"), message


@pytest.mark.model
def test_other_companies_support_questions_weigh_more_among_the_negatives(
    real_encoder: SentenceEncoder,
) -> None:
    background = [
        BackgroundMessage(domain, f"{text} {n}", "en")
        for domain, text in (
            ("support_gym", "can I freeze my gym membership"),
            ("cooking", "how long do I boil an egg"),
        )
        for n in range(300)
    ]

    def support_share(weight: int) -> float:
        config = PipelineConfig(min_negatives=150, near_domain_weight=weight)
        drawn = [m for m in _sampled(real_encoder, background, 10, config) if m.part == "train"]
        assert len(drawn) == 300  # twice the negatives wanted
        return sum(m.near_domain for m in drawn) / len(drawn)

    # Three to one: about three quarters of the draw, against about half unweighted.
    assert support_share(3) > 0.65
    assert support_share(1) < 0.6
