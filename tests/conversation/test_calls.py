"""An action's HTTP call against a real local service: found, not found, slow, failing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from chatbot.conversation.calls import ActionCall, call, call_async
from chatbot.knowledge.actions import action_from_json
from tests.order_api import (
    FAILING,
    SLOW,
    TOKEN,
    TRICKLING,
    OrderApi,
    order_action,
    order_api,
    order_lookup,
)

SECRETS = {"CHATBOT_ACTION_SECRET_ORDERS_TOKEN": TOKEN}


@pytest.fixture
def api() -> Iterator[OrderApi]:
    with order_api() as running:
        yield running


def lookup(api: OrderApi, number: str, language: str = "en") -> ActionCall:
    return ActionCall("order_status", order_action(api.url), {"order_number": number}, language)


def test_a_found_order_is_answered_from_the_response(api: OrderApi) -> None:
    outcome = call(lookup(api, "AB1234"), SECRETS)

    assert (outcome.answer, outcome.status, outcome.failure) == (
        "Order AB1234 is **shipped** (DHL).",
        200,
        None,
    )
    [(method, path, headers)] = api.requests
    assert (method, path, headers["authorization"]) == ("GET", "/orders/AB1234", f"Bearer {TOKEN}")


def test_the_answer_is_in_the_customers_language(api: OrderApi) -> None:
    assert call(lookup(api, "AB1234", "zh-CN"), SECRETS).answer == "订单 AB1234 状态：shipped"


def test_not_found_is_an_answer_too(api: OrderApi) -> None:
    outcome = call(lookup(api, "ZZ9999"), SECRETS)

    assert (outcome.answer, outcome.status) == ("I can't find order ZZ9999.", 404)


def test_a_slow_service_times_out(api: OrderApi) -> None:
    outcome = call(lookup(api, SLOW), SECRETS)

    assert (outcome.answer, outcome.failure) == (None, "timeout")


def test_a_trickling_answer_times_out_on_the_whole_call(api: OrderApi) -> None:
    outcome = call(lookup(api, TRICKLING), SECRETS)

    assert (outcome.answer, outcome.failure) == (None, "timeout")


def test_a_server_error_is_a_failure(api: OrderApi) -> None:
    outcome = call(lookup(api, FAILING), SECRETS)

    assert (outcome.answer, outcome.failure, outcome.status) == (None, "status 500", 500)


def test_a_missing_secret_fails_without_calling(api: OrderApi) -> None:
    outcome = call(lookup(api, "AB1234"), {})

    assert outcome.failure == "secret ORDERS_TOKEN is not set"
    assert api.requests == []


def test_slot_values_cannot_change_the_path() -> None:
    with order_api() as api:
        call(lookup(api, "../admin?x=1"), SECRETS)

    assert api.requests[0][1] == "/orders/..%2Fadmin%3Fx%3D1"


def test_the_template_cannot_reach_python_internals(api: OrderApi) -> None:
    action = order_lookup(api.url)
    action["answer"] = {"en": "{{ response.__class__.__mro__ }}{{ slots.pop('order_number') }}"}

    outcome = call(ActionCall("o", action_from_json(action), {"order_number": "AB1234"}), SECRETS)

    assert outcome.answer is None and outcome.failure is not None
    assert outcome.failure.startswith("template failed")


def test_the_log_names_the_call_but_no_secret_and_no_slot_value(
    api: OrderApi, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="chatbot.conversation.calls"):
        call(lookup(api, "AB1234"), SECRETS)
        call(lookup(api, FAILING), SECRETS)

    found, failed = caplog.records
    assert found.getMessage().startswith(
        f"action order_status: GET {api.url}/orders/{{order_number}} -> 200 in "
    )
    assert failed.levelno == logging.WARNING and "-> 500" in failed.getMessage()
    assert found.action["status"] == 200 and found.action["ms"] >= 0  # type: ignore[attr-defined]
    for record in caplog.records:
        assert TOKEN not in caplog.text and TOKEN not in str(vars(record))
        assert "AB1234" not in record.getMessage()


def test_the_async_call_gives_the_same_outcomes(api: OrderApi) -> None:
    async def both() -> list[str | None]:
        found = await call_async(lookup(api, "AB1234"), SECRETS)
        slow = await call_async(lookup(api, SLOW), SECRETS)
        trickling = await call_async(lookup(api, TRICKLING), SECRETS)
        return [found.answer, slow.failure, trickling.failure]

    assert asyncio.run(both()) == ["Order AB1234 is **shipped** (DHL).", "timeout", "timeout"]
