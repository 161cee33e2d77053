"""The audit log page: who changed what, newest first."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chatbot.api.deps import SessionDep
from chatbot.api.i18n import request_language, translator
from chatbot.api.principals import AdminUser
from chatbot.console.views import render
from chatbot.db import accounts, audit

AUDIT_PAGE_SIZE = 50

router = APIRouter()


def _day(value: str | None) -> date | None:
    if not value:
        return None
    return date.fromisoformat(value)


def _pretty(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> HTMLResponse:
    """Who changed what, newest first; filter by actor, action prefix and dates (UTC)."""
    _ = translator(request_language(request))
    error = None
    try:
        first, last = _day(since), _day(until)
    except ValueError:
        first = last = None
        error = _("Dates are written YYYY-MM-DD.")
    rows = audit.list_entries(
        session,
        actor=actor.strip() or None,
        action=action.strip() or None,
        since=datetime.combine(first, time(), UTC) if first else None,
        # ``until`` is inclusive: everything before the next midnight.
        until=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
        before_id=before,
        limit=AUDIT_PAGE_SIZE + 1,
    )
    entries = [
        {"entry": row, "before": _pretty(row.before), "after": _pretty(row.after)}
        for row in rows[:AUDIT_PAGE_SIZE]
    ]
    filters = {"actor": actor, "action": action, "since": since, "until": until}
    return render(
        request,
        "console/audit.html",
        principal,
        entries=entries,
        filters=filters,
        actors=[u.email for u in accounts.list_users(session)],
        next_before=rows[AUDIT_PAGE_SIZE - 1].id if len(rows) > AUDIT_PAGE_SIZE else None,
        paged=before is not None,
        error=error,
    )
