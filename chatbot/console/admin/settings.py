"""The settings page: thresholds, the bot's own texts and the widget's branding.

A change is checked and audited by chatbot/db/app_settings.py, as the JSON API's is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.i18n import request_language, translator
from chatbot.api.principals import AdminUser, Principal
from chatbot.config import Settings
from chatbot.console.views import render, see_other
from chatbot.conversation import builtins
from chatbot.db import app_settings
from chatbot.db.app_settings import RuntimeSettings

router = APIRouter()


async def _posted_settings(request: Request) -> dict[str, str]:
    """The settings fields of the posted form. Read raw: an emptied text must stay '' (it means
    "the built-in text"), where a declared Form field would turn it into "not sent"."""
    form = await request.form()
    return {
        name: value
        for name in RuntimeSettings.model_fields
        if isinstance(value := form.get(name), str)
    }


def _built_in_texts() -> dict[str, str]:
    """The texts used when a text field is left empty, shown as its placeholder."""
    texts = builtins.BotTexts()
    shown = {}
    for language in app_settings.LANGUAGES:
        shown[f"greeting_{language}"] = texts.greeting(language)
        shown[f"fallback_{language}"] = texts.fallback(language)
        shown[f"handoff_{language}"] = texts.handoff(language)
        shown[f"clarify_{language}"] = texts.clarify(language)
        shown[f"rating_{language}"] = texts.rating(language)
        shown[f"offline_{language}"] = texts.offline(language)
    return shown


def _settings_page(
    request: Request,
    session: Session,
    principal: Principal,
    settings: Settings,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
) -> HTMLResponse:
    defaults = RuntimeSettings.from_settings(settings)
    return render(
        request,
        "console/settings.html",
        principal,
        status_code=422 if errors else 200,
        values=values or app_settings.effective(session, defaults).model_dump(),
        defaults=defaults.model_dump(),
        built_in=_built_in_texts(),
        errors=errors or {},
        saved=saved,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    saved: bool = False,
) -> HTMLResponse:
    """Thresholds, the bot's own texts and the widget's branding."""
    return _settings_page(request, session, principal, settings, saved=saved)


@router.post("/settings", response_class=HTMLResponse)
def save_settings(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    changes: Annotated[dict[str, str], Depends(_posted_settings)],
) -> Response:
    """Store the settings; running servers apply them from their next message or page."""
    defaults = RuntimeSettings.from_settings(settings)
    try:
        app_settings.update(session, defaults, changes, principal.actor)
    except app_settings.SettingsInvalid as exc:
        session.rollback()
        _ = translator(request_language(request))
        errors = {field: _(problem) for field, problem in exc.problems.items()}
        current = app_settings.effective(session, defaults).model_dump()
        return _settings_page(
            request, session, principal, settings, values={**current, **changes}, errors=errors
        )
    session.commit()
    return see_other("/admin/settings?saved=1")
