"""A trained model on disk: the encoder's weights and tokenizer, and a card describing them.

A version directory is self-contained, so a loaded model answers with the calibration and
thresholds it was validated with (as setfit keeps labels beside the weights).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import Calibration

CARD_FILE = "chatbot_model.json"


@dataclass
class ModelCard:
    """What a version is: where it came from, how it was trained, how well it did."""

    version: str
    base_model: str
    base_weights_sha256: str
    intents: list[str]
    calibration: dict[str, float] = field(default_factory=lambda: asdict(Calibration()))
    nearest_weight: float = 0.7
    lexical_weight: float = 0.2
    lexical_weight_zh: float = 0.8
    fallback_threshold: float | None = None  # confidence under which to fall back, if fitted
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    seconds: float = 0.0
    device: str = "cpu"
    weights_sha256: str = ""

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


def save_model(encoder: SentenceEncoder, card: ModelCard, directory: Path) -> None:
    """Write weights (safetensors), tokenizer and card into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(str(directory))  # type: ignore[operator]
    encoder.tokenizer.save_pretrained(str(directory))  # type: ignore[attr-defined]
    card.write(directory)


def load_model(
    directory: Path, *, device: str = "auto", max_length: int = 128
) -> tuple[SentenceEncoder, ModelCard]:
    """Load a saved version: its encoder and its card.

    Example:
        >>> encoder, card = load_model(Path("var/models/ft-20261128-2300"))
    """
    card = ModelCard.read(directory)
    encoder = SentenceEncoder.from_pretrained(directory, device=device, max_length=max_length)
    return encoder, card
