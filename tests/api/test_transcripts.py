"""The transcript list and a conversation's verdicts over the API (/api/v1/staff/conversations)
with a staff API token only: the console's filters, keyset pages, and 422 naming a bad filter."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import (
    STAFF_EMAIL,
    Customer,
    add_account,
    ask,
    start_conversation,
)
from tests.api.test_users import bearer

CONVERSATIONS = "/api/v1/staff/conversations"


@pytest.fixture
def staff_token(db_url: str) -> dict[str, str]:
    return bearer(add_account(db_url, STAFF_EMAIL))


def listed(client: TestClient, token: dict[str, str], **params: str) -> list[str]:
    response = client.get(CONVERSATIONS, params=params, headers=token)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["conversations"]]


def test_conversations_are_listed_newest_first_and_filtered_as_the_console_does(
    client: TestClient, staff_token: dict[str, str]
) -> None:
    returns, gifts = start_conversation(client), start_conversation(client)
    ask(client, returns, "How do I return an item?")
    ask(client, gifts, "do you offer gift wrapping")  # the bot falls back
    assert listed(client, staff_token) == [gifts.id, returns.id]
    assert listed(client, staff_token, q="return") == [returns.id]
    assert listed(client, staff_token, fallback="yes") == [gifts.id]
    row = client.get(CONVERSATIONS, params={"q": "return"}, headers=staff_token).json()
    [summary] = row["conversations"]
    assert summary["preview"] == "How do I return an item?" and summary["message_count"] == 2
    assert (summary["status"], summary["mood"], summary["labels"]) == ("bot", "neutral", [])
    assert row["older"] is None


def test_pages_continue_where_the_last_one_ended(
    client: TestClient, staff_token: dict[str, str]
) -> None:
    started = [start_conversation(client) for _ in range(3)]
    for customer in started:
        ask(client, customer, "hello")
    first = client.get(CONVERSATIONS, params={"limit": 2}, headers=staff_token).json()
    assert len(first["conversations"]) == 2 and first["older"] is not None
    rest = client.get(
        CONVERSATIONS, params={"limit": 2, **first["older"]}, headers=staff_token
    ).json()
    seen = [row["id"] for row in first["conversations"] + rest["conversations"]]
    assert sorted(seen) == sorted(customer.id for customer in started)
    assert rest["older"] is None


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "yesterday"}, "from"),
        ({"min_confidence": "2"}, "min_confidence"),
        ({"status": "lost"}, "status"),
        ({"intent": "bad\x01"}, "intent"),
        ({"before": "not a time", "before_id": "abc"}, "before"),
        ({"fallback": "maybe"}, "fallback"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_an_unreadable_filter_is_422_naming_it(
    client: TestClient, staff_token: dict[str, str], params: dict[str, str], named: str
) -> None:
    response = client.get(CONVERSATIONS, params=params, headers=staff_token)
    assert response.status_code == 422
    assert named in str(response.json()["detail"])


def test_a_conversations_verdicts_are_listed(
    client: TestClient, customer: Customer, staff_token: dict[str, str]
) -> None:
    assert (
        client.get(f"{CONVERSATIONS}/{customer.id}/corrections", headers=staff_token).json() == []
    )
    reply = ask(client, customer, "How do I return an item?")
    marked = client.post(
        f"/api/v1/staff/messages/{reply['id']}/correction",
        json={"verdict": "wrong", "intent": "refund_time"},
        headers=staff_token,
    )
    assert marked.status_code == 200, marked.text
    verdicts = client.get(f"{CONVERSATIONS}/{customer.id}/corrections", headers=staff_token)
    assert verdicts.json() == [marked.json()]
    missing = client.get(f"{CONVERSATIONS}/no-such-id/corrections", headers=staff_token)
    assert missing.status_code == 404
