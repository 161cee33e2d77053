"""Messages: the client's id for a sent message (a retry is stored once) and the customer
message a bot reply answers (one reply per message).

Plain ADD / DROP COLUMN rather than a batch rebuild: rebuilding `messages` on SQLite would drop
the full-text search triggers of migration 0003.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("client_id", sa.String(length=64), nullable=True))
    op.add_column("messages", sa.Column("reply_to_id", sa.Integer(), nullable=True))
    op.create_index(
        "ux_messages_conversation_id_client_id",
        "messages",
        ["conversation_id", "client_id"],
        unique=True,
    )
    op.create_index("ux_messages_reply_to_id", "messages", ["reply_to_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_messages_reply_to_id", table_name="messages")
    op.drop_index("ux_messages_conversation_id_client_id", table_name="messages")
    op.drop_column("messages", "reply_to_id")
    op.drop_column("messages", "client_id")
