"""Filling an action's slots over several turns: what the customer's message did to the filling.

Pure functions over plain values: the manager stores the :class:`Filling` on the conversation
(so the next message may reach any replica) and turns each :class:`Step` into a reply.
While a slot is asked, the customer's next message is read as its value before anything else
(only "a person please" and "never mind" win over it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from chatbot.knowledge.actions import IntentAction, Slot, text_in

MAX_TRIES = 3  # invalid values in a row before the bot gives up and offers a person
# A filling left this long is forgotten: a customer coming back later asks something new.
EXPIRES_AFTER = timedelta(minutes=30)

_CANCEL = re.compile(
    r"^\s*(never\s*mind|nevermind|cancel|stop|forget\s+it|no\s+thanks?|quit)[\s!.,]*$"
    r"|^\s*(算了|取消|不用了|不要了)[\s!！。,，吧]*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

INVALID = {
    "regex": {
        "en": "Sorry, that doesn't look right.",
        "zh": "抱歉，格式似乎不对。",
    },
    "number": {"en": "Please give a number.", "zh": "请输入一个数字。"},
    "email": {
        "en": "Please give an e-mail address, like name@example.com.",
        "zh": "请输入邮箱地址，例如 name@example.com。",
    },
    "choice": {"en": "Please choose one of: {choices}.", "zh": "请从以下选项中选择：{choices}。"},
}


@dataclass(frozen=True)
class Filling:
    """An action whose slots are being asked for: the values so far and the slot asked now."""

    intent: str
    asking: str
    values: Mapping[str, str] = field(default_factory=dict)
    tries: int = 0  # invalid answers to the slot asked now
    since: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "asking": self.asking,
            "values": dict(self.values),
            "tries": self.tries,
            "since": self.since.isoformat() if self.since else None,
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Filling:
        since = stored.get("since")
        return cls(
            intent=str(stored["intent"]),
            asking=str(stored["asking"]),
            values={str(k): str(v) for k, v in dict(stored.get("values") or {}).items()},
            tries=int(stored.get("tries") or 0),
            since=datetime.fromisoformat(since) if since else None,
        )


@dataclass(frozen=True)
class Step:
    """What a message did: ``ask`` a slot (again, after ``invalid``, when ``retry``), ``call``
    the action with ``values``, ``cancelled``, or ``gave_up`` after too many invalid values.
    ``filling`` is what to store (None: nothing in progress any more)."""

    kind: Literal["ask", "call", "cancelled", "gave_up"]
    filling: Filling | None = None
    slot: Slot | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    retry: bool = False


def active(stored: Mapping[str, Any] | None, now: datetime) -> Filling | None:
    """The filling a conversation holds, unless none or expired."""
    if not stored:
        return None
    try:
        filling = Filling.from_json(stored)
    except (KeyError, TypeError, ValueError):
        return None  # written by another version: forget it rather than fail the turn
    if filling.since is not None and now - filling.since > EXPIRES_AFTER:
        return None
    return filling


def is_cancel(text: str) -> bool:
    """Whether the customer called the action off.

    >>> is_cancel("never mind!"), is_cancel("算了"), is_cancel("cancel my order")
    (True, True, False)
    """
    return bool(_CANCEL.match(text))


def begin(intent: str, action: IntentAction, text: str, now: datetime) -> Step:
    """The intent was recognised in ``text``: take the slots it already gives, ask the first
    missing one, or call at once when none is missing."""
    values = extract(action, text)
    return _next(intent, action, values, now)


def advance(filling: Filling, action: IntentAction, text: str, now: datetime) -> Step:
    """The customer answered the slot being asked (``text``)."""
    if is_cancel(text):
        return Step("cancelled")
    slot = next((s for s in action.slots if s.name == filling.asking), None)
    if slot is None:  # the action was edited meanwhile: start again with what still fits
        return _next(filling.intent, action, _known(action, filling.values), now)
    value = check(slot, text)
    if value is None:
        tries = filling.tries + 1
        if tries >= MAX_TRIES:
            return Step("gave_up", slot=slot)
        retried = Filling(filling.intent, slot.name, filling.values, tries, filling.since or now)
        return Step("ask", retried, slot, filling.values, retry=True)
    return _next(filling.intent, action, {**filling.values, slot.name: value}, now)


def _next(intent: str, action: IntentAction, values: Mapping[str, str], now: datetime) -> Step:
    missing = next((slot for slot in action.slots if slot.name not in values), None)
    if missing is None:
        return Step("call", values=values)
    return Step("ask", Filling(intent, missing.name, values, 0, now), missing, values)


def _known(action: IntentAction, values: Mapping[str, str]) -> dict[str, str]:
    names = {slot.name for slot in action.slots}
    return {name: value for name, value in values.items() if name in names}


def check(slot: Slot, text: str) -> str | None:
    """The slot's value in a message that answers its question, normalised; None if invalid.

    >>> check(Slot("qty", (("en", "How many?"),), "number"), " 3 ")
    '3'
    """
    value = " ".join(text.split())
    if not value or len(value) > 500:
        return None
    if slot.validator == "regex":
        return value if re.fullmatch(slot.pattern, value) else None
    if slot.validator == "number":
        return value.replace(",", ".") if _NUMBER.fullmatch(value) else None
    if slot.validator == "email":
        return value if _EMAIL.fullmatch(value) else None
    folded = value.casefold()
    return next((choice for choice in slot.choices if choice.casefold() == folded), None)


def extract(action: IntentAction, text: str) -> dict[str, str]:
    """The slot values a message gives in passing ("where is order AB1234?").

    Each slot takes the first match of its validator anywhere in the message; a choice counts
    when it appears as a word of its own.
    """
    found: dict[str, str] = {}
    for slot in action.slots:
        value: str | None = None
        if slot.validator == "regex":
            match = re.search(slot.pattern, text)
            value = match.group(0) if match and match.group(0) else None
        elif slot.validator == "number":
            match = _NUMBER.search(text)
            value = match.group(0).replace(",", ".") if match else None
        elif slot.validator == "email":
            match = _EMAIL.search(text)
            value = match.group(0) if match else None
        else:
            folded = text.casefold()
            value = next(
                (
                    choice
                    for choice in slot.choices
                    if re.search(rf"(?<!\w){re.escape(choice.casefold())}(?!\w)", folded)
                ),
                None,
            )
        if value is not None:
            found[slot.name] = value
    return found


def invalid_message(slot: Slot, language: str) -> str:
    """What to say when a value fails the slot's check: its own text, else the built-in one."""
    own = text_in(slot.invalid, language)
    if own:
        return own
    texts = INVALID[slot.validator]
    built_in = texts.get(language.split("-")[0], texts["en"])
    return built_in.format(choices=", ".join(slot.choices))
