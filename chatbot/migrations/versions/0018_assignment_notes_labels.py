"""Assignment, private notes and labels.

``staff_presence`` gains ``last_assigned_at`` (automatic assignment goes round the available
staff, least recently assigned first) and ``conversations`` gains ``reminded_at`` (the assignee
was reminded that the customer waits for a reply, once per wait). ``conversation_notes`` holds
staff notes the customer never sees; ``conversation_labels`` the labels staff put on
conversations. Nullable columns and new tables: no data moves.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (as in 0010).
    op.add_column(
        "staff_presence", sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "conversations", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_conversation_notes_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notes")),
    )
    op.create_index(
        op.f("ix_conversation_notes_conversation_id"), "conversation_notes", ["conversation_id"]
    )
    op.create_table(
        "conversation_labels",
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("added_by", sa.String(255), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_labels_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "label", name=op.f("pk_conversation_labels")),
    )
    op.create_index(op.f("ix_conversation_labels_label"), "conversation_labels", ["label"])


def downgrade() -> None:
    op.drop_table("conversation_labels")
    op.drop_table("conversation_notes")
    op.drop_column("conversations", "reminded_at")
    op.drop_column("staff_presence", "last_assigned_at")
