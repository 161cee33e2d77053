"""The caller's own account over the API (/api/v1/staff/account) with an API token only: API
tokens listed, minted (password again, throttled) and revoked; the password changed; audited as
on the Account page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatbot.db import accounts
from tests.api.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    STAFF_EMAIL,
    add_account,
    audit_log,
    sign_in,
)
from tests.api.test_users import bearer

ACCOUNT = "/api/v1/staff/account"
TOKENS = f"{ACCOUNT}/tokens"


def test_a_token_says_whose_it_is(client: TestClient, db_url: str) -> None:
    token = bearer(add_account(db_url, STAFF_EMAIL))
    me = client.get(ACCOUNT, headers=token).json()
    assert (me["email"], me["role"], me["active"]) == (STAFF_EMAIL, "staff", True)


def test_a_token_mints_lists_and_revokes_tokens(client: TestClient, db_url: str) -> None:
    token = bearer(add_account(db_url, STAFF_EMAIL))
    minted = client.post(TOKENS, json={"name": "CRM sync", "password": PASSWORD}, headers=token)
    assert minted.status_code == 201, minted.text
    new = minted.json()
    assert new["token"].startswith("cbt_") and new["revoked_at"] is None
    crm = bearer(new["token"])
    assert client.get(ACCOUNT, headers=crm).status_code == 200
    listed = client.get(TOKENS, headers=token).json()
    assert [row["name"] for row in listed] == ["tests", "CRM sync"]
    assert all("token" not in row for row in listed)  # shown once only
    assert client.delete(f"{TOKENS}/{new['id']}", headers=token).status_code == 204
    assert client.get(ACCOUNT, headers=crm).status_code == 401
    [_tests, revoked] = client.get(TOKENS, headers=token).json()
    assert revoked["revoked_at"] is not None
    entries = [(e["actor"], e["action"], e["target"]) for e in audit_log(db_url, "token.")]
    assert entries == [
        (STAFF_EMAIL, "token.revoke", str(new["id"])),
        (STAFF_EMAIL, "token.create", "CRM sync"),
    ]
    assert new["token"] not in str(audit_log(db_url))


def test_minting_needs_the_password_and_a_name(client: TestClient, db_url: str) -> None:
    token = bearer(add_account(db_url, STAFF_EMAIL))
    wrong = client.post(TOKENS, json={"name": "x", "password": "not it at all"}, headers=token)
    assert wrong.status_code == 422 and wrong.json()["detail"].startswith("password: ")
    unnamed = client.post(TOKENS, json={"name": " ", "password": PASSWORD}, headers=token)
    assert unnamed.status_code == 422 and unnamed.json()["detail"].startswith("name: ")
    assert len(client.get(TOKENS, headers=token).json()) == 1
    assert audit_log(db_url, "token.") == []


def test_guessing_the_password_is_throttled_with_retry_after(
    client: TestClient, db_url: str
) -> None:
    token = bearer(add_account(db_url, STAFF_EMAIL))
    free = accounts.FREE_FAILURES_PER_EMAIL
    answers = [
        client.post(TOKENS, json={"name": "x", "password": f"guess {n}"}, headers=token)
        for n in range(free + 1)
    ]
    assert [a.status_code for a in answers[:free]] == [422] * free
    throttled = answers[free]
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) == accounts.FIRST_DELAY.total_seconds()
    right = client.post(TOKENS, json={"name": "x", "password": PASSWORD}, headers=token)
    assert right.status_code == 429  # even the right one waits


def test_only_ones_own_tokens_are_revoked(client: TestClient, db_url: str) -> None:
    staff = bearer(add_account(db_url, STAFF_EMAIL))
    admin = bearer(add_account(db_url, ADMIN_EMAIL, "admin"))
    [admins_token] = client.get(TOKENS, headers=admin).json()
    assert client.delete(f"{TOKENS}/{admins_token['id']}", headers=staff).status_code == 404
    assert client.delete(f"{TOKENS}/999", headers=staff).status_code == 404
    assert client.get(ACCOUNT, headers=admin).status_code == 200


def test_a_password_change_signs_out_everywhere(client: TestClient, db_url: str) -> None:
    token = bearer(add_account(db_url, STAFF_EMAIL))
    new_password = "a brand new passphrase"
    short = {"current_password": PASSWORD, "new_password": "short"}
    refused = client.post(f"{ACCOUNT}/password", json=short, headers=token)
    assert refused.status_code == 422 and refused.json()["detail"].startswith("new_password: ")
    wrong = {"current_password": "not it at all", "new_password": new_password}
    refused = client.post(f"{ACCOUNT}/password", json=wrong, headers=token)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("current_password: ")
    right = {"current_password": PASSWORD, "new_password": new_password}
    changed = client.post(f"{ACCOUNT}/password", json=right, headers=token)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"sessions_ended": True, "tokens_revoked": 1}
    assert client.get(ACCOUNT, headers=token).status_code == 401  # this token too
    sign_in(client, STAFF_EMAIL, new_password)
    (entry,) = audit_log(db_url, "user.password")
    assert (entry["actor"], entry["target"]) == (STAFF_EMAIL, STAFF_EMAIL)
    assert new_password not in str(entry)


def test_a_cookie_session_without_the_csrf_token_changes_nothing(
    client: TestClient, db_url: str
) -> None:
    add_account(db_url, STAFF_EMAIL)
    sign_in(client, STAFF_EMAIL)
    [token] = client.get(TOKENS).json()
    writes = [
        client.post(TOKENS, json={"name": "x", "password": PASSWORD}),
        client.delete(f"{TOKENS}/{token['id']}"),
        client.post(
            f"{ACCOUNT}/password",
            json={"current_password": PASSWORD, "new_password": "another passphrase"},
        ),
    ]
    assert [response.status_code for response in writes] == [403, 403, 403]
    assert all("CSRF" in response.json()["detail"] for response in writes)
    assert audit_log(db_url) == []
