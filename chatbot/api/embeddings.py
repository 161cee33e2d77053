"""Embeddings and similarity as a service, from the serving model, for staff and admin tokens.

Texts go through the same model thread and micro-batching as customers' messages (a second
:class:`~chatbot.nlu.batching.MicroBatcher` on the inference thread), so a caller's texts share
forward passes with whatever else is being understood, and never run beside them.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StringConstraints

from chatbot.api.principals import StaffUser
from chatbot.nlu.batching import MicroBatcher

router = APIRouter(prefix="/api/v1", tags=["embeddings"])

MAX_TEXTS = 64  # a request's texts (pairs for similarity); more: 422
MAX_TEXT_CHARS = 2000  # the encoder reads 128 tokens; longer text would be cut unseen

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Embedder = MicroBatcher[tuple[str, list[float]]]


class EmbeddingsRequest(BaseModel):
    texts: list[Text] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"1 to {MAX_TEXTS} texts of 1 to {MAX_TEXT_CHARS} characters.",
        examples=[["Where is my order?", "How do I return an item?"]],
    )


class Embeddings(BaseModel):
    model: str = Field(description="The model version that computed the vectors.")
    dimensions: int = Field(description="Length of each vector.")
    vectors: list[list[float]] = Field(description="One vector per text, in the request's order.")


class SimilarityRequest(BaseModel):
    pairs: list[tuple[Text, Text]] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"1 to {MAX_TEXTS} pairs of texts to compare.",
        examples=[[["Where is my parcel?", "Track my order"], ["Where is my parcel?", "Hello"]]],
    )


class Similarity(BaseModel):
    model: str = Field(description="The model version that computed the scores.")
    scores: list[float] = Field(
        description="Cosine similarity of each pair's embeddings (-1 to 1), in the request's order."
    )


async def _embed(request: Request, texts: list[str]) -> tuple[str, list[list[float]]]:
    """The texts' vectors, all from one model version (again, once, if an activation came
    between two batches)."""
    embedder: Embedder = request.app.state.embedder
    for _ in range(2):
        results = await asyncio.gather(*(embedder.predict(text) for text in texts))
        versions = {version for version, _ in results}
        if len(versions) == 1:
            break
    return results[0][0], [vector for _, vector in results]


def cosine(a: list[float], b: list[float]) -> float:
    """
    >>> cosine([1.0, 0.0], [2.0, 0.0]), cosine([1.0, 0.0], [0.0, 3.0]), cosine([0.0], [1.0])
    (1.0, 0.0, 0.0)
    """
    norms = math.hypot(*a) * math.hypot(*b)
    if norms == 0:
        return 0.0
    return max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b, strict=True)) / norms))


@router.post("/embeddings", summary="Embed texts with the serving model")
async def embeddings(body: EmbeddingsRequest, request: Request, principal: StaffUser) -> Embeddings:
    model, vectors = await _embed(request, body.texts)
    return Embeddings(model=model, dimensions=len(vectors[0]), vectors=vectors)


@router.post("/similarity", summary="Compare pairs of texts with the serving model")
async def similarity(body: SimilarityRequest, request: Request, principal: StaffUser) -> Similarity:
    texts = list(dict.fromkeys(text for pair in body.pairs for text in pair))
    model, vectors = await _embed(request, texts)
    vector = dict(zip(texts, vectors, strict=True))
    return Similarity(model=model, scores=[cosine(vector[a], vector[b]) for a, b in body.pairs])
