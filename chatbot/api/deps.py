"""Every FastAPI dependency, as an Annotated alias.

Those that only read the app's state are ``async def``: FastAPI runs a plain ``def`` dependency
on the thread pool, a thread hop per dependency per request (three on every customer message).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.conversation.manager import ConversationManager
from chatbot.events import EventBus


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        # Page rendering reads through the request's own session: a second one would wait on
        # SQLite's write lock, which this one may hold until the route commits.
        request.state.db_session = session
        yield session


async def get_manager(request: Request) -> ConversationManager:
    manager: ConversationManager | None = getattr(request.app.state, "manager", None)
    if manager is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the model is not loaded yet")
    return manager


async def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ManagerDep = Annotated[ConversationManager, Depends(get_manager)]
BusDep = Annotated[EventBus, Depends(get_bus)]
# A row id in a path: past PostgreSQL's integer (and SQLite's 64 bits) the database would fail
# on the number itself, a 500 where "no such row" is a 422 naming the parameter.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


async def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str:
    return read_bearer(authorization)


def read_bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header; 401 without one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer TOKEN' "
            "with the token from POST /api/v1/conversations",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


CustomerToken = Annotated[str, Depends(bearer_token)]


def message_text(text: str, settings: Settings) -> str:
    """A chat message's text, trimmed; 422 naming the field when empty or too long."""
    text = text.strip()
    if not text:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "text: the message is empty")
    if len(text) > settings.max_message_chars:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"text: at most {settings.max_message_chars} characters, got {len(text)}",
        )
    return text
