"""/metrics: requests by route template, open WebSockets, turns in progress and jobs waiting, the
model's batch sizes and inference times."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from torch import Tensor

from chatbot.config import Settings
from chatbot.main import create_app
from tests.api.conftest import (
    KNOWLEDGE,
    STAFF_EMAIL,
    Customer,
    add_account,
    start_conversation,
    store_knowledge,
)
from tests.api.test_chat import say
from tests.fakes import HashingEncoder

INFERENCE_S = 0.2

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


def test_metrics_need_an_api_token_unless_public(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    token = add_account(db_url, STAFF_EMAIL)
    settings = Settings(database_url=db_url, data_dir=tmp_path, metrics_public=False)
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        anonymous = client.get("/metrics")
        assert anonymous.status_code == 401 and "chatbot_" not in anonymous.text
        wrong = client.get("/metrics", headers={"Authorization": "Bearer cbt_not-a-token"})
        assert wrong.status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "chatbot_http_request_seconds" in scraped.text


def test_metrics_are_public_in_development_by_default(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200


class SlowEncoder(HashingEncoder):
    """A forward pass that takes a while: messages arriving meanwhile wait for the next batch."""

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        time.sleep(INFERENCE_S)
        return super().encode(texts, batch_size=batch_size)


# On PostgreSQL a psycopg connection left open by an earlier test of this file is sometimes
# collected during this one (its threads allocate): that leak is not this test's to report.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_inference_batch_sizes_and_times_after_some_messages(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, rate_limits_enabled=False)
    with TestClient(create_app(settings, encoder=SlowEncoder())) as client:
        customers = [start_conversation(client) for _ in range(10)]
        before = samples(client)

        def grew(name: str) -> float:
            return samples(client).get((name, ()), 0.0) - before.get((name, ()), 0.0)

        say(client, customers[0], "How do I return an item?")  # alone: a batch of one
        assert (
            grew("chatbot_inference_batch_size_count"),
            grew("chatbot_inference_batch_size_sum"),
        ) == (1, 1)
        with ThreadPoolExecutor(len(customers)) as pool:  # ten at once: fewer, bigger batches
            list(pool.map(lambda c: say(client, c, "When will I get my refund?"), customers))

        batches = grew("chatbot_inference_batch_size_count")
        assert grew("chatbot_inference_batch_size_sum") == 1 + len(customers)  # each message once
        assert batches < 1 + len(customers)  # some of the ten went together
        # One forward pass timed per batch, each at least as long as the model took.
        assert grew("chatbot_inference_seconds_count") == batches
        assert grew("chatbot_inference_seconds_sum") >= batches * INFERENCE_S
        assert grew("chatbot_inference_wait_seconds_count") == batches
