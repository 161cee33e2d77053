"""The app on a test database of its own with a tiny knowledge base, and the fake encoder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db.knowledge import import_intents
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.knowledge.spec import IntentSpec
from chatbot.main import create_app
from tests.fakes import HashingEncoder

XSS = '<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2">'

# With the hashing encoder, "how long will it take" is close to both `delivery_time` and
# `refund_time` (the bot asks which), and "do you offer gift wrapping" matches nothing.
KNOWLEDGE = [
    IntentSpec(
        "returns",
        "You can return anything within **30 days**. Start from "
        "[Your orders](https://shop.example/orders).",
        ("How do I return an item?", "Can I send something back?", "What is your returns policy?"),
    ),
    IntentSpec(
        "refund_time",
        "Refunds arrive within 3-5 working days.",
        ("When will I get my refund?", "How long does a refund take?"),
    ),
    IntentSpec(
        "delivery_time",
        "Standard delivery takes 3-5 working days.",
        (
            "How long does delivery take?",
            "When will my order arrive?",
            "What are your shipping times?",
        ),
        follow_ups=("returns",),
    ),
    IntentSpec(
        "wood_care",
        f"**Oiled oak** likes a damp cloth. {XSS} [Care guide](javascript:alert(3))",
        ("How do I look after oiled oak?", "How should I clean my wooden board?"),
    ),
]


@dataclass(frozen=True)
class Customer:
    """A started conversation and the token that authorises its customer."""

    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def messages_url(self) -> str:
        return f"/api/v1/conversations/{self.id}/messages"


def store_knowledge(database_url: str, intents: list[IntentSpec]) -> None:
    """Import intents and commit, as `chatbot import-faq` would from another process."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            import_intents(session, intents, replace=False)
    finally:
        engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path)


@pytest.fixture
def app(settings: Settings, db_url: str) -> FastAPI:
    store_knowledge(db_url, KNOWLEDGE)
    return create_app(settings, encoder=HashingEncoder())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:  # entering runs the lifespan: the manager is built
        yield client


def start_conversation(client: TestClient, **body: str) -> Customer:
    response = client.post("/api/v1/conversations", json=body or None)
    assert response.status_code == 201, response.text
    created = response.json()
    return Customer(created["id"], created["token"])


@pytest.fixture
def customer(client: TestClient) -> Customer:
    return start_conversation(client)
