"""Staff presence, offline requests and queue e-mails.

``staff_presence`` holds each staff member's choice (available or away); ``console_connections``
one row per open live-console tab on any replica, refreshed while the tab's socket lives. A
person can come when someone available has a fresh connection.

``conversations`` gains ``contact_email`` and ``offline_since`` (a customer who found nobody
left a message and an address: staff replies go there by e-mail) and ``staff_emailed_at`` (staff
on duty were told by e-mail that it waits). New tables and nullable columns: no data moves.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (as in 0010).
    op.add_column("conversations", sa.Column("contact_email", sa.String(255), nullable=True))
    for column in ("offline_since", "staff_emailed_at"):
        op.add_column("conversations", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "staff_presence",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "available",
                "away",
                name="presencestatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staff_presence_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_presence")),
    )
    op.create_table(
        "console_connections",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_console_connections_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_connections")),
    )
    op.create_index(op.f("ix_console_connections_user_id"), "console_connections", ["user_id"])
    op.create_index(op.f("ix_console_connections_seen_at"), "console_connections", ["seen_at"])


def downgrade() -> None:
    op.drop_table("console_connections")
    op.drop_table("staff_presence")
    for column in ("staff_emailed_at", "offline_since", "contact_email"):
        op.drop_column("conversations", column)
