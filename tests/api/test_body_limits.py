"""Bodies past their route's limit are refused with 413 before they are read, never parsed."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.main import CONSOLE_BODY_LIMIT, customer_body_limit
from tests.api.conftest import Customer, Staff


def test_the_longest_allowed_message_fits_even_fully_escaped(
    client: TestClient, customer: Customer, settings: Settings
) -> None:
    text = "退" * settings.max_message_chars
    body = json.dumps({"text": text})  # ensure_ascii: every character as \\uXXXX
    assert len(body) <= customer_body_limit(settings)
    response = client.post(
        customer.messages_url,
        content=body,
        headers={**customer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("size", [200_000, 30_000_000])
def test_an_oversized_message_body_is_413_not_read(
    client: TestClient, customer: Customer, size: int
) -> None:
    body = b'{"text": "' + b"x" * size + b'"}'
    response = client.post(
        customer.messages_url,
        content=body,
        headers={**customer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is too large"}
    transcript = client.get(customer.messages_url, headers=customer.headers).json()
    assert transcript["messages"] == []  # nothing stored


def test_a_streamed_body_without_a_length_is_cut_off_too(
    client: TestClient, customer: Customer, settings: Settings
) -> None:
    def chunks() -> object:
        yield b'{"text": "'
        for _ in range(100):
            yield b"y" * 10_000
        yield b'"}'

    response = client.post(
        customer.messages_url,
        content=chunks(),  # type: ignore[arg-type]
        headers={**customer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"].lower()


def test_console_json_has_its_own_limit(client: TestClient, admin: Staff) -> None:
    body = json.dumps({"text": "z" * (CONSOLE_BODY_LIMIT + 10)})
    response = client.post(
        "/api/v1/admin/models/whatever/ask",
        content=body,
        headers={**admin.token_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_a_body_under_the_limit_is_still_validated_as_usual(
    client: TestClient, customer: Customer
) -> None:
    response = client.post(customer.messages_url, json={"txt": 1}, headers=customer.headers)
    assert response.status_code == 422
