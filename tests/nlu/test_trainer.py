"""Fine-tuning the encoder: deterministic per seed, learning, cancellable, frozen where it should.

Every test trains a deep copy of the shared real encoder (``fine_tune`` works in place), with only
the top layer learning and a few short phrasings, so that a step takes a second or two on a CPU.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch

from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.trainer import (
    Progress,
    TrainingCancelled,
    TrainingConfig,
    TrainingResult,
    _length_bucketed_batches,
    fine_tune,
)

TEXTS = [
    "where is my parcel",
    "my package has not arrived",
    "I want my money back",
    "how do I get a refund",
    "what time do you open",
    "are you open on sunday",
]
LABELS = [0, 0, 1, 1, 2, 2]
PROBES = ["has my order shipped", "refund my purchase", "opening hours please"]


TINY = TrainingConfig(epochs=3, batch_size=8, trainable_layers=1, max_length=16)


def config(**changes: Any) -> TrainingConfig:
    """Tiny and fast: one step per epoch, only the top transformer layer learns."""
    return replace(TINY, **changes)


def top_layer(encoder: SentenceEncoder) -> torch.nn.Module:
    return encoder.model.encoder.layer[-1]


def bottom_layer(encoder: SentenceEncoder) -> torch.nn.Module:
    return encoder.model.encoder.layer[0]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


@dataclass
class Trained:
    encoder: SentenceEncoder
    result: TrainingResult
    progress: list[Progress]


@pytest.fixture(scope="module")
def trained(real_encoder: SentenceEncoder) -> Trained:
    """One seed-0 run of three epochs, shared by the tests that only look at its outcome."""
    encoder = copy.deepcopy(real_encoder)
    seen: list[Progress] = []
    result = fine_tune(encoder, TEXTS, LABELS, config=config(), on_progress=seen.append)
    return Trained(encoder, result, seen)


@pytest.mark.model
def test_the_same_seed_gives_the_same_model_and_another_seed_a_different_one(
    real_encoder: SentenceEncoder, trained: Trained
) -> None:
    again = copy.deepcopy(real_encoder)
    fine_tune(again, TEXTS, LABELS, config=config())
    other = copy.deepcopy(real_encoder)
    fine_tune(other, TEXTS, LABELS, config=config(seed=1))

    reference = trained.encoder.encode(PROBES)
    assert torch.equal(again.encode(PROBES), reference)
    assert not torch.allclose(other.encode(PROBES), reference, atol=1e-5)


@pytest.mark.model
def test_the_loss_goes_down(trained: Trained) -> None:
    losses = trained.result.losses
    assert len(losses) == trained.result.steps == 3
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]
    assert trained.result.seconds > 0


@pytest.mark.model
def test_progress_is_reported_after_every_step(trained: Trained) -> None:
    assert [(p.step, p.total_steps, p.epoch) for p in trained.progress] == [
        (1, 3, 1),
        (2, 3, 2),
        (3, 3, 3),
    ]
    assert [p.loss for p in trained.progress] == trained.result.losses
    elapsed = [p.elapsed_seconds for p in trained.progress]
    assert elapsed == sorted(elapsed)
    assert trained.progress[-1].eta_seconds == 0.0


@pytest.mark.model
def test_only_the_top_layers_learn(real_encoder: SentenceEncoder, trained: Trained) -> None:
    assert not same_weights(top_layer(trained.encoder), top_layer(real_encoder))
    assert same_weights(bottom_layer(trained.encoder), bottom_layer(real_encoder))
    embeddings = trained.encoder.model.embeddings
    assert same_weights(embeddings, real_encoder.model.embeddings)


@pytest.mark.model
def test_the_learnt_prototypes_come_back_one_unit_row_per_intent(trained: Trained) -> None:
    prototypes = trained.result.prototypes
    assert prototypes is not None
    assert prototypes.shape == (3, trained.encoder.dimension)
    assert not prototypes.requires_grad
    assert torch.allclose(prototypes.norm(dim=1), torch.ones(3), atol=1e-5)
    # Each phrasing is closest to its own intent's prototype.
    nearest = (trained.encoder.encode(TEXTS) @ prototypes.T).argmax(dim=1)
    assert nearest.tolist() == LABELS


@pytest.mark.model
def test_a_trained_encoder_is_left_ready_to_serve(trained: Trained) -> None:
    model = trained.encoder.model
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    vectors = trained.encoder.encode(PROBES)
    assert vectors.shape == (3, trained.encoder.dimension)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)


@pytest.mark.model
def test_fine_tuning_pulls_phrasings_of_one_intent_together(
    real_encoder: SentenceEncoder, trained: Trained
) -> None:
    def separation(encoder: SentenceEncoder) -> float:
        """Mean cosine of same-intent pairs minus that of pairs from different intents."""
        vectors = encoder.encode(TEXTS)
        similarity = vectors @ vectors.T
        labels = torch.tensor(LABELS)
        same = labels[:, None] == labels[None, :]
        off_diagonal = ~torch.eye(len(TEXTS), dtype=torch.bool)
        return float(similarity[same & off_diagonal].mean() - similarity[~same].mean())

    assert separation(trained.encoder) > separation(real_encoder)


@pytest.mark.model
def test_should_stop_cancels_after_the_current_step(real_encoder: SentenceEncoder) -> None:
    encoder = copy.deepcopy(real_encoder)
    seen: list[Progress] = []
    with pytest.raises(TrainingCancelled):
        fine_tune(
            encoder,
            TEXTS,
            LABELS,
            config=config(epochs=None),
            on_progress=seen.append,
            should_stop=lambda: True,
        )
    assert [p.step for p in seen] == [1]
    assert seen[0].total_steps == 5  # epochs=None: five passes over a small data set
    # Cancelled or not, the model is back in inference mode with nothing left to train.
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.model.parameters())


@pytest.mark.model
def test_an_error_in_a_callback_also_leaves_the_model_in_inference_mode(
    real_encoder: SentenceEncoder,
) -> None:
    encoder = copy.deepcopy(real_encoder)

    def crash(progress: Progress) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        fine_tune(encoder, TEXTS, LABELS, config=config(), on_progress=crash)
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.model.parameters())


@pytest.mark.parametrize(
    ("texts", "labels"),
    [([], []), (["where is my parcel"], []), (["a", "b"], [0])],
    ids=["nothing", "no labels", "fewer labels"],
)
@pytest.mark.model
def test_texts_and_labels_must_match(
    real_encoder: SentenceEncoder, texts: list[str], labels: list[int]
) -> None:
    with pytest.raises(ValueError, match="as many labels as texts"):
        fine_tune(real_encoder, texts, labels, config=config())


@pytest.mark.model
def test_a_single_step_of_training_works(real_encoder: SentenceEncoder) -> None:
    encoder = copy.deepcopy(real_encoder)
    result = fine_tune(encoder, TEXTS, LABELS, config=config(epochs=1))
    assert result.steps == 1


def test_progress_eta() -> None:
    assert math.isnan(Progress(0, 10, 1, 1.0, 0.0).eta_seconds)
    assert Progress(2, 10, 1, 1.0, 4.0).eta_seconds == pytest.approx(16.0)
    assert Progress(10, 10, 3, 0.1, 20.0).eta_seconds == 0.0


def test_batches_cover_every_text_once_and_repeat_per_seed() -> None:
    texts = [f"message number {'x' * (i % 7)} {i}" for i in range(23)]
    batches = _length_bucketed_batches(texts, 4, random.Random(7))
    assert sorted(i for batch in batches for i in batch) == list(range(23))
    assert all(1 <= len(batch) <= 4 for batch in batches)
    assert _length_bucketed_batches(texts, 4, random.Random(7)) == batches
    assert _length_bucketed_batches(texts, 4, random.Random(8)) != batches


def test_the_config_is_stored_as_plain_data() -> None:
    stored = TrainingConfig(epochs=2, seed=5).to_dict()
    assert stored["epochs"] == 2 and stored["seed"] == 5
    assert TrainingConfig(**stored) == TrainingConfig(epochs=2, seed=5)
