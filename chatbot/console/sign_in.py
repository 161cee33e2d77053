"""Signing in and out, and the interface language: the console pages anyone may open.

The sign-in form carries its own CSRF token, paired with a signed cookie (login CSRF); once signed
in, a browser carries an HttpOnly, SameSite=Lax session cookie (chatbot/api/principals.py reads it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from chatbot import security
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.i18n import LANGUAGE_COOKIE, LANGUAGES, request_language, translator
from chatbot.api.principals import SESSION_COOKIE, StaffUser, find_principal
from chatbot.api.ratelimit import RateLimited, client_address, too_many_requests, wait_per_address
from chatbot.console.views import render
from chatbot.db import accounts

LOGIN_CSRF_COOKIE = "chatbot_login_csrf"

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would make phishing links look like ours.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/staff"
    return target


def set_cookie(request: Request, response: Response, name: str, value: str, **kw: object) -> None:
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


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    max_age = int(accounts.SESSION_LIFETIME.total_seconds())
    set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)


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
        next_path=safe_next(next_path),
        error=error,
        no_accounts=accounts.count_users(session) == 0,
    )
    response.headers.update(headers or {})
    set_cookie(request, response, LOGIN_CSRF_COOKIE, login_csrf, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, next: str = "/staff") -> Response:
    if find_principal(request, session) is not None:
        return RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
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
    response = RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, signed_in.token)
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
    response = RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
    if language in LANGUAGES:
        set_cookie(request, response, LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
    return response
