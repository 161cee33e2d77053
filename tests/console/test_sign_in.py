"""Signing in and out (chatbot/console/sign_in.py): the form and its token, cookies, throttling,
where it leads, the language switch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from httpx import Response

from chatbot import security
from chatbot.config import Settings, UnsafeForProduction
from chatbot.db import accounts
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.main import create_app
from tests.api.conftest import (
    JSON,
    PASSWORD,
    STAFF_EMAIL,
    Staff,
    add_account,
    another_browser,
    post_login,
)
from tests.fakes import HashingEncoder


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


def test_the_language_switch_only_redirects_locally(client: TestClient) -> None:
    response = client.get("/language/zh?next=//evil.example", follow_redirects=False)
    assert response.headers["location"] == "/staff"
    assert client.cookies["chatbot_lang"] == "zh"
