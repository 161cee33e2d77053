"""Actions with slots: an intent's action (``intents.action``: slots, HTTP call, answer
templates) and a conversation's slot filling in progress (``conversations.slot_filling``).
Two nullable JSON columns without a default: plain ADD COLUMN on both dialects.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("intents", sa.Column("action", sa.JSON(none_as_null=True), nullable=True))
    op.add_column(
        "conversations", sa.Column("slot_filling", sa.JSON(none_as_null=True), nullable=True)
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), never batch mode: recreating a table would drop the
    # full-text triggers that hang off its neighbours.
    op.drop_column("conversations", "slot_filling")
    op.drop_column("intents", "action")
