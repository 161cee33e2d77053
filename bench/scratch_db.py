"""A scratch database for the database benchmarks (analytics.py, transcripts.py).

A migrated SQLite file or PostgreSQL schema, dropped afterwards, and the rows and batched insert
of a synthetic history. Imported as `scratch_db`: the benchmarks run as `python bench/X.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Engine, insert, text

from chatbot.db.migrate import alembic_config, upgrade
from chatbot.db.models import Conversation, Message
from chatbot.db.session import make_engine

BATCH = 5_000  # conversations per executemany round


@dataclass
class Backend:
    name: str
    engine: Engine
    cleanup: Callable[[], None]


def sqlite_backend(path: Path) -> Backend:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    return Backend("SQLite", engine, engine.dispose)


def postgres_backend(url: str, prefix: str, *, keep: bool = False) -> Backend:
    """A fresh schema named ``prefix`` plus a random suffix; ``keep``: left for a look after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    def cleanup() -> None:
        engine.dispose()
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return Backend(f"PostgreSQL ({schema})" if keep else "PostgreSQL", engine, cleanup)


def message_row(
    conversation_id: str, role: str, body: str, at: datetime, **fields: Any
) -> dict[str, Any]:
    """A messages row: what the bot did is empty unless ``fields`` says it."""
    row = {
        "conversation_id": conversation_id,
        "role": role,
        "text": body,
        "intent": None,
        "confidence": None,
        "action": None,
        "suggestions": [],
        "follow_ups": [],
        "model_version": None,
        "latency_ms": None,
        "helpful": None,
        "handoff_reason": None,
        "reply_to_id": None,
        "related": None,
        "related_from_id": None,
        "created_at": at,
    }
    row.update(fields)
    return row


def insert_history(
    engine: Engine, history: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> int:
    """Insert each (conversation, its messages) in batches; returns how many messages."""
    conversations: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    total = 0

    def flush() -> None:
        with engine.begin() as connection:
            connection.execute(insert(Conversation.__table__), conversations)
            connection.execute(insert(Message.__table__), messages)
        conversations.clear()
        messages.clear()

    for conversation, rows in history:
        conversations.append(conversation)
        messages.extend(rows)
        total += len(rows)
        if len(conversations) >= BATCH:
            flush()
    if conversations:
        flush()
    return total
