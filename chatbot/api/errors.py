"""Errors that are nobody's bug, answered as JSON: 404 for a conversation the caller may not see,
422 for a request that does not parse (never echoing what was sent), 503 with Retry-After when
the server is at capacity or the database is busy (never a 500)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.api.metrics import OVERLOADED
from chatbot.conversation.service import ConversationNotFound, Overloaded, TurnFailed

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1


class FieldProblem(BaseModel):
    type: str | None = None
    loc: list[str | int] = Field(description="Where: the part of the request and the field.")
    msg: str | None = None


class ErrorPublic(BaseModel):
    """Every error answer: one sentence, one per problem, or where and why a request did not
    parse (422)."""

    detail: str | list[str] | list[FieldProblem]


_MEANINGS = {
    400: "The body is not what its Content-Type says (say, JSON that does not parse)",
    401: "Not signed in: no valid session or API token",
    403: "Signed in, but this needs another role (or the session's CSRF token)",
    404: "No such thing, or not the caller's to see",
    409: "The current state does not allow it (say, another person holds the conversation)",
    413: "The request body is too large",
    422: "The request does not parse, or a value is refused; the detail names where and why",
    429: "Too many requests from this address or for this conversation (see Retry-After)",
    503: "The server is at capacity or the database is busy (see Retry-After)",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, every one answered as ``ErrorPublic``."""
    return {code: {"model": ErrorPublic, "description": _MEANINGS[code]} for code in codes}


# What every route may answer besides its own: a body past its limit, a request that does not
# parse, a busy database.
ANY_ROUTE = (400, 413, 422, 503)
CUSTOMER_ERRORS = documented(*ANY_ROUTE, 404, 409, 429)
STAFF_ERRORS = documented(*ANY_ROUTE, 401, 403, 404, 409)


def _unavailable(detail: str, retry_after_s: int = RETRY_AFTER_S) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(retry_after_s)},
    )


async def _not_found(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "conversation not found"}, status.HTTP_404_NOT_FOUND)


async def _overloaded(_request: Request, exc: Exception) -> JSONResponse:
    OVERLOADED.inc()
    return _unavailable(f"the server is busy: {exc}")


async def _turn_failed(_request: Request, exc: Exception) -> JSONResponse:
    log.error("turn failed: %s", exc.__cause__ or exc, exc_info=exc.__cause__)
    return _unavailable(str(exc))


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    # Pool exhausted or SQLite's lock held past its timeout: capacity, not a bug.
    log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
    OVERLOADED.inc()
    return _unavailable("the database is busy; try again shortly")


class JsonTooLarge:
    """Starlette's body limit answers a declared-too-long body with plain text before any route
    runs; our API answers every error as JSON: this rewrites that one response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_json(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = MutableHeaders(scope=message)
                rewriting = headers.get("content-type", "").startswith("text/plain")
                if rewriting:
                    del headers["content-length"]
                    headers["content-type"] = "application/json"
                    headers["content-length"] = str(len(TOO_LARGE))
            elif message["type"] == "http.response.body" and rewriting:
                message = {**message, "body": TOO_LARGE, "more_body": False}
            await send(message)

        await self.app(scope, receive, send_json)


TOO_LARGE = b'{"detail":"the request body is too large"}'


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes each error's input back, and fails (a 500) when that input is
    # bytes that are not UTF-8. Where and why is enough; the caller knows what it sent.
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": error.get("msg")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(detail)}, 422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(ConversationNotFound, _not_found)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(TurnFailed, _turn_failed)
    app.add_exception_handler(PoolTimeout, _database_busy)
    app.add_exception_handler(OperationalError, _database_busy)
