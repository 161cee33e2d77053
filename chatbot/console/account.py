"""The signed-in person's own account: password change and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from chatbot import accounts as account_changes
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.i18n import request_language, translator
from chatbot.api.principals import (
    PasswordNotConfirmed,
    Principal,
    StaffUser,
    confirm_own_password,
    staff_user,
)
from chatbot.console.sign_in import set_session_cookie
from chatbot.console.views import render
from chatbot.db import accounts

router = APIRouter(prefix="/account", include_in_schema=False, dependencies=[Depends(staff_user)])


def _account_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    message: str | None = None,
    error: str | None = None,
    new_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "console/account.html",
        principal,
        status_code=status_code,
        tokens=accounts.user_tokens(session, principal.user),
        message=message,
        error=error,
        new_token=new_token,
    )


@router.get("", response_class=HTMLResponse)
def account(request: Request, session: SessionDep, principal: StaffUser) -> HTMLResponse:
    """Password change and API tokens."""
    return _account_page(request, session, principal)


def _password_refused(
    request: Request, session: Session, principal: Principal, password: str
) -> HTMLResponse | None:
    """None when ``password`` is the caller's own, else the page saying why not: 422, or 429
    with Retry-After while wrong guesses are throttled (as at sign-in)."""
    _ = translator(request_language(request))
    try:
        confirm_own_password(request, session, principal, password)
    except PasswordNotConfirmed as refused:
        if not refused.retry_after_s:
            error = _("The current password is wrong.")
            return _account_page(request, session, principal, error=error, status_code=422)
        wait_s = refused.retry_after_s
        error = _("Too many failed attempts. Try again in {seconds} s.", seconds=wait_s)
        page = _account_page(request, session, principal, error=error, status_code=429)
        page.headers["Retry-After"] = str(wait_s)
        return page
    return None


@router.post("/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    principal: StaffUser,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    confirm_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    _ = translator(request_language(request))
    user = principal.user
    refused = _password_refused(request, session, principal, current_password)
    if refused is not None:
        return refused
    error = None
    if new_password != confirm_password:
        error = _("The new passwords do not match.")
    else:
        try:
            account_changes.set_password(session, user, user, new_password)  # signs out everywhere
        except account_changes.AccountError as exc:
            error = str(exc)
    if error:
        return _account_page(request, session, principal, error=error, status_code=422)
    signed_in = accounts.start_session(session, user)  # stay signed in here
    session.commit()
    response = _account_page(
        request,
        session,
        Principal(user, signed_in.session.csrf_token),
        message=_("Password changed. Other devices were signed out and your API tokens revoked."),
    )
    set_session_cookie(request, response, signed_in.token)
    return response


@router.post("/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    session: SessionDep,
    principal: StaffUser,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> HTMLResponse:
    """A new API token for integrations, shown once; the password must be entered again."""
    refused = _password_refused(request, session, principal, password)
    if refused is not None:
        return refused
    try:
        _row, token = account_changes.create_token(session, principal.user, principal.user, name)
    except account_changes.AccountError as exc:
        return _account_page(request, session, principal, error=str(exc), status_code=422)
    session.commit()
    return _account_page(request, session, principal, new_token=token)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: RowId, session: SessionDep, principal: StaffUser) -> Response:
    if account_changes.revoke_token(session, principal.user, token_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"API token {token_id} not found")
    session.commit()
    return RedirectResponse("/account", status.HTTP_303_SEE_OTHER)
