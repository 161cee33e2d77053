"""What to do with an understood message: answer, ask which was meant, or fall back."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chatbot.nlu.engine import Prediction


class Action(enum.StrEnum):
    ANSWER = "answer"  # reply with the intent's answer
    CLARIFY = "clarify"  # "did you mean ...?" with the closest intents as buttons
    FALLBACK = "fallback"  # cannot help: offer a person
    HANDOFF = "handoff"  # hand the conversation to a person
    OFFLINE = "offline"  # a person was asked for but nobody can come: offer to leave a message
    SMALLTALK = "smalltalk"  # greeting, thanks, goodbye
    SLOT = "slot"  # ask for a value an intent's action needs (or confirm it was called off)
    ACTION_FAILED = "action_failed"  # the action's call failed: apologise and offer a person


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.55
    clarify: float = 0.3
    margin: float = 0.04
    max_suggestions: int = 3
    # Where the fallback threshold sits on the model's measured curve (None: as it was built).
    strictness: float | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    intent: str | None
    suggestions: tuple[str, ...] = ()


def decide(prediction: Prediction, thresholds: Thresholds) -> Decision:
    """Answer when confident and no rival is close; ask when unsure; else fall back.

    Example:
        >>> from chatbot.nlu.engine import RankedIntent
        >>> ranking = (RankedIntent("refunds", 0.8, 0.9), RankedIntent("returns", 0.6, 0.4))
        >>> decide(Prediction("refunds", 0.9, ranking, "en"), Thresholds()).action
        <Action.ANSWER: 'answer'>
        >>> unsure = decide(Prediction("refunds", 0.45, ranking, "en"), Thresholds())
        >>> unsure.action, unsure.suggestions
        (<Action.CLARIFY: 'clarify'>, ('refunds', 'returns'))
    """
    if prediction.intent is None or prediction.confidence < thresholds.clarify:
        return Decision(Action.FALLBACK, prediction.intent)
    if prediction.confidence >= thresholds.answer and prediction.margin >= thresholds.margin:
        return Decision(Action.ANSWER, prediction.intent)
    # Offer the best intent and the rivals that are plausible too.
    candidates = tuple(
        ranked.intent
        for ranked in prediction.ranking[: thresholds.max_suggestions]
        if ranked.confidence >= thresholds.clarify
    )
    return Decision(Action.CLARIFY, prediction.intent, candidates)
