"""/metrics: requests by route template, open WebSockets, turns in progress and jobs waiting."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Customer
from tests.api.test_chat import say

MESSAGES_ROUTE = "/api/v1/conversations/{conversation_id}/messages"
WS_ROUTE = "/api/v1/conversations/{conversation_id}/ws"


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(client: TestClient, name: str, **labels: str) -> float:
    return samples(client).get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_timed_by_route_template_not_by_path(
    client: TestClient, customer: Customer
) -> None:
    count = "chatbot_http_request_seconds_count"
    before = value(client, count, method="POST", route=MESSAGES_ROUTE)
    say(client, customer, "how long does delivery take")
    say(client, customer, "thanks")
    assert value(client, count, method="POST", route=MESSAGES_ROUTE) == before + 2
    unmatched = value(client, count, method="GET", route="unmatched")
    client.get("/nope")
    assert value(client, count, method="GET", route="unmatched") == unmatched + 1
    assert value(client, count, method="GET", route="/nope") == 0  # no series per unknown path
    assert not [key for key in samples(client) if customer.id in str(key)]


def test_open_websockets_are_counted_while_open(client: TestClient, customer: Customer) -> None:
    gauge = "chatbot_websockets_active"
    before = value(client, gauge, route=WS_ROUTE)
    with client.websocket_connect(f"/api/v1/conversations/{customer.id}/ws") as socket:
        socket.send_json({"token": customer.token})
        socket.send_json({"typing": True})
        assert socket.receive_json()["type"] == "typing"  # open and subscribed
        assert value(client, gauge, route=WS_ROUTE) == before + 1
    assert value(client, gauge, route=WS_ROUTE) == before


def test_turns_in_progress_and_jobs_waiting_are_read_when_scraped(client: TestClient) -> None:
    assert value(client, "chatbot_turns_in_progress") == 0
    assert value(client, "chatbot_jobs_queued") == 0
