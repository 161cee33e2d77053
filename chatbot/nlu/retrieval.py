"""Intent retrieval as small pure functions over tensors (no model, web or database here).

An intent is scored against a query by its nearest phrasing and by its centroid (the mean of its
phrasings): the nearest phrasing catches a customer who words it the way one FAQ row does, the
centroid steadies the score when an intent has many varied phrasings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class IntentIndex:
    """Phrasing embeddings grouped by intent.

    ``phrasing_intent[p]`` is the row in ``keys`` and ``centroids`` of phrasing ``p``'s intent.
    """

    keys: tuple[str, ...]
    phrasing_vectors: Tensor  # (P, d), unit rows
    phrasing_intent: Tensor  # (P,) long
    centroids: Tensor  # (I, d), unit rows

    def __len__(self) -> int:
        return len(self.keys)


def build_index(
    keys: Sequence[str], vectors: Tensor, phrasing_intent: Sequence[int]
) -> IntentIndex:
    """Group unit-length phrasing vectors by intent and compute each intent's centroid.

    Example:
        >>> v = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
        >>> index = build_index(["refund", "track"], v, [0, 0, 1])
        >>> index.centroids.shape
        torch.Size([2, 4])
    """
    owner = torch.as_tensor(list(phrasing_intent), dtype=torch.long)
    if len(keys) and (owner.numel() == 0 or owner.bincount(minlength=len(keys)).min() == 0):
        raise ValueError("every intent needs at least one phrasing")
    sums = torch.zeros(len(keys), vectors.shape[1]).index_add_(0, owner, vectors)
    centroids = torch.nn.functional.normalize(sums, p=2, dim=1)
    return IntentIndex(tuple(keys), vectors, owner, centroids)


def score_intents(
    index: IntentIndex,
    queries: Tensor,
    *,
    nearest_weight: float = 0.7,
    allowed: Tensor | None = None,
) -> Tensor:
    """Cosine-based score of every intent for every query: shape (Q, I), higher is better.

    Args:
        index: the knowledge base's phrasings.
        queries: (Q, d) unit-length query vectors.
        nearest_weight: share of the nearest-phrasing similarity; the rest is the centroid's.
        allowed: optional (I,) bool mask; intents outside it score -inf.
    """
    nearest, centroid = nearest_and_centroid(index, queries)
    scores = nearest_weight * nearest + (1 - nearest_weight) * centroid
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return scores


def nearest_and_centroid(index: IntentIndex, queries: Tensor) -> tuple[Tensor, Tensor]:
    """Per query and intent: similarity to the nearest phrasing and to the centroid, (Q, I) each."""
    similarity = queries @ index.phrasing_vectors.T  # (Q, P)
    owner = index.phrasing_intent.expand(queries.shape[0], -1)
    nearest = torch.full((queries.shape[0], len(index)), -1.0).scatter_reduce(
        1, owner, similarity, reduce="amax", include_self=True
    )
    return nearest, queries @ index.centroids.T


def top_intents(scores: Tensor, keys: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """The k best ``(intent key, score)`` pairs per query, best first; -inf scores are dropped."""
    k = min(k, scores.shape[1])
    values, indices = scores.topk(k, dim=1)
    return [
        [
            (keys[i], float(v))
            for v, i in zip(row_v.tolist(), row_i.tolist(), strict=True)
            if v != float("-inf")
        ]
        for row_v, row_i in zip(values, indices, strict=True)
    ]
