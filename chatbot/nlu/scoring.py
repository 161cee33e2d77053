"""How a model version turns similarities into a decision, as one value carried whole.

A version's :class:`Scoring` is chosen on its validation data (``chatbot.nlu.pipeline``), saved
in its card (``chatbot.nlu.model``) and read by the engine that serves it
(``chatbot.nlu.engine``): the mix of the score's parts, the confidence curve, and where to fall
back. Nothing copies its fields one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chatbot.nlu.scope import OutOfScopeCurve


@dataclass(frozen=True)
class Calibration:
    """Maps a raw similarity score to a confidence in 0..1 with a logistic curve.

    The defaults suit the frozen all-MiniLM-L6-v2, where a paraphrase of a stored phrasing scores
    about 0.6-0.9 and an unrelated question 0.1-0.4; fine-tuning fits its own.
    """

    center: float = 0.5
    scale: float = 0.08

    def confidence(self, score: float) -> float:
        if math.isinf(score):
            return 0.0
        return 1.0 / (1.0 + math.exp(-(score - self.center) / self.scale))


@dataclass(frozen=True)
class Mix:
    """How the evidence for an intent is weighed into one score.

    ``nearest``: the nearest phrasing's share of the retrieval score (the rest is the intent's
    centroid); ``prototype``: the learnt prototype's share of the dense score (fine-tuned models
    only); ``lexical`` / ``lexical_zh``: the TF-IDF cosine's share of the final score for
    messages in other scripts / in Chinese. The defaults are the base model's: its encoder reads
    English only, so Chinese leans on the lexical side.
    """

    nearest: float = 0.7
    prototype: float = 0.0
    lexical: float = 0.2
    lexical_zh: float = 0.8

    def lexical_for(self, script: str) -> float:
        """The lexical share for a message in ``script`` ("zh" or anything else)."""
        return self.lexical_zh if script == "zh" else self.lexical

    def distance(self, other: Mix) -> float:
        """How far apart two mixes are (the sum of the weights' differences)."""
        return (
            abs(self.nearest - other.nearest)
            + abs(self.prototype - other.prototype)
            + abs(self.lexical - other.lexical)
            + abs(self.lexical_zh - other.lexical_zh)
        )


@dataclass(frozen=True)
class Scoring:
    """A version's mix, its confidence curve, and its fallback threshold with the curve of
    in-scope answers kept vs out-of-scope questions caught that it was read from (None where no
    out-of-scope messages were measured)."""

    mix: Mix = Mix()
    calibration: Calibration = Calibration()
    fallback_threshold: float | None = None
    oos_curve: OutOfScopeCurve | None = None

    def fallback_for(self, strictness: float | None) -> float | None:
        """The fallback threshold at an admin's strictness (None: the one fitted at build).

        >>> curve = OutOfScopeCurve.measure([0.9, 0.8, 0.6, 0.4], [0.1, 0.3, 0.5, 0.7])
        >>> scoring = Scoring(fallback_threshold=0.35, oos_curve=curve)
        >>> scoring.fallback_for(None), scoring.fallback_for(1.0), Scoring().fallback_for(1.0)
        (0.35, 0.85, None)
        """
        if strictness is None or self.oos_curve is None:
            return self.fallback_threshold
        return self.oos_curve.threshold(strictness)
