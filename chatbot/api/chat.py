"""Customer endpoints: conversations, messages, feedback, handoff and the live event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect, status
from starlette.concurrency import run_in_threadpool

from chatbot.api import schemas
from chatbot.api.deps import (
    BusDep,
    CustomerConversation,
    CustomerToken,
    ManagerDep,
    SessionDep,
    SettingsDep,
    message_text,
)
from chatbot.api.metrics import observe_reply
from chatbot.conversation import takeover
from chatbot.db import conversations as store
from chatbot.db.models import Conversation, Message, Role
from chatbot.events import EventBus, conversation_channel

router = APIRouter(prefix="/api/v1", tags=["customer"])
TYPING_INTERVAL_S = 1.0  # at most one typing event per second from one customer's socket


def _status_event(conversation: Conversation) -> dict[str, str]:
    # No "agent": the customer's own turns never put a person in charge.
    return {"type": "status", "status": conversation.status.value}


def _publish_messages(bus: EventBus, conversation_id: str, *messages: Message | None) -> None:
    for message in messages:
        if message is not None:
            event = {"type": "message", "message": schemas.message_json(message)}
            bus.publish(conversation_channel(conversation_id), event)


@router.post("/conversations", status_code=status.HTTP_201_CREATED)
def start_conversation(
    session: SessionDep, body: schemas.ConversationCreate | None = None
) -> schemas.ConversationCreated:
    """Start a conversation; the token returned authorises this customer for it."""
    conversation, token = store.start_conversation(
        session, language=body.language if body else None
    )
    session.commit()
    return schemas.ConversationCreated(id=conversation.id, token=token)


@router.get("/conversations/{conversation_id}/messages")
def list_messages(
    conversation: CustomerConversation, session: SessionDep
) -> schemas.TranscriptPublic:
    """The conversation so far."""
    return schemas.TranscriptPublic(
        conversation=schemas.ConversationPublic(
            id=conversation.id, status=conversation.status, satisfaction=conversation.satisfaction
        ),
        messages=[
            schemas.MessagePublic.of(m) for m in store.list_messages(session, conversation.id)
        ],
    )


@router.post("/conversations/{conversation_id}/messages")
def send_message(
    body: schemas.MessageCreate,
    conversation: CustomerConversation,
    session: SessionDep,
    manager: ManagerDep,
    bus: BusDep,
    settings: SettingsDep,
) -> schemas.TurnPublic:
    """Send the customer's message; the bot's reply comes back (none while a person holds it)."""
    text = message_text(body.text, settings)
    status_before = conversation.status
    turn = manager.handle_message(session, conversation, text, chosen_intent=body.intent)
    session.commit()
    if turn.reply is not None:
        observe_reply(turn.reply)
    _publish_messages(bus, conversation.id, turn.customer, turn.reply)
    if conversation.status != status_before:
        bus.publish(conversation_channel(conversation.id), _status_event(conversation))
    if takeover.concerns_queue(status_before, conversation.status):
        # It just asked for a person, or a person is (about to be) reading along.
        takeover.announce_queue(bus, session, conversation)
    return schemas.TurnPublic(
        message=schemas.MessagePublic.of(turn.customer),
        reply=schemas.MessagePublic.of(turn.reply) if turn.reply else None,
    )


@router.post("/conversations/{conversation_id}/handoff")
def request_handoff(
    conversation: CustomerConversation, session: SessionDep, manager: ManagerDep, bus: BusDep
) -> schemas.HandoffPublic:
    """Ask for a person; the bot stays silent until staff hand the conversation back."""
    message = manager.request_handoff(session, conversation)
    session.commit()
    _publish_messages(bus, conversation.id, message)
    bus.publish(conversation_channel(conversation.id), _status_event(conversation))
    if message is not None:  # it entered the queue just now
        takeover.announce_queue(bus, session, conversation)
    return schemas.HandoffPublic(
        status=conversation.status.value,
        message=schemas.MessagePublic.of(message) if message else None,
    )


@router.post("/messages/{message_id}/feedback")
def give_feedback(
    message_id: int, body: schemas.FeedbackCreate, session: SessionDep, token: CustomerToken
) -> schemas.FeedbackPublic:
    """Thumbs up or down on one of the bot's answers."""
    message = store.get_message(session, message_id)
    if message is None or not store.token_matches(message.conversation, token):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "message not found")
    if message.role.value != "bot":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "feedback: only the bot's messages can be rated"
        )
    store.set_feedback(session, message, body.helpful)
    session.commit()
    return schemas.FeedbackPublic(id=message.id, helpful=body.helpful)


@router.post("/conversations/{conversation_id}/satisfaction")
def give_satisfaction(
    body: schemas.SatisfactionCreate, conversation: CustomerConversation, session: SessionDep
) -> schemas.SatisfactionPublic:
    """How satisfied the customer was (1-5), once staff closed the conversation."""
    try:
        takeover.rate(session, conversation, body.rating)
    except takeover.WrongState as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    session.commit()
    return schemas.SatisfactionPublic(id=conversation.id, satisfaction=body.rating)


@router.websocket("/conversations/{conversation_id}/ws")
async def live_events(websocket: WebSocket, conversation_id: str, token: str = "") -> None:
    """Live events of one conversation: messages, typing and handoff state (`?token=TOKEN`).

    The customer may send ``{"typing": true}`` while writing: staff see "the customer is typing".
    """
    app = websocket.app

    def authorised() -> bool:
        with app.state.session_factory() as session:
            conversation = store.get_conversation(session, conversation_id)
            return conversation is not None and store.token_matches(conversation, token)

    if not token or not await run_in_threadpool(authorised):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="not authorised")
        return
    await websocket.accept()
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


def _is_typing(text: str) -> bool:
    try:
        sent = json.loads(text)
    except ValueError:
        return False
    return isinstance(sent, dict) and sent.get("typing") is True
