"""Stored conversations for the tests of the staff console's transcripts
(tests/console/staff/test_transcripts.py) and of their export (tests/api/test_export.py): a
turn-by-turn builder and six conversations that differ in one attribute each.

The two fixtures are bound by name in the test modules that use them (pytest finds a fixture
among a module's names): ``settings`` replaces tests/api/conftest.py's there only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db import conversations as store
from chatbot.db.models import ConversationStatus, Role
from tests.api.conftest import Staff, committed

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Turn = tuple[Role, str, dict[str, Any]]


def asks(text: str) -> Turn:
    return (Role.CUSTOMER, text, {})


def answers(text: str, intent: str | None, confidence: float, action: str = "answer") -> Turn:
    return (Role.BOT, text, {"intent": intent, "confidence": confidence, "action": action})


def add_conversation(
    db_url: str,
    turns: list[Turn],
    *,
    age: timedelta = timedelta(0),
    status: ConversationStatus = ConversationStatus.BOT,
    language: str | None = "en",
    satisfaction: int | None = None,
    helpful: bool | None = None,
    updated_at: datetime | None = None,
) -> str:
    """A stored conversation, started ``age`` before NOW; returns its id."""
    with committed(db_url) as session:
        conversation, _token = store.start_conversation(session, language=language)
        last = None
        for role, text, fields in turns:
            last = store.add_message(session, conversation, role, text, **fields)
        if helpful is not None and last is not None:
            store.set_feedback(session, last, helpful)
        conversation.status = status
        conversation.satisfaction = satisfaction
        conversation.created_at = NOW - age
        conversation.updated_at = updated_at or NOW - age + timedelta(minutes=5)
        return conversation.id


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The stored transcripts below are days old and some still open: idle closing is off, so
    that each keeps the status it was given."""
    return Settings(database_url=db_url, data_dir=tmp_path, conversation_idle_minutes=0)


@pytest.fixture
def conversations(client: TestClient, staff: Staff, db_url: str) -> dict[str, str]:
    """Six conversations that differ in one attribute each; name -> id."""
    return {
        "delivery": add_conversation(
            db_url,
            [asks("When will my sofa arrive?"), answers("3-5 days", "delivery_time", 0.92)],
            age=timedelta(days=1),
            satisfaction=5,
        ),
        "unsure": add_conversation(
            db_url,
            [
                asks("how long will it take"),
                answers("Did you mean?", "refund_time", 0.41, "clarify"),
            ],
            age=timedelta(days=2),
            status=ConversationStatus.CLOSED,
            helpful=False,
        ),
        "fallback": add_conversation(
            db_url,
            [asks("do you offer gift wrapping"), answers("Sorry", "returns", 0.12, "fallback")],
            age=timedelta(days=3),
            status=ConversationStatus.WAITING,
        ),
        "chinese": add_conversation(
            db_url,
            [asks("我想退货，可以吗？"), answers("可以", "returns", 0.88)],
            age=timedelta(days=10),
            language="zh",
            status=ConversationStatus.WITH_STAFF,
        ),
        "british": add_conversation(
            db_url,
            [asks("How do I care for oiled oak?"), answers("Oil it", "wood_care", 0.75)],
            age=timedelta(days=20),
            language="en-GB",
        ),
        "silent": add_conversation(db_url, [], age=timedelta(days=30), language=None),
    }
