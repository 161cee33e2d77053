"""Server-rendered pages: one Jinja environment, and the branding every page shows.

The customer pages (chatbot/api/pages.py) and the consoles (chatbot/console/) both use it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db import app_settings
from chatbot.db.app_settings import RuntimeSettings

# Inside the package, so an installed wheel carries it (see package-data in pyproject.toml).
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
templates = Jinja2Templates(directory=WEB_DIR / "templates")
# One path segment of a URL, every reserved character quoted (`/` too, unlike `urlencode`): an
# intent key such as `reverted_card_payment?` would otherwise end the path at its `?`.
templates.env.filters["path_segment"] = partial(quote, safe="")


def brand(settings: Settings | RuntimeSettings) -> dict[str, Any]:
    return {
        "company_name": settings.company_name,
        "widget_title": settings.widget_title,
        "widget_color": settings.widget_color,
    }


def current_branding(request: Request) -> RuntimeSettings:
    """Name, title and colour in force: the environment's, with the admin's changes applied.

    Read at every page (a handful of rows), so a change shows at the next page load everywhere.
    """
    settings: Settings = request.app.state.settings
    session = getattr(request.state, "db_session", None)
    if session is not None:
        return runtime_settings(session, settings)
    with request.app.state.session_factory() as own:
        return runtime_settings(own, settings)


def runtime_settings(session: Session, settings: Settings) -> RuntimeSettings:
    """The environment's settings with the admin's stored changes (a handful of rows)."""
    return app_settings.effective(session, RuntimeSettings.from_settings(settings))
