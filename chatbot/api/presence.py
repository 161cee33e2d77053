"""Staff presence: a staff member says in the live console whether they are available now."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from chatbot.api import schemas
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.principals import Principal, StaffUser
from chatbot.api.views import runtime_settings
from chatbot.config import Settings
from chatbot.conversation.availability import person_available
from chatbot.db import app_settings, presence

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])


def _presence(session: Session, settings: Settings, principal: Principal) -> schemas.PresencePublic:
    runtime = runtime_settings(session, settings)
    return schemas.PresencePublic(
        status=presence.status_of(session, principal.user.id),
        connected=presence.is_connected(session, principal.user.id),
        available_staff=len(presence.available_staff(session)),
        person_available={
            language: person_available(session, runtime.schedule(language))
            for language in app_settings.LANGUAGES
        },
    )


@router.get("/presence")
def my_presence(
    session: SessionDep, settings: SettingsDep, principal: StaffUser
) -> schemas.PresencePublic:
    """This staff member's presence, and whether customers can get a person now."""
    return _presence(session, settings, principal)


@router.post("/presence")
def set_my_presence(
    body: schemas.PresenceUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: StaffUser,
) -> schemas.PresencePublic:
    """Become available or away. Closing the last live-console tab drops availability too."""
    presence.set_status(session, principal.user.id, body.status)
    session.commit()
    return _presence(session, settings, principal)
