"""Shared fixtures: a rolled-back transaction per test, the real encoder once per session.

The migrated template database and the model-marker check live in the root conftest.py. With
``CHATBOT_TEST_BACKEND=postgres`` the same tests run on PostgreSQL and Redis (tests/backends.py).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import chatbot.main
from chatbot.config import Settings
from chatbot.db.session import make_engine
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.runtime import load_encoder
from tests import backends


def pytest_configure(config: pytest.Config) -> None:
    if backends.ON_POSTGRES:
        # Open question: now and then a pooled psycopg connection reaches the garbage collector
        # still open (pysqlite's never say so). Its warning surfaces in whichever test runs when
        # the collector does, so it cannot fail that test; tests/api/test_metrics.py saw it too.
        config.addinivalue_line(
            "filterwarnings",
            r"ignore:Exception ignored in. <function BaseConnection\.__del__"
            ":pytest.PytestUnraisableExceptionWarning",
        )


@pytest.fixture(scope="session", autouse=True)
def _production_backends(request: pytest.FixtureRequest) -> Iterator[None]:
    """On ``CHATBOT_TEST_BACKEND=postgres``, every app (and every process a test starts) uses
    Redis for live events and jobs, under a key prefix of this session's own."""
    if not backends.ON_POSTGRES:
        yield
        return
    redis_url = request.getfixturevalue("redis_url")
    request.getfixturevalue("postgres_url")  # both or neither: fail early, not per test
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHATBOT_REDIS_URL", redis_url)
        patch.setenv("CHATBOT_REDIS_PREFIX", prefix)
        patch.setattr(chatbot.main, "make_job_runner", backends.make_job_runner)
        try:
            yield
        finally:
            delete_keys(redis_url, prefix)


@pytest.fixture(autouse=True)
def _redis_keys_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's apps count rate limits and queue jobs under keys of their own."""
    if backends.ON_POSTGRES:
        session_prefix = os.environ["CHATBOT_REDIS_PREFIX"]
        monkeypatch.setenv("CHATBOT_REDIS_PREFIX", f"{session_prefix}-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def db_url(request: pytest.FixtureRequest, migrated_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated database of this test's own (for CLI runs and apps): a SQLite file, or
    a PostgreSQL schema on ``CHATBOT_TEST_BACKEND=postgres``."""
    if backends.ON_POSTGRES:
        return str(request.getfixturevalue("postgres_schema_url"))
    path = tmp_path / "chatbot.db"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest, migrated_sqlite_template: Path) -> Iterator[Engine]:
    """The session's shared, migrated database; each test's work on it is rolled back."""
    if backends.ON_POSTGRES:
        with backends.migrated_schema(request.getfixturevalue("postgres_url")) as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()
        return
    yield request.getfixturevalue("sqlite_engine")


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test, whatever it committed."""
    yield from _rolled_back(engine)


@pytest.fixture(scope="session")
def sqlite_engine(migrated_sqlite_template: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{migrated_sqlite_template}")
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_session(sqlite_engine: Engine) -> Iterator[Session]:
    """``db_session`` on SQLite whatever the backend, for tests of what only SQLite does."""
    yield from _rolled_back(sqlite_engine)


def _rolled_back(engine: Engine) -> Iterator[Session]:
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
    with backends.migrated_schema(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CHATBOT_TEST_REDIS_URL")
    if not url:
        pytest.skip("CHATBOT_TEST_REDIS_URL is not set: Redis tests skipped")
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_keys(redis_url, prefix)


def delete_keys(redis_url: str, prefix: str) -> None:
    import redis

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
