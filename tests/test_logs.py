"""Log lines: JSON with the request and conversation ids; the request id echoed or made."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chatbot.logs import JsonFormatter, RequestIds, configure

log = logging.getLogger("tests.test_logs")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield stream
    log.removeHandler(handler)


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.add_middleware(RequestIds)

    @app.post("/conversations/{conversation_id}/messages")
    def send(conversation_id: str) -> dict[str, str]:
        log.info("turn taken", extra={"action": "answer"})
        return {}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        log.warning("no conversation here")
        return {}

    with TestClient(app) as client:
        yield client


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_names_its_request_and_conversation(client: TestClient, lines: io.StringIO) -> None:
    response = client.post("/conversations/c-42/messages")  # a sync route: another thread
    (line,) = records(lines)
    assert line["message"] == "turn taken"
    assert (line["level"], line["logger"], line["action"]) == ("INFO", "tests.test_logs", "answer")
    assert line["conversation_id"] == "c-42"
    assert line["request_id"] == response.headers["x-request-id"]
    assert len(str(line["request_id"])) == 32


def test_the_proxys_request_id_is_kept_when_sane(client: TestClient, lines: io.StringIO) -> None:
    kept = client.get("/plain", headers={"X-Request-ID": "edge-7f3a.1"})
    assert kept.headers["x-request-id"] == "edge-7f3a.1"
    made = client.get("/plain", headers={"X-Request-ID": "<script>" + "x" * 100})
    assert made.headers["x-request-id"] != "<script>" + "x" * 100
    first, second = records(lines)
    assert (first["request_id"], second["request_id"]) == (
        "edge-7f3a.1",
        made.headers["x-request-id"],
    )
    assert "conversation_id" not in first


def test_outside_a_request_a_line_has_no_ids(lines: io.StringIO) -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("job failed")
    (line,) = records(lines)
    assert "request_id" not in line
    assert "ValueError: broken" in str(line["exception"])


def test_configure_sends_every_logger_through_one_handler() -> None:
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = root.handlers[:], root.level, access.handlers[:], access.propagate
    try:
        configure("json")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert access.propagate and not access.handlers
    finally:
        root.handlers[:], level, access.handlers[:], access.propagate = saved
        root.setLevel(level)
