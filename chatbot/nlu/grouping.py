"""Grouping the messages the bot could not answer, so an admin reviews topics rather than rows.

Messages are split by script first (a group becomes phrasings of one language), then clustered
with scikit-learn's agglomerative clustering (average linkage) on a blend of the serving model's
embedding cosine and the lexical cosine, weighted per language (the base encoder reads English
only: Chinese leans on the lexical side, as the engine's answers do). Groups are cut where the
average distance between two groups exceeds the language's threshold, so their number follows
the data rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering
from torch import Tensor

from chatbot.nlu.engine import Prediction
from chatbot.nlu.language import detect_language
from chatbot.nlu.lexical import build_lexical_index, lexical_scores


@dataclass(frozen=True)
class Blend:
    """How one language's messages are compared and cut into groups."""

    lexical_weight: float  # the lexical cosine's share of the similarity (the rest: embeddings)
    distance_threshold: float  # average-linkage distance (1 - similarity) that keeps groups apart


# Chosen on tests/nlu/unanswered_topics.py's first set with all-MiniLM-L6-v2, then measured on
# its held-out set (bench/README.md). English as the engine blends it; Chinese leans further on
# the lexical side than the engine's 0.8: the base encoder finds every Chinese sentence alike
# (off-diagonal cosine about 0.8), which only shifts a ranking but blurs every group's border.
BLENDS = {"en": Blend(0.2, 0.75), "zh": Blend(0.9, 0.85)}


@dataclass(frozen=True)
class NearestIntent:
    """The knowledge base's intent closest to a group, by its central messages' rankings."""

    intent: str
    score: float  # the engine's blended similarity, averaged over the messages asked
    confidence: float  # the calibrated confidence of that score, averaged likewise


@dataclass(frozen=True)
class MessageGroup:
    """Messages that ask the same thing: indexes into the texts grouped, most central first."""

    members: tuple[int, ...]
    language: str
    cohesion: float  # mean similarity of the members to the group's most central one


def similarity_matrix(texts: Sequence[str], vectors: Tensor, lexical_weight: float) -> Tensor:
    """Pairwise similarity: ``(1 - w) * cosine(embeddings) + w * cosine(TF-IDF)``.

    Example:
        >>> vectors = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> similarity_matrix(["a b", "a b", "c"], vectors, 0.5).round(decimals=2).tolist()
        [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    unit = torch.nn.functional.normalize(vectors.float(), dim=1)
    dense = unit @ unit.T
    if lexical_weight <= 0:
        return dense.clamp(-1, 1)
    index = build_lexical_index(texts)
    lexical = torch.stack([lexical_scores(index, text) for text in texts])
    lexical = (lexical + lexical.T) / 2  # unseen tokens make the cosine lean one way
    return ((1 - lexical_weight) * dense + lexical_weight * lexical).clamp(-1, 1)


def cluster(similarity: Tensor, distance_threshold: float) -> list[int]:
    """A group label per row of a similarity matrix (average linkage on 1 - similarity).

    Example:
        >>> cluster(torch.tensor([[1.0, 0.9, 0.0], [0.9, 1.0, 0.1], [0.0, 0.1, 1.0]]), 0.5)
        [0, 0, 1]
    """
    n = similarity.shape[0]
    if n < 2:
        return [0] * n
    distance = (1 - similarity).clamp(min=0).numpy().astype(np.float64)
    np.fill_diagonal(distance, 0.0)
    labels = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage="average",
        distance_threshold=distance_threshold,
    ).fit_predict(distance)
    # Numbered by first appearance, so equal inputs always give equal labels.
    first: dict[int, int] = {}
    return [first.setdefault(int(label), len(first)) for label in labels]


def group_messages(
    texts: Sequence[str],
    vectors: Tensor,
    *,
    blends: Mapping[str, Blend] = BLENDS,
) -> list[MessageGroup]:
    """Group texts by meaning, per language; the largest groups first.

    Args:
        texts: the messages.
        vectors: their embeddings, one row per text, from the serving model.
        blends: how to compare and cut each language's messages (``en``'s for any other).

    Example:
        >>> vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> groups = group_messages(["refund", "refund please", "parking"], vectors)
        >>> [group.members for group in groups]
        [(0, 1), (2,)]
    """
    by_language: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        by_language.setdefault(detect_language(text), []).append(i)
    groups = []
    for language, indexes in by_language.items():
        blend = blends.get(language) or blends["en"]
        similarity = similarity_matrix(
            [texts[i] for i in indexes], vectors[indexes], blend.lexical_weight
        )
        labels = cluster(similarity, blend.distance_threshold)
        for label in sorted(set(labels)):
            rows = [row for row, of in enumerate(labels) if of == label]
            inner = similarity[rows][:, rows]
            centrality = inner.mean(dim=1)
            order = sorted(range(len(rows)), key=lambda k: -float(centrality[k]))
            groups.append(
                MessageGroup(
                    tuple(indexes[rows[k]] for k in order),
                    language,
                    float(inner[order[0]].mean()),
                )
            )
    groups.sort(key=lambda group: (-len(group.members), group.members[0]))
    return groups


def nearest_intent(predictions: Sequence[Prediction]) -> NearestIntent | None:
    """The intent ranked closest on average over a group's messages (absent from a ranking: 0).

    Example:
        >>> from chatbot.nlu.engine import RankedIntent
        >>> a = Prediction("hours", 0.7, (RankedIntent("hours", 0.6, 0.7),), "en")
        >>> b = Prediction("returns", 0.6, (RankedIntent("returns", 0.5, 0.6),
        ...                                RankedIntent("hours", 0.4, 0.5)), "en")
        >>> nearest_intent([a, b])
        NearestIntent(intent='hours', score=0.5, confidence=0.6)
    """
    totals: dict[str, list[float]] = {}
    for prediction in predictions:
        for ranked in prediction.ranking:
            total = totals.setdefault(ranked.intent, [0.0, 0.0])
            total[0] += ranked.score
            total[1] += ranked.confidence
    if not totals:
        return None
    best = max(totals, key=lambda key: totals[key][0])
    n = len(predictions)
    return NearestIntent(best, round(totals[best][0] / n, 4), round(totals[best][1] / n, 4))
