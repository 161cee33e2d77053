"""Customer-facing pages: the demo company page, the full-page chat and the widget script."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from chatbot.api import schemas
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.views import WEB_DIR, brand, runtime_settings, templates
from chatbot.conversation import builtins
from chatbot.db.app_settings import RuntimeSettings

router = APIRouter()


def _page(request: Request, name: str, branding: RuntimeSettings) -> HTMLResponse:
    return templates.TemplateResponse(request, name, brand(branding))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """A demo company page with the chat widget."""
    return _page(request, "demo.html", runtime_settings(session, settings))


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def chat_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The full-page customer chat."""
    return _page(request, "chat.html", runtime_settings(session, settings))


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> FileResponse:
    """The embeddable widget: one script tag on any site."""
    return FileResponse(
        WEB_DIR / "static" / "widget.js",
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/api/v1/widget/config", tags=["customer"])
def widget_config(
    session: SessionDep, settings: SettingsDep, lang: str = "en"
) -> schemas.WidgetConfig:
    """Title, colours and greeting for the widget."""
    language = "zh" if lang.lower().startswith("zh") else "en"
    branding = runtime_settings(session, settings)
    texts = builtins.BotTexts({"greeting": {language: branding.text("greeting", language)}})
    return schemas.WidgetConfig(
        title=branding.widget_title,
        color=branding.widget_color,
        company=branding.company_name,
        greeting=texts.greeting(language),
        placeholder="输入您的问题…" if language == "zh" else "Type your question…",
        language=language,
    )
