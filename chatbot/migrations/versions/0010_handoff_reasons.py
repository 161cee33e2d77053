"""Why a conversation went to a person, and when: what the analytics dashboard counts.

``messages.handoff_reason`` says why the bot handed off (``asked``, ``low_confidence``,
``repeated_fallback``); earlier handoffs keep NULL (the dashboard shows them as not recorded).
``conversations.handed_off_at`` is when a person was first involved: existing conversations take
their first handoff or staff message, or their last activity when people hold them now.
``ix_messages_created_at`` serves every figure taken over a period.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: recreating `messages` on SQLite would drop its
    # full-text triggers.
    op.add_column("messages", sa.Column("handoff_reason", sa.String(32), nullable=True))
    op.add_column(
        "conversations", sa.Column("handed_off_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.execute(
        "UPDATE conversations SET handed_off_at = (SELECT min(messages.created_at) FROM messages "
        "WHERE messages.conversation_id = conversations.id "
        "AND (messages.action = 'handoff' OR messages.role = 'staff'))"
    )
    op.execute(
        "UPDATE conversations SET handed_off_at = updated_at "
        "WHERE handed_off_at IS NULL AND status IN ('waiting', 'with_staff')"
    )


def downgrade() -> None:
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_column("conversations", "handed_off_at")
    op.drop_column("messages", "handoff_reason")
