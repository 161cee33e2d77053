"""Admin API: the settings an admin changes at run time (thresholds, the bot's texts, branding,
opening hours), as the console's Settings page edits them.

Both save through ``app_settings.update``, which validates every field, stores the changes and
writes the ``settings.update`` audit entry; running servers apply them from their next message.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.principals import AdminUser
from chatbot.api.schemas import answer_example
from chatbot.config import Settings
from chatbot.db import app_settings
from chatbot.db.app_settings import RuntimeSettings

router = APIRouter(prefix="/api/v1/admin/settings", tags=["settings"])


class SettingsPublic(BaseModel):
    values: RuntimeSettings = Field(description="The settings in force.")
    defaults: RuntimeSettings = Field(
        description="What each falls back to: the environment's value (empty texts: built in)."
    )
    revision: int = Field(description="How many changes were ever saved.")


def _change_schema() -> dict[str, Any]:
    """The request body's schema: any of the settings, each as its own field says."""
    schema = RuntimeSettings.model_json_schema()
    schema.pop("required", None)
    for field in schema["properties"].values():
        field.pop("default", None)  # a field left out keeps its value, not the default
    return {**schema, "title": "SettingsChange", "additionalProperties": False}


CHANGE_EXAMPLES: Any = {
    "stricter": {
        "summary": "Answer only when surer",
        "value": {"answer_threshold": 0.7, "clarify_threshold": 0.4},
    },
    "texts": {
        "summary": "A greeting of our own; '' restores the built-in fallback",
        "value": {"greeting_en": "Hello! Ask me about orders and returns.", "fallback_en": ""},
    },
    "hours": {
        "summary": "Opening hours of the English-speaking team",
        "value": {"hours_en": "mon-fri 09:00-17:00", "timezone_en": "Europe/London"},
    },
}


EXAMPLE_ANSWER = answer_example(
    {
        "values": RuntimeSettings(answer_threshold=0.7, greeting_en="Hello!").model_dump(),
        "defaults": RuntimeSettings().model_dump(),
        "revision": 3,
    }
)


def _current(session: Session, settings: Settings) -> SettingsPublic:
    defaults = RuntimeSettings.from_settings(settings)
    return SettingsPublic(
        values=app_settings.effective(session, defaults),
        defaults=defaults,
        revision=app_settings.settings_revision(session),
    )


@router.get("", responses=EXAMPLE_ANSWER)
def read_settings(
    session: SessionDep, settings: SettingsDep, principal: AdminUser
) -> SettingsPublic:
    """The settings in force, their defaults, and the revision."""
    return _current(session, settings)


# FastAPI's schema for a dict body says "any object"; the settings' own schema says which.
@router.patch(
    "",
    responses=EXAMPLE_ANSWER,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _change_schema()}}}},
)
def update_settings(
    changes: Annotated[dict[str, Any], Body(openapi_examples=CHANGE_EXAMPLES)],
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
) -> SettingsPublic:
    """Change some settings; the others keep their values. A value equal to the default
    follows the environment again. Refused values are 422 naming each field, and nothing is
    stored; real changes are audited as ``settings.update`` with the old and new values."""
    defaults = RuntimeSettings.from_settings(settings)
    try:
        app_settings.update(session, defaults, changes, principal.actor)
    except app_settings.SettingsInvalid as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return _current(session, settings)
