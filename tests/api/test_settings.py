"""Run-time settings over the API (/api/v1/admin/settings) with an admin API token only: they
apply from the next message, refused fields are named and nothing is written, and each real
change is audited as the console's form audits it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from chatbot.db import app_settings
from tests.api.conftest import (
    ADMIN_EMAIL,
    OFF_TOPIC,
    RETURNS_QUESTION,
    STAFF_EMAIL,
    Customer,
    add_account,
    ask,
    audit_log,
    in_database,
    sign_in,
    start_conversation,
)
from tests.api.test_users import bearer

SETTINGS = "/api/v1/admin/settings"


@pytest.fixture
def admin_token(db_url: str) -> dict[str, str]:
    return bearer(add_account(db_url, ADMIN_EMAIL, "admin"))


def test_reading_shows_the_values_their_defaults_and_the_revision(
    client: TestClient, admin_token: dict[str, str]
) -> None:
    shown = client.get(SETTINGS, headers=admin_token).json()
    assert shown["values"]["answer_threshold"] == shown["defaults"]["answer_threshold"] == 0.55
    assert shown["values"]["greeting_en"] == "" and shown["revision"] == 0


def test_a_change_applies_to_the_next_message_and_is_audited(
    client: TestClient, customer: Customer, admin_token: dict[str, str], db_url: str
) -> None:
    assert ask(client, customer, RETURNS_QUESTION)["action"] == "answer"
    saved = client.patch(SETTINGS, json={"answer_threshold": 1}, headers=admin_token)
    assert saved.status_code == 200, saved.text
    assert saved.json()["values"]["answer_threshold"] == 1 and saved.json()["revision"] == 1
    assert ask(client, customer, RETURNS_QUESTION)["action"] == "clarify"
    (entry,) = audit_log(db_url, "settings.")
    assert (entry["actor"], entry["before"], entry["after"]) == (
        ADMIN_EMAIL,
        {"answer_threshold": 0.55},
        {"answer_threshold": 1},
    )


def test_an_empty_text_restores_the_built_in_one(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    client.patch(SETTINGS, json={"fallback_en": "We cannot help with that."}, headers=admin_token)
    customer = start_conversation(client)
    assert ask(client, customer, OFF_TOPIC)["text"] == "We cannot help with that."
    restored = client.patch(SETTINGS, json={"fallback_en": ""}, headers=admin_token)
    assert restored.json()["values"]["fallback_en"] == ""
    assert in_database(db_url, app_settings.stored) == {}


def test_refused_values_are_422_naming_each_field_and_nothing_is_written(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    refused = client.patch(
        SETTINGS,
        json={
            "answer_threshold": 0.4,
            "clarify_threshold": 0.5,
            "widget_color": "red",
            "greeting_en": "nul \x00 byte",
            "no_such_setting": 1,
        },
        headers=admin_token,
    )
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    for field, problem in {
        "clarify_threshold": app_settings.CLARIFY_ABOVE_ANSWER,
        "widget_color": app_settings.NOT_A_COLOUR,
        "greeting_en": app_settings.CONTROL_CHARACTERS,
        "no_such_setting": app_settings.UNKNOWN,
    }.items():
        assert f"{field}: {problem}" in detail, field
    assert "answer_threshold" not in detail
    assert in_database(db_url, app_settings.stored) == {}
    assert in_database(db_url, app_settings.settings_revision) == 0
    assert audit_log(db_url) == []
    not_an_object = client.patch(SETTINGS, json=["answer_threshold"], headers=admin_token)
    assert not_an_object.status_code == 422


def test_an_unchanged_value_writes_nothing(
    client: TestClient, admin_token: dict[str, str], db_url: str
) -> None:
    same = client.patch(SETTINGS, json={"answer_threshold": 0.55}, headers=admin_token)
    assert same.status_code == 200 and same.json()["revision"] == 0
    assert audit_log(db_url) == []


def test_staff_tokens_are_refused(client: TestClient, db_url: str) -> None:
    staff = bearer(add_account(db_url, STAFF_EMAIL))
    assert client.get(SETTINGS, headers=staff).status_code == 403
    assert client.patch(SETTINGS, json={"answer_threshold": 1}, headers=staff).status_code == 403


def test_a_cookie_session_without_the_csrf_token_changes_nothing(
    client: TestClient, db_url: str
) -> None:
    add_account(db_url, ADMIN_EMAIL, "admin")
    sign_in(client, ADMIN_EMAIL)
    refused = client.patch(SETTINGS, json={"answer_threshold": 1})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get(SETTINGS).json()["revision"] == 0
    assert audit_log(db_url) == []
