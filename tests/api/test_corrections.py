"""Staff verdicts on the bot's turns (chatbot/api/corrections.py,
POST /api/v1/staff/messages/{id}/correction) and how the transcript page shows them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.db.models import Correction
from tests.api.conftest import Customer, Staff, committed


def bot_turn(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["reply"]
    return reply


def correct(client: TestClient, staff: Staff, message_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/staff/messages/{message_id}/correction", json=body, headers=staff.headers
    )


def stored_corrections(db_url: str) -> list[tuple[int | None, str, str | None, str | None]]:
    with committed(db_url) as session:
        rows = session.scalars(select(Correction).order_by(Correction.id))
        return [(c.message_id, c.text, c.intent, c.created_by) for c in rows]


def test_marking_a_bot_turn_right_stores_the_customer_message_and_the_bots_intent(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    assert reply["intent"] == "returns" and reply["action"] == "answer"
    response = correct(client, staff, reply["id"], verdict="right")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "message_id": reply["id"],
        "verdict": "right",
        "intent": "returns",
        "text": "How do I return an item?",
        "created_by": "sam@staff.example",
    }
    assert stored_corrections(db_url) == [
        (reply["id"], "How do I return an item?", "returns", "sam@staff.example")
    ]
    page = client.get(f"/staff/conversations/{customer.id}").text
    assert "Marked right" in page


def test_marking_wrong_with_an_intent_or_out_of_scope_and_a_second_verdict_replaces_the_first(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    bot_turn(client, customer, "hello there")  # an earlier customer message: not the one answered
    reply = bot_turn(client, customer, "How do I return an item?")
    response = correct(client, staff, reply["id"], verdict="wrong", intent="refund_time")
    assert response.status_code == 200 and response.json()["verdict"] == "wrong"
    assert stored_corrections(db_url) == [
        (reply["id"], "How do I return an item?", "refund_time", "sam@staff.example")
    ]
    page = client.get(f"/staff/conversations/{customer.id}").text
    assert "Marked wrong: refund_time" in page
    assert '<option value="refund_time" selected>' in page

    response = correct(client, staff, reply["id"], verdict="wrong", intent=None)
    assert response.status_code == 200 and response.json()["intent"] is None
    assert stored_corrections(db_url) == [
        (reply["id"], "How do I return an item?", None, "sam@staff.example")
    ]
    assert "Marked wrong: out of scope" in client.get(f"/staff/conversations/{customer.id}").text


def test_a_fallback_marked_right_means_out_of_scope(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    reply = bot_turn(client, customer, "do you offer gift wrapping")
    assert reply["action"] == "fallback"
    response = correct(client, staff, reply["id"], verdict="right")
    assert response.status_code == 200 and response.json()["intent"] is None
    assert stored_corrections(db_url)[0][2] is None


def test_an_api_token_may_correct_without_csrf(
    client: TestClient, customer: Customer, staff: Staff
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    client.cookies.clear()
    response = client.post(
        f"/api/v1/staff/messages/{reply['id']}/correction",
        json={"verdict": "right"},
        headers=staff.token_headers,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "status_code", "names"),
    [
        ({"verdict": "wrong", "intent": "no_such_intent"}, 422, "intent"),
        ({"verdict": "wrong"}, 422, "intent"),
        ({"verdict": "maybe"}, 422, "verdict"),
    ],
)
def test_bad_corrections_are_refused_and_store_nothing(
    client: TestClient,
    customer: Customer,
    staff: Staff,
    db_url: str,
    body: dict[str, Any],
    status_code: int,
    names: str,
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    response = correct(client, staff, reply["id"], **body)
    assert response.status_code == status_code
    assert names in json.dumps(response.json()["detail"])
    assert stored_corrections(db_url) == []


def test_only_bot_turns_take_a_verdict(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    turn = client.post(
        customer.messages_url, json={"text": "How do I return an item?"}, headers=customer.headers
    ).json()
    response = correct(client, staff, turn["message"]["id"], verdict="right")
    assert response.status_code == 422 and "message_id" in response.json()["detail"]
    assert correct(client, staff, 999_999, verdict="right").status_code == 404
    assert stored_corrections(db_url) == []


def test_corrections_need_the_csrf_token_and_a_signed_in_caller(
    client: TestClient, customer: Customer, staff: Staff
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    url = f"/api/v1/staff/messages/{reply['id']}/correction"
    assert client.post(url, json={"verdict": "right"}).status_code == 403
    client.cookies.clear()
    assert client.post(url, json={"verdict": "right"}, headers=staff.headers).status_code == 401
