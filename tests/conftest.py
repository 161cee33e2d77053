"""Shared fixtures: a migrated database per session, a rolled-back transaction per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db.migrate import upgrade
from chatbot.db.session import make_engine
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.runtime import load_encoder


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; tests that need their own file copy it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


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


@pytest.fixture(scope="session")
def real_encoder() -> SentenceEncoder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session (about 4 s)."""
    return load_encoder(Settings(torch_threads=0))
