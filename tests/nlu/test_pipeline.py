"""From a knowledge base and corrections to a validated, calibrated model.

Training runs use two folds, one short step per epoch and only the top layer learning: the tests
are about the pipeline's bookkeeping, not about how good a model a few steps make.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from chatbot.conversation.manager import ConversationManager
from chatbot.conversation.policies import Action, decide
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import Calibration, IntentEngine
from chatbot.nlu.pipeline import (
    NEAREST_WEIGHTS,
    PROTOTYPE_WEIGHTS,
    Example,
    PipelineConfig,
    TrainedModel,
    TrainingDataError,
    _folds,
    best_threshold,
    data_fingerprint,
    fit_calibration,
    train_model,
)
from chatbot.nlu.trainer import TrainingConfig
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

# BUG (see test_fit_calibration_emits_no_warning): the first fit in a process warns, which the
# suite's warnings-as-errors setting turns into a failure; ignored where it is not the subject.


def engine_for(trained: TrainedModel, intents: list[IntentSpec]) -> IntentEngine:
    engine = IntentEngine(
        trained.encoder,
        version="trained",
        prototypes=trained.prototypes,
        prototype_weight=trained.prototype_weight,
        calibration=trained.calibration,
        nearest_weight=trained.nearest_weight,
        lexical_weight=trained.lexical_weight,
        lexical_weight_zh=trained.lexical_weight_zh,
        fallback_threshold=trained.fallback_threshold,
    )
    engine.load_knowledge(intents, revision=1)
    return engine


@pytest.fixture(scope="module")
def base_vectors(real_encoder: SentenceEncoder) -> torch.Tensor:
    return real_encoder.encode([p for intent in ENGLISH for p in intent.phrasings])


@pytest.fixture(scope="module")
def trained(real_encoder: SentenceEncoder, base_vectors: torch.Tensor) -> Iterator[TrainedModel]:
    """Four intents of five phrasings, out-of-scope corrections and a stale one: trained once."""
    yield train_model(real_encoder, ENGLISH, [*OUT_OF_SCOPE, REMOVED], config=FAST)


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
    # Out-of-scope corrections are scored in every fold.
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
    assert trained.prototype_weight in PROTOTYPE_WEIGHTS


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
    assert trained.fallback_threshold is not None
    assert 0.0 <= trained.fallback_threshold <= 1.0
    assert trained.calibration != Calibration()  # fitted on the held-out scores
    assert trained.calibration.scale > 0
    assert trained.nearest_weight in NEAREST_WEIGHTS


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
    decision = decide(prediction, ConversationManager(engine).thresholds_for(engine))
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
    decision = decide(prediction, ConversationManager(engine).thresholds_for(engine))
    assert decision.action is Action.FALLBACK


@pytest.mark.model
def test_intents_with_a_single_phrasing_train_unvalidated_and_answer(
    real_encoder: SentenceEncoder,
) -> None:
    trained = train_model(real_encoder, SINGLE, [*OUT_OF_SCOPE, REMOVED], config=FAST)
    # Nothing can be held out: no validation, no fitted curve or threshold, one run on it all.
    assert trained.validation.truth == []
    assert trained.calibration == Calibration()
    assert trained.fallback_threshold is None
    assert trained.final_fit
    assert trained.steps == FAST.training.epochs  # one batch per epoch
    assert trained.skipped_corrections == [REMOVED]
    assert list(trained.prototypes) == [intent.key for intent in SINGLE]
    engine = engine_for(trained, SINGLE)
    for intent in SINGLE:
        prediction = engine.predict([intent.phrasings[0]])[0]
        assert prediction.intent == intent.key
        assert decide(prediction, ConversationManager(engine).thresholds_for(engine)).action == (
            Action.ANSWER
        )


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
    folds = _folds(examples, FAST)
    assert len(folds) == FAST.folds
    held = [e for _, held_out in folds for e in held_out]
    assert sorted(e.text for e in held) == sorted(e.text for e in examples[:-1])  # each once
    for train, held_out in folds:
        assert Example("the only one", "lonely") in train
        assert {e.intent for e in train} == {e.intent for e in examples}
        assert set(train).isdisjoint(held_out)
        assert len(train) + len(held_out) == len(examples)
    assert _folds(examples, FAST) == folds  # the seed decides


def test_folds_become_one_split_when_there_is_enough_to_hold_out() -> None:
    examples = [Example(f"question {n} about {k}", k) for k in "abcd" for n in range(80)]
    folds = _folds(examples, FAST)
    assert len(folds) == 1
    train, held_out = folds[0]
    assert len(held_out) == 4 * 12  # 15% of each intent
    assert {e.intent for e in held_out} == set("abcd")
    assert len(train) == len(examples) - len(held_out)


def test_folds_of_single_phrasing_intents_are_empty() -> None:
    assert _folds([Example(i.phrasings[0], i.key) for i in SINGLE], FAST) == []


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


def test_fit_calibration_separates_right_from_wrong_scores() -> None:
    scores = [0.2, 0.3, 0.35, 0.45, 0.55, 0.6, 0.7, 0.8]
    right = [False, False, False, True, False, True, True, True]
    calibration = fit_calibration(scores, right)
    assert 0.35 < calibration.center < 0.6
    assert calibration.scale > 0
    assert calibration.confidence(0.8) > 0.8
    assert calibration.confidence(0.2) < 0.2
    confidences = [calibration.confidence(s) for s in scores]
    assert confidences == sorted(confidences)


def test_fit_calibration_keeps_the_default_when_it_cannot_learn() -> None:
    assert fit_calibration([0.5, 0.7, 0.9], [True, True, True]) == Calibration()
    assert fit_calibration([0.5, 0.7], [False, False]) == Calibration()
    assert fit_calibration([], []) == Calibration()
    # Higher scores more often wrong: a falling curve would be nonsense.
    assert fit_calibration([0.2, 0.4, 0.6, 0.8], [True, True, False, False]) == Calibration()


def test_fit_calibration_stays_finite_when_the_groups_separate_perfectly() -> None:
    calibration = fit_calibration([0.1, 0.2, 0.8, 0.9], [False, False, True, True])
    assert math.isfinite(calibration.center) and math.isfinite(calibration.scale)
    assert calibration.center == pytest.approx(0.5, abs=0.05)


def test_fit_calibration_emits_no_warning() -> None:
    # In a fresh interpreter: torch gives this warning only once per process.
    script = (
        "from chatbot.nlu.pipeline import fit_calibration\n"
        "fit_calibration([0.2, 0.4, 0.6, 0.8], [False, True, False, True])\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-500:]


def test_best_threshold_separates_answerable_from_out_of_scope() -> None:
    assert best_threshold([0.9, 0.8, 0.7], [0.2, 0.3]) == 0.7
    # Overlap: the lowest cut that gets most of both sides right.
    assert best_threshold([0.9, 0.8, 0.4], [0.5, 0.3, 0.2]) == 0.4
    # Nothing out of scope to catch: never refuse an answerable message.
    assert best_threshold([0.9, 0.6], []) == 0.0
