"""Where to stop answering: the trade-off between right answers kept and out-of-scope questions
caught, measured on held-out messages, and the strictness that picks a point on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Confidence cuts the curve is measured at: every hundredth.
CUTS = tuple(i / 100 for i in range(101))
# The strictness a new installation starts at: the strictest, in steps of 0.05, whose fallbacks
# cost at most one point of right answers on a development split of BANKING77's training set (10
# phrasings per intent, seeds 0 and 1). 0.5, weighing answered and caught alike, cost 2.9 and 0.8
# points there; 0.45 cost 0.95 and 0.8. bench/README.md has the figures.
DEFAULT_STRICTNESS = 0.45


@dataclass(frozen=True)
class CurvePoint:
    threshold: float  # fall back under this confidence
    answered: float  # share of right answers to held-out in-scope messages still given
    caught: float  # share of out-of-scope messages that fell back


@dataclass(frozen=True)
class OutOfScopeCurve:
    """Right in-scope answers kept vs out-of-scope questions caught at each fallback threshold.

    Example:
        >>> curve = OutOfScopeCurve.measure([0.9, 0.8, 0.6, 0.4], [0.1, 0.3, 0.5, 0.7])
        >>> curve.threshold(0.5)  # ties from 0.31 to 0.40: the middle
        0.35
        >>> curve.threshold(0.0), curve.threshold(1.0)
        (0.2, 0.85)
        >>> curve.at(0.31)
        CurvePoint(threshold=0.31, answered=1.0, caught=0.5)
    """

    points: tuple[CurvePoint, ...]

    @classmethod
    def measure(cls, in_scope: Sequence[float], out_of_scope: Sequence[float]) -> OutOfScopeCurve:
        """The curve from the confidences of right in-scope answers and of out-of-scope messages."""
        if not in_scope or not out_of_scope:
            raise ValueError("the curve needs in-scope and out-of-scope messages")
        return cls(
            tuple(
                CurvePoint(
                    cut,
                    sum(c >= cut for c in in_scope) / len(in_scope),
                    sum(c < cut for c in out_of_scope) / len(out_of_scope),
                )
                for cut in CUTS
            )
        )

    def threshold(self, strictness: float) -> float:
        """The fallback threshold for a strictness in 0..1.

        0 answers everything it can, 1 refuses everything out of scope it can; in between, the
        threshold that maximises (1 - strictness) x answered + strictness x caught (0.5: the
        mean of the two, the balanced choice). Where thresholds tie, the lowest run of them (answer
        rather than refuse when nothing is gained) and its middle: as far as the measurements
        allow from the messages on either side.
        """
        if not 0.0 <= strictness <= 1.0:
            raise ValueError(f"strictness must be in 0..1, got {strictness}")

        def value(point: CurvePoint) -> float:
            return round((1 - strictness) * point.answered + strictness * point.caught, 9)

        best = max(value(p) for p in self.points)
        start = next(i for i, p in enumerate(self.points) if value(p) == best)
        end = start
        while end + 1 < len(self.points) and value(self.points[end + 1]) == best:
            end += 1
        return self.points[(start + end) // 2].threshold

    def at(self, threshold: float) -> CurvePoint:
        """The measured point nearest to a threshold."""
        return min(self.points, key=lambda p: abs(p.threshold - threshold))

    def to_list(self) -> list[list[float]]:
        """[threshold, answered, caught] rows, as the model card and the report keep them."""
        return [[p.threshold, round(p.answered, 4), round(p.caught, 4)] for p in self.points]

    @classmethod
    def from_list(cls, rows: Sequence[Sequence[float]]) -> OutOfScopeCurve | None:
        if not rows:
            return None
        return cls(tuple(CurvePoint(float(t), float(a), float(c)) for t, a, c in rows))
