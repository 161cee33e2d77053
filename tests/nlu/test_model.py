"""A model version on disk: weights, tokenizer and card go out and come back the same."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import torch

from chatbot.nlu.encoder import WEIGHTS_FILE, ModelLoadError, SentenceEncoder, file_sha256
from chatbot.nlu.engine import IntentEngine
from chatbot.nlu.model import CARD_FILE, PROTOTYPES_FILE, ModelCard, load_model, save_model
from chatbot.nlu.scope import OutOfScopeCurve
from chatbot.nlu.scoring import Calibration, Mix, Scoring

TEXTS = ["where is my parcel", "I want my money back", "是否可以开发票"]


CARD = ModelCard(
    version="ft-20261128-2300-abcdef",
    base_model="packaged",
    base_weights_sha256="5" * 64,
    intents=["delivery", "refunds"],
    scoring=Scoring(
        mix=Mix(nearest=0.5, prototype=0.25, lexical=0.1, lexical_zh=0.9),
        calibration=Calibration(center=0.42, scale=0.05),
        fallback_threshold=0.37,
        oos_curve=OutOfScopeCurve.measure([0.9, 0.8, 0.6, 0.4], [0.1, 0.5]),  # exact quarters
    ),
    metrics={"accuracy": 0.9, "macro_f1": 0.88},
    training={"epochs": 2, "seed": 0},
    data_fingerprint="f" * 64,
    seconds=12.5,
)


def card(**changes: Any) -> ModelCard:
    return replace(CARD, **changes)


@pytest.mark.model
def test_a_saved_model_loads_with_the_same_embeddings_card_and_prototypes(
    real_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    directory = tmp_path / "ft-1"
    # Keys with characters no tensor name should carry: they are stored by position.
    prototypes = {
        "退货/refund": torch.nn.functional.normalize(torch.randn(real_encoder.dimension), dim=0),
        "hours.opening": torch.nn.functional.normalize(torch.randn(real_encoder.dimension), dim=0),
    }
    saved = card(weights_sha256="")
    save_model(real_encoder, saved, directory, prototypes)
    assert (directory / WEIGHTS_FILE).is_file()
    assert (directory / CARD_FILE).is_file()
    assert (directory / PROTOTYPES_FILE).is_file()
    assert (directory / "config.json").is_file()
    assert any(directory.glob("tokenizer*"))

    loaded = load_model(directory, device="cpu")
    assert loaded.card == saved
    assert loaded.card.prototype_intents == list(prototypes)
    assert list(loaded.prototypes) == list(prototypes)
    for key, vector in prototypes.items():
        assert torch.equal(loaded.prototypes[key], vector)
    assert loaded.encoder.path == directory
    assert loaded.encoder.weights_sha256 == file_sha256(directory / WEIGHTS_FILE)
    assert torch.allclose(loaded.encoder.encode(TEXTS), real_encoder.encode(TEXTS), atol=1e-5)
    assert loaded.card.scoring.calibration == Calibration(center=0.42, scale=0.05)
    # The engine takes the version whole: its scoring, prototypes and name.
    engine = IntentEngine.from_pretrained(directory)
    assert (engine.version, engine.scoring) == (saved.version, saved.scoring)
    assert list(engine.prototypes) == list(prototypes)


@pytest.mark.model
def test_a_model_saved_without_prototypes_loads_with_none(
    real_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    save_model(real_encoder, card(), tmp_path)
    assert not (tmp_path / PROTOTYPES_FILE).exists()
    loaded = load_model(tmp_path, device="cpu")
    assert loaded.prototypes == {}
    assert loaded.card.prototype_intents == []


@pytest.mark.model
def test_saving_again_overwrites_the_card(real_encoder: SentenceEncoder, tmp_path: Path) -> None:
    save_model(real_encoder, card(), tmp_path)
    updated = card(weights_sha256="a" * 64)
    updated.write(tmp_path)
    assert ModelCard.read(tmp_path).weights_sha256 == "a" * 64


def test_a_card_keeps_its_text_readable(tmp_path: Path) -> None:
    card(intents=["退货"]).write(tmp_path)
    text = (tmp_path / CARD_FILE).read_text(encoding="utf-8")
    assert "退货" in text
    assert json.loads(text)["intents"] == ["退货"]


def test_a_card_from_another_release_still_reads(tmp_path: Path) -> None:
    """Fields a later release adds are ignored; fields an older one lacked take their defaults."""
    (tmp_path / CARD_FILE).write_text(
        json.dumps(
            {
                "version": "ft-old",
                "base_model": "packaged",
                "base_weights_sha256": "0" * 64,
                "intents": ["a", "b"],
                "a_field_from_the_future": [1, 2, 3],
            }
        ),
        encoding="utf-8",
    )
    read = ModelCard.read(tmp_path)
    assert read.version == "ft-old"
    assert read.scoring == Scoring()  # the base model's: no fallback, no curve
    assert (read.scoring.mix, read.prototype_intents) == (Mix(0.7, 0.0, 0.2, 0.8), [])
    assert read.metrics == {} and read.training == {}


def test_a_card_round_trips_through_json(tmp_path: Path) -> None:
    written = card(device="cuda")
    written.write(tmp_path)
    assert ModelCard.read(tmp_path) == written
    # On disk the scoring is the flat fields every card has had, so older releases read it.
    on_disk = json.loads((tmp_path / CARD_FILE).read_text(encoding="utf-8"))
    assert on_disk == {k: v for k, v in asdict(written).items() if k != "scoring"} | {
        "nearest_weight": 0.5,
        "prototype_weight": 0.25,
        "lexical_weight": 0.1,
        "lexical_weight_zh": 0.9,
        "calibration": {"center": 0.42, "scale": 0.05},
        "fallback_threshold": 0.37,
        "oos_curve": on_disk["oos_curve"],
    }
    # [threshold, in-scope answered, out-of-scope caught] every hundredth.
    assert on_disk["oos_curve"][0] == [0.0, 1.0, 0.0]
    assert on_disk["oos_curve"][50] == [0.5, 0.75, 0.5]
    assert on_disk["oos_curve"][100] == [1.0, 0.0, 1.0]


def test_a_directory_without_weights_is_refused_clearly(tmp_path: Path) -> None:
    card().write(tmp_path)
    with pytest.raises(ModelLoadError, match=f"no {WEIGHTS_FILE} found"):
        load_model(tmp_path, device="cpu")


def test_a_directory_without_a_card_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=CARD_FILE):
        load_model(tmp_path, device="cpu")
