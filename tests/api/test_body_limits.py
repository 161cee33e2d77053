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


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "token-without-scheme"]
)
def test_without_a_bearer_token_broken_json_is_401_not_422(
    client: TestClient, customer: Customer, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post(customer.messages_url, content=b'{"text": "\x00{[', headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "bearer token" in response.json()["detail"]


def test_without_a_bearer_token_a_large_body_is_refused_before_it_is_read(
    client: TestClient, customer: Customer
) -> None:
    def chunks() -> object:  # 5 MB of broken JSON, with no Content-Length to judge it by
        for _ in range(500):
            yield b"{[" * 5_000

    response = client.post(
        customer.messages_url,
        content=chunks(),  # type: ignore[arg-type]
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401, response.text  # read, it would be 413
    # One declaring its length past the limit is refused by that alone, also unread.
    declared = client.post(
        customer.messages_url,
        content=b"{[" * 2_500_000,
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413


@pytest.mark.parametrize(
    "path",
    [
        "/conversations/{id}/offline",
        "/conversations/{id}/satisfaction",
        "/conversations/{id}/attachments",
        "/messages/1/feedback",
    ],
)
def test_every_customer_route_with_a_body_asks_for_the_token_first(
    client: TestClient, customer: Customer, path: str
) -> None:
    url = "/api/v1" + path.format(id=customer.id)
    response = client.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    with_token = client.post(
        url, content=b"{not json", headers={**customer.headers, "Content-Type": "application/json"}
    )
    assert with_token.status_code in {400, 422}, with_token.text  # then the body is looked at
