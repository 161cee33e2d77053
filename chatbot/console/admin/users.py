"""The users page: staff and admin accounts; every change through chatbot/accounts.py (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from chatbot import accounts as account_changes
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.principals import AdminUser, Principal
from chatbot.console.views import render, see_other
from chatbot.db import accounts
from chatbot.db.models import User, UserRole

router = APIRouter()


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
    return see_other(f"/admin/users?done=created&user={user.id}")


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
    return see_other(f"/admin/users?done={done}&user={user.id}")


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
