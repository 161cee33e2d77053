"""An intent's action: the slots the bot asks for, the HTTP call it makes, and how it answers.

Plain values and their checks, shared by the file readers, the console form and the store: an
action written in a knowledge base file looks exactly like the ``action`` object below, and
:meth:`IntentAction.to_json` gives it back in that form, so export and import keep it unchanged.

    {"slots": [{"name": "order_number",
                "prompt": {"en": "What is your order number?", "zh": "请问您的订单号是多少？"},
                "validator": {"regex": "[A-Z]{2}[0-9]{4}"}}],
     "call": {"method": "GET", "url": "https://orders.example/api/orders/{order_number}",
              "headers": {"Authorization": "Bearer {secret:ORDERS_TOKEN}"}, "timeout_s": 5},
     "answer": {"en": "Order {{ slots.order_number }} is {{ response.status }}."},
     "apology": {"en": "Sorry, I cannot look up orders right now."}}

Secrets are never stored: a header names one as ``{secret:NAME}`` and the call reads it from the
environment variable ``CHATBOT_ACTION_SECRET_NAME``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
VALIDATORS = ("regex", "number", "email", "choice")
MAX_SLOTS = 5
MAX_TEXT_CHARS = 2000
MAX_TEMPLATE_CHARS = 20000
MAX_URL_CHARS = 2000
MAX_TIMEOUT_S = 30.0
DEFAULT_TIMEOUT_S = 5.0
SECRET_ENV_PREFIX = "CHATBOT_ACTION_SECRET_"

SLOT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
SECRET_REFERENCE = re.compile(r"\{secret:([A-Z0-9_]{1,64})\}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")

# One sandbox for checking and rendering: templates see only the values they are given, cannot
# reach Python internals, and cannot change those values.
SANDBOX = ImmutableSandboxedEnvironment(autoescape=False)

Texts = tuple[tuple[str, str], ...]  # (language, text) pairs, the first language the default


@dataclass(frozen=True)
class Slot:
    """A value the action needs, asked for in the customer's language and checked.

    ``validator`` is ``regex`` (``pattern`` must match the whole value), ``number``, ``email``
    or ``choice`` (one of ``choices``, ignoring case). ``invalid``: what to say when a value
    fails the check (default: a built-in sentence per validator).
    """

    name: str
    prompts: Texts
    validator: str = "regex"
    pattern: str = ""
    choices: tuple[str, ...] = ()
    invalid: Texts = ()

    def prompt_in(self, language: str) -> str:
        return text_in(self.prompts, language) or self.name


@dataclass(frozen=True)
class HttpCall:
    """The request: ``url`` holds ``{slot}`` placeholders (filled URL-encoded); header values may
    hold ``{secret:NAME}`` references. POST, PUT and PATCH send the slots as a JSON object."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class IntentAction:
    """Slots to fill, the call to make, the answer templates (Jinja, sandboxed, over ``response``:
    the JSON body, ``status``: the HTTP status, ``found``: whether it was 2xx, ``slots``) and
    an optional apology for when the call fails, each per language."""

    slots: tuple[Slot, ...]
    call: HttpCall
    answers: Texts
    apologies: Texts = ()

    def to_json(self) -> dict[str, Any]:
        """The action as a file holds it (and as the database stores it)."""
        slots = []
        for slot in self.slots:
            validator: Any = slot.validator
            if slot.validator == "regex":
                validator = {"regex": slot.pattern}
            elif slot.validator == "choice":
                validator = {"choice": list(slot.choices)}
            entry: dict[str, Any] = {
                "name": slot.name,
                "prompt": dict(slot.prompts),
                "validator": validator,
            }
            if slot.invalid:
                entry["invalid"] = dict(slot.invalid)
            slots.append(entry)
        call: dict[str, Any] = {"method": self.call.method, "url": self.call.url}
        if self.call.headers:
            call["headers"] = dict(self.call.headers)
        call["timeout_s"] = self.call.timeout_s
        document: dict[str, Any] = {"slots": slots, "call": call, "answer": dict(self.answers)}
        if self.apologies:
            document["apology"] = dict(self.apologies)
        return document


class ActionRejected(ValueError):
    """An action description is not valid; ``problems`` name each bad field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def text_in(texts: Texts, language: str) -> str:
    """The text for ``language`` (or its primary subtag), else the first one; '' when none."""
    by_language = dict(texts)
    wanted = language.lower()
    for tag, text in by_language.items():
        if tag.lower() == wanted:
            return text
    for tag, text in by_language.items():
        if tag.split("-")[0].lower() == wanted.split("-")[0]:
            return text
    return texts[0][1] if texts else ""


def action_from_text(text: str) -> IntentAction:
    """Parse an action written as JSON text (a CSV cell, the console's form field).

    >>> action_from_text('{"call": {"method": "GET", "url": "https://x.example/s"},'
    ...                  ' "answer": {"en": "{{ response.state }}"}}').call.method
    'GET'
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ActionRejected([f"not valid JSON: {error}"]) from error
    return action_from_json(document)


def action_from_json(document: object) -> IntentAction:
    """Check and build an action from its JSON form; ``ActionRejected`` lists every problem,
    each naming its field (``call.method``, ``slots[1].validator``, ``answer.en``, ...)."""
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ActionRejected([f"the action must be an object, not {type(document).__name__}"])
    _unknown(document, ("slots", "call", "answer", "apology"), "", problems)

    slots: list[Slot] = []
    raw_slots = document.get("slots", [])
    if not isinstance(raw_slots, list):
        problems.append("slots: must be a list")
        raw_slots = []
    if len(raw_slots) > MAX_SLOTS:
        problems.append(f"slots: at most {MAX_SLOTS}")
    for position, raw in enumerate(raw_slots[:MAX_SLOTS]):
        slot = _slot(raw, f"slots[{position}]", problems)
        if slot is not None:
            if any(other.name == slot.name for other in slots):
                problems.append(f"slots[{position}].name: '{slot.name}' is used twice")
            slots.append(slot)

    call = _call(document.get("call"), {slot.name for slot in slots}, problems)
    answers = _texts(document.get("answer"), "answer", problems, template=True, required=True)
    apologies = _texts(document.get("apology"), "apology", problems)
    if problems or call is None:
        raise ActionRejected(problems or ["call: missing"])
    return IntentAction(tuple(slots), call, answers, apologies)


def _slot(raw: object, where: str, problems: list[str]) -> Slot | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    _unknown(raw, ("name", "prompt", "validator", "invalid"), where, problems)
    name = raw.get("name")
    if not isinstance(name, str) or not SLOT_NAME.fullmatch(name):
        problems.append(
            f"{where}.name: use 1-40 lowercase letters, digits or '_', starting with a letter"
        )
        name = ""
    prompts = _texts(raw.get("prompt"), f"{where}.prompt", problems, required=True)
    invalid = _texts(raw.get("invalid"), f"{where}.invalid", problems)
    validator = raw.get("validator", "regex")
    kind, pattern, choices = "", "", ()
    if validator in ("number", "email"):
        kind = str(validator)
    elif isinstance(validator, dict) and len(validator) == 1 and "regex" in validator:
        kind, pattern = "regex", validator["regex"]
        if not isinstance(pattern, str) or not pattern or len(pattern) > 500:
            problems.append(f"{where}.validator: the regex must be a text of 1-500 characters")
            pattern = ""
        else:
            try:
                re.compile(pattern)
            except re.error as error:
                problems.append(f"{where}.validator: invalid regex: {error}")
    elif isinstance(validator, dict) and len(validator) == 1 and "choice" in validator:
        kind, listed = "choice", validator["choice"]
        if (
            not isinstance(listed, list)
            or not listed
            or not all(isinstance(choice, str) and choice.strip() for choice in listed)
        ):
            problems.append(f"{where}.validator: choice must be a list of texts")
        else:
            choices = tuple(choice.strip() for choice in listed)
    else:
        shown = json.dumps(validator, ensure_ascii=False)[:60]
        problems.append(
            f'{where}.validator: unknown validator {shown}: use "number", "email", '
            '{"regex": PATTERN} or {"choice": [...]}'
        )
    if not name or not kind:
        return None
    return Slot(name, prompts, kind, pattern, choices, invalid)


def _call(raw: object, slot_names: set[str], problems: list[str]) -> HttpCall | None:
    if not isinstance(raw, dict):
        problems.append("call: must be an object with a method and a url")
        return None
    _unknown(raw, ("method", "url", "headers", "timeout_s"), "call", problems)
    method = raw.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        shown = json.dumps(method, ensure_ascii=False)[:30]
        problems.append(f"call.method: unknown method {shown}: use one of {', '.join(METHODS)}")
        method = ""
    url = raw.get("url")
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        problems.append(f"call.url: must be a text of at most {MAX_URL_CHARS} characters")
        url = ""
    elif not _is_web_address(_PLACEHOLDER.sub("x", url)):
        problems.append("call.url: must be an http:// or https:// address")
    else:
        for name in _PLACEHOLDER.findall(url):
            if name not in slot_names:
                problems.append(f"call.url: {{{name}}} names no slot (secrets go in headers)")
    headers: list[tuple[str, str]] = []
    raw_headers = raw.get("headers", {})
    if not isinstance(raw_headers, dict):
        problems.append("call.headers: must be an object of header names and values")
        raw_headers = {}
    for header, value in raw_headers.items():
        if not HEADER_NAME.fullmatch(header):
            problems.append(f"call.headers: invalid header name {header[:40]!r}")
        elif not isinstance(value, str) or "\r" in value or "\n" in value or len(value) > 1000:
            problems.append(f"call.headers.{header}: must be one line of text")
        elif any(
            not SECRET_REFERENCE.fullmatch(f"{{{name}}}") for name in _PLACEHOLDER.findall(value)
        ):
            problems.append(
                f"call.headers.{header}: only {{secret:NAME}} references may appear in braces "
                "(NAME: capital letters, digits, '_')"
            )
        else:
            headers.append((header, value))
    timeout = raw.get("timeout_s", DEFAULT_TIMEOUT_S)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        problems.append(
            f"call.timeout_s: must be a number of seconds above 0, at most {MAX_TIMEOUT_S:g}"
        )
        timeout = DEFAULT_TIMEOUT_S
    if not method or not url:
        return None
    return HttpCall(method.upper(), url, tuple(headers), float(timeout))


def _texts(
    raw: object, where: str, problems: list[str], *, template: bool = False, required: bool = False
) -> Texts:
    """A {language: text} object, in its order; templates must compile in the sandbox."""
    if raw is None:
        if required:
            problems.append(f"{where}: missing (an object of language: text)")
        return ()
    if isinstance(raw, str):
        raw = {"en": raw}  # a lone text is English
    if not isinstance(raw, dict) or (required and not raw):
        problems.append(f"{where}: must be an object of language: text")
        return ()
    texts: list[tuple[str, str]] = []
    limit = MAX_TEMPLATE_CHARS if template else MAX_TEXT_CHARS
    for language, text in raw.items():
        if not _LANGUAGE.fullmatch(language):
            problems.append(f"{where}: invalid language '{language[:16]}'")
        elif not isinstance(text, str) or not text.strip() or len(text) > limit:
            problems.append(f"{where}.{language}: must be a text of 1-{limit} characters")
        else:
            if template:
                try:
                    SANDBOX.parse(text)
                except TemplateSyntaxError as error:
                    problems.append(
                        f"{where}.{language}: template error on line {error.lineno}: "
                        f"{error.message}"
                    )
                    continue
            texts.append((language, text.strip()))
    return tuple(texts)


def _is_web_address(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _unknown(
    raw: Mapping[str, object], known: tuple[str, ...], where: str, problems: list[str]
) -> None:
    for name in raw:
        if name not in known:
            prefix = f"{where}: " if where else ""
            problems.append(f"{prefix}unknown field '{name[:40]}'; use {', '.join(known)}")
