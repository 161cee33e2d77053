"""PostgreSQL finds Chinese inside a longer run of Chinese: a trigram index (pg_trgm) on message
text for substring search, as SQLite's FTS5 trigram table does. Words in other scripts keep the
tsvector index of 0003.

The extension goes into the public schema so that every schema of the database sees it (the
tests migrate schemas of their own); `pg_trgm` is a trusted extension: a database owner may
create it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:15:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        op.execute(
            "CREATE INDEX ix_messages_text_trgm ON messages USING gin (text public.gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_text_trgm")
