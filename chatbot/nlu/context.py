"""Reading a short follow-up with the turn before it ("and how much is express?", "那退货呢？").

A follow-up of a few words often names only what changed since the customer's last question;
alone it matches many intents weakly. Read together with that question it usually lands on the
right one. But a complete new question must stay itself, and a question the knowledge base does
not cover must not borrow a match from the one before. So the previous question is mixed in only
for a short follow-up the model is unsure of alone, and only partly: the follow-up's own words
keep the larger share of the score.

Plain values in, plain values out: the caller (the conversation layer) finds the previous turn
in its own store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import Tensor

from chatbot.nlu.language import detect_language, same_script

# Latin words and digits; each Han character counts half a word (most Chinese words are two).
_WORD = re.compile(r"[^\W\u4e00-\u9fff]+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class PreviousTurn:
    """The conversation's last answered question: the intent the bot answered it with and the
    customer's words it answered."""

    intent: str
    text: str


@dataclass(frozen=True)
class Utterance:
    """A customer message as the model reads it, with the turn it may follow up on."""

    text: str
    previous: PreviousTurn | None = None
    # The message's language (detect_language), when the caller found it already: not detected
    # again. It routes the message to the intents in its script, as the text alone would.
    language: str | None = None


@dataclass(frozen=True)
class ContextMixing:
    """How much the previous question counts in reading a follow-up (chosen on the dev half of
    bench/data/context; see bench/README.md).

    Args:
        weight: share of the score taken from the previous question and the follow-up read
            together; the rest is the follow-up's own score. 0 turns context off.
        max_words: longer follow-ups are read alone (a Han character counts half a word).
        below_confidence: follow-ups the model is at least this sure of alone are read alone.
        above_confidence: so are follow-ups it is less sure of than this: one that matches
            nothing at all is more often a new subject the knowledge base does not cover
            ("what's the weather tomorrow?") than a follow-up, and the previous question would
            lend it a match it does not have.
    """

    weight: float = 0.5
    max_words: float = 8.0
    below_confidence: float = 0.9
    above_confidence: float = 0.1


def word_count(text: str) -> float:
    """Words in ``text``, a Han character counting half.

    >>> word_count("and how much is express?"), word_count("那退货呢？")
    (5.0, 2.0)
    """
    return len(_WORD.findall(text)) + len(_HAN.findall(text)) / 2


def joined(utterance: Utterance) -> str:
    """The previous question and the follow-up as one text (the follow-up alone without one)."""
    if utterance.previous is None:
        return utterance.text
    return f"{utterance.previous.text} {utterance.text}"


def may_need_context(utterance: Utterance, language: str, mixing: ContextMixing) -> bool:
    """Whether a follow-up is short enough, and in the previous question's script, to be read
    with it at all (the confidence alone decides after scoring).

    >>> previous = PreviousTurn("delivery_times", "How long does delivery take?")
    >>> may_need_context(Utterance("and express?", previous), "en", ContextMixing())
    True
    >>> may_need_context(Utterance("加急呢？", previous), "zh", ContextMixing())
    False
    """
    previous = utterance.previous
    return (
        previous is not None
        and mixing.weight > 0
        and word_count(utterance.text) <= mixing.max_words
        and same_script(language, detect_language(previous.text))
    )


def mix(alone: Tensor, together: Tensor, confidence_alone: float, mixing: ContextMixing) -> Tensor:
    """One follow-up's scores per intent: its own, or mixed with the joined reading's when the
    model is unsure of it alone, but not lost. Intents either reading rules out stay ruled out
    (-inf).

    >>> import torch
    >>> alone, together = torch.tensor([0.5, 0.4]), torch.tensor([0.3, 0.8])
    >>> mix(alone, together, 0.6, ContextMixing(weight=0.5)).tolist()
    [0.4000000059604645, 0.6000000238418579]
    >>> mix(alone, together, 0.95, ContextMixing(weight=0.5)).tolist()
    [0.5, 0.4000000059604645]
    """
    if not mixing.above_confidence <= confidence_alone < mixing.below_confidence:
        return alone
    if mixing.weight >= 1:  # 0 * -inf would be nan
        return together
    return (1 - mixing.weight) * alone + mixing.weight * together
