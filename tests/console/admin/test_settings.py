"""Settings in the admin console (chatbot/console/admin/settings.py): they apply from the next
message, refusals are named by field, and nothing unchanged is written."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatbot.db import app_settings
from tests.api.conftest import (
    ADMIN_EMAIL,
    OFF_TOPIC,
    RETURNS_QUESTION,
    Customer,
    Staff,
    ask,
    audit_log,
    in_database,
    post_form,
    start_conversation,
)


def test_a_higher_answer_threshold_applies_to_the_very_next_message(
    client: TestClient, customer: Customer, admin: Staff, db_url: str
) -> None:
    assert ask(client, customer, RETURNS_QUESTION)["action"] == "answer"
    saved = post_form(client, admin, "/admin/settings", answer_threshold="1")
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/settings?saved=1"
    assert ask(client, customer, RETURNS_QUESTION)["action"] == "clarify"
    (entry,) = audit_log(db_url, "settings.")
    assert entry["actor"] == ADMIN_EMAIL
    assert (entry["before"], entry["after"]) == (
        {"answer_threshold": 0.55},
        {"answer_threshold": 1},
    )


def test_a_new_fallback_text_is_said_at_the_next_fallback_and_empty_restores_the_default(
    client: TestClient, customer: Customer, admin: Staff, db_url: str
) -> None:
    built_in = ask(client, customer, OFF_TOPIC)["text"]
    assert built_in.startswith("Sorry, I'm not sure")
    post_form(client, admin, "/admin/settings", fallback_en="  We cannot help with that.  ")
    assert ask(client, customer, OFF_TOPIC)["action"] == "handoff"  # two fallbacks in a row
    other = start_conversation(client)
    assert ask(client, other, OFF_TOPIC)["text"] == "We cannot help with that."
    post_form(client, admin, "/admin/settings", fallback_en="")
    assert in_database(db_url, app_settings.stored) == {}
    again = start_conversation(client)
    assert ask(client, again, OFF_TOPIC)["text"] == built_in


def test_handoff_and_greeting_texts_follow_the_customers_language(
    client: TestClient, customer: Customer, admin: Staff
) -> None:
    post_form(
        client,
        admin,
        "/admin/settings",
        greeting_zh="欢迎光临！",
        handoff_en="A colleague will be with you soon.",
    )
    chinese = start_conversation(client)
    assert ask(client, chinese, "你好")["text"] == "欢迎光临！"
    assert ask(client, customer, "hello")["text"] == "Hello! How can I help you today?"
    assert ask(client, customer, "can I talk to a human")["text"] == (
        "A colleague will be with you soon."
    )
    config = client.get("/api/v1/widget/config", params={"lang": "zh-CN"}).json()
    assert config["greeting"] == "欢迎光临！"


def test_branding_reaches_the_widget_config_the_pages_and_the_console(
    client: TestClient, admin: Staff
) -> None:
    saved = post_form(
        client,
        admin,
        "/admin/settings",
        widget_title="Ask Pine",
        widget_color="#AA3300",
        company_name="Pine & Co",
    )
    assert saved.status_code == 303
    config = client.get("/api/v1/widget/config").json()
    assert (config["title"], config["color"], config["company"]) == (
        "Ask Pine",
        "#AA3300",
        "Pine & Co",
    )
    chat = client.get("/chat").text
    assert "<title>Ask Pine · Pine &amp; Co</title>" in chat
    assert "--accent: #AA3300" in chat
    assert "Pine &amp; Co" in client.get("/").text
    assert "Pine &amp; Co</a>" in client.get("/admin/settings").text  # the console header


def test_bad_values_are_refused_by_field_and_nothing_is_written(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    response = post_form(
        client,
        admin,
        "/admin/settings",
        answer_threshold="0.4",
        clarify_threshold="0.5",
        clarify_margin="lots",
        widget_color="red",
        widget_title=" ",
        greeting_en="hi " * 400,
    )
    assert response.status_code == 422
    page = response.text
    expected = {
        "clarify_threshold": app_settings.CLARIFY_ABOVE_ANSWER,
        "clarify_margin": app_settings.NOT_A_FRACTION,
        "widget_color": app_settings.NOT_A_COLOUR,
        "widget_title": app_settings.EMPTY,
        "greeting_en": app_settings.TEXT_TOO_LONG,
    }
    for field, problem in expected.items():
        assert f'data-testid="error-{field}">{problem}</span>' in page, field
    assert 'data-testid="error-answer_threshold"' not in page
    assert 'value="red"' in page  # the form keeps what was typed
    assert in_database(db_url, app_settings.stored) == {}
    assert in_database(db_url, app_settings.settings_revision) == 0
    assert audit_log(db_url) == []


def test_refusals_are_translated_for_chinese_admins(client: TestClient, admin: Staff) -> None:
    client.cookies.set("chatbot_lang", "zh")
    response = post_form(client, admin, "/admin/settings", widget_color="blue")
    assert response.status_code == 422
    assert "请输入 #rrggbb 格式的颜色" in response.text


def test_saving_unchanged_settings_writes_nothing(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    form = client.get("/admin/settings").text
    assert 'name="answer_threshold" value="0.55"' in form
    post_form(
        client, admin, "/admin/settings", answer_threshold="0.55", widget_title="Chat with us"
    )
    assert in_database(db_url, app_settings.settings_revision) == 0
    assert audit_log(db_url) == []
