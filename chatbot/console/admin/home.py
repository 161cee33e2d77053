"""The admin landing page: the admin areas and the latest changes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chatbot.api.deps import SessionDep
from chatbot.api.principals import AdminUser
from chatbot.console.views import render
from chatbot.db import audit

router = APIRouter()


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, session: SessionDep, principal: AdminUser) -> HTMLResponse:
    """The admin landing page: the admin areas and the latest changes."""
    return render(
        request,
        "console/admin_home.html",
        principal,
        recent=audit.list_entries(session, limit=5),
    )
