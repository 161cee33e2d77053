"""The customer API: conversations, messages, handoff, feedback and the live event stream."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chatbot.events import conversation_channel
from chatbot.knowledge.spec import IntentSpec
from tests.api.conftest import Customer, start_conversation, store_knowledge

OUT_OF_SCOPE = "do you offer gift wrapping"


def say(client: TestClient, customer: Customer, text: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        customer.messages_url, json={"text": text, **extra}, headers=customer.headers
    )
    assert response.status_code == 200, response.text
    turn: dict[str, Any] = response.json()
    return turn


def transcript(client: TestClient, customer: Customer) -> dict[str, Any]:
    response = client.get(customer.messages_url, headers=customer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_starting_a_conversation(client: TestClient) -> None:
    response = client.post("/api/v1/conversations")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "token"}
    assert body["id"] and len(body["token"]) >= 32
    other = client.post("/api/v1/conversations", json={"language": "en"}).json()
    assert (other["id"], other["token"]) != (body["id"], body["token"])
    customer = Customer(body["id"], body["token"])
    assert transcript(client, customer) == {
        "conversation": {
            "id": customer.id,
            "status": "bot",
            "satisfaction": None,
            "language": None,  # the first message decides
            "agent": None,  # nobody holds it
        },
        "messages": [],
    }


def test_a_paraphrase_gets_the_right_answer(client: TestClient, customer: Customer) -> None:
    turn = say(client, customer, "how long does delivery take please")
    assert turn["message"]["role"] == "customer"
    assert turn["message"]["text"] == "how long does delivery take please"
    assert turn["message"]["html"] is None
    reply = turn["reply"]
    assert reply["role"] == "bot"
    assert reply["intent"] == "delivery_time"
    assert reply["action"] == "answer"
    assert reply["text"] == "Standard delivery takes 3-5 working days."
    assert 0 <= reply["confidence"] <= 1
    assert reply["confidence"] >= 0.55  # answered outright: at least the answer threshold
    assert reply["suggestions"] == []
    assert reply["follow_ups"] == [{"intent": "returns", "question": "How do I return an item?"}]
    assert reply["handoff"] is False
    assert reply["helpful"] is None
    assert reply["model_version"] == "base-ffffffffffff"  # the fake encoder's weights hash

    messages = transcript(client, customer)["messages"]
    assert [(m["role"], m["id"]) for m in messages] == [
        ("customer", turn["message"]["id"]),
        ("bot", reply["id"]),
    ]


def test_answers_come_back_as_sanitised_html(client: TestClient, customer: Customer) -> None:
    reply = say(client, customer, "how should I clean my wooden board")["reply"]
    assert reply["intent"] == "wood_care"
    assert "<script>" in reply["text"]  # the stored Markdown is returned as written
    html = reply["html"]
    assert "<strong>Oiled oak</strong>" in html
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html  # shown as text, not dropped silently
    assert "href" not in html  # a javascript: link is no link at all

    link = say(client, customer, "what is your returns policy")["reply"]["html"]
    assert '<a href="https://shop.example/orders" rel="noopener noreferrer nofollow">' in link


def test_a_close_call_offers_suggestions(client: TestClient, customer: Customer) -> None:
    reply = say(client, customer, "how long will it take")["reply"]
    assert reply["action"] == "clarify"
    assert reply["handoff"] is False
    assert 0 <= reply["confidence"] <= 1
    assert reply["suggestions"] == [
        {"intent": "delivery_time", "question": "How long does delivery take?"},
        {"intent": "refund_time", "question": "When will I get my refund?"},
    ]


def test_clicking_a_suggestion_answers_that_intent(client: TestClient, customer: Customer) -> None:
    say(client, customer, "how long will it take")
    reply = say(client, customer, "When will I get my refund?", intent="refund_time")["reply"]
    assert (reply["intent"], reply["action"], reply["confidence"]) == ("refund_time", "answer", 1.0)
    assert reply["text"] == "Refunds arrive within 3-5 working days."
    # A button whose intent has since gone is understood from its text instead.
    reply = say(client, customer, "How do I return an item?", intent="discontinued")["reply"]
    assert reply["intent"] == "returns"
    assert reply["confidence"] < 1.0


def test_small_talk_in_the_conversation_language(client: TestClient) -> None:
    customer = start_conversation(client, language="zh")
    reply = say(client, customer, "hello")["reply"]
    assert (reply["intent"], reply["action"]) == ("greeting", "smalltalk")
    assert reply["text"] == "您好！请问有什么可以帮您？"


def test_asking_for_a_person_silences_the_bot(client: TestClient, customer: Customer) -> None:
    reply = say(client, customer, "can I talk to a real person?")["reply"]
    assert reply["handoff"] is True
    assert (reply["intent"], reply["action"]) == ("human", "handoff")
    assert transcript(client, customer)["conversation"]["status"] == "waiting"

    turn = say(client, customer, "hello? are you there?")
    assert turn["reply"] is None
    assert turn["message"]["text"] == "hello? are you there?"
    after = transcript(client, customer)
    assert after["conversation"]["status"] == "waiting"
    assert [(m["role"], m["text"]) for m in after["messages"]] == [
        ("customer", "can I talk to a real person?"),
        ("bot", reply["text"]),
        ("customer", "hello? are you there?"),
    ]


def test_two_fallbacks_in_a_row_hand_over_to_a_person(
    client: TestClient, customer: Customer
) -> None:
    first = say(client, customer, OUT_OF_SCOPE)["reply"]
    assert (first["action"], first["handoff"]) == ("fallback", False)
    assert first["suggestions"] == [{"intent": "human", "question": "Talk to a person"}]
    second = say(client, customer, "zebra quantum")["reply"]
    assert (second["action"], second["handoff"]) == ("handoff", True)
    assert transcript(client, customer)["conversation"]["status"] == "waiting"


def test_clicking_talk_to_a_person_hands_off(client: TestClient, customer: Customer) -> None:
    [button] = say(client, customer, OUT_OF_SCOPE)["reply"]["suggestions"]
    reply = say(client, customer, button["question"], intent=button["intent"])["reply"]
    assert (reply["action"], reply["handoff"]) == ("handoff", True)
    assert transcript(client, customer)["conversation"]["status"] == "waiting"


def test_the_handoff_button(client: TestClient, customer: Customer) -> None:
    url = f"/api/v1/conversations/{customer.id}/handoff"
    response = client.post(url, headers=customer.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "waiting"
    assert body["message"]["handoff"] is True and body["message"]["role"] == "bot"
    # Asking again while waiting changes nothing and says nothing more.
    again = client.post(url, headers=customer.headers).json()
    assert again == {"status": "waiting", "message": None}
    assert say(client, customer, "how long does delivery take")["reply"] is None
    assert len(transcript(client, customer)["messages"]) == 2


def test_feedback_on_the_bots_answer(client: TestClient, customer: Customer) -> None:
    turn = say(client, customer, "how long does delivery take")
    url = f"/api/v1/messages/{turn['reply']['id']}/feedback"
    response = client.post(url, json={"helpful": False}, headers=customer.headers)
    assert response.status_code == 200
    assert response.json() == {"id": turn["reply"]["id"], "helpful": False}
    response = client.post(url, json={"helpful": True}, headers=customer.headers)
    assert response.status_code == 200
    stored = transcript(client, customer)["messages"]
    assert [m["helpful"] for m in stored] == [None, True]


def test_feedback_on_the_customers_own_message_is_refused(
    client: TestClient, customer: Customer
) -> None:
    turn = say(client, customer, "how long does delivery take")
    url = f"/api/v1/messages/{turn['message']['id']}/feedback"
    response = client.post(url, json={"helpful": True}, headers=customer.headers)
    assert response.status_code == 422
    assert "feedback" in response.json()["detail"]
    assert transcript(client, customer)["messages"][0]["helpful"] is None


def test_feedback_with_another_conversations_token(client: TestClient, customer: Customer) -> None:
    reply = say(client, customer, "how long does delivery take")["reply"]
    stranger = start_conversation(client)
    response = client.post(
        f"/api/v1/messages/{reply['id']}/feedback",
        json={"helpful": False},
        headers=stranger.headers,
    )
    assert response.status_code == 404
    assert transcript(client, customer)["messages"][1]["helpful"] is None
    unknown = client.post(
        f"/api/v1/messages/{reply['id'] + 100}/feedback",
        json={"helpful": False},
        headers=customer.headers,
    )
    assert unknown.status_code == 404


def customer_routes(customer: Customer, message_id: int) -> list[tuple[str, str, Any]]:
    return [
        ("GET", customer.messages_url, None),
        ("POST", customer.messages_url, {"text": "how long does delivery take"}),
        ("POST", f"/api/v1/conversations/{customer.id}/handoff", None),
        ("POST", f"/api/v1/messages/{message_id}/feedback", {"helpful": True}),
    ]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_every_customer_route_wants_a_bearer_token(
    client: TestClient, customer: Customer, authorization: str | None
) -> None:
    reply = say(client, customer, "how long does delivery take")["reply"]
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, url, body in customer_routes(customer, reply["id"]):
        response = client.request(method, url, json=body, headers=headers)
        assert response.status_code == 401, (method, url)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "bearer token" in response.json()["detail"]
    assert len(transcript(client, customer)["messages"]) == 2  # nothing was added


def test_a_wrong_token_finds_nothing_on_every_customer_route(
    client: TestClient, customer: Customer
) -> None:
    reply = say(client, customer, "how long does delivery take")["reply"]
    stranger = start_conversation(client)
    for token in ("not-the-token", stranger.token, customer.token + "x"):
        for method, url, body in customer_routes(customer, reply["id"]):
            response = client.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 404, (method, url, token)
    # An unknown conversation answers exactly like a wrong token: ids cannot be probed.
    unknown = client.get("/api/v1/conversations/nope/messages", headers=customer.headers)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "conversation not found"})
    after = transcript(client, customer)
    assert after["conversation"]["status"] == "bot"
    assert [m["helpful"] for m in after["messages"]] == [None, None]


def test_empty_and_over_long_messages_are_refused(client: TestClient, customer: Customer) -> None:
    empty = client.post(customer.messages_url, json={"text": ""}, headers=customer.headers)
    assert empty.status_code == 422
    assert [error["loc"] for error in empty.json()["detail"]] == [["body", "text"]]

    blank = client.post(customer.messages_url, json={"text": "  \n "}, headers=customer.headers)
    assert blank.status_code == 422
    assert blank.json()["detail"].startswith("text:")

    limit = client.app.state.settings.max_message_chars  # type: ignore[attr-defined]
    too_long = client.post(
        customer.messages_url, json={"text": "a" * (limit + 1)}, headers=customer.headers
    )
    assert too_long.status_code == 422
    assert too_long.json()["detail"] == f"text: at most {limit} characters, got {limit + 1}"
    assert transcript(client, customer)["messages"] == []  # nothing stored

    at_limit = client.post(
        customer.messages_url, json={"text": "a" * limit}, headers=customer.headers
    )
    assert at_limit.status_code == 200


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[]", b'"text"', b'{"text": 5}', b'{"text": null}', b'{"intent": "x"}'],
)
def test_malformed_message_bodies_are_422_not_500(
    client: TestClient, customer: Customer, content: bytes
) -> None:
    response = client.post(
        customer.messages_url,
        content=content,
        headers={**customer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"]


def test_other_malformed_bodies_are_422(client: TestClient, customer: Customer) -> None:
    json_headers = {"Content-Type": "application/json"}
    response = client.post("/api/v1/conversations", content=b"{oops", headers=json_headers)
    assert response.status_code == 422
    response = client.post("/api/v1/conversations", json={"language": "<script>"})
    assert response.status_code == 422
    response = client.post(
        customer.messages_url,
        json={"text": "hi", "intent": "x" * 201},
        headers=customer.headers,
    )
    assert response.status_code == 422
    reply = say(client, customer, "how long does delivery take")["reply"]
    for body in (b"{oops", b'{"helpful": "very"}', b"{}"):
        response = client.post(
            f"/api/v1/messages/{reply['id']}/feedback",
            content=body,
            headers={**customer.headers, **json_headers},
        )
        assert response.status_code == 422, body
    response = client.post(
        "/api/v1/messages/not-a-number/feedback", json={"helpful": True}, headers=customer.headers
    )
    assert response.status_code == 422


def wait_for_subscribers(client: TestClient, customer: Customer, count: int) -> None:
    bus = client.app.state.bus  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while bus.subscriber_count(conversation_channel(customer.id)) != count:
        assert time.monotonic() < deadline, f"expected {count} subscriber(s)"
        time.sleep(0.01)


def test_the_websocket_streams_the_conversation(client: TestClient, customer: Customer) -> None:
    url = f"/api/v1/conversations/{customer.id}/ws"
    with client.websocket_connect(url) as websocket:
        websocket.send_json({"token": customer.token})
        wait_for_subscribers(client, customer, 1)
        turn = say(client, customer, "how long does delivery take")
        first, second = websocket.receive_json(), websocket.receive_json()
        assert first == {"type": "message", "message": turn["message"]}
        assert second == {"type": "message", "message": turn["reply"]}

        handoff = say(client, customer, "I want to speak to a human")
        events = [websocket.receive_json() for _ in range(3)]
        assert events == [
            {"type": "message", "message": handoff["message"]},
            {"type": "message", "message": handoff["reply"]},
            {"type": "status", "status": "waiting"},
        ]
    wait_for_subscribers(client, customer, 0)  # a closed socket unsubscribes


def test_the_websocket_only_sees_its_own_conversation(
    client: TestClient, customer: Customer
) -> None:
    other = start_conversation(client)
    url = f"/api/v1/conversations/{customer.id}/ws"
    with client.websocket_connect(url) as websocket:
        websocket.send_json({"token": customer.token})
        wait_for_subscribers(client, customer, 1)
        say(client, other, "how long does delivery take")
        mine = say(client, customer, "what is your returns policy")
        assert websocket.receive_json()["message"]["id"] == mine["message"]["id"]


def test_the_websocket_takes_the_token_in_its_first_frame(
    client: TestClient, customer: Customer
) -> None:
    with client.websocket_connect(f"/api/v1/conversations/{customer.id}/ws") as websocket:
        websocket.send_json({"token": customer.token})
        wait_for_subscribers(client, customer, 1)
        turn = say(client, customer, "how long does delivery take")
        assert websocket.receive_json() == {"type": "message", "message": turn["message"]}
    wait_for_subscribers(client, customer, 0)


def test_the_websocket_refuses_a_bad_token(client: TestClient, customer: Customer) -> None:
    stranger = start_conversation(client)
    base = f"/api/v1/conversations/{customer.id}/ws"
    for url in (
        f"{base}?token=wrong",
        f"{base}?token={stranger.token}",
        f"{base}?token={customer.token}",  # even the right one: tokens stay out of URLs
        f"/api/v1/conversations/nope/ws?token={customer.token}",
    ):  # in the URL: refused during the handshake
        with pytest.raises(WebSocketDisconnect) as caught, client.websocket_connect(url):
            pass
        assert caught.value.code == 1008, url
        assert "never in the URL" in caught.value.reason
    for first_frame in (
        {"token": "wrong"},
        {"token": stranger.token},
        {"token": ""},
        {"typing": True},
        ["not", "an", "object"],
    ):  # in the first frame: the socket closes right after it
        with client.websocket_connect(base) as websocket:
            websocket.send_json(first_frame)
            with pytest.raises(WebSocketDisconnect) as caught:
                websocket.receive_json()
            assert caught.value.code == 1008, first_frame
    with client.websocket_connect(base) as websocket:
        websocket.send_text("not json")
        with pytest.raises(WebSocketDisconnect) as caught:
            websocket.receive_json()
        assert caught.value.code == 1008
    wait_for_subscribers(client, customer, 0)


def test_an_import_after_startup_is_answered_at_the_next_message(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    before = say(client, customer, OUT_OF_SCOPE)["reply"]
    assert before["action"] == "fallback"
    gift_wrap = IntentSpec(
        "gift_wrap",
        "Yes: gift wrapping is free at checkout.",
        ("Do you offer gift wrapping?", "Can you wrap my present?"),
    )
    store_knowledge(db_url, [gift_wrap])  # a separate session, committed: another process
    after = say(client, customer, OUT_OF_SCOPE)["reply"]
    assert (after["intent"], after["action"]) == ("gift_wrap", "answer")
    assert after["text"] == "Yes: gift wrapping is free at checkout."
    # The intents that were there before are still answered.
    assert say(client, customer, "how long does delivery take")["reply"]["intent"] == (
        "delivery_time"
    )
