"""Apply Alembic migrations from code (the CLI's `db upgrade`, tests, `make run`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# Inside the package, so an installed wheel can migrate a database too.
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    # Built here rather than read from alembic.ini, which an installed package does not have.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # `%` would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


# Full-text search objects created by raw SQL in migration 0003; the models do not declare them.
SEARCH_OBJECTS = ("messages_fts", "ix_messages_text_search", "ix_messages_text_trgm")
# The analytics covering index of migration 0011 (an expression index on SQLite).
ANALYTICS_OBJECTS = ("ix_messages_analytics",)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: compare everything except the objects migrations make in raw SQL."""
    return not (name or "").startswith(SEARCH_OBJECTS + ANALYTICS_OBJECTS)
