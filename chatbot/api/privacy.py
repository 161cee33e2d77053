"""Erasing a customer's conversation: the admin API.

The console's button is chatbot/console/admin/conversations.py; both call ``erase``.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
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


def erase(
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
    return erase(session, settings, principal, conversation_id)
