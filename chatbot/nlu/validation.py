"""Held-out validation of a training run: labelled examples, the split or folds they are held
out by, and the outcomes on them that the report is built from."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.language import detect_language

if TYPE_CHECKING:  # the pipeline's settings; the pipeline imports this module
    from chatbot.nlu.pipeline import PipelineConfig


@dataclass(frozen=True)
class Example:
    """A labelled message; ``intent`` None marks one the bot should not answer. ``language``:
    the one stored with it (a phrasing's, a background message's); None: detected from the text.
    """

    text: str
    intent: str | None
    language: str | None = None

    @property
    def report_language(self) -> str:
        """The language the report counts it under: its primary subtag (``zh-CN`` is ``zh``),
        so stored tags and detected ones (``en``, ``zh``) fall into the same groups."""
        return (self.language or detect_language(self.text)).split("-")[0].lower()


@dataclass
class Validation:
    """Outcomes on held-out messages, for the report."""

    truth: list[str | None] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    predicted: list[str | None] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)

    def extend(self, more: Validation) -> None:
        for name in ("truth", "language", "predicted", "confidence", "answered"):
            getattr(self, name).extend(getattr(more, name))


def phrasing_examples(intents: Sequence[IntentSpec]) -> list[Example]:
    """Every phrasing of the knowledge base as a labelled example, in the language stored with it.

    Example:
        >>> refunds = IntentSpec("refunds", "Within 30 days.", ("Refund?", "怎么退款"),
        ...                      phrasing_languages=(("怎么退款", "zh-CN"),))
        >>> [(e.text, e.language, e.report_language) for e in phrasing_examples([refunds])]
        [('Refund?', 'en', 'en'), ('怎么退款', 'zh-CN', 'zh')]
    """
    return [Example(p, i.key, i.language_of(p)) for i in intents for p in i.phrasings]


def held_out_folds(
    examples: Sequence[Example], config: PipelineConfig
) -> list[tuple[list[Example], list[Example]]]:
    """Stratified hold-out, or k folds when one hold-out would be too small to measure."""
    rng = random.Random(config.training.seed)
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent or ""].append(example)
    shuffled = {k: rng.sample(v, len(v)) for k, v in by_intent.items()}
    # An intent keeps at least one example in training; single-phrasing intents are never held out.
    holdable = {k: v for k, v in shuffled.items() if len(v) >= 2}
    hold = {
        k: min(len(v) - 1, max(1, round(len(v) * config.validation_fraction)))
        for k, v in holdable.items()
    }
    if not holdable:
        return []  # every intent has one phrasing: nothing to validate on, train on all
    if sum(hold.values()) >= config.min_validation:
        return [_split(examples, {id(e) for k, v in holdable.items() for e in v[: hold[k]]})]
    folds = [
        _split(examples, {id(e) for v in holdable.values() for e in v[fold :: config.folds]})
        for fold in range(config.folds)
    ]
    return [f for f in folds if f[1]]


def _split(examples: Sequence[Example], held: set[int]) -> tuple[list[Example], list[Example]]:
    return [e for e in examples if id(e) not in held], [e for e in examples if id(e) in held]


def intents_from(train: Sequence[Example], intents: Sequence[IntentSpec]) -> list[IntentSpec]:
    phrasings: dict[str, list[str]] = defaultdict(list)
    for example in train:
        if example.intent is not None:
            phrasings[example.intent].append(example.text)
    return [replace(i, phrasings=tuple(phrasings[i.key])) for i in intents if phrasings[i.key]]
