"""Canned replies over the API (/api/v1/staff/canned) with a staff API token only: the same
validation and audit entries as the console's form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import (
    STAFF_EMAIL,
    add_account,
    audit_log,
    sign_in,
)
from tests.api.test_users import bearer

CANNED = "/api/v1/staff/canned"
REFUND = {"title": "Refund timing", "text": "Refunds take 3-5 working days.", "language": "en"}


@pytest.fixture
def staff_token(db_url: str) -> dict[str, str]:
    return bearer(add_account(db_url, STAFF_EMAIL))


def test_a_staff_token_creates_edits_and_deletes_a_reply(
    client: TestClient, staff_token: dict[str, str], db_url: str
) -> None:
    created = client.post(CANNED, json={**REFUND, "title": "  Refund timing "}, headers=staff_token)
    assert created.status_code == 201, created.text
    reply = created.json()
    assert {k: reply[k] for k in REFUND} == REFUND and reply["updated_by"] == STAFF_EMAIL
    assert client.get(CANNED, headers=staff_token).json() == [reply]
    assert client.get(f"{CANNED}/{reply['id']}", headers=staff_token).json() == reply
    edited = client.patch(
        f"{CANNED}/{reply['id']}", json={"text": "Refunds take a week."}, headers=staff_token
    )
    assert edited.status_code == 200
    assert (edited.json()["title"], edited.json()["text"]) == (
        "Refund timing",
        "Refunds take a week.",
    )
    anywhere = client.patch(f"{CANNED}/{reply['id']}", json={"language": None}, headers=staff_token)
    assert anywhere.json()["language"] is None
    assert client.delete(f"{CANNED}/{reply['id']}", headers=staff_token).status_code == 204
    assert client.get(CANNED, headers=staff_token).json() == []
    entries = [(e["actor"], e["action"], e["target"]) for e in reversed(audit_log(db_url))]
    target = str(reply["id"])
    assert entries == [
        (STAFF_EMAIL, "canned.create", target),
        (STAFF_EMAIL, "canned.update", target),
        (STAFF_EMAIL, "canned.update", target),
        (STAFF_EMAIL, "canned.delete", target),
    ]
    first_edit = audit_log(db_url, "canned.update")[-1]
    assert first_edit["before"]["text"] == REFUND["text"]
    assert first_edit["after"]["text"] == "Refunds take a week."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": " ", "text": "ok"}, "title"),
        ({"title": "x" * 101, "text": "ok"}, "title"),
        ({"title": "ok", "text": "y" * 2001}, "text"),
        ({"title": "ok", "text": "nul \x00 byte"}, "text"),
        ({"title": "ok", "text": "ok", "language": "x" * 17}, "language"),
        ({"text": "ok"}, "title"),
    ],
)
def test_bad_replies_are_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, staff_token: dict[str, str], db_url: str, body: dict[str, str], field: str
) -> None:
    refused = client.post(CANNED, json=body, headers=staff_token)
    assert refused.status_code == 422, refused.text
    assert field in str(refused.json()["detail"])
    assert client.get(CANNED, headers=staff_token).json() == []
    assert audit_log(db_url) == []


def test_a_refused_edit_keeps_the_reply(
    client: TestClient, staff_token: dict[str, str], db_url: str
) -> None:
    reply = client.post(CANNED, json=REFUND, headers=staff_token).json()
    refused = client.patch(f"{CANNED}/{reply['id']}", json={"title": ""}, headers=staff_token)
    assert refused.status_code == 422 and refused.json()["detail"].startswith("title: ")
    assert client.get(f"{CANNED}/{reply['id']}", headers=staff_token).json() == reply
    assert [e["action"] for e in audit_log(db_url)] == ["canned.create"]


def test_unknown_replies_are_404(client: TestClient, staff_token: dict[str, str]) -> None:
    assert client.get(f"{CANNED}/999", headers=staff_token).status_code == 404
    assert client.patch(f"{CANNED}/999", json={}, headers=staff_token).status_code == 404
    assert client.delete(f"{CANNED}/999", headers=staff_token).status_code == 404


def test_a_cookie_session_without_the_csrf_token_changes_nothing(
    client: TestClient, staff_token: dict[str, str], db_url: str
) -> None:
    reply = client.post(CANNED, json=REFUND, headers=staff_token).json()
    sign_in(client, STAFF_EMAIL)
    writes = [
        client.post(CANNED, json=REFUND),
        client.patch(f"{CANNED}/{reply['id']}", json={"text": "changed"}),
        client.delete(f"{CANNED}/{reply['id']}"),
    ]
    assert [response.status_code for response in writes] == [403, 403, 403]
    assert all("CSRF" in response.json()["detail"] for response in writes)
    assert client.get(CANNED).json() == [reply]
    assert [e["action"] for e in audit_log(db_url)] == ["canned.create"]
