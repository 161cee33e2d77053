"""Live takeover: the queue of conversations waiting for a person; claim, reply, hand back, close.

Its console page is chatbot/console/staff/live.py; the canned replies staff insert while they
type: chatbot/api/canned.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Annotated, TypeGuard

import anyio
from fastapi import (
    APIRouter,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from chatbot import mail
from chatbot.api import schemas
from chatbot.api.deps import BusDep, SessionDep, SettingsDep, message_text
from chatbot.api.principals import StaffUser, websocket_principal
from chatbot.conversation import takeover
from chatbot.db import conversations as store
from chatbot.db import presence
from chatbot.db.models import Conversation, Role
from chatbot.events import Event, EventBus, conversation_channel

router = APIRouter()
API = "/api/v1/staff"
TYPING_INTERVAL_S = 1.0  # at most one typing event per second from one connection
SESSION_RECHECK_S = 60.0  # how often a staff socket checks its session is still valid
MAX_CONVERSATION_ID_CHARS = 36
MAX_QUEUE_OFFSET = 1_000_000  # past any real queue, and well within what OFFSET takes


def _conversation(session: Session, conversation_id: str, *, lock: bool = False) -> Conversation:
    find = store.lock_conversation if lock else store.get_conversation
    conversation = find(session, conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"conversation {conversation_id} not found")
    return conversation


def _apply(
    session: Session,
    bus: EventBus,
    rule: Callable[[], takeover.Change],
) -> takeover.Change:
    """Run a rule, commit, then announce: a refused rule is 409 and leaves nothing behind."""
    try:
        change = rule()
    except takeover.TakeoverError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    session.commit()
    takeover.announce(bus, session, change, schemas.message_json)
    return change


def _entry(session: Session, conversation: Conversation) -> schemas.QueueEntry:
    return schemas.QueueEntry.model_validate(takeover.queue_entry(session, conversation))


# ---- JSON API


@router.get(f"{API}/queue", tags=["staff"])
def live_queue(
    session: SessionDep,
    principal: StaffUser,
    limit: Annotated[int, Query(ge=1, le=takeover.MAX_QUEUE_PAGE)] = takeover.QUEUE_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_QUEUE_OFFSET)] = 0,
) -> schemas.QueuePublic:
    """A page of the conversations waiting for a person (longest waiting first), then those
    people hold; with how many there are in all."""
    return schemas.QueuePublic.model_validate(
        {
            "conversations": takeover.queue(session, limit=limit, offset=offset),
            **takeover.queue_counts(session),
            "offset": offset,
            "limit": limit,
        }
    )


@router.get(f"{API}/conversations/{{conversation_id}}/messages", tags=["staff"])
def staff_transcript(
    conversation_id: str, session: SessionDep, principal: StaffUser
) -> schemas.StaffTranscriptPublic:
    """One conversation's state and messages, with who wrote each staff message."""
    conversation = _conversation(session, conversation_id)
    messages = [
        schemas.StaffMessagePublic.written(
            message, takeover.display_name(store.get_user(session, message.author_id))
        )
        for message in store.list_messages(session, conversation.id)
    ]
    return schemas.StaffTranscriptPublic(
        conversation=_entry(session, conversation),
        satisfaction=conversation.satisfaction,
        messages=messages,
    )


@router.post(f"{API}/conversations/{{conversation_id}}/claim", tags=["staff"])
def claim_conversation(
    conversation_id: str,
    session: SessionDep,
    bus: BusDep,
    principal: StaffUser,
    body: schemas.ClaimCreate | None = None,
) -> schemas.QueueEntry:
    """Take the conversation: the bot falls silent and the customer sees who joined."""
    conversation = _conversation(session, conversation_id, lock=True)
    take_over = body.take_over if body else False
    _apply(
        session,
        bus,
        lambda: takeover.claim(session, conversation, principal.user, take_over=take_over),
    )
    return _entry(session, conversation)


@router.post(f"{API}/conversations/{{conversation_id}}/reply", tags=["staff"])
def staff_reply(
    request: Request,
    conversation_id: str,
    body: schemas.StaffReplyCreate,
    session: SessionDep,
    bus: BusDep,
    settings: SettingsDep,
    principal: StaffUser,
) -> schemas.StaffMessagePublic:
    """Write to the customer (claims a conversation nobody holds); to an offline request, the
    reply is also e-mailed."""
    text = message_text(body.text, settings)
    conversation = _conversation(session, conversation_id, lock=True)
    change = _apply(
        session, bus, lambda: takeover.reply(session, conversation, principal.user, text)
    )
    if conversation.contact_email:
        request.app.state.jobs.submit(mail.email_staff_reply, message_id=change.messages[0].id)
    return schemas.StaffMessagePublic.written(
        change.messages[0], takeover.display_name(principal.user)
    )


@router.post(
    f"{API}/conversations/{{conversation_id}}/typing",
    tags=["staff"],
    status_code=status.HTTP_204_NO_CONTENT,
)
def staff_typing(
    conversation_id: str, session: SessionDep, bus: BusDep, principal: StaffUser
) -> None:
    """Show the customer that a person is typing."""
    _conversation(session, conversation_id)
    bus.publish(conversation_channel(conversation_id), takeover.typing_event(Role.STAFF))


@router.post(f"{API}/conversations/{{conversation_id}}/handback", tags=["staff"])
def hand_back(
    conversation_id: str, session: SessionDep, bus: BusDep, principal: StaffUser
) -> schemas.QueueEntry:
    """The bot answers again; the customer is told so."""
    conversation = _conversation(session, conversation_id, lock=True)
    _apply(session, bus, lambda: takeover.hand_back(session, conversation, principal.user))
    return _entry(session, conversation)


@router.post(f"{API}/conversations/{{conversation_id}}/close", tags=["staff"])
def close_conversation(
    conversation_id: str, session: SessionDep, bus: BusDep, principal: StaffUser
) -> schemas.QueueEntry:
    """End the conversation; the customer is asked how satisfied they were."""
    conversation = _conversation(session, conversation_id, lock=True)
    _apply(session, bus, lambda: takeover.close(session, conversation, principal.user))
    return _entry(session, conversation)


# ---- live events for the console


@router.websocket(f"{API}/ws")
async def staff_events(websocket: WebSocket) -> None:
    """The queue's events, plus one watched conversation's (send ``{"watch": ID}``).

    The console may also send ``{"typing": ID}`` while its user writes to that customer.
    """
    app = websocket.app

    def signed_in() -> bool:
        with app.state.session_factory() as session:
            principal = websocket_principal(websocket, session)
            session.commit()  # the session's sliding expiry
            return principal is not None

    def connect() -> str | None:
        # The tab counts towards its user's presence from now until its socket ends.
        with app.state.session_factory() as session:
            principal = websocket_principal(websocket, session)
            if principal is None:
                return None
            connection_id = presence.connect(session, principal.user.id)
            session.commit()
            return connection_id

    def beat(connection_id: str, *, closing: bool = False) -> None:
        with app.state.session_factory() as session:
            if closing:
                presence.disconnect(session, connection_id)
            else:
                presence.beat(session, connection_id)
            session.commit()

    connection_id = await run_in_threadpool(connect)
    if connection_id is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="sign in first")
        return
    await websocket.accept()
    try:
        await _StaffConnection(
            websocket, app.state.bus, signed_in, lambda: beat(connection_id)
        ).run()
    finally:
        # Even when the socket's task is cancelled (a server stopping), the tab stops counting.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(lambda: beat(connection_id, closing=True))


class _StaffConnection:
    """One console's socket: forwards the queue and the watched conversation, relays typing."""

    def __init__(
        self,
        websocket: WebSocket,
        bus: EventBus,
        signed_in: Callable[[], bool],
        beat: Callable[[], None],
    ) -> None:
        self.websocket = websocket
        self.bus = bus
        self.signed_in = signed_in
        self.beat = beat
        self.checked_at = self.beaten_at = time.monotonic()
        self.send_lock = asyncio.Lock()
        self.watch_task: asyncio.Task[None] | None = None
        self.last_typing = 0.0

    async def send(self, event: Event) -> None:
        async with self.send_lock:  # two forwarders share one socket
            await self.websocket.send_json(event)

    async def forward(self, channel: str, ready: Event, tag: dict[str, str]) -> None:
        async with self.bus.subscribe(channel) as events:
            await self.send(ready)  # subscribed: nothing published from now on is missed
            async for event in events:
                await self.send({**event, **tag})

    async def run(self) -> None:
        queue_task = asyncio.create_task(self.forward(takeover.STAFF_QUEUE, {"type": "ready"}, {}))
        try:
            while True:
                try:
                    text = await asyncio.wait_for(
                        self.websocket.receive_text(), min(SESSION_RECHECK_S, presence.BEAT_S)
                    )
                except TimeoutError:
                    text = None
                if time.monotonic() - self.beaten_at >= presence.BEAT_S:
                    self.beaten_at = time.monotonic()
                    await run_in_threadpool(self.beat)
                if not await self.still_signed_in():
                    await self.websocket.close(
                        code=status.WS_1008_POLICY_VIOLATION, reason="signed out"
                    )
                    return
                if text is not None:
                    self.handle(text)
        except WebSocketDisconnect:
            pass
        finally:
            for task in (queue_task, self.watch_task):
                await _cancel(task)

    async def still_signed_in(self) -> bool:
        # A socket outlives page loads: signing out, a disabled account or an expired session
        # ends it at the next check rather than never.
        if time.monotonic() - self.checked_at < SESSION_RECHECK_S:
            return True
        self.checked_at = time.monotonic()
        return await run_in_threadpool(self.signed_in)

    def handle(self, text: str) -> None:
        try:
            request = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            return
        if not isinstance(request, dict):
            return
        watch, typing = request.get("watch"), request.get("typing")
        if _is_conversation_id(watch):
            self.watch(watch)
        if _is_conversation_id(typing) and time.monotonic() - self.last_typing >= TYPING_INTERVAL_S:
            self.last_typing = time.monotonic()
            self.bus.publish(conversation_channel(typing), takeover.typing_event(Role.STAFF))

    def watch(self, conversation_id: str) -> None:
        previous = self.watch_task
        tag = {"conversation_id": conversation_id}

        async def switch() -> None:
            await _cancel(previous)  # one conversation at a time
            await self.forward(
                conversation_channel(conversation_id), {"type": "watching", **tag}, tag
            )

        self.watch_task = asyncio.create_task(switch())


def _is_conversation_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_CONVERSATION_ID_CHARS


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
