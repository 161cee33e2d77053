"""Shared fixtures: a rolled-back transaction per test, the real encoder once per session.

The migrated template database and the model-marker check live in the root conftest.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db.migrate import upgrade
from chatbot.db.session import make_engine
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.runtime import load_encoder


@pytest.fixture
def db_url(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database of this test's own (for CLI runs and apps)."""
    path = tmp_path / "chatbot.db"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def engine(migrated_sqlite_template: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{migrated_sqlite_template}")
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test, whatever it committed."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("CHATBOT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CHATBOT_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, migrated schema of the shared test database;
    the schema is dropped after the test."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        upgrade(rendered)
        yield rendered
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CHATBOT_TEST_REDIS_URL")
    if not url:
        pytest.skip("CHATBOT_TEST_REDIS_URL is not set: Redis tests skipped")
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    import redis

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"*{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def real_encoder() -> SentenceEncoder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session (about 4 s)."""
    return load_encoder(Settings(torch_threads=0))
