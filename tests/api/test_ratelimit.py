"""Rate limits per client address (and per conversation): 429, JSON, Retry-After; proxies are
believed only when trusted; Redis shares the counts between replicas."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from starlette.requests import HTTPConnection

from chatbot.api.ratelimit import RateLimiter, client_address
from chatbot.config import Settings
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, Customer, add_account, start_conversation, store_knowledge
from tests.fakes import HashingEncoder

PROXY = "10.1.2.3"


def make_app(db_url: str, tmp_path: Path, **overrides: object) -> FastAPI:
    settings = Settings(database_url=db_url, data_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    return create_app(settings, encoder=HashingEncoder())


@pytest.fixture
def knowledge(db_url: str) -> None:
    store_knowledge(db_url, KNOWLEDGE)


def assert_limited(response: Response, rule: str) -> int:
    """The response is a JSON 429 naming the rule, with a usable Retry-After; returns it."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"
    assert rule in response.json()["detail"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 3600
    return retry_after


def test_defaults_refuse_a_burst_of_new_conversations(client: TestClient) -> None:
    # The probe from the issue: 60 new conversations went through in 0.4 s.
    statuses = [client.post("/api/v1/conversations").status_code for _ in range(60)]
    assert statuses.count(201) == 30
    assert set(statuses[30:]) == {429}
    assert_limited(client.post("/api/v1/conversations"), "conversations")


def test_each_customer_route_has_its_limit(db_url: str, tmp_path: Path, knowledge: None) -> None:
    app = make_app(
        db_url,
        tmp_path,
        rate_limit_handoffs="2/minute",
        rate_limit_conversation_messages="3/minute",
        rate_limit_feedback="1/minute",
    )
    with TestClient(app) as client:
        customer = start_conversation(client)
        replies = [
            client.post(customer.messages_url, json={"text": "hello"}, headers=customer.headers)
            for _ in range(3)
        ]
        assert [r.status_code for r in replies] == [200, 200, 200]
        refused = client.post(customer.messages_url, json={"text": "hi"}, headers=customer.headers)
        assert_limited(refused, "conversation_messages")
        stored = client.get(customer.messages_url, headers=customer.headers).json()["messages"]
        assert [m["text"] for m in stored if m["role"] == "customer"] == ["hello"] * 3

        # Another conversation from the same address has its own per-conversation budget.
        other = start_conversation(client)
        sent = client.post(other.messages_url, json={"text": "hello"}, headers=other.headers)
        assert sent.status_code == 200

        bot_reply = replies[0].json()["reply"]["id"]
        feedback_url = f"/api/v1/messages/{bot_reply}/feedback"
        first = client.post(feedback_url, json={"helpful": True}, headers=customer.headers)
        assert first.status_code == 200
        second = client.post(feedback_url, json={"helpful": False}, headers=customer.headers)
        assert_limited(second, "feedback")

        handoff = f"/api/v1/conversations/{customer.id}/handoff"
        assert client.post(handoff, headers=customer.headers).status_code == 200
        assert client.post(handoff, headers=other.headers).status_code == 404
        assert_limited(client.post(handoff, headers=customer.headers), "handoffs")


def test_a_wrong_token_cannot_use_up_the_customers_budget(
    db_url: str, tmp_path: Path, knowledge: None
) -> None:
    app = make_app(db_url, tmp_path, rate_limit_conversation_messages="2/minute")
    with TestClient(app) as client:
        customer = start_conversation(client)
        intruder = Customer(customer.id, "not-the-token")
        for _ in range(3):
            client.post(intruder.messages_url, json={"text": "x"}, headers=intruder.headers)
        sent = client.post(customer.messages_url, json={"text": "hello"}, headers=customer.headers)
        assert sent.status_code == 200


def test_messages_per_address_span_conversations(
    db_url: str, tmp_path: Path, knowledge: None
) -> None:
    app = make_app(db_url, tmp_path, rate_limit_messages="4/minute")
    with TestClient(app) as client:
        customers = [start_conversation(client) for _ in range(3)]
        statuses = [
            client.post(c.messages_url, json={"text": "hello"}, headers=c.headers).status_code
            for c in customers * 2
        ]
        assert statuses == [200, 200, 200, 200, 429, 429]


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    db_url: str, tmp_path: Path, knowledge: None
) -> None:
    app = make_app(
        db_url, tmp_path, rate_limit_conversations="1/hour", trusted_proxies=[f"{PROXY}/32"]
    )
    spoofed = {"X-Forwarded-For": "198.51.100.7"}
    with TestClient(app, client=("203.0.113.9", 5000)) as direct:
        # Not from a proxy: a made-up X-Forwarded-For buys no fresh budget.
        assert direct.post("/api/v1/conversations", headers=spoofed).status_code == 201
        again = {"X-Forwarded-For": "198.51.100.8"}
        assert_limited(direct.post("/api/v1/conversations", headers=again), "conversations")
    with TestClient(app, client=(PROXY, 5000)) as proxy:
        # Behind the proxy, clients are told apart by the address it names.
        for address in ("198.51.100.1", "198.51.100.2"):
            forwarded = {"X-Forwarded-For": f"{address}, {PROXY}"}
            assert proxy.post("/api/v1/conversations", headers=forwarded).status_code == 201
        forwarded = {"X-Forwarded-For": "198.51.100.1"}
        assert_limited(proxy.post("/api/v1/conversations", headers=forwarded), "conversations")


def test_the_sign_in_form_is_limited_per_address(db_url: str, tmp_path: Path) -> None:
    add_account(db_url, "sam@staff.example")
    app = make_app(db_url, tmp_path, rate_limit_login="2/minute")
    with TestClient(app) as client:
        client.get("/login")

        def attempt(headers: dict[str, str]) -> Response:
            form = {
                "email": "sam@staff.example",
                "password": "wrong password here",
                "csrf_token": client.cookies.get("chatbot_login_csrf", ""),
            }
            return client.post("/login", data=form, headers=headers)

        html = {"Accept": "text/html"}
        assert [attempt(html).status_code for _ in range(2)] == [401, 401]
        page = attempt(html)
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert int(page.headers["retry-after"]) >= 1
        assert "Too many sign-in attempts from your network" in page.text
        assert_limited(attempt({"Accept": "application/json"}), "login")


def test_limits_can_be_turned_off(db_url: str, tmp_path: Path, knowledge: None) -> None:
    app = make_app(db_url, tmp_path, rate_limits_enabled=False, rate_limit_conversations="1/hour")
    with TestClient(app) as client:
        statuses = {client.post("/api/v1/conversations").status_code for _ in range(3)}
    assert statuses == {201}


def test_a_store_that_fails_lets_requests_through() -> None:
    # Nothing listens on port 1: Redis is down. The limits must not take the chat down (the
    # app itself refuses to start without its Redis; this is Redis failing later).
    async def tries() -> list[int]:
        limiter = RateLimiter({"login": "1/minute"}, "redis://127.0.0.1:1/0")
        try:
            return [await limiter.hit("login", "192.0.2.1") for _ in range(3)]
        finally:
            await limiter.close()

    assert asyncio.run(tries()) == [0, 0, 0]


@pytest.mark.parametrize(
    ("peer", "counted_as"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
        ("testclient", "testclient"),
    ],
)
def test_client_address_groups_ipv6_by_its_64(peer: str, counted_as: str) -> None:
    connection = HTTPConnection({"type": "http", "client": (peer, 1), "headers": []})
    assert client_address(connection) == counted_as


# ---- Redis: the same limits across replicas


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("CHATBOT_TEST_REDIS_URL")
    if not url:
        pytest.skip("CHATBOT_TEST_REDIS_URL is not set: Redis tests skipped")
    return url


@pytest.fixture
def two_replicas(
    db_url: str, tmp_path: Path, knowledge: None, redis_url: str
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one database and one Redis, both behind the same trusted proxy."""
    overrides = {
        "redis_url": redis_url,
        "rate_limit_conversations": "3/hour",
        "trusted_proxies": [PROXY],
    }
    first = make_app(db_url, tmp_path / "a", **overrides)
    second = make_app(db_url, tmp_path / "b", **overrides)
    with (
        TestClient(first, client=(PROXY, 1)) as one,
        TestClient(second, client=(PROXY, 1)) as two,
    ):
        yield one, two


def test_replicas_share_the_limits_through_redis(
    two_replicas: tuple[TestClient, TestClient],
) -> None:
    one, two = two_replicas
    # A fresh address for this run, so that counts left in Redis by earlier runs do not matter.
    caller = {"X-Forwarded-For": f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"}
    statuses = [
        replica.post("/api/v1/conversations", headers=caller).status_code
        for replica in (one, two, one, two)
    ]
    assert statuses == [201, 201, 201, 429]
    retry_after = assert_limited(two.post("/api/v1/conversations", headers=caller), "conversations")
    assert retry_after > 60  # the hour's window, not a per-process reset


def test_the_redis_store_counts_and_reports_the_wait(redis_url: str) -> None:
    key = uuid.uuid4().hex

    async def tries() -> list[int]:
        limiter = RateLimiter({"login": "2/minute"}, redis_url)
        try:
            return [await limiter.hit("login", key) for _ in range(3)]
        finally:
            await limiter.close()

    waits = asyncio.run(tries())
    assert waits[:2] == [0, 0]
    assert 1 <= waits[2] <= 60


def test_installations_sharing_a_redis_count_apart(redis_url: str) -> None:
    key = uuid.uuid4().hex

    async def tries(prefix: str, times: int) -> list[int]:
        limiter = RateLimiter({"login": "1/minute"}, redis_url, redis_prefix=prefix)
        try:
            return [await limiter.hit("login", key) for _ in range(times)]
        finally:
            await limiter.close()

    shop, other = f"shop-{key}", f"other-{key}"
    assert asyncio.run(tries(shop, 2))[1] > 0
    assert asyncio.run(tries(other, 1)) == [0]
