"""Erasing a customer's conversation: the admin console's button and the admin API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.principals import AdminUser
from chatbot.attachments import AttachmentFiles
from chatbot.db import privacy

router = APIRouter()


class ErasurePublic(BaseModel):
    id: str
    messages: int
    corrections: int


def _erase(
    session: SessionDep, settings: SettingsDep, principal: AdminUser, conversation_id: str
) -> ErasurePublic:
    erased = privacy.erase_conversation(session, conversation_id, principal.actor)
    if erased is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "conversation not found")
    session.commit()
    AttachmentFiles.of(settings).remove(erased.files)
    return ErasurePublic(
        id=conversation_id, messages=erased.messages, corrections=erased.corrections
    )


@router.delete("/api/v1/admin/conversations/{conversation_id}", tags=["admin"])
def erase_conversation(
    conversation_id: str, session: SessionDep, settings: SettingsDep, principal: AdminUser
) -> ErasurePublic:
    """Erase a conversation and every copy of its text (messages, corrections) and its
    attachments; audited."""
    return _erase(session, settings, principal, conversation_id)


@router.post("/admin/conversations/{conversation_id}/erase", include_in_schema=False)
def erase_from_console(
    conversation_id: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    """The transcript page's Erase button, with its "this cannot be undone" box ticked."""
    if confirm != "yes":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "confirm: tick 'This cannot be undone' first"
        )
    _erase(session, settings, principal, conversation_id)
    return RedirectResponse("/staff?erased=1", status.HTTP_303_SEE_OTHER)
