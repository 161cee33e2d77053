"""User accounts in the admin console (chatbot/console/admin/users.py): creating, disabling,
resetting a password, changing a role."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    Staff,
    add_account,
    another_browser,
    audit_log,
    post_form,
    post_login,
    sign_in,
    user_id,
)

NEW_STAFF = "kim@staff.example"


def test_an_admin_creates_a_user_who_can_then_sign_in(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    created = post_form(
        client,
        admin,
        "/admin/users",
        email=" Kim@Staff.example ",
        name="Kim",
        role="staff",
        password=PASSWORD,
    )
    assert created.status_code == 303
    page = client.get(created.headers["location"]).text
    assert "Account kim@staff.example created." in page
    assert 'data-email="kim@staff.example"' in page
    (entry,) = audit_log(db_url, "user.")
    assert entry["action"] == "user.create" and entry["target"] == NEW_STAFF
    assert entry["after"] == {"email": NEW_STAFF, "name": "Kim", "role": "staff", "active": True}
    assert PASSWORD not in str(entry)
    other = another_browser(client)
    sign_in(other, NEW_STAFF)


def test_bad_new_users_are_refused_with_the_field_named(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    short = post_form(
        client, admin, "/admin/users", email=NEW_STAFF, name="Kim", role="staff", password="short"
    )
    assert short.status_code == 422 and "password: " in short.text
    assert f'value="{NEW_STAFF}"' in short.text  # what was typed is kept
    taken = post_form(client, admin, "/admin/users", email=ADMIN_EMAIL, password=PASSWORD)
    assert taken.status_code == 422 and "email: an account for" in taken.text
    bad_role = post_form(
        client, admin, "/admin/users", email=NEW_STAFF, role="owner", password=PASSWORD
    )
    assert bad_role.status_code == 422 and "role: " in bad_role.text
    assert audit_log(db_url) == []


def test_a_disabled_user_is_signed_out_and_cannot_sign_in_until_enabled(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    add_account(db_url, NEW_STAFF)
    kim_browser = another_browser(client)
    sign_in(kim_browser, NEW_STAFF)
    kim = user_id(db_url, NEW_STAFF)
    disabled = post_form(client, admin, f"/admin/users/{kim}/disable")
    assert disabled.status_code == 303
    assert "is disabled" in client.get(disabled.headers["location"]).text
    assert kim_browser.get("/account").status_code == 401  # signed out
    kim_browser.get("/login")
    refused = post_login(kim_browser, NEW_STAFF)
    assert refused.status_code == 401
    post_form(client, admin, f"/admin/users/{kim}/enable")
    sign_in(kim_browser, NEW_STAFF)
    actions = [(e["action"], e["before"], e["after"]) for e in audit_log(db_url, "user.")]
    assert actions == [
        ("user.enable", {"active": False}, {"active": True}),
        ("user.disable", {"active": True}, {"active": False}),
    ]


def test_a_password_reset_ends_the_users_sessions_and_logs_no_secret(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    kims_token = {"Authorization": f"Bearer {add_account(db_url, NEW_STAFF)}"}
    new_password = "a brand new passphrase"
    kim_browser = another_browser(client)
    sign_in(kim_browser, NEW_STAFF)
    assert kim_browser.get("/staff/canned", headers=kims_token).status_code == 200
    kim = user_id(db_url, NEW_STAFF)
    reset = post_form(client, admin, f"/admin/users/{kim}/password", password=new_password)
    assert reset.status_code == 303
    assert kim_browser.get("/account").status_code == 401  # signed out
    integration = another_browser(client)  # and the API token no longer works
    assert integration.get("/staff/canned", headers=kims_token).status_code == 401
    sign_in(kim_browser, NEW_STAFF, new_password)
    (entry,) = audit_log(db_url, "user.password")
    assert entry["target"] == NEW_STAFF
    assert entry["after"] == {"sessions_ended": True, "tokens_revoked": 1}
    assert new_password not in str(entry) and "argon2" not in str(entry)


def test_a_role_change_is_applied_and_audited(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    add_account(db_url, NEW_STAFF)
    kim = user_id(db_url, NEW_STAFF)
    changed = post_form(client, admin, f"/admin/users/{kim}/role", role="admin")
    assert "kim@staff.example is now admin." in client.get(changed.headers["location"]).text
    kim_browser = another_browser(client)
    sign_in(kim_browser, NEW_STAFF)
    assert kim_browser.get("/admin/users").status_code == 200
    (entry,) = audit_log(db_url, "user.role")
    assert (entry["before"], entry["after"]) == ({"role": "staff"}, {"role": "admin"})


def test_an_admin_cannot_disable_or_demote_themselves_or_reset_their_own_password(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    me = user_id(db_url, ADMIN_EMAIL)
    disable = post_form(client, admin, f"/admin/users/{me}/disable")
    assert disable.status_code == 422 and "You cannot disable your own account." in disable.text
    demote = post_form(client, admin, f"/admin/users/{me}/role", role="staff")
    assert demote.status_code == 422 and "You cannot remove your own admin role." in demote.text
    reset = post_form(client, admin, f"/admin/users/{me}/password", password="another passphrase")
    assert reset.status_code == 422 and "on the Account page" in reset.text
    assert client.get("/admin/users").status_code == 200  # still signed in, still an admin
    assert audit_log(db_url) == []


def test_an_unknown_user_is_404(client: TestClient, admin: Staff) -> None:
    assert post_form(client, admin, "/admin/users/999/disable").status_code == 404
