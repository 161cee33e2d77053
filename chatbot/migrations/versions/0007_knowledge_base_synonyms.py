"""Synonym groups per knowledge base: a JSON list of lists of terms on knowledge_bases.

Existing knowledge bases get an empty list. The whole list is read with the revision and written
at once (an admin edits it as one text, an import replaces it), so it needs no table of its own.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_bases") as batch:
        batch.add_column(
            sa.Column("synonyms", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_bases") as batch:
        batch.drop_column("synonyms")
