"""Intent understanding behind one object: encode, score against the knowledge base, calibrate.

The engine is the seam for later speed work (micro-batching, int8, GPU): callers only ever hand it
lists of texts and get predictions back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.context import ContextMixing, Utterance, joined, may_need_context, mix
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.language import detect_language, same_script
from chatbot.nlu.lexical import (
    KnowledgeTokenizer,
    LexicalIndex,
    build_lexical_index,
    lexical_scores,
)
from chatbot.nlu.model import load_model
from chatbot.nlu.retrieval import IntentIndex, build_index, nearest_and_centroid, top_intents
from chatbot.nlu.scoring import Calibration, Mix, Scoring


class Encoder(Protocol):
    """Anything that embeds texts as unit-length rows (the real SentenceEncoder, or a test fake)."""

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor: ...


@dataclass(frozen=True)
class RankedIntent:
    intent: str
    score: float
    confidence: float


@dataclass(frozen=True)
class Prediction:
    """What a message means: the best intent (None if the knowledge base is empty) and rivals."""

    intent: str | None
    confidence: float
    ranking: tuple[RankedIntent, ...]
    language: str

    @property
    def margin(self) -> float:
        """Score gap between the best and the second-best intent (1.0 when there is no rival)."""
        if len(self.ranking) < 2:
            return 1.0
        return self.ranking[0].score - self.ranking[1].score


@dataclass(frozen=True)
class _Snapshot:
    revision: int
    # One row per intent and script: a bilingual intent's English and Chinese phrasings are
    # scored apart, so a message meets only the phrasings written in its own script.
    index: IntentIndex
    lexical: LexicalIndex
    intents: dict[str, IntentSpec]
    prototypes: Tensor  # (rows, d)
    languages: list[str]  # per row
    # Per row: written in Chinese; a message is scored only against rows of its own script.
    chinese: Tensor = field(init=False)
    # nearest_intents() answers per (intent key, row, limit), worked out when first asked.
    neighbours: dict[tuple[str, int, int], tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        chinese = [same_script(language, "zh") for language in self.languages]
        object.__setattr__(self, "chinese", torch.tensor(chinese, dtype=torch.bool))


def _rows(intents: Sequence[IntentSpec]) -> list[tuple[str, str, list[str]]]:
    """``(intent key, language, phrasings)`` per intent and script, in the intents' order."""
    rows: list[tuple[str, str, list[str]]] = []
    for intent in intents:
        by_script: dict[bool, tuple[str, list[str]]] = {}
        for phrasing in intent.phrasings:
            language = intent.language_of(phrasing)
            by_script.setdefault(same_script(language, "zh"), (language, []))[1].append(phrasing)
        rows.extend((intent.key, language, texts) for language, texts in by_script.values())
    return rows


class IntentEngine:
    """Understands customer messages against the current knowledge base.

    Example:
        >>> from chatbot.knowledge.spec import IntentSpec
        >>> from chatbot.nlu.encoder import SentenceEncoder
        >>> intents = [
        ...     IntentSpec("track_order", "Follow it here.", ("where is my order",)),
        ...     IntentSpec("returns", "Send it back.", ("how do I return an item",)),
        ... ]
        >>> engine = IntentEngine(SentenceEncoder.from_pretrained(), version="base-53aa51172d14")
        >>> engine.load_knowledge(intents, revision=1)
        >>> engine.predict(["my parcel never came"])[0].intent
        'track_order'
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        version: str,
        scoring: Scoring | None = None,
        prototypes: dict[str, Tensor] | None = None,
        chinese_words: bool = False,
        context: ContextMixing | None = None,
    ) -> None:
        self.encoder = encoder
        # How a short follow-up is read with the question before it (chatbot.nlu.context).
        self.context = context or ContextMixing()
        # Intent prototypes learnt in fine-tuning; intents added since then use their centroid.
        self.prototypes = prototypes or {}
        scoring = scoring or Scoring()
        if not self.prototypes:
            scoring = replace(scoring, mix=replace(scoring.mix, prototype=0.0))
        self.scoring = scoring
        self.version = version
        # jieba's words beside the character n-grams (chatbot.nlu.lexical.segmented_tokenize).
        self.chinese_words = chinese_words
        self._snapshot: _Snapshot | None = None
        self._vectors: dict[str, Tensor] = {}  # phrasing text -> embedding, reused across rebuilds
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        directory: Path,
        *,
        version: str | None = None,
        device: str = "auto",
        max_length: int = 128,
        serving: Callable[[SentenceEncoder, str | None], Encoder] | None = None,
        chinese_words: bool = False,
        context: ContextMixing | None = None,
    ) -> IntentEngine:
        """A saved version as an engine, whole: its encoder, prototypes and scoring (its card's).

        ``serving`` may wrap the loaded encoder in the serving mode the version chose when it
        was built (its card's ``precision["mode"]``, None when none was chosen); ``version``
        defaults to the card's. Load the knowledge base next (:meth:`load_knowledge`).
        """
        saved = load_model(directory, device=device, max_length=max_length)
        card = saved.card
        encoder: Encoder = saved.encoder
        if serving is not None:
            encoder = serving(saved.encoder, card.precision.get("mode"))
        return cls(
            encoder,
            version=version or card.version,
            scoring=card.scoring,
            prototypes=saved.prototypes,
            chinese_words=chinese_words,
            context=context,
        )

    @property
    def calibration(self) -> Calibration:
        return self.scoring.calibration

    def fallback_for(self, strictness: float | None) -> float | None:
        """The fallback threshold at an admin's strictness (None: the one fitted at build)."""
        return self.scoring.fallback_for(strictness)

    @property
    def revision(self) -> int | None:
        """Knowledge base revision the index was built from (None before the first load)."""
        snapshot = self._snapshot
        return snapshot.revision if snapshot else None

    def intent(self, key: str) -> IntentSpec | None:
        """The indexed intent with this key, if the current knowledge base has it."""
        snapshot = self._snapshot
        return snapshot.intents.get(key) if snapshot else None

    def nearest_intents(self, key: str, language: str, limit: int = 32) -> tuple[str, ...]:
        """The ``limit`` other intents nearest to ``key``, nearest first by the cosine of their
        phrasings' centroid to its own: the related questions to offer when history has none.
        (Kept per intent once worked out: a bound keeps that small in a large knowledge base.)

        Intents are compared in ``language``'s script (Chinese or not) where ``key`` has
        phrasings in it, else in the script of its first phrasings; intents without phrasings
        in that script are left out. Empty when ``key`` is not indexed.

        Example:
            >>> from chatbot.knowledge.spec import IntentSpec
            >>> from chatbot.nlu.encoder import SentenceEncoder
            >>> engine = IntentEngine(SentenceEncoder.from_pretrained(), version="base")
            >>> engine.load_knowledge([
            ...     IntentSpec("refund_time", "3-5 days.", ("when will my refund arrive",)),
            ...     IntentSpec("wood_care", "Oil it.", ("how do I oil my table",)),
            ...     IntentSpec("refund_how", "Online.", ("how do I get a refund",)),
            ... ], revision=1)
            >>> engine.nearest_intents("refund_time", "en")
            ('refund_how', 'wood_care')
        """
        snapshot = self._snapshot
        if snapshot is None:
            return ()
        rows = [row for row, owner in enumerate(snapshot.index.keys) if owner == key]
        if not rows:
            return ()
        in_script = [row for row in rows if same_script(language, snapshot.languages[row])]
        row = (in_script or rows)[0]
        found = snapshot.neighbours.get((key, row, limit))
        if found is not None:
            return found
        script = snapshot.languages[row]
        centroids = snapshot.index.centroids
        scores = (centroids @ centroids[row]).tolist()
        ranked = sorted(
            (
                (-score, other)
                for other, score in enumerate(scores)
                if other != row and same_script(script, snapshot.languages[other])
            ),
        )
        nearest: list[str] = []
        for _, other in ranked:
            owner = snapshot.index.keys[other]
            if owner != key and owner not in nearest:
                nearest.append(owner)
                if len(nearest) == limit:
                    break
        found = snapshot.neighbours[(key, row, limit)] = tuple(nearest)
        return found

    def load_knowledge(
        self,
        intents: Sequence[IntentSpec],
        revision: int,
        synonyms: Sequence[Sequence[str]] = (),
    ) -> None:
        """(Re)build the index; only phrasings not seen before are encoded.

        ``synonyms`` are the knowledge base's groups of interchangeable terms, first term
        canonical; the lexical side applies them to phrasings and messages alike.
        Predictions running meanwhile finish on the old index: the new one is swapped in whole.
        """
        with self._lock:
            rows = _rows(intents)
            texts = [p for _, _, phrasings in rows for p in phrasings]
            missing = sorted({t for t in texts if t not in self._vectors})
            if missing:
                for text, vector in zip(missing, self.encoder.encode(missing), strict=True):
                    self._vectors[text] = vector
            self._vectors = {t: self._vectors[t] for t in set(texts)}
            owner = [i for i, (_, _, phrasings) in enumerate(rows) for _ in phrasings]
            vectors = (
                torch.stack([self._vectors[t] for t in texts])
                if texts
                else torch.empty(0, self.encoder.dimension)
            )
            index = build_index([key for key, _, _ in rows], vectors, owner)
            self._snapshot = _Snapshot(
                revision,
                index,
                build_lexical_index(
                    texts, KnowledgeTokenizer.train(texts, synonyms, segment=self.chinese_words)
                ),
                {i.key: i for i in intents},
                self._prototype_matrix(index),
                [language for _, language, _ in rows],
            )

    def _prototype_matrix(self, index: IntentIndex) -> Tensor:
        rows = [self.prototypes.get(key) for key in index.keys]
        return (
            torch.stack(
                [row if row is not None else index.centroids[i] for i, row in enumerate(rows)]
            )
            if rows
            else index.centroids
        )

    def predict(self, texts: Sequence[str | Utterance], *, top_k: int = 5) -> list[Prediction]:
        """Rank the knowledge base's intents for each text.

        A message in Chinese is matched against Chinese phrasings and any other message against
        the rest, whenever the knowledge base has phrasings on that side; an intent is ranked
        once, by its phrasings in the message's script. An :class:`Utterance` with a previous
        turn is a possible follow-up: when short and unsure alone, its scores are mixed with
        those of the previous question and the follow-up read as one text
        (:mod:`chatbot.nlu.context`).
        """
        utterances = [t if isinstance(t, Utterance) else Utterance(t) for t in texts]
        plain = [u.text for u in utterances]
        languages = [u.language or detect_language(u.text) for u in utterances]
        follow_ups = [
            row
            for row, utterance in enumerate(utterances)
            if may_need_context(utterance, languages[row], self.context)
        ]
        # The joined readings share the messages' forward pass (and the micro-batch).
        together = [joined(utterances[row]) for row in follow_ups]
        parts = self.score_parts(
            plain + together, [*languages, *(detect_language(t) for t in together)]
        )
        if parts is None:
            return [Prediction(None, 0.0, (), language) for language in languages]
        scores = parts.combine(self.scoring.mix)
        for extra, row in enumerate(follow_ups, start=len(plain)):
            alone = scores[row]
            confidence = self.calibration.confidence(float(alone.max()))
            scores[row] = mix(alone, scores[extra], confidence, self.context)
        predictions = []
        for ranked, language in zip(
            top_intents(scores[: len(plain)], parts.keys, top_k),
            parts.languages[: len(plain)],
            strict=True,
        ):
            ranking = tuple(
                RankedIntent(key, score, self.calibration.confidence(score))
                for key, score in ranked
            )
            best = ranking[0]
            predictions.append(Prediction(best.intent, best.confidence, ranking, language))
        return predictions

    def reads_alike(self, first: Utterance, second: Utterance) -> bool:
        """Whether :meth:`predict` reads the two alike: the same text, after the same turn or
        after none that it would read them with (a prediction of one stands for the other)."""
        return first.text == second.text and (
            first.previous == second.previous
            or not (self._in_context(first) or self._in_context(second))
        )

    def _in_context(self, utterance: Utterance) -> bool:
        language = utterance.language or detect_language(utterance.text)
        return may_need_context(utterance, language, self.context)

    def score_parts(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> ScoreParts | None:
        """The separate dense and lexical evidence for every text and intent (None: no index).

        ``languages``: the texts' languages, when the caller detected them already."""
        snapshot = self._snapshot
        if snapshot is None or not len(snapshot.index) or not texts:
            return None
        index = snapshot.index
        queries = self.encoder.encode(texts)
        nearest, centroid = nearest_and_centroid(index, queries)
        lexical = torch.stack([lexical_scores(snapshot.lexical, t) for t in texts])
        lexical_by_intent = torch.zeros_like(nearest).scatter_reduce(
            1, index.phrasing_intent.expand(len(texts), -1), lexical, reduce="amax"
        )
        languages = list(languages) if languages else [detect_language(t) for t in texts]
        allowed = torch.ones_like(nearest, dtype=torch.bool)
        for row, language in enumerate(languages):
            same = snapshot.chinese if same_script(language, "zh") else ~snapshot.chinese
            if same.any():
                allowed[row] = same
        return ScoreParts(
            index.keys,
            languages,
            nearest,
            centroid,
            queries @ snapshot.prototypes.T,
            lexical_by_intent,
            allowed,
        )


@dataclass(frozen=True)
class ScoreParts:
    """Evidence per (text, intent): nearest phrasing, centroid, prototype and lexical cosines."""

    keys: tuple[str, ...]
    languages: list[str]
    nearest: Tensor
    centroid: Tensor
    prototype: Tensor
    lexical: Tensor
    allowed: Tensor

    def combine(self, mix: Mix) -> Tensor:
        """Mix the evidence into one score per (text, intent); intents not allowed get -inf."""
        retrieved = mix.nearest * self.nearest + (1 - mix.nearest) * self.centroid
        dense = (1 - mix.prototype) * retrieved + mix.prototype * self.prototype
        weight = torch.tensor([[mix.lexical_for(lang)] for lang in self.languages])
        scores = (1 - weight) * dense + weight * self.lexical
        return scores.masked_fill(~self.allowed, float("-inf"))
