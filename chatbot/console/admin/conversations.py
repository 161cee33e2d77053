"""Erasing a conversation from the console: the transcript page's Erase button."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, status
from fastapi.responses import RedirectResponse

from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.principals import AdminUser
from chatbot.api.privacy import erase

router = APIRouter()


@router.post("/conversations/{conversation_id}/erase")
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
    erase(session, settings, principal, conversation_id)
    return RedirectResponse("/staff?erased=1", status.HTTP_303_SEE_OTHER)
