"""The account page (chatbot/console/account.py): one's own password and API tokens."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import (
    JSON,
    PASSWORD,
    STAFF_EMAIL,
    Staff,
    another_browser,
    sign_in,
)


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
