"""Who is calling and what they may do: sessions, API tokens, CSRF, roles.

Browsers sign in with a form and carry an HttpOnly, SameSite=Lax session cookie; every
state-changing call made with that cookie must also carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``). Integrations send ``Authorization: Bearer cbt_...``
API tokens instead: no cookie, so no CSRF token either. Customers' conversation tokens open no
staff route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from chatbot import security
from chatbot.api.deps import SessionDep
from chatbot.api.ratelimit import client_address
from chatbot.db import accounts
from chatbot.db.models import User, UserRole

SESSION_COOKIE = "chatbot_session"
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


async def staff_user(principal: Annotated[Principal, Depends(_csrf_checked)]) -> Principal:
    """Any signed-in staff member or admin (staff and admin routes both require at least this)."""
    return principal


async def admin_user(principal: Annotated[Principal, Depends(_csrf_checked)]) -> Principal:
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
