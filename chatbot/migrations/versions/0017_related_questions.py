"""Related questions: the ones offered under a bot answer (``messages.related``) and, on a
customer message sent by clicking one, the answer that offered it (``messages.related_from_id``).
Two nullable columns without a default (no table rewrite on either dialect) and two partial
indexes holding only the rows that have them, so the dashboard counts offers and clicks from
small indexes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: recreating `messages` on SQLite would drop its
    # full-text triggers.
    op.add_column("messages", sa.Column("related", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("messages", sa.Column("related_from_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_messages_related_offered",
        "messages",
        ["created_at", "conversation_id", "intent"],
        sqlite_where=sa.text("related IS NOT NULL"),
        postgresql_where=sa.text("related IS NOT NULL"),
    )
    op.create_index(
        "ix_messages_related_clicked",
        "messages",
        ["created_at", "conversation_id", "related_from_id"],
        sqlite_where=sa.text("related_from_id IS NOT NULL"),
        postgresql_where=sa.text("related_from_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_related_clicked", table_name="messages")
    op.drop_index("ix_messages_related_offered", table_name="messages")
    op.drop_column("messages", "related_from_id")
    op.drop_column("messages", "related")
