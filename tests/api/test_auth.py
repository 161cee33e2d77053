"""Signing in and who may call what: sessions, CSRF, throttling, API tokens, every route's guard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi import FastAPI, status
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from starlette.websockets import WebSocketDisconnect

from chatbot import security
from chatbot.config import Settings, UnsafeForProduction
from chatbot.db import accounts
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.main import create_app
from tests.api.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    STAFF_EMAIL,
    Customer,
    Staff,
    add_account,
    another_browser,
    post_login,
    sign_in,
)
from tests.fakes import HashingEncoder

# Routes anyone may call; everything else must refuse anonymous callers and customers.
PUBLIC = {
    "/",
    "/chat",
    "/widget.js",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/login",
    "/language/{language}",
    "/api/v1/widget/config",
    "/api/v1/messages/{message_id}/feedback",
}
CUSTOMER_PREFIX = "/api/v1/conversations"  # guarded by each conversation's own bearer token
ADMIN_PREFIXES = ("/admin", "/api/v1/admin")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
JSON = {"Accept": "application/json"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def all_routes(app: FastAPI) -> list[tuple[type, str, set[str]]]:
    """(route class, full path, methods) of every route, inside included routers too."""
    return [
        (type(context.original_route), context.path or "", set(context.methods or ()))
        for context in iter_route_contexts(app.routes)
    ]


def guarded_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for kind, path, methods in all_routes(app):
        if kind is APIRoute and path not in PUBLIC and not path.startswith(CUSTOMER_PREFIX):
            found.extend((method, path) for method in sorted(methods - {"HEAD"}))
    return found


def test_the_consoles_have_routes_to_guard(app: FastAPI) -> None:
    paths = {path for _, path in guarded_routes(app)}
    assert {"/account", "/logout", "/api/v1/admin/models"} <= paths


def test_every_staff_and_admin_route_refuses_anonymous_callers_and_customers(
    client: TestClient, app: FastAPI, customer: Customer
) -> None:
    routes = guarded_routes(app)
    assert routes
    for method, path in routes:
        url = concrete(path)
        anonymous = client.request(method, url, headers=JSON)
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        as_customer = client.request(method, url, headers={**JSON, **customer.headers})
        assert as_customer.status_code == 401, (method, path, as_customer.status_code)


def test_admin_routes_refuse_staff_members(client: TestClient, app: FastAPI, staff: Staff) -> None:
    admin_routes = [(m, p) for m, p in guarded_routes(app) if p.startswith(ADMIN_PREFIXES)]
    assert admin_routes
    for method, path in admin_routes:
        headers = {**JSON, **staff.headers}
        by_session = client.request(method, concrete(path), headers=headers)
        assert by_session.status_code == 403, (method, path, by_session.status_code)
        by_token = client.request(method, concrete(path), headers={**JSON, **staff.token_headers})
        assert by_token.status_code == 403, (method, path, by_token.status_code)


def test_state_changing_calls_without_the_csrf_token_are_refused(
    client: TestClient, app: FastAPI, admin: Staff
) -> None:
    unsafe = [(m, p) for m, p in guarded_routes(app) if m in UNSAFE]
    assert unsafe
    for method, path in unsafe:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = client.request(method, concrete(path), headers={**JSON, **headers})
            assert response.status_code == 403, (method, path, response.status_code)
            assert "CSRF" in response.json()["detail"]
    form = client.post("/account/tokens", data={"name": "x", "csrf_token": "forged"})
    assert form.status_code == 403


def test_staff_websockets_refuse_anonymous_callers(client: TestClient, app: FastAPI) -> None:
    sockets = [
        path
        for kind, path, _ in all_routes(app)
        if kind is APIWebSocketRoute and not path.startswith(CUSTOMER_PREFIX)
    ]
    assert "/api/v1/staff/ws" in sockets  # the search finds the sockets it must check
    for path in sockets:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(concrete(path)) as ws,
        ):
            ws.receive_json()
        # 1008 (policy violation) tells the console to sign in rather than to reconnect.
        assert refused.value.code == status.WS_1008_POLICY_VIOLATION, (path, refused.value)


def test_a_page_sends_anonymous_visitors_to_the_sign_in_form(client: TestClient) -> None:
    response = client.get("/account", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


def test_signing_in_sets_a_protected_session_cookie(client: TestClient, db_url: str) -> None:
    add_account(db_url, STAFF_EMAIL)
    client.get("/login")
    response = post_login(client, STAFF_EMAIL, next_path="/account", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("chatbot_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/account").status_code == 200


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: TestClient, db_url: str
) -> None:
    add_account(db_url, STAFF_EMAIL)
    client.get("/login")
    answers = []
    for email in (STAFF_EMAIL, "nobody@staff.example"):
        response = post_login(client, email, "wrong password!")
        assert response.status_code == 401
        answers.append(re.search(r'data-testid="login-error">([^<]+)<', response.text))
    assert answers[0] and answers[1] and answers[0].group(1) == answers[1].group(1)
    assert "chatbot_session" not in client.cookies


def stored_password_hash(database_url: str, email: str) -> str:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            user = accounts.get_user_by_email(session, email)
            assert user is not None
            return user.password_hash
    finally:
        engine.dispose()


def store_password_hash(database_url: str, email: str, password_hash: str) -> None:
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = accounts.get_user_by_email(session, email)
            assert user is not None
            user.password_hash = password_hash
    finally:
        engine.dispose()


def test_signing_in_rehashes_a_password_hashed_with_older_argon2_parameters(
    client: TestClient, db_url: str
) -> None:
    add_account(db_url, STAFF_EMAIL)
    # As an earlier release (or an argon2-cffi with other defaults) would have stored it.
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    old_hash = weaker.hash(PASSWORD)
    store_password_hash(db_url, STAFF_EMAIL, old_hash)
    client.get("/login")

    refused = post_login(client, STAFF_EMAIL, "wrong password!")
    assert refused.status_code == 401
    assert stored_password_hash(db_url, STAFF_EMAIL) == old_hash  # only a right password rehashes

    assert post_login(client, STAFF_EMAIL, next_path="/account").url.path == "/account"
    new_hash = stored_password_hash(db_url, STAFF_EMAIL)
    assert new_hash != old_hash
    # The parameters the app hashes new passwords with.
    assert extract_parameters(new_hash) == extract_parameters(security.hash_password("x" * 10))
    assert not security.needs_rehash(new_hash)
    assert security.verify_password(new_hash, PASSWORD)

    client.cookies.clear()
    client.get("/login")
    assert post_login(client, STAFF_EMAIL, next_path="/account").url.path == "/account"
    assert stored_password_hash(db_url, STAFF_EMAIL) == new_hash  # current hashes stay as they are


def test_the_sign_in_form_needs_its_own_csrf_token(client: TestClient, db_url: str) -> None:
    add_account(db_url, STAFF_EMAIL)
    response = client.post("/login", data={"email": STAFF_EMAIL, "password": PASSWORD})
    assert response.status_code == 403
    assert "chatbot_session" not in client.cookies


def test_repeated_failures_delay_that_email_from_that_address_only(
    db_url: str, tmp_path: Path
) -> None:
    add_account(db_url, STAFF_EMAIL)
    settings = Settings(database_url=db_url, data_dir=tmp_path, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings, encoder=HashingEncoder())

    def attempt(client: TestClient, address: str, password: str) -> Response:
        client.headers["X-Forwarded-For"] = address
        return post_login(client, STAFF_EMAIL, password, follow_redirects=False)

    free = accounts.FREE_FAILURES_PER_EMAIL
    with TestClient(app, client=("10.0.0.1", 1)) as guesser:
        colleague = another_browser(guesser)
        guesser.get("/login")
        statuses = [attempt(guesser, "198.51.100.7", "wrong password!") for _ in range(free)]
        assert [s.status_code for s in statuses] == [401] * free
        refused = attempt(guesser, "198.51.100.7", PASSWORD)  # even the right password waits
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == accounts.FIRST_DELAY.total_seconds()
        assert "Too many failed attempts" in refused.text
        # The same person from their own address signs in at once: no lock-out.
        colleague.get("/login")
        assert attempt(colleague, "198.51.100.8", PASSWORD).status_code == 303


@pytest.mark.parametrize(("peer", "secure"), [("10.0.0.1", True), ("203.0.113.9", False)])
def test_cookies_are_secure_behind_a_trusted_tls_proxy_only(
    db_url: str, tmp_path: Path, peer: str, secure: bool
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path, trusted_proxies=["10.0.0.1"])
    app = create_app(settings, encoder=HashingEncoder())
    with TestClient(app, client=(peer, 1)) as client:
        # The proxy terminated TLS; only the proxy is believed when it says so.
        form = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    [cookie] = [v for k, v in form.headers.multi_items() if k == "set-cookie"]
    assert cookie.startswith("chatbot_login_csrf=")
    assert ("; secure" in cookie.lower()) is secure


def test_production_cookies_are_secure_even_over_plain_http(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path,
        env="production",
        secret_key="s" * 40,
        trusted_proxies=["10.0.0.1"],
        metrics_public=False,
    )
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        form = client.get("/login")  # plain HTTP, from no proxy
    assert "; secure" in form.headers["set-cookie"].lower()
    allowed = settings.model_copy(update={"allow_plain_http": True})
    with TestClient(create_app(allowed, encoder=HashingEncoder())) as client:
        assert "; secure" not in client.get("/login").headers["set-cookie"].lower()


def test_production_refuses_to_build_an_app_with_unsafe_settings(tmp_path: Path) -> None:
    with pytest.raises(UnsafeForProduction, match="CHATBOT_SECRET_KEY"):
        create_app(Settings(data_dir=tmp_path, env="production"), encoder=HashingEncoder())


def test_the_sign_in_form_token_is_signed_by_the_secret_key(
    client: TestClient, db_url: str
) -> None:
    add_account(db_url, STAFF_EMAIL)
    client.get("/login")
    issued = client.cookies["chatbot_login_csrf"]
    assert security.signed_by(issued, client.app.state.settings.secret_key)  # type: ignore[attr-defined]
    # A cookie planted by someone else (a sibling subdomain may set ours), paired with a form
    # of theirs: the two agree, but the server did not sign it.
    for planted in ("attacker-chosen", security.signed_token("another deployment's key")):
        client.cookies.clear()
        client.cookies.set("chatbot_login_csrf", planted)
        response = post_login(client, STAFF_EMAIL, follow_redirects=False)
        assert response.status_code == 403, planted
        assert "chatbot_session" not in client.cookies
    client.cookies.clear()
    client.cookies.set("chatbot_login_csrf", issued)
    assert post_login(client, STAFF_EMAIL, follow_redirects=False).status_code == 303


def test_only_local_paths_are_followed_after_signing_in(client: TestClient, db_url: str) -> None:
    add_account(db_url, STAFF_EMAIL)
    client.get("/login")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = post_login(client, STAFF_EMAIL, next_path=target, follow_redirects=False)
        assert response.headers["location"] == "/staff", target
        client.cookies.clear()  # signed out again, with a fresh form token for the next try
        client.get("/login")


def test_signing_out_ends_the_session(client: TestClient, staff: Staff) -> None:
    assert client.get("/account", headers=JSON).status_code == 200
    response = client.post("/logout", headers=staff.headers, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/account", headers=JSON).status_code == 401


def test_changing_the_password_signs_out_other_browsers(
    client: TestClient, app: FastAPI, staff: Staff
) -> None:
    other = another_browser(client)
    sign_in(other, STAFF_EMAIL)
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
            "csrf_token": staff.csrf,
        },
    )
    assert response.status_code == 200, response.text
    assert "your API tokens revoked" in response.text
    assert client.get("/account", headers=JSON).status_code == 200  # this browser stays in
    assert other.get("/account", headers=JSON).status_code == 401
    # Signed out everywhere: the API token made before the change no longer works.
    assert other.get("/account", headers=staff.token_headers).status_code == 401


def test_a_wrong_current_password_changes_nothing(client: TestClient, staff: Staff) -> None:
    response = client.post(
        "/account/password",
        data={
            "current_password": "not it at all",
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
            "csrf_token": staff.csrf,
        },
    )
    assert response.status_code == 422
    assert client.get("/account", headers=JSON).status_code == 200


def test_an_api_token_made_on_the_account_page_works_until_revoked(
    client: TestClient, app: FastAPI, admin: Staff
) -> None:
    form = {"name": "CRM sync", "csrf_token": admin.csrf, "password": PASSWORD}
    page = client.post("/account/tokens", data=form)
    token = re.search(r'data-testid="new-api-token">(cbt_[^<]+)<', page.text)
    assert token, page.text
    bearer = {"Authorization": f"Bearer {token.group(1)}"}
    integration = another_browser(client)  # no cookies, no CSRF token: the token alone
    assert integration.get("/api/v1/admin/models", headers=bearer).status_code == 200
    token_id = re.findall(r"/account/tokens/(\d+)/revoke", page.text)[-1]
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": admin.csrf})
    assert integration.get("/api/v1/admin/models", headers=bearer).status_code == 401
    audit = client.get("/admin/audit?action=token.").text
    assert "token.create" in audit and "token.revoke" in audit and "CRM sync" in audit
    assert token.group(1) not in audit  # the secret itself is never recorded


@pytest.mark.parametrize("password", ["", "not my password"])
def test_minting_an_api_token_needs_the_password_again(
    client: TestClient, staff: Staff, password: str
) -> None:
    form = {"name": "stolen session", "csrf_token": staff.csrf, "password": password}
    page = client.post("/account/tokens", data=form)
    assert page.status_code == 422
    assert "The current password is wrong." in page.text
    assert "new-api-token" not in page.text and "stolen session" not in page.text


def test_guessing_the_password_on_the_account_page_is_throttled_like_signing_in(
    client: TestClient, staff: Staff
) -> None:
    form = {"name": "x", "csrf_token": staff.csrf, "password": "guess"}
    # The sign-in itself cleared the count; each wrong guess counts from there.
    statuses = [client.post("/account/tokens", data=form).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]
    page = client.post("/account/tokens", data={**form, "password": PASSWORD})
    assert page.status_code == 429 and "Too many failed attempts" in page.text
    assert int(page.headers["retry-after"]) >= 1


def test_staff_cannot_reach_admin_pages_but_admins_can(
    client: TestClient, app: FastAPI, db_url: str
) -> None:
    add_account(db_url, STAFF_EMAIL, "staff")
    add_account(db_url, ADMIN_EMAIL, "admin")
    sign_in(client, STAFF_EMAIL)
    assert client.get("/api/v1/admin/models", headers=JSON).status_code == 403
    other = another_browser(client)
    sign_in(other, ADMIN_EMAIL)
    assert other.get("/api/v1/admin/models", headers=JSON).status_code == 200


def test_the_language_switch_only_redirects_locally(client: TestClient) -> None:
    response = client.get("/language/zh?next=//evil.example", follow_redirects=False)
    assert response.headers["location"] == "/staff"
    assert client.cookies["chatbot_lang"] == "zh"
