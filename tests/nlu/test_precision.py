"""Serving precision: int8 is a real quantised copy, chosen only when it costs no accuracy."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from chatbot.nlu import precision
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.precision import MIN_STABILITY, candidates, choose, with_precision
from tests.factories import shop_intents

pytestmark = pytest.mark.model


def test_int8_is_a_quantised_copy_that_leaves_the_original_alone(
    real_encoder: SentenceEncoder,
) -> None:
    quantised = with_precision(real_encoder, "int8")
    assert quantised.precision == "int8" and real_encoder.precision == "fp32"
    assert any("quantized" in type(module).__module__ for module in quantised.model.modules()), (
        "no quantised layer"
    )
    assert not any("quantized" in type(m).__module__ for m in real_encoder.model.modules())
    texts = ["where is my parcel", "can I return a sofa"]
    similarity = (quantised.encode(texts) * real_encoder.encode(texts)).sum(dim=1)
    assert torch.all(similarity > 0.9), similarity


def test_the_chosen_mode_costs_at_most_the_allowed_accuracy(real_encoder: SentenceEncoder) -> None:
    intents = shop_intents()
    texts = [p for i in intents for p in i.phrasings]
    labels = [i.key for i in intents for _ in i.phrasings]
    choice = choose(real_encoder, texts, labels)
    by_mode = {c.mode: c for c in choice.checks}
    assert set(by_mode) == set(candidates(real_encoder.device))
    assert by_mode["fp32"].accuracy - by_mode[choice.mode].accuracy <= 0.003
    # A text's vector does not depend on what it was batched with, in the mode chosen.
    assert by_mode[choice.mode].stability >= MIN_STABILITY
    assert by_mode["fp32"].stability > 0.9999
    # Demanding more accuracy than fp32 has (a negative cost) leaves only fp32.
    strict = choose(real_encoder, texts, labels, max_cost=-1.0)
    assert strict.mode == "fp32"


def test_an_unknown_mode_is_refused(real_encoder: SentenceEncoder) -> None:
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        with_precision(real_encoder, "fp8")


def test_the_traced_serving_model_gives_the_eager_models_vectors_at_any_shape(
    real_encoder: SentenceEncoder,
) -> None:
    serving = with_precision(real_encoder, "fp32")
    assert serving.runner is not None and real_encoder.runner is None
    long = "my parcel is late " * 60  # past max_length: truncated the same way
    for texts in (["hi"], ["where is my parcel", "a much longer question about a refund"], [long]):
        assert torch.allclose(serving.encode(texts), real_encoder.encode(texts), atol=1e-5)
    many = [f"question number {i} about delivery {'soon ' * (i % 7)}" for i in range(70)]
    assert torch.allclose(serving.encode(many), real_encoder.encode(many), atol=1e-5)


def test_the_onnx_runtime_copy_gives_the_eager_models_vectors_with_a_session_per_thread_count(
    real_encoder: SentenceEncoder,
) -> None:
    serving = with_precision(real_encoder, "onnx")
    assert serving.precision == "onnx" and isinstance(serving.runner, precision.OnnxRunner)
    assert real_encoder.precision == "fp32" and real_encoder.runner is None
    long = "my parcel is late " * 60
    many = [f"question number {i} about delivery {'soon ' * (i % 7)}" for i in range(70)]
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for texts in (["hi"], ["where is my parcel", "a refund, please"], [long], many):
                assert torch.allclose(serving.encode(texts), real_encoder.encode(texts), atol=1e-4)
    finally:
        torch.set_num_threads(before)
    # The serving thread changes torch's thread count per batch: one session for each count.
    assert sorted(serving.runner._sessions) == [1, 2]


def test_versions_exported_at_the_same_moment_all_load(real_encoder: SentenceEncoder) -> None:
    # A version loading in the background while the admin's test pane loads another: torch's
    # exporter refuses a second export while one runs, so the exports must take turns.
    start = threading.Barrier(3)

    def export() -> precision.OnnxRunner:
        start.wait()
        return precision.OnnxRunner(real_encoder)

    with ThreadPoolExecutor(3) as pool:
        runners = [f.result() for f in [pool.submit(export) for _ in range(3)]]
    assert len({runner.model for runner in runners}) == 1


def test_a_mode_whose_vectors_move_with_their_batch_is_not_chosen(
    real_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    intents = shop_intents()
    texts = [p for i in intents for p in i.phrasings] + ["a" * 400]
    labels = [i.key for i in intents for _ in i.phrasings] + [intents[0].key]
    choice = choose(real_encoder, texts, labels)
    unstable = [c.mode for c in choice.checks if c.stability < MIN_STABILITY]
    assert choice.mode not in unstable
    # Demanding a stability no mode can have (above 1) leaves only fp32, whatever the speed.
    monkeypatch.setattr("chatbot.nlu.precision.MIN_STABILITY", 1.1)
    assert choose(real_encoder, texts, labels).mode == "fp32"


def test_a_mode_slower_for_one_message_alone_is_not_chosen(
    real_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone customer's reply waits for one text encoded alone: a mode faster only in batches
    would make every quiet-hour reply slower."""
    intents = shop_intents()
    texts = [p for i in intents for p in i.phrasings]
    labels = [i.key for i in intents for _ in i.phrasings]
    measured = precision._alone

    def slow_alone_unless_fp32(encoder, texts, batched):  # type: ignore[no-untyped-def]
        _stability, ms_alone = measured(encoder, texts, batched)
        return 1.0, ms_alone * (1 if encoder.precision == "fp32" else 100)

    monkeypatch.setattr("chatbot.nlu.precision._alone", slow_alone_unless_fp32)
    monkeypatch.setattr("chatbot.nlu.precision.MIN_SPEED_UP", 0.0)  # any batch speed will do
    choice = choose(real_encoder, texts, labels)
    assert choice.mode == "fp32"
    assert all(c.ms_alone > 0 for c in choice.checks)


def test_a_mode_the_model_cannot_be_made_in_is_left_out_not_fatal(
    real_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base model from CHATBOT_BASE_MODEL that the ONNX exporter cannot take still serves."""

    def cannot_export(encoder: SentenceEncoder) -> None:
        raise RuntimeError("the exporter does not support this model")

    monkeypatch.setattr("chatbot.nlu.precision.OnnxRunner", cannot_export)
    intents = shop_intents()
    texts = [p for i in intents for p in i.phrasings]
    labels = [i.key for i in intents for _ in i.phrasings]
    choice = choose(real_encoder, texts, labels)
    measured = [c.mode for c in choice.checks]
    assert "onnx" not in measured and measured[0] == "fp32"
    assert choice.mode in measured
