"""Server-rendered pages: one Jinja environment, and the context every console page shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from chatbot.api.i18n import LANGUAGES, request_language, translator
from chatbot.config import Settings

if TYPE_CHECKING:
    from chatbot.api.auth import Principal

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
templates = Jinja2Templates(directory=WEB_DIR / "templates")


def brand(settings: Settings) -> dict[str, Any]:
    return {
        "company_name": settings.company_name,
        "widget_title": settings.widget_title,
        "widget_color": settings.widget_color,
    }


def render(
    request: Request,
    name: str,
    principal: Principal | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page: translated (``_``), branded, and carrying the CSRF token for its forms."""
    settings: Settings = request.app.state.settings
    language = request_language(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            **brand(settings),
            "_": translator(language),
            "lang": language,
            "languages": LANGUAGES,
            "user": principal.user if principal else None,
            "csrf_token": principal.csrf_token if principal else None,
            **context,
        },
        status_code=status_code,
    )
