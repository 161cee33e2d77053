"""Choosing a version's Scoring on held-out messages: the mix of dense and lexical scores, then
the confidence curve and the curve of in-scope answered vs out-of-scope caught."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import torch
from torch import Tensor

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import Encoder, IntentEngine
from chatbot.nlu.scope import OutOfScopeCurve
from chatbot.nlu.scoring import Calibration, Mix
from chatbot.nlu.validation import Example, Validation

# Searched on held-out messages: nearest phrasing vs centroid, prototype share, lexical share for
# English-script and for Chinese messages.
NEAREST_WEIGHTS = (0.3, 0.5, 0.7, 1.0)
PROTOTYPE_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
LEXICAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3)
LEXICAL_WEIGHTS_ZH = (0.5, 0.7, 0.8, 0.9, 1.0)
DEFAULT_MIX = Mix(nearest=0.7, prototype=0.5, lexical=0.1, lexical_zh=0.8)


@dataclass
class FoldScores:
    """Best intent and score of each scored message under every weight combination.

    ``held_out`` messages are judged and calibrated on; ``calibrate`` ones (out of scope) only fit
    the curves; ``evaluate`` ones (out of scope) are only judged.
    """

    examples: list[Example]
    purposes: list[str]
    results: dict[Mix, list[tuple[str | None, float]]]

    def rows(self, mix: Mix, *purposes: str) -> list[tuple[Example, str | None, float]]:
        return [
            (example, predicted, score)
            for example, purpose, (predicted, score) in zip(
                self.examples, self.purposes, self.results[mix], strict=True
            )
            if purpose in purposes
        ]

    def outcomes(self, mix: Mix, calibration: Calibration, floor: float) -> Validation:
        validation = Validation()
        for example, predicted, score in self.rows(mix, "held_out", "evaluate"):
            confidence = calibration.confidence(score)
            validation.truth.append(example.intent)
            validation.language.append(example.report_language)
            validation.predicted.append(predicted)
            validation.confidence.append(confidence)
            validation.answered.append(confidence >= floor)
        return validation


def score_fold(
    encoder: Encoder,
    prototypes: dict[str, Tensor],
    intents: Sequence[IntentSpec],
    held_out: Sequence[Example],
    calibrate: Sequence[Example] = (),
    evaluate: Sequence[Example] = (),
) -> FoldScores:
    engine = IntentEngine(encoder, version="validation", prototypes=prototypes)
    engine.load_knowledge(intents, revision=0)
    examples = [*held_out, *calibrate, *evaluate]
    purposes = (
        ["held_out"] * len(held_out) + ["calibrate"] * len(calibrate) + ["evaluate"] * len(evaluate)
    )
    parts = engine.score_parts([e.text for e in examples])
    results: dict[Mix, list[tuple[str | None, float]]] = {}
    grid = product(NEAREST_WEIGHTS, PROTOTYPE_WEIGHTS, LEXICAL_WEIGHTS, LEXICAL_WEIGHTS_ZH)
    for weights in grid:
        mix = Mix(*weights)
        if parts is None:
            results[mix] = [(None, -math.inf)] * len(examples)
            continue
        scores = parts.combine(mix)
        best, index = scores.max(dim=1)
        results[mix] = [
            (parts.keys[i], s) for s, i in zip(best.tolist(), index.tolist(), strict=True)
        ]
    return FoldScores(examples, purposes, results)


def choose_mix(folds: Sequence[FoldScores]) -> Mix:
    """The mix with the most held-out messages right (ties: the defaults' side)."""

    def correct(mix: Mix) -> int:
        return sum(
            example.intent is not None and predicted == example.intent
            for fold in folds
            for example, predicted, _ in fold.rows(mix, "held_out")
        )

    return max(folds[0].results, key=lambda m: (correct(m), -m.distance(DEFAULT_MIX)))


def fit_curves(folds: Sequence[FoldScores], mix: Mix) -> tuple[Calibration, OutOfScopeCurve | None]:
    """Fit confidence = P(right and in scope | score) on held-out and calibration messages, and
    the curve of in-scope answered vs out-of-scope caught (None without out-of-scope messages).
    """
    scores: list[float] = []
    right: list[bool] = []
    for fold in folds:
        for example, predicted, score in fold.rows(mix, "held_out", "calibrate"):
            if math.isinf(score):
                continue
            scores.append(score)
            right.append(example.intent is not None and predicted == example.intent)
    calibration = fit_calibration(scores, right)
    # The right answers a threshold keeps: refusing a wrong one costs nothing.
    in_scope = [
        calibration.confidence(score)
        for fold in folds
        for example, predicted, score in fold.rows(mix, "held_out")
        if example.intent is not None and predicted == example.intent
    ]
    outside = [
        calibration.confidence(score)
        for fold in folds
        for example, _, score in fold.rows(mix, "calibrate")
    ]
    if not outside or not in_scope:
        return calibration, None
    return calibration, OutOfScopeCurve.measure(in_scope, outside)


def fit_calibration(scores: Sequence[float], right: Sequence[bool]) -> Calibration:
    """Logistic regression of 'the best intent was right' on its score (Platt scaling).

    Example:
        >>> fit_calibration([0.2, 0.4, 0.6, 0.8], [False, False, True, True]).center
        0.5...
    """
    if len(set(right)) < 2:
        return Calibration()  # nothing to separate: keep the base curve
    x = torch.tensor(scores, dtype=torch.float64)
    y = torch.tensor(right, dtype=torch.float64)
    a = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([a, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = a * (x - x.mean()) / (x.std() + 1e-9) + b
        # A little L2 keeps the curve finite when the two groups separate perfectly.
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
            + 1e-3 * a.square().sum()
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    slope = a.item() / (x.std().item() + 1e-9)
    if slope <= 0:
        return Calibration()
    center = x.mean().item() - b.item() / slope
    return Calibration(center=center, scale=1.0 / slope)
