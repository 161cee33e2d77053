"""Migrations go up and down cleanly, on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from chatbot.db import models  # noqa: F401  (registers the tables on Base.metadata)
from chatbot.db.base import Base
from chatbot.db.migrate import alembic_config, downgrade, include_name, upgrade
from chatbot.db.session import make_engine

# Every table the models declare, plus Alembic's own.
TABLES = set(Base.metadata.tables) | {"alembic_version"}
COMPARE = {"compare_type": True, "include_name": include_name}


def table_names(connection: Connection, schema: str | None = None) -> set[str]:
    names = inspect(connection).get_table_names(schema=schema)
    return {name for name in names if include_name(name, "table", {})}


def head_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def test_upgrade_downgrade_upgrade_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'chatbot.db'}"
    engine = make_engine(url)
    try:
        upgrade(url)
        with engine.connect() as connection:
            assert table_names(connection) == TABLES
            assert head_revision(connection) is not None
        downgrade(url)
        with engine.connect() as connection:
            assert table_names(connection) <= {"alembic_version"}
            assert head_revision(connection) is None
        upgrade(url)
        with engine.connect() as connection:
            assert table_names(connection) == TABLES
    finally:
        engine.dispose()


# SQLAlchemy cannot reflect SQLite's expression index (migration 0011) and says so; include_name
# leaves it out of the comparison anyway.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index ix_messages_analytics"
)
def test_the_models_match_the_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatbot.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=COMPARE)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_downgrade_upgrade_on_postgresql(postgres_url: str) -> None:
    # The test database is shared: this test migrates a schema of its own and drops it after.
    schema = f"test_migrations_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    # Every connection of this engine, from its first, sees only the new schema.
    engine = make_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})

    def migrate(direction: str) -> None:
        with engine.begin() as connection:
            config = alembic_config(postgres_url)
            config.attributes["connection"] = connection
            if direction == "up":
                command.upgrade(config, "head")
            else:
                command.downgrade(config, "base")

    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        migrate("up")
        with engine.connect() as connection:
            assert connection.dialect.default_schema_name == schema
            assert table_names(connection) == TABLES
            assert head_revision(connection) is not None
            context = MigrationContext.configure(connection, opts=COMPARE)
            assert compare_metadata(context, Base.metadata) == []
        migrate("down")
        with engine.connect() as connection:
            assert table_names(connection) <= {"alembic_version"}
            assert head_revision(connection) is None
        migrate("up")
        with engine.connect() as connection:
            assert table_names(connection) == TABLES
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_0009_gives_existing_phrasings_their_intents_language(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatbot.db'}"
    upgrade(url, "0008")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO knowledge_bases (id, name, revision, updated_at, synonyms) "
                    "VALUES (1, 'default', 3, CURRENT_TIMESTAMP, '[]')"
                )
            )
            for id_, key, language in ((1, "track_order", "en"), (2, "track_order_zh", "zh")):
                connection.execute(
                    text(
                        "INSERT INTO intents (id, knowledge_base_id, key, answer, language, "
                        "follow_ups, created_at, updated_at) VALUES (:id, 1, :key, 'A', :lang, "
                        "'[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"id": id_, "key": key, "lang": language},
                )
                connection.execute(
                    text("INSERT INTO phrasings (intent_id, text, position) VALUES (:id, :t, 0)"),
                    {"id": id_, "t": f"phrasing of {key}"},
                )
        upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT intents.key, intents.answer, intents.answers, phrasings.language "
                    "FROM intents JOIN phrasings ON phrasings.intent_id = intents.id "
                    "ORDER BY intents.id"
                )
            ).all()
        assert [tuple(row) for row in rows] == [
            ("track_order", "A", "{}", "en"),
            ("track_order_zh", "A", "{}", "zh"),
        ]
        downgrade(url, "0008")  # and back: the phrasings stay
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM phrasings")).scalar_one()
        assert count == 2
    finally:
        engine.dispose()
