"""Log lines: JSON with the request and conversation ids; the request id echoed or made; no
customer's message text in any line at INFO or above, even when storing the message fails."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from chatbot.config import Settings
from chatbot.db.session import make_engine
from chatbot.logs import JsonFormatter, RequestIds, configure
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, STAFF_EMAIL, add_account, store_knowledge
from tests.fakes import HashingEncoder
from tests.servers import serving

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


# Words of the customer's that no log line may carry (each unlike anything else in a log).
PRIVATE = "Quokkaberry"
REFUSED = "Zanzibarite"  # a message with this word: the database refuses to store it

_REFUSE_ON_SQLITE = f"""
CREATE TRIGGER refuse_message BEFORE INSERT ON messages WHEN NEW.text LIKE '%{REFUSED}%'
BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END
"""
_REFUSE_ON_POSTGRES = [
    f"""CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.text LIKE '%{REFUSED}%' THEN RAISE EXCEPTION 'disk I/O error'; END IF;
      RETURN NEW;
    END $$""",
    "CREATE TRIGGER refuse_message BEFORE INSERT ON messages "
    "FOR EACH ROW EXECUTE FUNCTION refuse_message()",
]


def _database_refuses_some_messages(database_url: str) -> None:
    """Stands in for any failure of the INSERT itself: a full disk, a statement timeout."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                connection.execute(text(_REFUSE_ON_SQLITE))
            else:
                for statement in _REFUSE_ON_POSTGRES:
                    connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture
def every_line() -> Iterator[logging.StreamHandler[io.StringIO]]:
    """Takes every line at INFO or above from the app; uvicorn's too once it is added to the
    "uvicorn" logger (a uvicorn server sets that logger's handlers when it is made)."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.INFO)
    root, uvicorn = logging.getLogger(), logging.getLogger("uvicorn")
    level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    uvicorn.removeHandler(handler)
    root.removeHandler(handler)
    root.setLevel(level)


def test_no_line_at_info_carries_a_customers_words(
    db_url: str, tmp_path: Path, every_line: logging.StreamHandler[io.StringIO]
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    staff = {"Authorization": f"Bearer {add_account(db_url, STAFF_EMAIL)}"}
    _database_refuses_some_messages(db_url)
    settings = Settings(database_url=db_url, data_dir=tmp_path)
    with (
        serving(create_app(settings, encoder=HashingEncoder())) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        logging.getLogger("uvicorn").addHandler(every_line)
        created = client.post("/api/v1/conversations").json()
        customer = {"Authorization": f"Bearer {created['token']}"}
        conversation = f"/api/v1/conversations/{created['id']}"

        def say(words: str) -> httpx.Response:
            return client.post(f"{conversation}/messages", json={"text": words}, headers=customer)

        assert say(f"How do I return an item? My {PRIVATE} broke").status_code == 200
        assert say(f"{PRIVATE} {PRIVATE} {PRIVATE}").status_code == 200  # a fallback
        assert client.post(f"{conversation}/handoff", headers=customer).status_code == 200
        staff_reply = client.post(
            f"/api/v1/staff/conversations/{created['id']}/reply",
            json={"text": f"Sorry about your {PRIVATE}"},
            headers=staff,
        )
        assert staff_reply.status_code == 200, staff_reply.text
        assert say(f"Here is a photo of my {PRIVATE}").status_code == 200
        refused = say(f"My {REFUSED} arrived broken too")
    assert refused.status_code == 500
    logged = every_line.stream.getvalue()
    assert "Exception in ASGI application" in logged  # the failure is logged, but not its data
    assert PRIVATE not in logged
    assert REFUSED not in logged
