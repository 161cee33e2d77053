"""A trained model on disk: the encoder's weights and tokenizer, and a card describing them.

A version directory is self-contained, so a loaded model answers with the calibration and
thresholds it was validated with (as setfit keeps labels beside the weights).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor

from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import Calibration

CARD_FILE = "chatbot_model.json"
PROTOTYPES_FILE = "prototypes.safetensors"


@dataclass
class ModelCard:
    """What a version is: where it came from, how it was trained, how well it did."""

    version: str
    base_model: str
    base_weights_sha256: str
    intents: list[str]
    calibration: dict[str, float] = field(default_factory=lambda: asdict(Calibration()))
    nearest_weight: float = 0.7
    prototype_weight: float = 0.0
    lexical_weight: float = 0.2
    lexical_weight_zh: float = 0.8
    fallback_threshold: float | None = None  # confidence under which to fall back, if fitted
    # [threshold, in-scope answered, out-of-scope caught] rows: where strictness settings land.
    oos_curve: list[list[float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    seconds: float = 0.0
    device: str = "cpu"
    weights_sha256: str = ""
    prototype_intents: list[str] = field(default_factory=list)
    # The serving mode chosen when the version was built, and what each candidate measured.
    precision: dict[str, Any] = field(default_factory=dict)

    def calibration_curve(self) -> Calibration:
        return Calibration(**self.calibration)

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        data = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, directory: Path) -> None:
        text = json.dumps(asdict(self), indent=2, ensure_ascii=False)
        (directory / CARD_FILE).write_text(text, encoding="utf-8")


@dataclass
class SavedModel:
    encoder: SentenceEncoder
    card: ModelCard
    prototypes: dict[str, Tensor]


def save_model(
    encoder: SentenceEncoder,
    card: ModelCard,
    directory: Path,
    prototypes: dict[str, Tensor] | None = None,
) -> None:
    """Write weights (safetensors), tokenizer, intent prototypes and card into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(str(directory))  # type: ignore[operator]
    encoder.tokenizer.save_pretrained(str(directory))  # type: ignore[attr-defined]
    if prototypes:
        # Tensor names are indices into the card's list: intent keys may hold any character.
        card.prototype_intents = list(prototypes)
        save_file(
            {str(i): v.contiguous() for i, v in enumerate(prototypes.values())},
            str(directory / PROTOTYPES_FILE),
        )
    card.write(directory)


def load_model(directory: Path, *, device: str = "auto", max_length: int = 128) -> SavedModel:
    """Load a saved version: its encoder, card and prototypes.

    Example:
        >>> import torch
        >>> base = SentenceEncoder.from_pretrained()  # the packaged base model
        >>> card = ModelCard("ft-demo", str(base.path), base.weights_sha256, ["refunds"],
        ...                  metrics={"accuracy": 0.93})
        >>> save_model(base, card, tmp_path / "ft-demo", {"refunds": torch.ones(384) / 384**0.5})
        >>> saved = load_model(tmp_path / "ft-demo")
        >>> saved.card.metrics["accuracy"], list(saved.prototypes)
        (0.93, ['refunds'])
    """
    card = ModelCard.read(directory)
    encoder = SentenceEncoder.from_pretrained(directory, device=device, max_length=max_length)
    prototypes: dict[str, Tensor] = {}
    if (directory / PROTOTYPES_FILE).is_file():
        tensors = load_file(str(directory / PROTOTYPES_FILE))
        prototypes = {key: tensors[str(i)] for i, key in enumerate(card.prototype_intents)}
    return SavedModel(encoder, card, prototypes)
