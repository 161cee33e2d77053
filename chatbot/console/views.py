"""Console pages: translated, branded, and carrying the CSRF token for their forms."""

from __future__ import annotations

from typing import Any

from fastapi import Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from chatbot.api.i18n import LANGUAGES, request_language, translator
from chatbot.api.principals import Principal
from chatbot.api.views import brand, current_branding, templates


def render(
    request: Request,
    name: str,
    principal: Principal | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page: translated (``_``), branded, and carrying the CSRF token for its forms."""
    language = request_language(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            **brand(current_branding(request)),
            "_": translator(language),
            "lang": language,
            "languages": LANGUAGES,
            "user": principal.user if principal else None,
            "csrf_token": principal.csrf_token if principal else None,
            **context,
        },
        status_code=status_code,
    )


def see_other(path: str) -> RedirectResponse:
    """After an accepted form: a 303 to the page, so reloading it never posts twice."""
    return RedirectResponse(path, status.HTTP_303_SEE_OTHER)
