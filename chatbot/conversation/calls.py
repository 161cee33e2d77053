"""An intent's HTTP call: made with its slots, and its answer rendered from the response.

The web app awaits :func:`call_async` between two transactions (it holds no connection and no
thread while the endpoint thinks); the CLI calls :func:`call`. Both log one line per call:
intent, method, the URL *template* (so neither a secret nor a customer's slot value reaches the
log), status and milliseconds.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from chatbot.knowledge.actions import (
    SANDBOX,
    SECRET_ENV_PREFIX,
    SECRET_REFERENCE,
    IntentAction,
    text_in,
)

log = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 1_000_000
MAX_ANSWER_CHARS = 20_000
# Statuses whose response the answer template renders; any other is a failure (an apology).
# 404 is an answer: "no order with that number" is what an order lookup says, not an outage.
ANSWERED = frozenset({*range(200, 300), 404})


@dataclass(frozen=True)
class ActionCall:
    """A call ready to make: the intent, its action, the filled slots, the customer's language."""

    intent: str
    action: IntentAction
    slots: Mapping[str, str] = field(default_factory=dict)
    language: str = "en"


@dataclass(frozen=True)
class CallOutcome:
    """What a call gave: the rendered answer, or why there is none (``failure``)."""

    intent: str
    answer: str | None
    failure: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, str] | None
    timeout_s: float


def call(request: ActionCall, environ: Mapping[str, str] | None = None) -> CallOutcome:
    """Make the call, blocking this thread (the CLI; see :func:`call_async` for the web app).

    ``environ``: where ``{secret:NAME}`` is read as ``CHATBOT_ACTION_SECRET_NAME`` (default:
    the process's environment)."""
    started = time.perf_counter()
    prepared = _prepare(request, os.environ if environ is None else environ)
    if isinstance(prepared, CallOutcome):
        return _logged(request, prepared, started)
    try:
        with (
            httpx.Client(timeout=prepared.timeout_s) as client,
            client.stream(
                prepared.method, prepared.url, headers=prepared.headers, json=prepared.body
            ) as response,
        ):
            body = _Body(started + prepared.timeout_s)
            for chunk in response.iter_bytes():
                if not body.add(chunk):
                    break
            outcome = _answered(request, response.status_code, body.data)
    except httpx.HTTPError as error:
        outcome = _failed(request, error)
    return _logged(request, outcome, started)


async def call_async(request: ActionCall, environ: Mapping[str, str] | None = None) -> CallOutcome:
    """:func:`call` on the event loop: nothing waits on a thread while the endpoint answers."""
    started = time.perf_counter()
    prepared = _prepare(request, os.environ if environ is None else environ)
    if isinstance(prepared, CallOutcome):
        return _logged(request, prepared, started)
    try:
        async with (
            httpx.AsyncClient(timeout=prepared.timeout_s) as client,
            client.stream(
                prepared.method, prepared.url, headers=prepared.headers, json=prepared.body
            ) as response,
        ):
            body = _Body(started + prepared.timeout_s)
            async for chunk in response.aiter_bytes():
                if not body.add(chunk):
                    break
            outcome = _answered(request, response.status_code, body.data)
    except httpx.HTTPError as error:
        outcome = _failed(request, error)
    return _logged(request, outcome, started)


def _failed(request: ActionCall, error: httpx.HTTPError) -> CallOutcome:
    if isinstance(error, httpx.TimeoutException):
        return CallOutcome(request.intent, None, "timeout")
    return CallOutcome(request.intent, None, f"request failed: {type(error).__name__}")


class _Body:
    """A response body read up to a size, within the call's whole timeout: httpx's timeout
    bounds each wait, so a service sending a byte now and then would otherwise hold on."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.data = b""

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; False once the body is too large to read further."""
        if time.perf_counter() > self.deadline:
            raise httpx.ReadTimeout("the response took longer than the call's timeout")
        self.data += chunk
        return len(self.data) <= MAX_RESPONSE_BYTES


def _prepare(request: ActionCall, environ: Mapping[str, str]) -> _Request | CallOutcome:
    http = request.action.call
    url = http.url
    for name, value in request.slots.items():
        url = url.replace(f"{{{name}}}", quote(value, safe=""))
    headers = {}
    for header, template in http.headers:
        value = template
        for name in SECRET_REFERENCE.findall(template):
            secret = environ.get(SECRET_ENV_PREFIX + name)
            if not secret:
                return CallOutcome(request.intent, None, f"secret {name} is not set")
            value = value.replace(f"{{secret:{name}}}", secret)
        headers[header] = value
    body = dict(request.slots) if http.method in ("POST", "PUT", "PATCH") else None
    return _Request(http.method, url, headers, body, http.timeout_s)


def _answered(request: ActionCall, status: int, body: bytes) -> CallOutcome:
    if status not in ANSWERED:
        return CallOutcome(request.intent, None, f"status {status}", status)
    if len(body) > MAX_RESPONSE_BYTES:
        return CallOutcome(request.intent, None, "response too large", status)
    try:
        document: Any = json.loads(body) if body.strip() else None
    except ValueError:
        if status != 404:
            return CallOutcome(request.intent, None, "response is not JSON", status)
        document = None  # a plain "not found" page: the template still knows the status
    template = text_in(request.action.answers, request.language)
    context = {
        "response": document,
        "status": status,
        "found": 200 <= status < 300,
        "slots": dict(request.slots),
    }
    try:
        answer = SANDBOX.from_string(template).render(context).strip()
    except (TemplateError, SecurityError, TypeError, ValueError) as error:
        return CallOutcome(request.intent, None, f"template failed: {type(error).__name__}", status)
    if not answer:
        return CallOutcome(request.intent, None, "template rendered nothing", status)
    return CallOutcome(request.intent, answer[:MAX_ANSWER_CHARS], None, status)


def _logged(request: ActionCall, outcome: CallOutcome, started: float) -> CallOutcome:
    http = request.action.call
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    fields = {
        "intent": request.intent,
        "method": http.method,
        "url": http.url,
        "status": outcome.status,
        "ms": elapsed_ms,
        "failure": outcome.failure,
    }
    level = logging.INFO if outcome.failure is None else logging.WARNING
    log.log(
        level,
        "action %s: %s %s -> %s in %d ms%s",
        request.intent,
        http.method,
        http.url,
        outcome.status if outcome.status is not None else "no response",
        elapsed_ms,
        f" ({outcome.failure})" if outcome.failure else "",
        extra={"action": fields},
    )
    return outcome
