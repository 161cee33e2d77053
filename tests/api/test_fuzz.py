"""Property-based fuzzing of the request parsers (hypothesis): whatever customers, staff and
anonymous callers send, the answer is never a 5xx, and the WebSockets never crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from chatbot.config import Settings
from chatbot.main import create_app
from tests.api.conftest import (
    KNOWLEDGE,
    Customer,
    add_account,
    sign_in,
    start_conversation,
    store_knowledge,
)
from tests.fakes import HashingEncoder

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["text", "intent", "client_id", "language", "helpful", "rating"])
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)
bodies = json_values.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=300)
path_segments = st.text(max_size=40).map(lambda text: quote(text, safe=""))
tokens = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=50)


@pytest.fixture
def fuzzed(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Customer, str]]:
    """A client (server errors come back as 500s, not exceptions), a customer, an admin token."""
    store_knowledge(db_url, KNOWLEDGE)
    admin_token = add_account(db_url, "ada@admin.example", "admin")
    settings = Settings(database_url=db_url, data_dir=tmp_path, rate_limits_enabled=False)
    app = create_app(settings, encoder=HashingEncoder())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, start_conversation(client), admin_token


def assert_not_5xx(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:200]}"


@FUZZ
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_customer_routes_take_any_body(
    fuzzed: tuple[TestClient, Customer, str], body: bytes, content_type: str
) -> None:
    client, customer, _admin = fuzzed
    headers = {**customer.headers, "Content-Type": content_type}
    for path in (
        "/api/v1/conversations",
        customer.messages_url,
        f"/api/v1/conversations/{customer.id}/handoff",
        f"/api/v1/conversations/{customer.id}/satisfaction",
        "/api/v1/messages/1/feedback",
    ):
        assert_not_5xx(client.post(path, content=body, headers=headers), path)


@FUZZ
@given(conversation=path_segments, message=path_segments, token=tokens)
def test_customer_routes_take_any_ids_and_tokens(
    fuzzed: tuple[TestClient, Customer, str], conversation: str, message: str, token: str
) -> None:
    client, _customer, _admin = fuzzed
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/conversations/{conversation}"
    for method, path, body in (
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/messages", {"text": "hello"}),
        ("POST", f"{base}/handoff", None),
        ("POST", f"/api/v1/messages/{message}/feedback", {"helpful": True}),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert_not_5xx(response, path)


@FUZZ
@given(body=bodies, message=path_segments)
def test_staff_and_admin_json_routes_take_any_body(
    fuzzed: tuple[TestClient, Customer, str], body: bytes, message: str
) -> None:
    client, _customer, admin = fuzzed
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    for path in (
        f"/api/v1/staff/messages/{message}/correction",
        "/api/v1/staff/messages/1/correction",
        "/api/v1/embeddings",
        "/api/v1/similarity",
        "/api/v1/staff/canned",
    ):
        assert_not_5xx(client.post(path, content=body, headers=headers), path)
    query = {"since": message, "until": message}
    summary = client.get("/api/v1/admin/analytics/summary", params=query, headers=headers)
    assert_not_5xx(summary, "analytics")


@FUZZ
@given(frame=st.text(max_size=200) | json_values.map(json.dumps))
def test_the_customer_socket_refuses_any_first_frame_that_is_not_its_token(
    fuzzed: tuple[TestClient, Customer, str], frame: str
) -> None:
    client, customer, _admin = fuzzed
    if customer.token in frame:
        return
    with client.websocket_connect(f"/api/v1/conversations/{customer.id}/ws") as socket:
        socket.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 1008


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_frames_do_not_crash_the_customer_socket(
    fuzzed: tuple[TestClient, Customer, str], depth: int
) -> None:
    client, customer, _admin = fuzzed
    url = f"/api/v1/conversations/{customer.id}/ws"
    with client.websocket_connect(url) as socket:
        socket.send_text("[" * depth)  # as the first frame: refused like any wrong token
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
        assert closed.value.code == 1008
    with client.websocket_connect(url) as socket:
        socket.send_json({"token": customer.token})
        socket.send_text("[" * depth)  # later: ignored, and the socket carries on
        socket.send_json({"typing": True})
        # The typing frame after it was read and published: the socket carried on.
        assert socket.receive_json() == {"type": "typing", "role": "customer", "typing": True}
        client.post(customer.messages_url, json={"text": "hello"}, headers=customer.headers)
        assert socket.receive_json()["type"] == "message"


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_a_body_that_is_not_utf8_gets_422_not_500(
    fuzzed: tuple[TestClient, Customer, str], content_type: str
) -> None:
    # FastAPI's own handler echoed the input and failed decoding these bytes (found by the fuzzing).
    client, customer, _admin = fuzzed
    headers = {**customer.headers, "Content-Type": content_type}
    for path in ("/api/v1/conversations", customer.messages_url):
        response = client.post(path, content=b"\x80\xff", headers=headers)
        assert response.status_code in (400, 422), response.text
        assert "\\x80" not in response.text and response.json()["detail"]


def test_deeply_nested_frames_do_not_crash_the_staff_socket(
    fuzzed: tuple[TestClient, Customer, str], db_url: str
) -> None:
    client, customer, _admin = fuzzed
    add_account(db_url, "sam@staff.example", "staff")
    sign_in(client, "sam@staff.example")
    with client.websocket_connect("/api/v1/staff/ws") as console:
        console.receive_json()  # the queue as it is
        console.send_text("[" * 100_000)
        console.send_json({"watch": customer.id})
        assert console.receive_json() == {"type": "watching", "conversation_id": customer.id}
