"""Customer endpoints: conversations, messages, feedback, handoff and the live event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from chatbot.api import schemas
from chatbot.api.deps import (
    CustomerToken,
    RowId,
    SettingsDep,
    bearer_token,
    message_text,
    read_bearer,
)
from chatbot.api.errors import ErrorPublic
from chatbot.api.metrics import observe_reply
from chatbot.api.ratelimit import per_address, per_conversation
from chatbot.conversation import offline, takeover
from chatbot.conversation.manager import NotOffered
from chatbot.conversation.service import (
    ChatService,
    ConversationNotFound,
    customer_conversation,
)
from chatbot.db import accounts
from chatbot.db import conversations as store
from chatbot.db.models import ConversationStatus, Role
from chatbot.events import EventBus, conversation_channel
from chatbot.redaction import redact

TYPING_INTERVAL_S = 1.0  # at most one typing event per second from one customer's socket
AUTH_TIMEOUT_S = 10.0  # a socket that has not sent its token by then is closed


async def _service(request: Request) -> ChatService:
    service: ChatService | None = getattr(request.app.state, "chat", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the model is not loaded yet")
    return service


ChatServiceDep = Annotated[ChatService, Depends(_service)]


class TokenBeforeBody(APIRoute):
    """A route taking ``CustomerToken`` refuses a request without one (401) before it reads the
    body: FastAPI reads and parses the body before it solves any dependency, so a garbled body
    would otherwise get a 422 (and be read in full) from a caller who may not send one at all."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if _takes_token(self.dependant):
            missing = "No bearer token: send the one POST /api/v1/conversations returned"
            self.responses = {401: {"model": ErrorPublic, "description": missing}, **self.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not _takes_token(self.dependant):
            return handler

        async def token_first(request: Request) -> Response:
            read_bearer(request.headers.get("authorization"))
            return await handler(request)

        return token_first


def _takes_token(dependant: Dependant) -> bool:
    return any(sub.call is bearer_token or _takes_token(sub) for sub in dependant.dependencies)


router = APIRouter(prefix="/api/v1", tags=["customer"], route_class=TokenBeforeBody)


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[per_address("conversations")],
    responses={429: {"description": "Too many new conversations from this address"}},
)
async def start_conversation(
    service: ChatServiceDep, body: schemas.ConversationCreate | None = None
) -> schemas.ConversationCreated:
    """Start a conversation; the token returned authorises this customer for it."""
    language = body.language if body else None
    conversation, token = await service.db.write(
        lambda session: store.start_conversation(session, language=language)
    )
    return schemas.ConversationCreated(id=conversation.id, token=token)


@router.get("/conversations/{conversation_id}/messages")
async def list_messages(
    conversation_id: str, token: CustomerToken, service: ChatServiceDep
) -> schemas.TranscriptPublic:
    """The conversation so far."""

    def read(session: Session) -> schemas.TranscriptPublic:
        conversation = customer_conversation(session, conversation_id, token)
        holder = (
            accounts.get_user(session, conversation.assigned_to_id)
            if conversation.status is ConversationStatus.WITH_STAFF and conversation.assigned_to_id
            else None
        )
        return schemas.TranscriptPublic(
            conversation=schemas.ConversationPublic(
                id=conversation.id,
                status=conversation.status,
                satisfaction=conversation.satisfaction,
                language=conversation.language,
                agent=takeover.public_name(holder) if holder is not None else None,
            ),
            messages=[
                schemas.MessagePublic.of(m) for m in store.list_messages(session, conversation.id)
            ],
        )

    return await service.db.read(read)


@router.post(
    "/conversations/{conversation_id}/messages",
    dependencies=[per_address("messages"), per_conversation("conversation_messages")],
    responses={
        429: {"description": "Too many messages from this address or in this conversation"},
        503: {
            "description": "At capacity, or the bot could not answer now (the message is saved): "
            "send it again, with the same client_id, after Retry-After seconds."
        },
    },
)
async def send_message(
    conversation_id: str,
    body: schemas.MessageCreate,
    token: CustomerToken,
    service: ChatServiceDep,
    settings: SettingsDep,
) -> schemas.TurnPublic:
    """Send the customer's message; the bot's reply comes back (none while a person holds it)."""
    # Card and phone numbers never reach the database, the staff or a training run.
    text = redact(message_text(body.text, settings), settings.redact)
    try:
        turn = await service.take_turn(
            conversation_id,
            token,
            text,
            chosen_intent=body.intent,
            client_id=body.client_id,
            related_to=body.related_to,
        )
    except NotOffered as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if turn.reply is not None and not turn.repeated:
        observe_reply(turn.reply)
    return schemas.TurnPublic(
        message=schemas.MessagePublic.of(turn.customer),
        reply=schemas.MessagePublic.of(turn.reply) if turn.reply else None,
        language=turn.language,
    )


@router.post(
    "/conversations/{conversation_id}/handoff",
    dependencies=[per_address("handoffs")],
    responses={429: {"description": "Too many requests for a person from this address"}},
)
async def request_handoff(
    conversation_id: str, token: CustomerToken, service: ChatServiceDep
) -> schemas.HandoffPublic:
    """Ask for a person; the bot stays silent until staff hand the conversation back."""
    conversation_status, message = await service.request_handoff(conversation_id, token)
    return schemas.HandoffPublic(
        status=conversation_status,
        message=schemas.MessagePublic.of(message) if message else None,
    )


@router.post(
    "/conversations/{conversation_id}/offline",
    dependencies=[per_address("handoffs")],
    responses={
        409: {"description": "A person was already asked for in this conversation"},
        429: {"description": "Too many requests for a person from this address"},
    },
)
async def leave_offline_message(
    conversation_id: str,
    body: schemas.OfflineRequestCreate,
    token: CustomerToken,
    service: ChatServiceDep,
    settings: SettingsDep,
) -> schemas.OfflineRequestPublic:
    """Nobody can come now: leave a message and an e-mail address; staff reply by e-mail."""
    try:
        email = offline.checked_email(body.email)
    except offline.InvalidEmail as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    text = redact(message_text(body.text, settings), settings.redact)
    try:
        state, message, reply = await service.leave_offline_message(
            conversation_id, token, email, text
        )
    except takeover.WrongState as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return schemas.OfflineRequestPublic(
        status=state,
        message=schemas.MessagePublic.of(message),
        reply=schemas.MessagePublic.of(reply),
    )


@router.post(
    "/messages/{message_id}/feedback",
    dependencies=[per_address("feedback")],
    responses={429: {"description": "Too many ratings from this address"}},
)
async def give_feedback(
    message_id: RowId, body: schemas.FeedbackCreate, token: CustomerToken, service: ChatServiceDep
) -> schemas.FeedbackPublic:
    """Thumbs up or down on one of the bot's answers."""

    def rate(session: Session) -> None:
        message = store.get_message(session, message_id)
        if message is None or not store.token_matches(message.conversation, token):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "message not found")
        if message.role.value != "bot":
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "feedback: only the bot's messages can be rated",
            )
        store.set_feedback(session, message, body.helpful)

    await service.db.write(rate)
    return schemas.FeedbackPublic(id=message_id, helpful=body.helpful)


@router.post(
    "/conversations/{conversation_id}/satisfaction",
    dependencies=[per_address("feedback")],
    responses={429: {"description": "Too many ratings from this address"}},
)
async def give_satisfaction(
    conversation_id: str,
    body: schemas.SatisfactionCreate,
    token: CustomerToken,
    service: ChatServiceDep,
) -> schemas.SatisfactionPublic:
    """How satisfied the customer was (1-5), once staff closed the conversation."""

    def rate(session: Session) -> None:
        conversation = customer_conversation(session, conversation_id, token)
        try:
            takeover.rate(session, conversation, body.rating)
        except takeover.WrongState as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc

    await service.db.write(rate)
    return schemas.SatisfactionPublic(id=conversation_id, satisfaction=body.rating)


@router.websocket("/conversations/{conversation_id}/ws")
async def live_events(websocket: WebSocket, conversation_id: str) -> None:
    """Live events of one conversation: messages, typing and handoff state.

    The first frame the client sends is ``{"token": TOKEN}``: a token never travels in the URL,
    where access logs and proxies keep it (a URL with ``token=`` is refused at the handshake).
    Then the customer may send ``{"typing": true}`` while writing: staff see "the customer is
    typing".
    """
    app = websocket.app
    service: ChatService | None = getattr(app.state, "chat", None)

    async def authorised(token: str) -> bool:
        def check(session: Session) -> bool:
            try:
                customer_conversation(session, conversation_id, token)
            except ConversationNotFound:
                return False
            return True

        return bool(token) and service is not None and await service.db.read(check)

    if "token" in websocket.query_params:
        reason = "send the token in the first frame, never in the URL"
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
        return
    await websocket.accept()
    if not await authorised(await _first_frame_token(websocket)):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="not authorised")
        return
    bus: EventBus = app.state.bus
    async with bus.subscribe(conversation_channel(conversation_id)) as events:

        async def forward() -> None:
            async for event in events:
                await websocket.send_json(event)

        sender = asyncio.create_task(forward())
        last_typing = 0.0
        try:
            while True:  # reading also notices a disconnect
                typing = _is_typing(await websocket.receive_text())
                if typing and time.monotonic() - last_typing >= TYPING_INTERVAL_S:
                    last_typing = time.monotonic()
                    bus.publish(
                        conversation_channel(conversation_id), takeover.typing_event(Role.CUSTOMER)
                    )
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def _first_frame_token(websocket: WebSocket) -> str:
    """The token of the client's first frame, ``{"token": "..."}``; "" if it sends none in time."""
    try:
        frame = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
        sent = json.loads(frame)
    # RecursionError: JSON nested deeper than the parser goes ("[[[[...").
    except (TimeoutError, ValueError, RecursionError, WebSocketDisconnect, KeyError):
        return ""
    token = sent.get("token") if isinstance(sent, dict) else None
    return token if isinstance(token, str) else ""


def _is_typing(text: str) -> bool:
    try:
        sent = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(sent, dict) and sent.get("typing") is True
