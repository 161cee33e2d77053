"""The users API (/api/v1/admin/users) with an admin's API token only: the same rules and audit
entries as the console's Users page, 422 naming a refused field, 404 for an unknown user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    STAFF_EMAIL,
    add_account,
    audit_log,
    sign_in,
    user_id,
)

USERS = "/api/v1/admin/users"
NEW_STAFF = "kim@staff.example"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(db_url: str) -> dict[str, str]:
    return bearer(add_account(db_url, ADMIN_EMAIL, "admin"))


def test_an_admin_token_creates_lists_and_reads_users(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    body = {"email": " Kim@Staff.example ", "name": "Kim", "role": "staff", "password": PASSWORD}
    created = client.post(USERS, json=body, headers=admin_token)
    assert created.status_code == 201, created.text
    kim = created.json()
    assert kim["email"] == NEW_STAFF and kim["role"] == "staff" and kim["active"] is True
    listed = client.get(USERS, headers=admin_token).json()
    assert [user["email"] for user in listed] == [ADMIN_EMAIL, NEW_STAFF]
    assert client.get(f"{USERS}/{kim['id']}", headers=admin_token).json() == kim
    (entry,) = audit_log(db_url, "user.")
    assert (entry["actor"], entry["action"], entry["target"]) == (
        ADMIN_EMAIL,
        "user.create",
        NEW_STAFF,
    )
    assert entry["after"] == {"email": NEW_STAFF, "name": "Kim", "role": "staff", "active": True}
    assert PASSWORD not in str(entry)
    sign_in(client, NEW_STAFF)  # the new account works


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": NEW_STAFF, "password": "short"}, "password"),
        ({"email": "not an address", "password": PASSWORD}, "email"),
        ({"email": ADMIN_EMAIL, "password": PASSWORD}, "email"),  # taken
        ({"email": NEW_STAFF, "password": PASSWORD, "name": "Kim\x00"}, "name"),
        ({"email": NEW_STAFF, "password": PASSWORD, "role": "owner"}, "role"),
    ],
)
def test_bad_new_users_are_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, admin_token: dict[str, str], db_url: str, body: dict[str, str], field: str
) -> None:
    refused = client.post(USERS, json=body, headers=admin_token)
    assert refused.status_code == 422, refused.text
    assert field in str(refused.json()["detail"])
    assert len(client.get(USERS, headers=admin_token).json()) == 1
    assert audit_log(db_url) == []


def test_disabling_ends_access_and_enabling_restores_it_audited_as_the_console_does(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    kims_token = bearer(add_account(db_url, NEW_STAFF))
    kim = user_id(db_url, NEW_STAFF)
    assert client.get("/api/v1/staff/account", headers=kims_token).status_code == 200
    disabled = client.patch(f"{USERS}/{kim}", json={"active": False}, headers=admin_token)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert client.get("/api/v1/staff/account", headers=kims_token).status_code == 401
    enabled = client.patch(f"{USERS}/{kim}", json={"active": True}, headers=admin_token)
    assert enabled.json()["active"] is True
    sign_in(client, NEW_STAFF)
    actions = [(e["action"], e["before"], e["after"]) for e in audit_log(db_url, "user.")]
    assert actions == [
        ("user.enable", {"active": False}, {"active": True}),
        ("user.disable", {"active": True}, {"active": False}),
    ]


def test_a_role_change_is_applied_and_audited_once(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    kims_token = bearer(add_account(db_url, NEW_STAFF))
    kim = user_id(db_url, NEW_STAFF)
    assert client.get(USERS, headers=kims_token).status_code == 403
    promoted = client.patch(f"{USERS}/{kim}", json={"role": "admin"}, headers=admin_token)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert client.get(USERS, headers=kims_token).status_code == 200
    again = client.patch(f"{USERS}/{kim}", json={"role": "admin"}, headers=admin_token)
    assert again.status_code == 200
    (entry,) = audit_log(db_url, "user.role")
    assert (entry["before"], entry["after"]) == ({"role": "staff"}, {"role": "admin"})


def test_a_password_reset_revokes_the_users_tokens_and_logs_no_secret(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    kims_token = bearer(add_account(db_url, NEW_STAFF))
    kim = user_id(db_url, NEW_STAFF)
    new_password = "a brand new passphrase"
    reset = client.post(
        f"{USERS}/{kim}/password", json={"password": new_password}, headers=admin_token
    )
    assert reset.status_code == 200, reset.text
    assert reset.json() == {"sessions_ended": True, "tokens_revoked": 1}
    assert client.get("/api/v1/staff/account", headers=kims_token).status_code == 401
    sign_in(client, NEW_STAFF, new_password)
    (entry,) = audit_log(db_url, "user.password")
    assert entry["after"] == {"sessions_ended": True, "tokens_revoked": 1}
    assert new_password not in str(entry)
    short = client.post(f"{USERS}/{kim}/password", json={"password": "short"}, headers=admin_token)
    assert short.status_code == 422 and short.json()["detail"].startswith("password: ")


def test_an_admin_cannot_disable_demote_or_reset_themselves(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    me = user_id(db_url, ADMIN_EMAIL)
    disable = client.patch(f"{USERS}/{me}", json={"active": False}, headers=admin_token)
    assert disable.status_code == 409
    assert disable.json()["detail"] == "active: You cannot disable your own account."
    demote = client.patch(f"{USERS}/{me}", json={"role": "staff"}, headers=admin_token)
    assert demote.status_code == 409 and "own admin role" in demote.json()["detail"]
    reset = client.post(f"{USERS}/{me}/password", json={"password": PASSWORD}, headers=admin_token)
    assert reset.status_code == 409 and "/password" not in reset.json()["detail"]
    me_now = client.get(f"{USERS}/{me}", headers=admin_token).json()
    assert (me_now["role"], me_now["active"]) == ("admin", True)
    assert audit_log(db_url) == []


def test_a_refused_half_of_a_change_leaves_the_other_half_unwritten(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    me = user_id(db_url, ADMIN_EMAIL)
    # The role is allowed (unchanged), disabling is not: nothing is written.
    both = client.patch(
        f"{USERS}/{me}", json={"role": "admin", "active": False}, headers=admin_token
    )
    assert both.status_code == 409
    assert audit_log(db_url) == []


def test_unknown_users_are_404_and_bad_bodies_422(
    client: TestClient, admin_token: dict[str, str]
) -> None:
    assert client.get(f"{USERS}/999", headers=admin_token).status_code == 404
    assert client.patch(f"{USERS}/999", json={}, headers=admin_token).status_code == 404
    missing = client.post(f"{USERS}/999/password", json={"password": PASSWORD}, headers=admin_token)
    assert missing.status_code == 404
    bad_role = client.patch(f"{USERS}/1", json={"role": "owner"}, headers=admin_token)
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"] == ["body", "role"]


def test_staff_tokens_are_refused(client: TestClient, db_url: str) -> None:
    staff = bearer(add_account(db_url, STAFF_EMAIL))
    assert client.get(USERS, headers=staff).status_code == 403
    body = {"email": NEW_STAFF, "password": PASSWORD}
    assert client.post(USERS, json=body, headers=staff).status_code == 403


def test_a_cookie_session_without_the_csrf_token_changes_nothing(
    client: TestClient, db_url: str
) -> None:
    add_account(db_url, ADMIN_EMAIL, "admin")
    add_account(db_url, NEW_STAFF)
    sign_in(client, ADMIN_EMAIL)  # the cookie rides along; no X-CSRF-Token header
    kim = user_id(db_url, NEW_STAFF)
    writes = [
        client.post(USERS, json={"email": "lee@staff.example", "password": PASSWORD}),
        client.patch(f"{USERS}/{kim}", json={"active": False}),
        client.post(f"{USERS}/{kim}/password", json={"password": "another passphrase"}),
    ]
    assert [response.status_code for response in writes] == [403, 403, 403]
    assert all("CSRF" in response.json()["detail"] for response in writes)
    assert client.get(USERS).status_code == 200  # reading needs no CSRF token
    assert audit_log(db_url) == []


def test_the_consoles_json_routes_are_tagged_and_show_examples(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    tags = {
        "/api/v1/admin/users": "users",
        "/api/v1/admin/users/{user_id}/password": "users",
        "/api/v1/admin/settings": "settings",
        "/api/v1/staff/canned": "canned replies",
        "/api/v1/staff/account/tokens": "account",
        "/api/v1/staff/conversations": "transcripts",
    }
    for path, tag in tags.items():
        for method, operation in paths[path].items():
            assert operation["tags"] == [tag], (method, path)
            answers = operation["responses"]
            ok = answers.get("200") or answers.get("201")
            assert ok["content"]["application/json"].get("example"), (method, path)
            if method in ("post", "patch"):
                body = operation["requestBody"]["content"]["application/json"]
                assert body.get("examples"), (method, path)
    change = paths["/api/v1/admin/settings"]["patch"]["requestBody"]["content"]["application/json"]
    assert "answer_threshold" in change["schema"]["properties"]  # the fields, not "any object"
