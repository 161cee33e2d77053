"""Attachments: customers and staff send images and PDFs; each is served only to that
conversation's customer (bearer token) and to staff.

An upload's body is the file itself (any Content-Type; the type is found from its first bytes),
its name in the ``name`` query parameter. The caller is checked before the body is read (the
customer's token, the staff member's session and CSRF token), the conversation is found before
it is read too, and the body is read as it comes: past CHATBOT_MAX_ATTACHMENT_BYTES, or once its
first bytes are not an image or PDF, reading stops and nothing is kept.

Served back with the type found at upload, ``nosniff`` and a policy that runs nothing: images
inline (the widget and the consoles show them as thumbnails), anything else as a download.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from chatbot.api import schemas
from chatbot.api.chat import ChatServiceDep, TokenBeforeBody
from chatbot.api.deps import BusDep, CustomerToken, RowId, SessionDep, SettingsDep
from chatbot.api.errors import ErrorPublic
from chatbot.api.principals import StaffUser
from chatbot.api.ratelimit import per_address, per_conversation
from chatbot.attachments import (
    IMAGE_TYPES,
    AttachmentFiles,
    RefusedFile,
    StoredFile,
    TooLarge,
    display_name,
    is_image,
)
from chatbot.conversation import attachments as rules
from chatbot.conversation import takeover
from chatbot.conversation.service import customer_conversation
from chatbot.db import attachments as rows
from chatbot.db import conversations as store
from chatbot.db.models import Attachment, Conversation, ConversationStatus
from chatbot.events import Event, conversation_channel

# A file's name as the sender's browser gives it (cut to its base name when stored).
FileName = Annotated[str | None, Query(max_length=1000, description="The file's name.")]

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself: a PNG, JPEG, GIF, WebP or PDF (judged by its content).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorPublic, "description": "The conversation is closed"},
    413: {"model": ErrorPublic, "description": "The file is larger than the limit"},
    415: {"model": ErrorPublic, "description": "A form was sent: send the file itself"},
    422: {"model": ErrorPublic, "description": "Not a PNG, JPEG, GIF, WebP or PDF, or empty"},
}
SERVED_TYPES = sorted(IMAGE_TYPES | {"application/pdf"})
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, with the type found at upload",
        "content": {content_type: {} for content_type in SERVED_TYPES},
    },
    404: {"model": ErrorPublic, "description": "No such attachment in this conversation"},
}
# What a served file may do if a browser opens it as a page: nothing.
FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"

customer = APIRouter(prefix="/api/v1", tags=["customer"], route_class=TokenBeforeBody)
staff = APIRouter(prefix="/api/v1/staff", tags=["staff"])


def _files(settings: SettingsDep) -> AttachmentFiles:
    return AttachmentFiles.of(settings)


def _refuse_forms(request: Request) -> None:
    if request.headers.get("content-type", "").startswith(
        ("multipart/", "application/x-www-form-urlencoded")
    ):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the file itself as the body (its name in ?name=), not a form",
        )


async def _receive(request: Request, files: AttachmentFiles) -> StoredFile:
    try:
        return await files.write(request.stream())
    except TooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except RefusedFile as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def _open(conversation: Conversation) -> Conversation:
    if conversation.status is ConversationStatus.CLOSED:
        raise HTTPException(status.HTTP_409_CONFLICT, "the conversation is closed")
    return conversation


def _add_row(
    session: Session, conversation: Conversation, stored: StoredFile, name: str | None
) -> Attachment:
    return rows.add_attachment(
        session,
        conversation,
        stored_name=stored.stored_name,
        name=display_name(name, stored.content_type),
        content_type=stored.content_type,
        size=stored.size,
    )


def _served(files: AttachmentFiles, attachment: Attachment | None) -> Response:
    if attachment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "attachment not found")
    path = files.path(attachment.stored_name)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "attachment not found: its file is gone")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.name,
        content_disposition_type="inline" if is_image(attachment.content_type) else "attachment",
        headers={"Content-Security-Policy": FILE_POLICY, "X-Content-Type-Options": "nosniff"},
    )


async def _kept(files: AttachmentFiles, stored: StoredFile, keep: Callable[[], Any]) -> Any:
    """Run ``keep`` (which stores the row); a failure leaves no file behind."""
    try:
        return await keep()
    except BaseException:
        files.remove([stored.stored_name])
        raise


# ---- customers


@customer.post(
    "/conversations/{conversation_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    # An attachment is a message too: it counts against the conversation's messages.
    dependencies=[per_address("attachments"), per_conversation("conversation_messages")],
    openapi_extra=UPLOAD_BODY,
    responses={
        **UPLOAD_ERRORS,
        429: {"description": "Too many attachments from this address or in this conversation"},
    },
)
async def customer_upload(
    request: Request,
    conversation_id: str,
    token: CustomerToken,
    service: ChatServiceDep,
    settings: SettingsDep,
    name: FileName = None,
) -> schemas.MessagePublic:
    """Send an image or PDF: it becomes the customer's message (the bot does not answer it)."""
    _refuse_forms(request)
    files = _files(settings)
    await service.db.read(lambda s: _open(customer_conversation(s, conversation_id, token)))
    stored = await _receive(request, files)

    def keep(session: Session) -> tuple[schemas.MessagePublic, list[tuple[str, Event]]]:
        conversation = customer_conversation(session, conversation_id, token, lock=True)
        before = conversation.status
        try:
            message = rules.from_customer(
                session, conversation, _add_row(session, conversation, stored, name)
            )
        except takeover.WrongState as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        channel = conversation_channel(conversation.id)
        events = [(channel, takeover.message_event(schemas.message_json, message))]
        if takeover.concerns_queue(before, conversation.status):
            events.append(takeover.queue_update(session, conversation))
        return schemas.MessagePublic.of(message), events

    public, events = await _kept(files, stored, lambda: service.db.write(keep))
    for channel, event in events:
        service.bus.publish(channel, event)
    return public


@customer.get(
    "/conversations/{conversation_id}/attachments/{attachment_id}",
    response_class=Response,
    responses=DOWNLOAD,
)
async def customer_download(
    conversation_id: str,
    attachment_id: RowId,
    token: CustomerToken,
    service: ChatServiceDep,
    settings: SettingsDep,
) -> Response:
    """One of this conversation's attachments (an image inline, anything else a download)."""

    def find(session: Session) -> Attachment | None:
        conversation = customer_conversation(session, conversation_id, token)
        attachment = rows.get_attachment(session, attachment_id)
        if attachment is None or attachment.conversation_id != conversation.id:
            return None
        session.expunge(attachment)
        return attachment

    return _served(_files(settings), await service.db.read(find))


# ---- staff


def _staff_conversation(
    session: Session, conversation_id: str, *, lock: bool = False
) -> Conversation:
    find = store.lock_conversation if lock else store.get_conversation
    conversation = find(session, conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"conversation {conversation_id} not found")
    return conversation


@staff.post(
    "/conversations/{conversation_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses=UPLOAD_ERRORS,
)
async def staff_upload(
    request: Request,
    conversation_id: str,
    session: SessionDep,
    bus: BusDep,
    settings: SettingsDep,
    principal: StaffUser,
    name: FileName = None,
) -> schemas.StaffMessagePublic:
    """Send the customer an image or PDF (claims a conversation nobody holds)."""
    _refuse_forms(request)
    files = _files(settings)

    def check() -> None:
        _open(_staff_conversation(session, conversation_id))
        session.rollback()  # no transaction held open while the body comes in

    await run_in_threadpool(check)
    stored = await _receive(request, files)

    def keep() -> schemas.StaffMessagePublic:
        conversation = _staff_conversation(session, conversation_id, lock=True)
        try:
            change = rules.from_staff(
                session,
                conversation,
                principal.user,
                _add_row(session, conversation, stored, name),
            )
        except takeover.TakeoverError as exc:
            session.rollback()
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        session.commit()
        takeover.announce(bus, session, change, schemas.message_json)
        return schemas.StaffMessagePublic.written(
            change.messages[0], takeover.display_name(principal.user)
        )

    result: schemas.StaffMessagePublic = await _kept(files, stored, lambda: run_in_threadpool(keep))
    return result


@staff.get("/attachments/{attachment_id}", response_class=Response, responses=DOWNLOAD)
def staff_download(
    attachment_id: RowId, session: SessionDep, settings: SettingsDep, principal: StaffUser
) -> Response:
    """Any conversation's attachment (an image inline, anything else a download)."""
    return _served(_files(settings), rows.get_attachment(session, attachment_id))
