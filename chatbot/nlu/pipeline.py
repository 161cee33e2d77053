"""From a knowledge base (plus staff corrections) to a validated, calibrated fine-tuned encoder.

1. Hold out a stratified validation split (or use k folds when the split would be too small).
2. Fine-tune a copy of the base encoder on the rest.
3. On the held-out messages, choose the dense/lexical mixing weights, fit the confidence curve and,
   when out-of-scope examples exist, the fallback threshold; measure everything.
4. Train the final model on every example when that is affordable (small knowledge bases, where
   each held-out phrasing is a large share of its intent), else keep the validated model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

import torch
from torch import Tensor

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.engine import Calibration, IntentEngine
from chatbot.nlu.trainer import Progress, TrainingConfig, fine_tune


@dataclass(frozen=True)
class Example:
    """A labelled message; ``intent`` None marks one the bot should not answer."""

    text: str
    intent: str | None


@dataclass
class PipelineConfig:
    training: TrainingConfig = field(default_factory=TrainingConfig)
    validation_fraction: float = 0.15
    min_validation: int = 40  # below this, k folds instead of one split
    folds: int = 3
    # Retrain on everything up to this many examples: keeps a full BANKING77-sized knowledge base
    # (10k phrasings) inside 15 minutes on two cores while using every phrasing.
    final_fit_max_examples: int = 12000


@dataclass
class Validation:
    """Outcomes on held-out messages, for the report."""

    truth: list[str | None] = field(default_factory=list)
    predicted: list[str | None] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)


@dataclass
class TrainedModel:
    encoder: SentenceEncoder
    prototypes: dict[str, Tensor]  # intent key -> learnt unit vector
    calibration: Calibration
    nearest_weight: float
    prototype_weight: float
    lexical_weight: float
    lexical_weight_zh: float
    fallback_threshold: float | None
    validation: Validation
    seconds: float
    steps: int
    final_fit: bool
    skipped_corrections: list[Example]  # they name intents the knowledge base no longer has


class TrainingDataError(ValueError):
    """The data cannot train a model; the message says why."""


def data_fingerprint(intents: Sequence[IntentSpec], corrections: Sequence[Example]) -> str:
    """A stable hash of what a model is trained on."""
    payload = json.dumps(
        [[i.key, list(i.phrasings)] for i in intents] + [[c.text, c.intent] for c in corrections],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def train_model(
    base: SentenceEncoder,
    intents: Sequence[IntentSpec],
    corrections: Sequence[Example] = (),
    *,
    config: PipelineConfig | None = None,
    clarify_threshold: float = 0.3,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainedModel:
    """Fine-tune, validate and calibrate a model for these intents.

    Args:
        base: the encoder to start from (left unchanged: training works on copies).
        intents: the knowledge base.
        corrections: staff-labelled messages; those naming an unknown intent are skipped and
            listed in ``skipped_corrections``; ``intent=None`` ones tune the fallback threshold.
        clarify_threshold: confidence under which the bot falls back, unless a fallback
            threshold is fitted on out-of-scope corrections.
    """
    config = config or PipelineConfig()
    if not intents:
        raise TrainingDataError("the knowledge base is empty: import a FAQ file before training")
    if len(intents) < 2:
        raise TrainingDataError("training needs at least two intents to tell apart")
    keys = {intent.key for intent in intents}
    skipped = [c for c in corrections if c.intent is not None and c.intent not in keys]
    examples = [Example(p, i.key) for i in intents for p in i.phrasings]
    examples += [c for c in corrections if c.intent in keys]
    out_of_scope = [c for c in corrections if c.intent is None]
    folds = _folds(examples, config)
    started = time.perf_counter()
    total_runs = len(folds) + 1
    steps = 0

    def progress_of(run: int) -> Callable[[Progress], None] | None:
        if on_progress is None:
            return None
        callback = on_progress

        def report(p: Progress) -> None:
            # One bar across all runs: each run is an equal share.
            total = p.total_steps * total_runs
            callback(
                replace(
                    p,
                    step=p.step + run * p.total_steps,
                    total_steps=total,
                    elapsed_seconds=time.perf_counter() - started,
                )
            )

        return report

    def fit(run: int, train: Sequence[Example]) -> tuple[SentenceEncoder, dict[str, Tensor]]:
        nonlocal steps
        model = copy.deepcopy(base)
        labels, keys = _label_map(train)
        result = fine_tune(
            model,
            [e.text for e in train],
            labels,
            config=config.training,
            on_progress=progress_of(run),
            should_stop=should_stop,
        )
        steps += result.steps
        assert result.prototypes is not None
        return model, dict(zip(keys, result.prototypes, strict=True))

    validation = Validation()
    scored: list[tuple[_FoldScores, list[Example]]] = []
    model: SentenceEncoder | None = None
    prototypes: dict[str, Tensor] = {}
    for run, (train, held_out) in enumerate(folds):
        model, prototypes = fit(run, train)
        engine_intents = _intents_from(train, intents)
        scored.append(
            (_score_fold(model, prototypes, engine_intents, held_out + out_of_scope), held_out)
        )
    weights = _choose_weights([s for s, _ in scored]) if scored else DEFAULT_WEIGHTS
    calibration, fallback = (
        _calibrate([s for s, _ in scored], weights, has_oos=bool(out_of_scope))
        if scored
        else (Calibration(), None)
    )
    for fold_scores, _ in scored:
        floor = fallback if fallback is not None else clarify_threshold
        fold_validation = fold_scores.outcomes(weights, calibration, floor)
        for name in ("truth", "predicted", "confidence", "answered"):
            getattr(validation, name).extend(getattr(fold_validation, name))

    final_fit = len(folds) != 1 or len(examples) <= config.final_fit_max_examples
    if final_fit:
        model, prototypes = fit(len(folds), examples)
    assert model is not None
    return TrainedModel(
        encoder=model,
        prototypes=prototypes,
        calibration=calibration,
        nearest_weight=weights[0],
        prototype_weight=weights[1],
        lexical_weight=weights[2],
        lexical_weight_zh=weights[3],
        fallback_threshold=fallback,
        validation=validation,
        seconds=time.perf_counter() - started,
        steps=steps,
        final_fit=final_fit,
        skipped_corrections=skipped,
    )


def _label_map(examples: Sequence[Example]) -> tuple[list[int], list[str]]:
    """Each example's label number, and the intent key of each number."""
    index: dict[str, int] = {}
    labels = [index.setdefault(e.intent or "", len(index)) for e in examples]
    return labels, list(index)


def _folds(
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


def _intents_from(train: Sequence[Example], intents: Sequence[IntentSpec]) -> list[IntentSpec]:
    phrasings: dict[str, list[str]] = defaultdict(list)
    for example in train:
        if example.intent is not None:
            phrasings[example.intent].append(example.text)
    return [replace(i, phrasings=tuple(phrasings[i.key])) for i in intents if phrasings[i.key]]


# Searched on held-out messages: nearest phrasing vs centroid, prototype share, lexical share for
# English-script and for Chinese messages.
NEAREST_WEIGHTS = (0.3, 0.5, 0.7, 1.0)
PROTOTYPE_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
LEXICAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3)
LEXICAL_WEIGHTS_ZH = (0.5, 0.7, 0.8, 0.9, 1.0)
Weights = tuple[float, float, float, float]
DEFAULT_WEIGHTS: Weights = (0.7, 0.5, 0.1, 0.8)


@dataclass
class _FoldScores:
    """Best intent and score of each held-out message under every weight combination."""

    examples: list[Example]
    results: dict[Weights, list[tuple[str | None, float]]]

    def outcomes(self, weights: Weights, calibration: Calibration, floor: float) -> Validation:
        validation = Validation()
        for example, (predicted, score) in zip(self.examples, self.results[weights], strict=True):
            confidence = calibration.confidence(score)
            validation.truth.append(example.intent)
            validation.predicted.append(predicted)
            validation.confidence.append(confidence)
            validation.answered.append(confidence >= floor)
        return validation


def _score_fold(
    encoder: SentenceEncoder,
    prototypes: dict[str, Tensor],
    intents: Sequence[IntentSpec],
    held_out: Sequence[Example],
) -> _FoldScores:
    engine = IntentEngine(encoder, version="validation", prototypes=prototypes)
    engine.load_knowledge(intents, revision=0)
    parts = engine.score_parts([e.text for e in held_out])
    results: dict[Weights, list[tuple[str | None, float]]] = {}
    grid = product(NEAREST_WEIGHTS, PROTOTYPE_WEIGHTS, LEXICAL_WEIGHTS, LEXICAL_WEIGHTS_ZH)
    for weights in grid:
        if parts is None:
            results[weights] = [(None, -math.inf)] * len(held_out)
            continue
        scores = parts.combine(weights[0], {"en": weights[2], "zh": weights[3]}, weights[1])
        best, index = scores.max(dim=1)
        results[weights] = [
            (parts.keys[i], s) for s, i in zip(best.tolist(), index.tolist(), strict=True)
        ]
    return _FoldScores(list(held_out), results)


def _choose_weights(folds: Sequence[_FoldScores]) -> Weights:
    """The mixing weights with the most held-out messages right (ties: the defaults' side)."""

    def correct(weights: Weights) -> int:
        return sum(
            example.intent is not None and predicted == example.intent
            for fold in folds
            for example, (predicted, _) in zip(fold.examples, fold.results[weights], strict=True)
        )

    return max(folds[0].results, key=lambda w: (correct(w), -_distance(w, DEFAULT_WEIGHTS)))


def _distance(a: Weights, b: Weights) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def _calibrate(
    folds: Sequence[_FoldScores], weights: Weights, *, has_oos: bool
) -> tuple[Calibration, float | None]:
    """Fit confidence = P(right | score) on held-out messages; fit the fallback threshold."""
    scores: list[float] = []
    right: list[bool] = []
    oos_scores: list[float] = []
    for fold in folds:
        for example, (predicted, score) in zip(fold.examples, fold.results[weights], strict=True):
            if math.isinf(score):
                continue
            if example.intent is None:
                oos_scores.append(score)
            scores.append(score)
            right.append(example.intent is not None and predicted == example.intent)
    calibration = fit_calibration(scores, right)
    if not has_oos or not oos_scores:
        return calibration, None
    in_scope = [calibration.confidence(s) for s, ok in zip(scores, right, strict=True) if ok]
    outside = [calibration.confidence(s) for s in oos_scores]
    return calibration, best_threshold(in_scope, outside)


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


def best_threshold(in_scope: Sequence[float], out_of_scope: Sequence[float]) -> float:
    """The confidence cut that best separates answerable from out-of-scope messages.

    Maximises the mean of in-scope recall (answered) and out-of-scope recall (fell back).
    """
    candidates = sorted(set(in_scope) | set(out_of_scope) | {0.0})

    def balanced(t: float) -> float:
        kept = sum(c >= t for c in in_scope) / max(1, len(in_scope))
        caught = sum(c < t for c in out_of_scope) / max(1, len(out_of_scope))
        return (kept + caught) / 2

    return max(candidates, key=balanced)


def report_inputs(validation: Validation) -> dict[str, Any]:
    return {
        "truth": validation.truth,
        "predicted": validation.predicted,
        "confidence": validation.confidence,
        "answered": validation.answered,
    }
