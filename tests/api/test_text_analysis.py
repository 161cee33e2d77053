"""Text analysis over HTTP: the frustration signal and its setting, the sentiment filter and what
the transcript page and the analytics dashboard show, each checked against the stored messages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.conversation import builtins
from chatbot.db import app_settings
from chatbot.db.models import Message, Role
from tests.api.conftest import Customer, Staff, committed, start_conversation

TODAY = datetime.now(UTC).date().isoformat()
WEEK = {"since": (datetime.now(UTC).date() - timedelta(days=6)).isoformat(), "until": TODAY}
# Questions the test knowledge base answers, asked angrily, calmly and gladly.
ANGRY = ("This is terrible. How do I return an item?", "Ridiculous! What is your returns policy?")
CALM = ("How do I return an item?", "What is your returns policy?")
GLAD = ("Thanks, great service! How do I return an item?",)


def ask(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["reply"]
    return reply


def offers_a_person(reply: dict[str, Any]) -> bool:
    buttons = [button["intent"] for button in reply["suggestions"]]
    return builtins.HUMAN in buttons and builtins.FRUSTRATED["en"] in reply["text"]


def stored_customer_messages(db_url: str) -> list[Message]:
    with committed(db_url) as session:
        messages = list(
            session.scalars(
                select(Message).where(Message.role == Role.CUSTOMER).order_by(Message.id)
            )
        )
        session.expunge_all()
    return messages


def test_two_negative_messages_make_the_bot_offer_a_person(
    client: TestClient, customer: Customer
) -> None:
    first = ask(client, customer, ANGRY[0])
    assert first["action"] == "answer" and not offers_a_person(first)
    second = ask(client, customer, ANGRY[1])
    assert second["action"] == "answer" and second["intent"] == "returns"
    assert offers_a_person(second)
    calm = start_conversation(client)
    for text in CALM:
        reply = ask(client, calm, text)
        assert reply["action"] == "answer" and not offers_a_person(reply)


def test_with_the_setting_off_the_bot_does_not_offer_a_person(
    client: TestClient, customer: Customer, admin: Staff, db_url: str
) -> None:
    saved = client.post(
        "/admin/settings",
        data={"csrf_token": admin.csrf, "offer_person_when_frustrated": "off"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with committed(db_url) as session:
        assert app_settings.stored(session) == {"offer_person_when_frustrated": False}
    for text in ANGRY:
        reply = ask(client, customer, text)
        assert reply["action"] == "answer" and not offers_a_person(reply)
    page = client.get("/admin/settings")
    assert re.search(r'<option value="off"\s+selected>', page.text)


def test_a_bad_setting_value_is_refused_and_nothing_is_stored(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    refused = client.post(
        "/admin/settings",
        data={"csrf_token": admin.csrf, "offer_person_when_frustrated": "maybe"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert 'data-testid="error-offer_person_when_frustrated"' in refused.text
    assert app_settings.NOT_ON_OFF in refused.text
    with committed(db_url) as session:
        assert app_settings.stored(session) == {}


@pytest.fixture
def moods(client: TestClient) -> Iterator[dict[str, Customer]]:
    """Three customers: an angry one, a calm one, a glad one."""
    customers = {mood: start_conversation(client) for mood in ("negative", "neutral", "positive")}
    ask(client, customers["negative"], ANGRY[0])
    ask(client, customers["negative"], CALM[0])
    ask(client, customers["neutral"], CALM[0])
    ask(client, customers["positive"], GLAD[0])
    yield customers


def _listed(client: TestClient, **params: str) -> set[str]:
    page = client.get("/staff", params=params)
    assert page.status_code == 200
    return set(re.findall(r'data-conversation-id="([^"]+)"', page.text))


def test_the_transcript_list_filters_by_the_customers_mood(
    client: TestClient, staff: Staff, moods: dict[str, Customer], db_url: str
) -> None:
    everyone = {customer.id for customer in moods.values()}
    assert _listed(client) == everyone
    for mood, customer in moods.items():
        assert _listed(client, sentiment=mood) == {customer.id}, mood
    # What the filter reads is what was stored with each message.
    stored = stored_customer_messages(db_url)
    negative = {m.conversation_id for m in stored if m.sentiment == "negative"}
    assert negative == {moods["negative"].id}
    exported = client.get("/staff/export.csv", params={"sentiment": "negative"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["conversation_id"] for row in rows} == negative
    customer_rows = [row for row in rows if row["role"] == "customer"]
    assert [row["sentiment"] for row in customer_rows] == ["negative", "neutral"]
    assert float(customer_rows[0]["sentiment_score"]) < 0


def test_a_bad_mood_is_named_and_ignored(
    client: TestClient, staff: Staff, moods: dict[str, Customer]
) -> None:
    page = client.get("/staff", params={"sentiment": "furious"})
    assert page.status_code == 200
    assert (
        "sentiment: expected one of negative, neutral, positive, got &#39;furious&#39;" in page.text
    )
    assert set(re.findall(r'data-conversation-id="([^"]+)"', page.text)) == {
        customer.id for customer in moods.values()
    }
    assert client.get("/staff/export.csv", params={"sentiment": "furious"}).status_code == 422


def test_the_transcript_page_shows_each_messages_sentiment_and_the_keywords(
    client: TestClient, staff: Staff, moods: dict[str, Customer], db_url: str
) -> None:
    conversation = moods["negative"].id
    page = client.get(f"/staff/conversations/{conversation}")
    assert page.status_code == 200
    shown = re.findall(r'data-testid="sentiment" data-sentiment="(\w+)"', page.text)
    stored = [m for m in stored_customer_messages(db_url) if m.conversation_id == conversation]
    assert shown == [m.sentiment for m in stored] == ["negative", "neutral"]
    found = re.findall(r'data-testid="keyword" data-count="(\d+)">([^<]+)</span>', page.text)
    keywords = {word.split(" ×")[0]: int(count) for count, word in found}
    # "how", "do", "is" are stop words; a word counts once per message.
    assert keywords == {"return": 2, "item": 2, "terrible": 1}
    assert ">return ×2</span>" in page.text
    assert "1 negative, 0 positive" in page.text


def test_the_analytics_keywords_and_moods_equal_direct_counts(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    conversations = [
        ["My refund is late", "Still no refund. Terrible."],  # refund: one conversation
        ["Refund please, the parcel arrived broken"],
        ["Where is my parcel?"],
        ["退款什么时候到账"],
        ["退款太慢了"],
        ["沙发有划痕", "谢谢，很满意"],
    ]
    for texts in conversations:
        customer = start_conversation(client)
        for text in texts:
            ask(client, customer, text)
    answer = client.get(
        "/api/v1/admin/analytics/keywords", params=WEEK, headers=admin.token_headers
    )
    assert answer.status_code == 200, answer.text
    figures = {row["keyword"]: row["conversations"] for row in answer.json()["rows"]}
    stored = stored_customer_messages(db_url)
    # Counted directly: conversations whose customer messages hold the word.
    for word in ("refund", "parcel", "退款", "沙发"):
        direct = len({m.conversation_id for m in stored if word in m.text.lower()})
        assert figures[word] == direct == (1 if word == "沙发" else 2), word

    moods = client.get("/api/v1/admin/analytics/moods", params=WEEK, headers=admin.token_headers)
    counts = {row["mood"]: row["conversations"] for row in moods.json()["rows"]}
    by_conversation: dict[str, set[str | None]] = {}
    for message in stored:
        by_conversation.setdefault(message.conversation_id, set()).add(message.sentiment)
    direct_moods = [
        "negative" if "negative" in seen else "positive" if "positive" in seen else "neutral"
        for seen in by_conversation.values()
    ]
    assert counts == {
        mood: direct_moods.count(mood) for mood in ("negative", "neutral", "positive")
    }
    assert sum(counts.values()) == 6 and counts["negative"] >= 2 and counts["positive"] == 1
    page = client.get("/admin/analytics", params=WEEK)
    assert 'data-testid="analytics-moods"' in page.text
    assert '<th scope="row">退款</th>' in page.text
