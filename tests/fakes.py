"""Test doubles that behave like the real parts, for tests about something else."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor

from chatbot.lexical import tokenize


class HashingEncoder:
    """Bag-of-words vectors hashed into a fixed size: messages sharing words come out similar.

    Used by API tests through ``create_app(encoder=...)`` so they need not load the real model.
    """

    weights_sha256 = "f" * 64
    path = "hashing-encoder"

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        out = torch.zeros(len(texts), self._dimension)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                bucket = int(hashlib.md5(token.encode()).hexdigest(), 16) % self._dimension
                out[row, bucket] += 1.0
        return torch.nn.functional.normalize(out, p=2, dim=1)
