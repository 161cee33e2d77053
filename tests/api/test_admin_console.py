"""The admin console: settings that apply without a restart, user accounts, the audit log, and
audit records of the admin API."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient

from chatbot.cli import main
from chatbot.config import get_settings
from chatbot.db import app_settings, audit
from chatbot.db.model_versions import register_version
from chatbot.db.models import AuditEntry
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.db.training_runs import create_run
from tests.api.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    XSS,
    Customer,
    Staff,
    add_account,
    another_browser,
    post_login,
    sign_in,
    start_conversation,
)

T = TypeVar("T")
RETURNS_QUESTION = "How do I return an item?"  # answered outright with the default thresholds
OFF_TOPIC = "do you offer gift wrapping"  # matches nothing: the bot falls back
NEW_STAFF = "kim@staff.example"


def in_database(db_url: str, work: Callable[[Any], T]) -> T:
    """Read or write through a session of its own, committed, as another process would."""
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return work(session)
    finally:
        engine.dispose()


def audit_log(db_url: str, action: str = "") -> list[dict[str, Any]]:
    return in_database(
        db_url,
        lambda session: [
            {"actor": e.actor, "action": e.action, "target": e.target}
            | {"before": e.before, "after": e.after}
            for e in audit.list_entries(session, action=action or None)
        ],
    )


def post_form(client: TestClient, admin: Staff, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": admin.csrf, **fields}, follow_redirects=False)


def ask(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["reply"]
    return reply


def user_id(db_url: str, email: str) -> int:
    from chatbot.db.accounts import get_user_by_email

    def find(session: Any) -> int:
        user = get_user_by_email(session, email)
        assert user is not None
        return user.id

    return in_database(db_url, find)


# ---- landing page


def test_the_landing_page_links_every_admin_area(client: TestClient, admin: Staff) -> None:
    page = client.get("/admin")
    assert page.status_code == 200
    for path in ("knowledge", "training", "models", "settings", "users", "audit"):
        assert f'href="/admin/{path}"' in page.text


# ---- settings


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


# ---- users


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


# ---- the audit log page


def test_the_audit_log_filters_pages_and_escapes(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    def fill(session: Any) -> None:
        for n in range(55):
            audit.record(session, "bo@admin.example", "intent.update", f"intent {n}")
        audit.record(session, None, "model.activate", XSS, before={"note": XSS})

    in_database(db_url, fill)
    page = client.get("/admin/audit").text
    assert page.count('data-testid="audit-entry"') == 50
    assert "<script>window.pwned" not in page
    assert "&lt;script&gt;window.pwned" in page  # target and JSON, escaped
    assert page.index("model.activate") < page.index("intent 54")  # newest first
    older = client.get("/admin/audit", params={"action": "intent.", "before": 7}).text
    assert older.count('data-testid="audit-entry"') == 6  # intents 0-5, ids below 7
    only_model = client.get("/admin/audit", params={"action": "model."}).text
    assert only_model.count('data-testid="audit-entry"') == 1
    by_actor = client.get("/admin/audit", params={"actor": "nobody@example.com"}).text
    assert 'data-testid="audit-empty"' in by_actor
    future = client.get("/admin/audit", params={"since": "2999-01-01"}).text
    assert 'data-testid="audit-empty"' in future
    today = client.get("/admin/audit", params={"until": "2999-01-01", "action": "model."}).text
    assert today.count('data-testid="audit-entry"') == 1
    bad = client.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text


def test_the_older_link_continues_where_the_page_ended(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    in_database(
        db_url,
        lambda session: [
            audit.record(session, "x@y.example", "user.role", f"u{n}") for n in range(52)
        ],
    )
    first = client.get("/admin/audit").text
    assert 'data-testid="audit-older"' in first
    second = client.get("/admin/audit", params={"before": 3}).text
    assert second.count('data-testid="audit-entry"') == 2
    assert 'data-testid="audit-older"' not in second


# ---- audit records of the JSON admin API


def test_activating_a_model_over_the_api_is_audited_with_the_previous_version(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    previous = client.get("/api/v1/admin/models", headers=admin.token_headers).json()[0]
    in_database(
        db_url,
        lambda session: register_version(
            session, version="ft-next", kind="fine-tuned", base_model="x", status="ready"
        ),
    )
    response = client.post("/api/v1/admin/models/ft-next/activate", headers=admin.token_headers)
    assert response.status_code == 200
    (entry,) = audit_log(db_url, "model.")
    assert entry == {
        "actor": ADMIN_EMAIL,
        "action": "model.activate",
        "target": "ft-next",
        "before": {"active": previous["version"]},
        "after": {"active": "ft-next"},
    }


@pytest.mark.model
def test_starting_training_over_the_api_is_audited(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    started = client.post(
        "/api/v1/admin/training", json={"epochs": 1, "device": "cpu"}, headers=admin.token_headers
    )
    assert started.status_code == 202
    run_id = started.json()["id"]
    # Stop it at once: this test is about the record, not the training.
    client.post(f"/api/v1/admin/training/{run_id}/cancel", headers=admin.token_headers)
    (entry,) = audit_log(db_url, "training.start")
    assert entry == {
        "actor": ADMIN_EMAIL,
        "action": "training.start",
        "target": f"training run {run_id}",
        "before": None,
        "after": {"epochs": 1, "device": "cpu", "activate": False},
    }
    deadline = time.monotonic() + 120
    while client.get(f"/api/v1/admin/training/{run_id}", headers=admin.token_headers).json()[
        "status"
    ] not in ("cancelled", "failed", "succeeded"):
        assert time.monotonic() < deadline, "the cancelled run did not stop"
        time.sleep(0.1)


def test_cancelling_a_training_run_is_audited(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    run_id = in_database(db_url, lambda session: create_run(session, config={}, device="cpu").id)
    response = client.post(f"/api/v1/admin/training/{run_id}/cancel", headers=admin.headers)
    assert response.status_code == 200
    (entry,) = audit_log(db_url, "training.")
    assert (entry["action"], entry["target"], entry["actor"]) == (
        "training.cancel",
        f"training run {run_id}",
        ADMIN_EMAIL,
    )
    assert (entry["before"]["status"], entry["after"]["status"]) == ("queued", "cancelled")


def test_a_refused_api_call_leaves_no_audit_record(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    response = client.post("/api/v1/admin/models/ft-nope/activate", headers=admin.token_headers)
    assert response.status_code == 404
    assert in_database(db_url, lambda session: session.query(AuditEntry).count()) == 0


def test_activating_a_model_from_the_command_line_is_audited_without_an_actor(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    in_database(
        db_url,
        lambda session: register_version(
            session, version="ft-cli", kind="fine-tuned", base_model="x", status="ready"
        ),
    )
    try:
        assert main(["models", "activate", "ft-cli"]) == 0
    finally:
        get_settings.cache_clear()
    assert "ft-cli is now active" in capsys.readouterr().out
    (entry,) = audit_log(db_url, "model.")
    assert (entry["actor"], entry["target"], entry["after"]) == (
        None,
        "ft-cli",
        {"active": "ft-cli"},
    )
