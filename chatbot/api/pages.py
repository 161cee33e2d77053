"""Customer-facing pages: the demo company page, the full-page chat and the widget script."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from chatbot.api import schemas
from chatbot.api.deps import SettingsDep
from chatbot.api.views import WEB_DIR, brand, templates
from chatbot.conversation import builtins

router = APIRouter()


def _page(request: Request, name: str, settings: SettingsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, name, brand(settings))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """A demo company page with the chat widget."""
    return _page(request, "demo.html", settings)


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def chat_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The full-page customer chat."""
    return _page(request, "chat.html", settings)


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> FileResponse:
    """The embeddable widget: one script tag on any site."""
    return FileResponse(
        WEB_DIR / "static" / "widget.js",
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/api/v1/widget/config", tags=["customer"])
def widget_config(settings: SettingsDep, lang: str = "en") -> schemas.WidgetConfig:
    """Title, colours and greeting for the widget."""
    language = "zh" if lang.lower().startswith("zh") else "en"
    return schemas.WidgetConfig(
        title=settings.widget_title,
        color=settings.widget_color,
        company=settings.company_name,
        greeting=builtins.localized(builtins.REPLIES[builtins.GREETING], language),
        placeholder="输入您的问题…" if language == "zh" else "Type your question…",
        language=language,
    )
