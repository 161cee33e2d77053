"""Logging: plain text for a terminal, or one JSON object a line for a log collector
(CHATBOT_LOG_FORMAT=json), each line naming the request and conversation it belongs to.

Request ids come from the proxy's X-Request-ID when it sends a sane one, else are made here, and
go back in the response's X-Request-ID. Nothing logs a customer's message text at INFO or above.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The scope of the request being handled (with its id), as any code running for it sees it.
_request: ContextVar[dict[str, Any] | None] = ContextVar("chatbot_request", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request and conversation ids, any
    ``extra`` fields, and the exception's traceback when there is one.

    >>> record = logging.LogRecord("chatbot.jobs", logging.INFO, "", 0, "queued %s", ("x",), None)
    >>> json.loads(JsonFormatter().format(record))["message"]
    'queued x'
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_ids())
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def current_ids() -> dict[str, str]:
    """The request id and, once routed, the conversation id of the request being handled."""
    request = _request.get()
    if request is None:
        return {}
    ids = {"request_id": request["id"]}
    conversation = request["scope"].get("path_params", {}).get("conversation_id")
    if conversation:
        ids["conversation_id"] = str(conversation)
    return ids


class RequestIds:
    """Gives every HTTP request and WebSocket an id that its log lines carry."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = _request.set({"id": request_id, "scope": scope})

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            _request.reset(token)


# A secret a client put in a URL anyway (``?token=...``): access log lines quote whole URLs.
_SECRET_IN_URL = re.compile(r"([?&][A-Za-z_]*(?:token|password|secret)=)[^&\s\"']*", re.I)


class UrlSecrets(logging.Filter):
    """Blanks the values of token, password and secret parameters in a line's URLs.

    >>> record = logging.LogRecord("uvicorn.access", 20, "", 0, "GET %s", ("/ws?token=abc",), None)
    >>> UrlSecrets().filter(record), record.getMessage()
    (True, 'GET /ws?token=[redacted]')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _SECRET_IN_URL.sub(r"\1[redacted]", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def configure(log_format: str, level: str = "INFO") -> None:
    """Send every log line (uvicorn's and RQ's too) to stderr in the chosen format, with no
    secret a client put in a URL."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(UrlSecrets())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "rq.worker"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
