"""Live takeover through the API: the queue, claim, reply, hand back, close, satisfaction, events,
and canned replies."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from chatbot import retention
from chatbot.config import Settings
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.main import create_app
from tests.api.conftest import (
    KNOWLEDGE,
    STAFF_EMAIL,
    Customer,
    Staff,
    add_account,
    start_conversation,
    store_knowledge,
)
from tests.api.test_chat import say, transcript, wait_for_subscribers
from tests.fakes import HashingEncoder

API = "/api/v1/staff"
ASK_FOR_A_PERSON = "I want to speak to a human"
KNOWLEDGE_QUESTION = "how long does delivery take"
OTHER_EMAIL = "olga@staff.example"


def url(conversation: Customer, action: str) -> str:
    return f"{API}/conversations/{conversation.id}/{action}"


@pytest.fixture
def other_staff(db_url: str) -> dict[str, str]:
    """A second staff member's API token headers (no cookie, so no CSRF either)."""
    return {"Authorization": f"Bearer {add_account(db_url, OTHER_EMAIL)}"}


def waiting_customer(client: TestClient) -> Customer:
    customer = start_conversation(client)
    say(client, customer, ASK_FOR_A_PERSON)
    return customer


def post(client: TestClient, staff: Staff, target: str, body: Any = None) -> Any:
    response = client.post(target, json=body, headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()


def queue_ids(client: TestClient, staff: Staff) -> list[str]:
    response = client.get(f"{API}/queue", headers=staff.headers)
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["conversations"]]


# ---- the rules


def test_the_queue_lists_waiting_first_then_held(client: TestClient, staff: Staff) -> None:
    first, second, held = (waiting_customer(client) for _ in range(3))
    with_bot = start_conversation(client)
    say(client, with_bot, KNOWLEDGE_QUESTION)
    post(client, staff, url(held, "claim"))
    assert queue_ids(client, staff) == [first.id, second.id, held.id]
    entry = client.get(f"{API}/queue", headers=staff.headers).json()["conversations"][0]
    assert entry["status"] == "waiting" and entry["assignee"] is None
    assert entry["last_message"]["role"] == "bot" and entry["waiting_since"]


def test_the_customers_transcript_names_who_holds_the_conversation(
    client: TestClient, staff: Staff, other_staff: dict[str, str]
) -> None:
    # What a widget reads when it (re)connects: the events it missed may have named the person.
    customer = waiting_customer(client)
    assert transcript(client, customer)["conversation"]["agent"] is None
    post(client, staff, url(customer, "claim"))
    assert transcript(client, customer)["conversation"]["agent"] == "sam"  # never the e-mail
    client.post(url(customer, "claim"), json={"take_over": True}, headers=other_staff)
    assert transcript(client, customer)["conversation"]["agent"] == "olga"
    assert client.post(url(customer, "handback"), headers=other_staff).status_code == 200
    assert transcript(client, customer)["conversation"]["agent"] is None


def test_claim_conflicts_and_taking_over(
    client: TestClient, staff: Staff, other_staff: dict[str, str]
) -> None:
    customer = waiting_customer(client)
    claimed = post(client, staff, url(customer, "claim"))
    assert (claimed["status"], claimed["assignee"]) == ("with_staff", STAFF_EMAIL)

    refused = client.post(url(customer, "claim"), headers=other_staff)
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"{STAFF_EMAIL} is already talking to this customer"
    taken = client.post(url(customer, "claim"), json={"take_over": True}, headers=other_staff)
    assert taken.status_code == 200 and taken.json()["assignee"] == OTHER_EMAIL

    unknown = client.post(f"{API}/conversations/nope/claim", headers=staff.headers)
    assert unknown.status_code == 404
    bad = client.post(url(customer, "claim"), json={"take_over": "perhaps"}, headers=staff.headers)
    assert bad.status_code == 422


def test_only_the_holder_replies_and_the_bot_stays_silent(
    client: TestClient, staff: Staff, other_staff: dict[str, str]
) -> None:
    customer = waiting_customer(client)
    # Replying to a waiting conversation claims it.
    sent = post(client, staff, url(customer, "reply"), {"text": "  Hi, Sam here. *Looking*.  "})
    assert (sent["role"], sent["text"], sent["author"]) == (
        "staff",
        "Hi, Sam here. *Looking*.",
        STAFF_EMAIL,
    )
    assert "<em>Looking</em>" in sent["html"]
    assert transcript(client, customer)["conversation"]["status"] == "with_staff"

    intruder = client.post(url(customer, "reply"), json={"text": "me too"}, headers=other_staff)
    assert intruder.status_code == 409

    turn = say(client, customer, KNOWLEDGE_QUESTION)
    assert turn["reply"] is None  # a person holds it: no bot answer
    roles = [m["role"] for m in transcript(client, customer)["messages"]]
    assert roles == ["customer", "bot", "staff", "customer"]

    staff_view = client.get(url(customer, "messages"), headers=staff.headers).json()
    assert [m["author"] for m in staff_view["messages"]] == [None, None, STAFF_EMAIL, None]
    assert staff_view["conversation"]["assignee"] == STAFF_EMAIL


def test_replies_have_the_customers_length_limits(client: TestClient, staff: Staff) -> None:
    customer = waiting_customer(client)
    limit = client.app.state.settings.max_message_chars  # type: ignore[attr-defined]
    for body in ({"text": ""}, {"text": "  \n "}, {"text": "a" * (limit + 1)}, {}, {"text": 3}):
        response = client.post(url(customer, "reply"), json=body, headers=staff.headers)
        assert response.status_code == 422, body
    assert transcript(client, customer)["conversation"]["status"] == "waiting"  # nothing claimed
    post(client, staff, url(customer, "reply"), {"text": "a" * limit})


def test_handing_back_lets_the_bot_answer_again(client: TestClient, staff: Staff) -> None:
    customer = waiting_customer(client)
    post(client, staff, url(customer, "claim"))
    entry = post(client, staff, url(customer, "handback"))
    assert (entry["status"], entry["assignee"]) == ("bot", None)
    notice = transcript(client, customer)["messages"][-1]
    assert notice["role"] == "system" and notice["text"].startswith(
        "You are back with our assistant"
    )

    turn = say(client, customer, KNOWLEDGE_QUESTION)
    assert turn["reply"]["text"] == "Standard delivery takes 3-5 working days."
    again = client.post(url(customer, "handback"), headers=staff.headers)
    assert again.status_code == 409  # the bot has it already
    assert customer.id not in queue_ids(client, staff)


def test_closing_asks_for_satisfaction(client: TestClient, staff: Staff, db_url: str) -> None:
    customer = waiting_customer(client)
    rating_url = f"/api/v1/conversations/{customer.id}/satisfaction"
    early = client.post(rating_url, json={"rating": 4}, headers=customer.headers)
    assert early.status_code == 409  # not closed yet

    post(client, staff, url(customer, "claim"))
    assert post(client, staff, url(customer, "close"))["status"] == "closed"
    assert transcript(client, customer)["messages"][-1]["role"] == "system"
    assert client.post(url(customer, "close"), headers=staff.headers).status_code == 409
    assert (
        client.post(url(customer, "reply"), json={"text": "hi"}, headers=staff.headers).status_code
        == 409
    )

    for body in ({"rating": 0}, {"rating": 6}, {"rating": "good"}, {}):
        response = client.post(rating_url, json=body, headers=customer.headers)
        assert response.status_code == 422, body
    stranger = start_conversation(client)
    wrong = client.post(rating_url, json={"rating": 5}, headers=stranger.headers)
    assert wrong.status_code == 404
    anonymous = client.post(rating_url, json={"rating": 5})
    assert anonymous.status_code == 401

    rated = client.post(rating_url, json={"rating": 4}, headers=customer.headers)
    assert rated.json() == {"id": customer.id, "satisfaction": 4}
    assert transcript(client, customer)["conversation"]["satisfaction"] == 4
    staff_view = client.get(url(customer, "messages"), headers=staff.headers).json()
    assert staff_view["satisfaction"] == 4


def test_staff_routes_want_a_signed_in_person_and_csrf(client: TestClient) -> None:
    customer = waiting_customer(client)
    for method, target in (
        ("GET", f"{API}/queue"),
        ("GET", f"{API}/canned"),
        ("GET", url(customer, "messages")),
        ("POST", url(customer, "claim")),
        ("POST", url(customer, "reply")),
        ("POST", url(customer, "typing")),
        ("POST", url(customer, "handback")),
        ("POST", url(customer, "close")),
    ):
        response = client.request(
            method, target, json={"text": "hi"} if "reply" in target else None
        )
        assert response.status_code == 401, target
        with_customer_token = client.request(method, target, headers=customer.headers)
        assert with_customer_token.status_code == 401, target  # a customer's token opens nothing
    assert transcript(client, customer)["conversation"]["status"] == "waiting"


def test_a_cookie_session_needs_the_csrf_token(client: TestClient, staff: Staff) -> None:
    customer = waiting_customer(client)
    response = client.post(url(customer, "claim"))
    assert response.status_code == 403
    assert transcript(client, customer)["conversation"]["status"] == "waiting"


# ---- live events


def next_event(socket: WebSocketTestSession, kind: str, limit: int = 10) -> dict[str, Any]:
    """The next event of ``kind``, skipping up to ``limit`` others (events of two channels mix)."""
    for _ in range(limit):
        event: dict[str, Any] = socket.receive_json()
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind} event among the next {limit}")


def events_until(
    socket: WebSocketTestSession, last: Callable[[dict[str, Any]], bool], limit: int = 20
) -> list[dict[str, Any]]:
    """Events up to and including the first for which ``last`` holds."""
    seen: list[dict[str, Any]] = []
    while not seen or not last(seen[-1]):
        assert len(seen) < limit, f"not found among {seen}"
        seen.append(socket.receive_json())
    return seen


def staff_socket(client: TestClient) -> Any:
    return client.websocket_connect(f"{API}/ws")


def test_the_queue_hears_of_handoffs_and_customer_messages(
    client: TestClient, staff: Staff
) -> None:
    by_message, by_button = start_conversation(client), start_conversation(client)
    with staff_socket(client) as socket:
        assert socket.receive_json() == {"type": "ready"}
        say(client, by_message, ASK_FOR_A_PERSON)
        entry = next_event(socket, "queue")["conversation"]
        assert (entry["id"], entry["status"]) == (by_message.id, "waiting")
        assert entry["last_message"]["role"] == "bot"

        response = client.post(
            f"/api/v1/conversations/{by_button.id}/handoff", headers=by_button.headers
        )
        assert response.status_code == 200
        entry = next_event(socket, "queue")["conversation"]
        assert (entry["id"], entry["status"]) == (by_button.id, "waiting")

        post(client, staff, url(by_message, "claim"))
        entry = next_event(socket, "queue")["conversation"]
        assert (entry["status"], entry["assignee"]) == ("with_staff", STAFF_EMAIL)
        say(client, by_message, "Are you still there?")
        entry = next_event(socket, "queue")["conversation"]
        assert entry["last_message"]["text"] == "Are you still there?"

        post(client, staff, url(by_message, "handback"))
        entry = next_event(socket, "queue")["conversation"]
        assert (entry["id"], entry["status"]) == (by_message.id, "bot")  # it left the queue


def test_a_watched_conversation_streams_to_staff_and_customer(
    client: TestClient, staff: Staff
) -> None:
    customer = waiting_customer(client)
    customer_url = f"/api/v1/conversations/{customer.id}/ws"
    with staff_socket(client) as console, client.websocket_connect(customer_url) as widget:
        widget.send_json({"token": customer.token})
        wait_for_subscribers(client, customer, 1)
        assert console.receive_json() == {"type": "ready"}
        console.send_json({"watch": customer.id})
        assert console.receive_json() == {"type": "watching", "conversation_id": customer.id}

        post(client, staff, url(customer, "claim"))
        joined = {"type": "status", "status": "with_staff", "agent": "sam"}  # never the email
        assert widget.receive_json() == joined
        assert next_event(console, "status") == {**joined, "conversation_id": customer.id}

        console.send_json({"typing": customer.id})
        assert widget.receive_json() == {"type": "typing", "role": "staff", "typing": True}
        sent = post(client, staff, url(customer, "reply"), {"text": "Hello!"})
        event = widget.receive_json()
        assert event["type"] == "message" and event["message"]["id"] == sent["id"]
        assert event["message"]["role"] == "staff"

        # Typing twice within a second counts once.
        widget.send_json({"typing": True})
        widget.send_json({"typing": True})
        typing = events_until(console, lambda e: e["type"] == "typing" and e["role"] == "customer")
        assert typing[-1] == {
            "type": "typing",
            "role": "customer",
            "typing": True,
            "conversation_id": customer.id,
        }
        say(client, customer, "Thanks, one more thing")
        seen = events_until(console, lambda e: e.get("message", {}).get("role") == "customer")
        assert seen[-1]["message"]["text"] == "Thanks, one more thing"
        assert not [e for e in seen if e["type"] == "typing"]

        post(client, staff, url(customer, "close"))
        seen = events_until(widget, lambda e: e.get("status") == "closed")
        assert [e["message"]["role"] for e in seen if e["type"] == "message"][-1] == "system"


def test_watching_another_conversation_stops_the_first(client: TestClient, staff: Staff) -> None:
    first, second = waiting_customer(client), waiting_customer(client)
    with staff_socket(client) as console:
        console.receive_json()
        console.send_json({"watch": first.id})
        console.receive_json()
        console.send_json({"watch": second.id})
        assert console.receive_json() == {"type": "watching", "conversation_id": second.id}
        say(client, first, "anyone?")
        say(client, second, "hello?")
        # The first conversation's message never arrives: only the queue's event for it.
        events = [console.receive_json() for _ in range(3)]
        messages = [e for e in events if e["type"] == "message"]
        assert [m["conversation_id"] for m in messages] == [second.id]


def test_the_staff_socket_refuses_anonymous_and_other_sites(
    client: TestClient, staff: Staff
) -> None:
    other_site = {"Origin": "https://evil.example"}
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        client.websocket_connect(f"{API}/ws", headers=other_site),
    ):
        pass
    assert caught.value.code == 1008
    client.cookies.clear()
    with pytest.raises(WebSocketDisconnect) as caught, staff_socket(client):
        pass
    assert caught.value.code == 1008


def test_a_staff_socket_closes_once_its_session_ends(
    client: TestClient, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chatbot.api.takeover.SESSION_RECHECK_S", 0.2)
    with staff_socket(client) as socket:
        assert socket.receive_json() == {"type": "ready"}
        time.sleep(0.3)
        socket.send_json({"watch": "nothing"})  # still signed in: the socket stays
        assert socket.receive_json()["type"] == "watching"
        assert client.post("/logout", headers=staff.headers).status_code == 200
        time.sleep(0.3)
        with pytest.raises(WebSocketDisconnect) as caught:
            socket.receive_json()
    assert caught.value.code == 1008


# ---- the queue's size and abandoned conversations


def test_the_queue_is_paged_and_capped(client: TestClient, staff: Staff) -> None:
    customers = [waiting_customer(client) for _ in range(3)]
    page = client.get(f"{API}/queue?limit=2", headers=staff.headers).json()
    assert [entry["id"] for entry in page["conversations"]] == [c.id for c in customers[:2]]
    assert (page["waiting"], page["with_staff"], page["limit"], page["offset"]) == (3, 0, 2, 0)
    rest = client.get(f"{API}/queue?limit=2&offset=2", headers=staff.headers).json()
    assert [entry["id"] for entry in rest["conversations"]] == [customers[2].id]
    default = client.get(f"{API}/queue", headers=staff.headers).json()
    assert default["limit"] == 50
    for query in ("limit=201", "limit=0", "offset=-1", "offset=99999999999999999999"):
        refused = client.get(f"{API}/queue?{query}", headers=staff.headers)
        assert refused.status_code == 422, query


def test_the_server_closes_abandoned_conversations(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    monkeypatch.setattr(retention, "IDLE_EVERY_S", 0.05)
    settings = Settings(database_url=db_url, data_dir=tmp_path, conversation_idle_minutes=30)
    token = {"Authorization": f"Bearer {add_account(db_url, STAFF_EMAIL)}"}
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        abandoned, active = waiting_customer(client), waiting_customer(client)
        with client.websocket_connect(f"{API}/ws", headers=token) as socket:
            next_event(socket, "ready")
            engine = make_engine(db_url)
            with transaction(make_session_factory(engine)) as session:
                conversation = session.get(Conversation, abandoned.id)
                assert conversation is not None
                conversation.updated_at = utcnow() - timedelta(minutes=31)
            engine.dispose()
            event = next_event(socket, "queue")
        assert event["conversation"]["id"] == abandoned.id
        assert event["conversation"]["status"] == "closed"
        queue = client.get(f"{API}/queue", headers=token).json()
        assert [entry["id"] for entry in queue["conversations"]] == [active.id]
        last = transcript(client, abandoned)["messages"][-1]
        assert "closed after a long time without messages" in last["text"]
