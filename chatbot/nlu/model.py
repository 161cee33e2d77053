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
from chatbot.nlu.scope import OutOfScopeCurve
from chatbot.nlu.scoring import Calibration, Mix, Scoring

CARD_FILE = "chatbot_model.json"
PROTOTYPES_FILE = "prototypes.safetensors"


@dataclass
class ModelCard:
    """What a version is: where it came from, how it was trained, how well it did."""

    version: str
    base_model: str
    base_weights_sha256: str
    intents: list[str]
    # The mix, confidence curve and fallback the version was validated with. On disk as the flat
    # fields nearest_weight, prototype_weight, lexical_weight, lexical_weight_zh, calibration,
    # fallback_threshold and oos_curve ([threshold, in-scope answered, out-of-scope caught]
    # rows), as every card has been written.
    scoring: Scoring = field(default_factory=Scoring)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    seconds: float = 0.0
    device: str = "cpu"
    weights_sha256: str = ""
    prototype_intents: list[str] = field(default_factory=list)
    # The serving mode chosen when the version was built, and what each candidate measured.
    precision: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        data = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__} - {"scoring"}
        return cls(**{k: v for k, v in data.items() if k in known}, scoring=_scoring_of(data))

    def write(self, directory: Path) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "scoring"}
        data.update(_flat(self.scoring))
        text = json.dumps(data, indent=2, ensure_ascii=False)
        (directory / CARD_FILE).write_text(text, encoding="utf-8")


def _flat(scoring: Scoring) -> dict[str, Any]:
    curve = scoring.oos_curve
    return {
        "calibration": asdict(scoring.calibration),
        "nearest_weight": scoring.mix.nearest,
        "prototype_weight": scoring.mix.prototype,
        "lexical_weight": scoring.mix.lexical,
        "lexical_weight_zh": scoring.mix.lexical_zh,
        "fallback_threshold": scoring.fallback_threshold,
        "oos_curve": curve.to_list() if curve is not None else [],
    }


def _scoring_of(data: dict[str, Any]) -> Scoring:
    """The scoring of a card's flat fields; a field a card lacks takes the base model's value."""
    base = Scoring()
    return Scoring(
        mix=Mix(
            nearest=data.get("nearest_weight", base.mix.nearest),
            prototype=data.get("prototype_weight", base.mix.prototype),
            lexical=data.get("lexical_weight", base.mix.lexical),
            lexical_zh=data.get("lexical_weight_zh", base.mix.lexical_zh),
        ),
        calibration=Calibration(**data.get("calibration", asdict(base.calibration))),
        fallback_threshold=data.get("fallback_threshold"),
        oos_curve=OutOfScopeCurve.from_list(data.get("oos_curve") or []),
    )


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
