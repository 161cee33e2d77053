"""The analytics dashboard over HTTP: who may see it, what bad periods get, and that its figures,
JSON and CSV, equal direct counts of what customers did through the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.db.models import Conversation, Message, Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.api.conftest import Staff, start_conversation

TODAY = datetime.now(UTC).date().isoformat()
WEEK = {"since": (datetime.now(UTC).date() - timedelta(days=6)).isoformat(), "until": TODAY}


def _talk(client: TestClient) -> None:
    """Four customers: answered and thanked, one unsure, two who end with a person."""
    happy = start_conversation(client)
    reply = client.post(
        happy.messages_url, json={"text": "How do I return an item?"}, headers=happy.headers
    )
    assert reply.json()["reply"]["intent"] == "returns"
    client.post(
        f"/api/v1/messages/{reply.json()['reply']['id']}/feedback",
        json={"helpful": True},
        headers=happy.headers,
    )
    unsure = start_conversation(client)
    client.post(unsure.messages_url, json={"text": "how long will it take"}, headers=unsure.headers)
    lost = start_conversation(client)
    for text in ("do you offer gift wrapping", "zebra quantum tambourine"):
        client.post(lost.messages_url, json={"text": text}, headers=lost.headers)
    impatient = start_conversation(client)
    client.post(f"/api/v1/conversations/{impatient.id}/handoff", headers=impatient.headers)


def _direct(db_url: str) -> tuple[list[Conversation], list[Message]]:
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            conversations = list(session.scalars(select(Conversation)))
            messages = list(session.scalars(select(Message)))
            session.expunge_all()
    finally:
        engine.dispose()
    return conversations, messages


def test_the_summary_equals_direct_counts(client: TestClient, admin: Staff, db_url: str) -> None:
    _talk(client)
    summary = client.get(
        "/api/v1/admin/analytics/summary", params=WEEK, headers=admin.token_headers
    )
    assert summary.status_code == 200, summary.text
    figures = summary.json()
    conversations, messages = _direct(db_url)
    bot = [m for m in messages if m.role is Role.BOT]
    assert figures["conversations"] == len(conversations) == 4
    assert figures["messages"] == sum(m.role is not Role.SYSTEM for m in messages)
    assert figures["bot_replies"] == len(bot)
    handed_off = [c for c in conversations if c.handed_off_at is not None]
    assert figures["handoff_rate"] == pytest.approx(len(handed_off) / 4, abs=1e-4) and handed_off
    fallbacks = sum(m.action == "fallback" for m in bot)
    assert figures["fallback_rate"] == pytest.approx(fallbacks / len(bot), abs=1e-4)
    clarifications = sum(m.action == "clarify" for m in bot)
    assert figures["clarification_rate"] == pytest.approx(clarifications / len(bot), abs=1e-4)
    assert clarifications and fallbacks
    assert figures["helpful_rate"] == 1.0
    assert figures["containment_rate"] == 0.0  # nobody has ended yet: none is contained
    assert figures["top_intents"] == [{"intent": "returns", "count": 1}]
    assert figures["latency_ms_p50"] is not None

    handoffs = client.get(
        "/api/v1/admin/analytics/handoffs", params=WEEK, headers=admin.token_headers
    )
    reasons = {row["reason"]: row["handoffs"] for row in handoffs.json()["rows"]}
    assert reasons == {"asked": 1, "low_confidence": 0, "repeated_fallback": 1, "unrecorded": 0}
    assert reasons["asked"] + reasons["repeated_fallback"] == sum(
        m.action == "handoff" for m in bot
    )


def test_every_table_as_json_and_csv(client: TestClient, admin: Staff) -> None:
    _talk(client)
    for table in ("daily", "models", "daily_by_model", "handoffs", "intents", "worst_intents",
                  "hours", "satisfaction", "latency", "related"):  # fmt: skip
        answer = client.get(
            f"/api/v1/admin/analytics/{table}", params=WEEK, headers=admin.token_headers
        )
        assert answer.status_code == 200, (table, answer.text)
        rows = answer.json()["rows"]
        exported = client.get(
            f"/api/v1/admin/analytics/{table}.csv", params=WEEK, headers=admin.token_headers
        )
        assert exported.status_code == 200 and exported.headers["content-type"].startswith(
            "text/csv"
        )
        assert len(list(csv.reader(io.StringIO(exported.text)))) == len(rows) + 1  # a header line
    daily = client.get("/api/v1/admin/analytics/daily", params=WEEK, headers=admin.token_headers)
    days = daily.json()["rows"]
    assert len(days) == 7 and days[-1]["day"] == TODAY and days[-1]["conversations"] == 4
    hours = client.get("/api/v1/admin/analytics/hours", params=WEEK, headers=admin.token_headers)
    assert sum(row["customer_messages"] for row in hours.json()["rows"]) == 4


def test_csv_defuses_spreadsheet_formulas(client: TestClient, admin: Staff, db_url: str) -> None:
    customer = start_conversation(client)
    client.post(
        customer.messages_url, json={"text": "How do I return an item?"}, headers=customer.headers
    )
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            for message in session.scalars(select(Message).where(Message.role == Role.BOT)):
                message.intent = '=HYPERLINK("http://evil.example","x")'
    finally:
        engine.dispose()
    exported = client.get(
        "/api/v1/admin/analytics/intents.csv", params=WEEK, headers=admin.token_headers
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "intent" and rows[1][0].startswith("'=HYPERLINK")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"since": "2026-13-01"}, "since: '2026-13-01' is not a date"),
        ({"until": "yesterday"}, "until: 'yesterday' is not a date"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "since: must be before until"),
        ({"since": "2024-01-01", "until": "2026-01-01"}, "at most 366"),
        ({"language": "fr"}, "language: 'fr' is not one of all, en, zh"),
    ],
)
def test_bad_periods_are_422_naming_the_parameter(
    client: TestClient, admin: Staff, params: dict[str, str], problem: str
) -> None:
    for path in ("/api/v1/admin/analytics/summary", "/api/v1/admin/analytics/daily.csv"):
        answer = client.get(path, params=params, headers=admin.token_headers)
        assert answer.status_code == 422 and problem in answer.json()["detail"], answer.text
    page = client.get("/admin/analytics", params=params)
    assert page.status_code == 422 and 'data-testid="analytics-error"' in page.text


def test_an_unknown_table_is_422(client: TestClient, admin: Staff) -> None:
    assert (
        client.get("/api/v1/admin/analytics/nope", headers=admin.token_headers).status_code == 422
    )


def test_only_admins_see_analytics(client: TestClient, staff: Staff) -> None:
    assert (
        client.get("/api/v1/admin/analytics/summary", headers=staff.token_headers).status_code
        == 403
    )
    assert client.get("/admin/analytics", follow_redirects=False).status_code == 403
    client.cookies.clear()
    assert client.get("/api/v1/admin/analytics/summary").status_code == 401
