"""Admin console: landing page, settings, users and the audit log.

Every route takes the AdminUser principal; every change is written to the audit log in the same
transaction. Forms post back with the CSRF token and, when accepted, redirect (303) to the page
with a notice, so reloading never posts twice.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from chatbot import accounts as account_changes
from chatbot.api.deps import RowId, SessionDep, SettingsDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.principals import AdminUser, Principal
from chatbot.config import Settings
from chatbot.console.views import render
from chatbot.conversation import builtins
from chatbot.db import accounts, app_settings, audit
from chatbot.db.app_settings import RuntimeSettings
from chatbot.db.models import User, UserRole

router = APIRouter(prefix="/admin", include_in_schema=False)
AUDIT_PAGE_SIZE = 50


def _see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status.HTTP_303_SEE_OTHER)


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, session: SessionDep, principal: AdminUser) -> HTMLResponse:
    """The admin landing page: the admin areas and the latest changes."""
    return render(
        request,
        "console/admin_home.html",
        principal,
        recent=audit.list_entries(session, limit=5),
    )


# ---- settings


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
    return _see("/admin/settings?saved=1")


# ---- users


def _notice(_: Translate, done: str | None, user: User | None) -> str | None:
    """What the last accepted change did, shown after the redirect."""
    if user is None:
        return None
    email = user.email
    notices = {
        "created": _("Account {email} created.", email=email),
        "disabled": _("{email} is disabled and signed out everywhere.", email=email),
        "enabled": _("{email} can sign in again.", email=email),
        "password": _("New password set for {email}; their sessions ended.", email=email),
        "role": _("{email} is now {role}.", email=email, role=_(user.role.value)),
    }
    return notices.get(done or "")


def _users_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    draft: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "console/users.html",
        principal,
        status_code=422 if error else 200,
        users=accounts.list_users(session),
        roles=[role.value for role in UserRole],
        notice=notice,
        error=error,
        draft=draft or {"role": UserRole.STAFF.value},
    )


@router.get("/users", response_class=HTMLResponse)
def users(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    done: str | None = None,
    user: int | None = None,
) -> HTMLResponse:
    """Staff and admin accounts."""
    _ = translator(request_language(request))
    subject = accounts.get_user(session, user) if user is not None else None
    notice = _notice(_, done, subject)
    return _users_page(request, session, principal, notice=notice)


def _target(session: Session, user_id: int) -> User:
    user = accounts.get_user(session, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"user {user_id} not found")
    return user


def _refused(
    request: Request,
    session: Session,
    principal: Principal,
    error: str,
) -> HTMLResponse:
    session.rollback()
    return _users_page(request, session, principal, error=error)


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    email: Annotated[str, Form(max_length=255)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form()] = UserRole.STAFF.value,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Add a staff member or admin with an initial password."""
    try:
        user = account_changes.create_user(
            session, principal.user, email, password, account_changes.role(role), name=name
        )
    except account_changes.AccountError as exc:
        session.rollback()
        return _users_page(
            request,
            session,
            principal,
            error=str(exc),
            draft={"email": email, "name": name, "role": role},
        )
    session.commit()
    return _see(f"/admin/users?done=created&user={user.id}")


@router.post("/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(
    user_id: RowId,
    request: Request,
    session: SessionDep,
    principal: AdminUser,
) -> Response:
    """Disable an account: its sessions end and its API tokens are revoked."""
    return _changed(user_id, "disabled", request, session, principal)


@router.post("/users/{user_id}/enable", response_class=HTMLResponse)
def enable_user(
    user_id: RowId,
    request: Request,
    session: SessionDep,
    principal: AdminUser,
) -> Response:
    """Let a disabled account sign in again."""
    return _changed(user_id, "enabled", request, session, principal)


def _changed(
    user_id: int,
    done: str,
    request: Request,
    session: Session,
    principal: Principal,
    *,
    password: str = "",
    role: str = "",
) -> Response:
    """Apply one change to a user (``done`` says which), then show the page with its notice."""
    user = _target(session, user_id)
    try:
        if done in ("enabled", "disabled"):
            account_changes.set_active(session, principal.user, user, done == "enabled")
        elif done == "password":
            account_changes.reset_password(session, principal.user, user, password)
        else:
            account_changes.set_role(session, principal.user, user, account_changes.role(role))
    except account_changes.ChangeRefused as exc:
        _ = translator(request_language(request))
        return _refused(request, session, principal, _(exc.reason))
    except account_changes.AccountError as exc:
        return _refused(request, session, principal, str(exc))
    session.commit()
    return _see(f"/admin/users?done={done}&user={user.id}")


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(
    user_id: RowId,
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set a new password for someone; their sessions end and their API tokens are revoked."""
    return _changed(user_id, "password", request, session, principal, password=password)


@router.post("/users/{user_id}/role", response_class=HTMLResponse)
def change_role(
    user_id: RowId,
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    role: Annotated[str, Form()] = "",
) -> Response:
    """Make someone staff or admin."""
    return _changed(user_id, "role", request, session, principal, role=role)


# ---- audit log


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
