"""Customer-facing pages: the demo company page, the full-page chat and the widget script.

All three speak the customer's language: the pages the browser's (``request_language``), the
widget the embedding page's, then the conversation's (see widget.js). Their English texts are
translated by ``chatbot/web/i18n/<language>/customer.json``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from chatbot.api import schemas
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.i18n import (
    LANGUAGES,
    customer_catalogs,
    html_lang,
    request_language,
    supported_language,
    translator,
)
from chatbot.api.views import WEB_DIR, brand, runtime_settings, templates
from chatbot.conversation import builtins
from chatbot.conversation.availability import person_available
from chatbot.db.app_settings import RuntimeSettings

router = APIRouter()
WIDGET_SCRIPT = WEB_DIR / "static" / "widget.js"
# The line of widget.js that receives the catalogues when the server serves it.
CATALOGUE_SLOT = "const CATALOGUES = {};"


def widget_texts(branding: RuntimeSettings, language: str) -> schemas.WidgetTexts:
    """The widget's names and the bot's own texts in ``language``: the admin's where set, else
    the built-in ones (a built-in title is translated; a name the admin wrote is kept as is)."""
    _ = translator(language)
    bot = builtins.BotTexts(
        {kind: {language: branding.text(kind, language)} for kind in ("greeting", "rating")}
    )
    return schemas.WidgetTexts(
        title=_(branding.name("widget_title", language)),
        company=branding.name("company_name", language),
        greeting=bot.greeting(language),
        placeholder=_("Type your question…"),
        rating=bot.rating(language),
    )


def _page(request: Request, name: str, branding: RuntimeSettings) -> HTMLResponse:
    language = request_language(request)
    texts = widget_texts(branding, language)
    context: dict[str, Any] = {
        **brand(branding),
        "company_name": texts.company,
        "widget_title": texts.title,
        "_": translator(language),
        "lang": language,
        "html_lang": html_lang(language),
    }
    return templates.TemplateResponse(request, name, context)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """A demo company page with the chat widget."""
    return _page(request, "demo.html", runtime_settings(session, settings))


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def chat_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The full-page customer chat."""
    return _page(request, "chat.html", runtime_settings(session, settings))


@lru_cache(maxsize=1)
def _widget_source(modified: float) -> bytes:
    """widget.js with every language's customer texts written in (rebuilt when the file changes)."""
    source = WIDGET_SCRIPT.read_text(encoding="utf-8")
    catalogues = json.dumps(customer_catalogs(), ensure_ascii=True, sort_keys=True)
    assert CATALOGUE_SLOT in source, f"widget.js lost its line {CATALOGUE_SLOT!r}"
    return source.replace(CATALOGUE_SLOT, f"const CATALOGUES = {catalogues};", 1).encode()


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> Response:
    """The embeddable widget: one script tag on any site."""
    return Response(
        _widget_source(WIDGET_SCRIPT.stat().st_mtime),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/api/v1/widget/config", tags=["customer"])
def widget_config(
    session: SessionDep, settings: SettingsDep, lang: str = "en"
) -> schemas.WidgetConfig:
    """Title, colours, greeting and rating question for the widget, in every language, and
    whether a person can come now."""
    language = supported_language(lang) or "en"
    branding = runtime_settings(session, settings)
    languages = {code: widget_texts(branding, code) for code in LANGUAGES}
    available = {code: person_available(session, branding.schedule(code)) for code in LANGUAGES}
    return schemas.WidgetConfig(
        **languages[language].model_dump(),
        color=branding.widget_color,
        language=language,
        languages=languages,
        person_available=available[language],
        available_by_language=available,
    )
