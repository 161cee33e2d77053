"""Related questions over HTTP: an answer's reply and live event carry them, a click on one is
stored and counted on the dashboard (JSON and CSV), a click the answer did not offer is a 422
that stores nothing, and what customers asked next takes the lead once the counts are fresh."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chatbot.config import Settings
from chatbot.db.models import Message
from chatbot.events import conversation_channel
from chatbot.main import create_app
from tests.api.conftest import (
    KNOWLEDGE,
    Customer,
    Staff,
    committed,
    start_conversation,
    store_knowledge,
)
from tests.fakes import HashingEncoder

TODAY = datetime.now(UTC).date().isoformat()
WEEK = {"since": (datetime.now(UTC).date() - timedelta(days=6)).isoformat(), "until": TODAY}


def say(client: TestClient, customer: Customer, text: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        customer.messages_url, json={"text": text, **extra}, headers=customer.headers
    )
    assert response.status_code == 200, response.text
    turn: dict[str, Any] = response.json()
    return turn


def _stored(db_url: str) -> int:
    with committed(db_url) as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def test_an_answer_offers_related_questions_and_a_click_is_counted(
    client: TestClient, customer: Customer, admin: Staff, db_url: str
) -> None:
    answer = say(client, customer, "How long does delivery take?")["reply"]
    assert answer["intent"] == "delivery_time"
    assert [b["intent"] for b in answer["follow_ups"]] == ["returns"]
    offered = answer["related"]
    # Neither the answered intent nor its follow-up; the knowledge base's other two intents.
    assert sorted(b["intent"] for b in offered) == ["refund_time", "wood_care"]
    questions = {"refund_time": "When will I get my refund?", "wood_care": "How do I look after "}
    assert all(b["question"].startswith(questions[b["intent"]]) for b in offered)
    # The transcript shows them again (a reload, a resync).
    history = client.get(customer.messages_url, headers=customer.headers).json()
    assert history["messages"][-1]["related"] == offered

    clicked = offered[0]
    turn = say(
        client, customer, clicked["question"], intent=clicked["intent"], related_to=answer["id"]
    )
    assert turn["reply"]["intent"] == clicked["intent"]
    assert turn["reply"]["related"]  # the clicked question's answer offers its own

    summary = client.get(
        "/api/v1/admin/analytics/summary", params=WEEK, headers=admin.token_headers
    ).json()
    assert (summary["related_offered"], summary["related_clicked"]) == (2, 1)
    assert summary["related_click_rate"] == 0.5
    table = client.get(
        "/api/v1/admin/analytics/related", params=WEEK, headers=admin.token_headers
    ).json()["rows"]
    assert {row["intent"]: (row["offered"], row["clicked"]) for row in table} == {
        "delivery_time": (1, 1),
        clicked["intent"]: (1, 0),
    }
    exported = client.get(
        "/api/v1/admin/analytics/related.csv", params=WEEK, headers=admin.token_headers
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["intent"], r["offered"], r["clicked"], r["click_rate"]) for r in rows} == {
        ("delivery_time", "1", "1", "1.0"),
        (clicked["intent"], "1", "0", "0.0"),
    }
    page = client.get("/admin/analytics", params=WEEK)
    assert page.status_code == 200
    assert 'data-testid="analytics-related"' in page.text
    assert "2 answers offered related questions; 1 were clicked (50%)" in page.text


def test_a_click_the_answer_did_not_offer_is_refused_and_nothing_is_stored(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    answer = say(client, customer, "How long does delivery take?")["reply"]
    other = start_conversation(client)
    elsewhere = say(client, other, "How long does delivery take?")["reply"]
    before = _stored(db_url)
    for body in (
        {"intent": "returns", "related_to": answer["id"]},  # a follow-up, not a related question
        {"intent": "wood_care", "related_to": elsewhere["id"]},  # another conversation's
        {"intent": "wood_care", "related_to": answer["id"] - 1},  # the customer's own message
        {"related_to": answer["id"]},  # no intent
        {"intent": "wood_care", "related_to": 2**31 - 1},
    ):
        response = client.post(
            customer.messages_url, json={"text": "?", **body}, headers=customer.headers
        )
        assert response.status_code == 422, (body, response.text)
        assert "related_to" in response.text
    for bad in (0, -1, 2**31, "x"):
        response = client.post(
            customer.messages_url,
            json={"text": "?", "intent": "wood_care", "related_to": bad},
            headers=customer.headers,
        )
        assert response.status_code == 422, bad
    assert _stored(db_url) == before


def test_the_live_event_carries_the_related_questions(
    client: TestClient, customer: Customer
) -> None:
    with client.websocket_connect(f"/api/v1/conversations/{customer.id}/ws") as websocket:
        websocket.send_json({"token": customer.token})
        bus = client.app.state.bus  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while bus.subscriber_count(conversation_channel(customer.id)) != 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        turn = say(client, customer, "How long does delivery take?")
        websocket.receive_json()  # the customer's message
        event = websocket.receive_json()
    assert event["message"]["id"] == turn["reply"]["id"]
    assert event["message"]["related"] == turn["reply"]["related"] != []


def test_what_customers_asked_next_leads_once_counted(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    """Nearest first while nothing is learnt; after conversations where delivery was followed by
    wood care (five, the default minimum) and a recount, wood care leads."""
    first = say(client, customer, "How long does delivery take?")["reply"]["related"]
    assert first[0]["intent"] == "refund_time"  # the nearest ("how long ... take")
    for _ in range(5):
        someone = start_conversation(client)
        say(client, someone, "How long does delivery take?")
        assert say(client, someone, "How do I look after oiled oak?")["reply"]["intent"] == (
            "wood_care"
        )
    manager = client.app.state.manager  # type: ignore[attr-defined]
    # Not yet counted: turns never query the history; the background recount does.
    assert say(client, customer, "How long does delivery take?")["reply"]["related"] == first
    with committed(db_url) as session:
        manager.related.refresh(session)
    again = say(client, customer, "How long does delivery take?")["reply"]["related"]
    assert [b["intent"] for b in again] == ["wood_care", "refund_time"]


def test_each_server_counts_again_in_the_background(db_url: str, tmp_path: Path) -> None:
    """With a short CHATBOT_RELATED_REFRESH_SECONDS, what customers asked next reaches the
    replies by itself."""
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path,
        related_min_count=1,
        related_refresh_seconds=0.1,
        model_check_seconds=0.05,
    )
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        customer = start_conversation(client)
        say(client, customer, "How long does delivery take?")
        say(client, customer, "How do I look after oiled oak?")
        deadline = time.monotonic() + 10
        while True:
            other = start_conversation(client)
            related = say(client, other, "How long does delivery take?")["reply"]["related"]
            if related[0]["intent"] == "wood_care":
                break
            assert time.monotonic() < deadline, related
            time.sleep(0.1)
