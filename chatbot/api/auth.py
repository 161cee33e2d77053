"""Who is calling: staff sign-in (sessions, CSRF, throttling), API tokens, roles, account pages.

Browsers sign in with a form and carry an HttpOnly, SameSite=Lax session cookie; every
state-changing call made with that cookie must also carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``). Integrations send ``Authorization: Bearer cbt_...``
API tokens instead: no cookie, so no CSRF token either. Customers' conversation tokens open no
staff route.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from chatbot import accounts as account_changes
from chatbot import security
from chatbot.api.deps import RowId, SessionDep, SettingsDep
from chatbot.api.i18n import LANGUAGE_COOKIE, LANGUAGES, request_language, translator
from chatbot.api.ratelimit import (
    RateLimited,
    client_address,
    too_many_requests,
    wait_per_address,
)
from chatbot.api.views import render
from chatbot.db import accounts
from chatbot.db.models import User, UserRole

SESSION_COOKIE = "chatbot_session"
LOGIN_CSRF_COOKIE = "chatbot_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member or admin, and how they proved it."""

    user: User
    # The session's CSRF token; None when the caller used an API token (no cookie involved).
    csrf_token: str | None

    @property
    def is_admin(self) -> bool:
        return self.user.role is UserRole.ADMIN

    @property
    def actor(self) -> str:
        """How audit records and corrections name this caller."""
        return self.user.email


class LoginRequired(HTTPException):
    """No valid session or token: pages redirect to the sign-in form, API calls get 401."""

    def __init__(self) -> None:
        super().__init__(
            status.HTTP_401_UNAUTHORIZED,
            "sign in first, or send 'Authorization: Bearer <API token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def find_principal(connection: HTTPConnection, session: Session) -> Principal | None:
    """The caller's identity from an API token or a session cookie, if either is valid."""
    scheme, _, credential = connection.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential.startswith(security.API_TOKEN_PREFIX):
        user = accounts.user_for_api_token(session, credential)
        return Principal(user, None) if user is not None else None
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie:
        row = accounts.session_for_token(session, cookie)
        if row is not None:
            return Principal(row.user, row.csrf_token)
    return None


def _signed_in(request: Request, session: SessionDep) -> Principal:
    principal = find_principal(request, session)
    session.commit()  # the session's sliding expiry or the token's last use
    if principal is None:
        raise LoginRequired()
    return principal


async def _csrf_checked(
    request: Request, principal: Annotated[Principal, Depends(_signed_in)]
) -> Principal:
    if request.method in SAFE_METHODS or principal.csrf_token is None:
        return principal
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)  # type: ignore[assignment]
    if not isinstance(sent, str) or not security.same_secret(sent, principal.csrf_token):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "CSRF token missing or wrong: reload the page and try again",
        )
    return principal


def staff_user(principal: Annotated[Principal, Depends(_csrf_checked)]) -> Principal:
    """Any signed-in staff member or admin (staff and admin routes both require at least this)."""
    return principal


def admin_user(principal: Annotated[Principal, Depends(_csrf_checked)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin account")
    return principal


StaffUser = Annotated[Principal, Depends(staff_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]


def websocket_principal(connection: HTTPConnection, session: Session) -> Principal | None:
    """The signed-in caller of a WebSocket, refusing handshakes from other sites' pages.

    Browsers send cookies with cross-site WebSocket handshakes and no CSRF token can ride along,
    so the Origin header must be this app's own.
    """
    origin = connection.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != connection.headers.get("host"):
        return None
    return find_principal(connection, session)


def login_required_handler(request: Request, exc: Exception) -> Response:
    """Pages send anonymous visitors to the sign-in form; everything else gets JSON 401."""
    assert isinstance(exc, LoginRequired)
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status.HTTP_303_SEE_OTHER)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


# ---- pages: sign in, sign out, account

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would make phishing links look like ours.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/staff"
    return target


def _set_cookie(request: Request, response: Response, name: str, value: str, **kw: object) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or _always_secure(request),
        path="/",
        **kw,  # type: ignore[arg-type]
    )


def _always_secure(request: Request) -> bool:
    # In production a cookie is Secure even on a request that came over plain HTTP (a browser
    # then keeps it off the wire), unless plain HTTP was explicitly allowed.
    settings = request.app.state.settings
    return bool(settings.production and not settings.allow_plain_http)


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    max_age = int(accounts.SESSION_LIFETIME.total_seconds())
    _set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)


def _login_page(
    request: Request,
    session: Session,
    next_path: str,
    error: str | None,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    # Signed, so that only this server's tokens pass: a cookie planted from a sibling subdomain
    # (which may set cookies for ours) cannot be paired with a form of the attacker's making.
    login_csrf = security.signed_token(request.app.state.settings.secret_key)
    response = render(
        request,
        "console/login.html",
        status_code=status_code,
        login_csrf=login_csrf,
        next_path=_safe_next(next_path),
        error=error,
        no_accounts=accounts.count_users(session) == 0,
    )
    response.headers.update(headers or {})
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, login_csrf, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, next: str = "/staff") -> Response:
    if find_principal(request, session) is not None:
        return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    return _login_page(request, session, next, None, 200)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    address_wait_s: Annotated[int, wait_per_address("login")],
    email: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/staff",
) -> Response:
    """Sign in. The form carries a token that must match its cookie (login CSRF)."""
    _ = translator(request_language(request))
    if address_wait_s:
        if "text/html" not in request.headers.get("accept", ""):
            return too_many_requests(RateLimited("login", address_wait_s))
        message = _(
            "Too many sign-in attempts from your network. Try again in {seconds} s.",
            seconds=address_wait_s,
        )
        return _login_page(
            request,
            session,
            next,
            message,
            429,
            {"Retry-After": str(address_wait_s)},
        )
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if (
        not expected
        or not security.same_secret(csrf_token, expected)
        or not security.signed_by(expected, settings.secret_key)
    ):
        return _login_page(
            request, session, next, _("The form expired. Please sign in again."), 403
        )
    address = client_address(request)
    wait_s = accounts.start_attempt(session, email, address)
    session.commit()  # before the slow password check, which must not hold the throttle's lock
    if wait_s:
        return _login_page(
            request,
            session,
            next,
            _("Too many failed attempts. Try again in {seconds} s.", seconds=wait_s),
            429,
            {"Retry-After": str(wait_s)},
        )
    user = accounts.authenticate(session, email, password, address)
    if user is None:
        session.commit()
        return _login_page(request, session, next, _("Wrong email or password."), 401)
    signed_in = accounts.start_session(session, user)
    retention = timedelta(days=settings.login_attempt_retention_days)
    accounts.purge_login_records(session, retention)  # no sweeper needed
    session.commit()
    response = RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    _set_session_cookie(request, response, signed_in.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, principal: StaffUser) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.end_session(session, cookie)
        session.commit()
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/language/{language}")
def choose_language(request: Request, language: str, next: str = "/staff") -> Response:
    """The language switch in the console header (a preference cookie, nothing stored)."""
    response = RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    if language in LANGUAGES:
        _set_cookie(request, response, LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
    return response


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


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, session: SessionDep, principal: StaffUser) -> HTMLResponse:
    """Password change and API tokens."""
    return _account_page(request, session, principal)


class PasswordNotConfirmed(Exception):
    """The password re-entered before a sensitive change is wrong (``retry_after_s`` 0), or
    guesses from here are throttled for ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("the current password is wrong")
        self.retry_after_s = retry_after_s


def confirm_own_password(
    request: Request, session: Session, principal: Principal, password: str
) -> None:
    """Raise PasswordNotConfirmed unless ``password`` is the caller's own. Counted like a sign-in,
    so a stolen session or token cannot guess the password at full speed."""
    address = client_address(request)
    wait_s = accounts.start_attempt(session, principal.user.email, address)
    session.commit()  # before the slow check, as at sign-in
    if wait_s:
        raise PasswordNotConfirmed(wait_s)
    confirmed = accounts.confirm_password(session, principal.user, password, address)
    session.commit()
    if not confirmed:
        raise PasswordNotConfirmed(0)


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


@router.post("/account/password", response_class=HTMLResponse)
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
    _set_session_cookie(request, response, signed_in.token)
    return response


@router.post("/account/tokens", response_class=HTMLResponse)
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


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: RowId, session: SessionDep, principal: StaffUser) -> Response:
    if account_changes.revoke_token(session, principal.user, token_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"API token {token_id} not found")
    session.commit()
    return RedirectResponse("/account", status.HTTP_303_SEE_OTHER)
