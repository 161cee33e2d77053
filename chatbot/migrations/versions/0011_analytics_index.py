"""One covering index for the analytics dashboard's message figures.

SQLite has no hash aggregation: grouping 300k messages by day sorts them all in a temporary
b-tree (about 0.5 s at 50k conversations). An index led by the day (``substr(created_at, 1, 10)``,
the expression ``chatbot.db.analytics`` groups by) and holding every column those queries read
lets SQLite stream the groups in index order without touching the table (about 0.1 s).
PostgreSQL aggregates by hashing; it gets the period's rows from an index-only scan.

Raw SQL, like the full-text objects of 0003: the models cannot declare an expression index for
one dialect only, and ``chatbot.db.migrate.include_name`` leaves it out of the comparison.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# In the order of the replies query's GROUP BY (after the day), so SQLite streams its groups.
GROUPED = "model_version, role, action, handoff_reason, helpful"
OTHERS = "conversation_id, intent, latency_ms"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE INDEX ix_messages_analytics ON messages "
            f"(substr(created_at, 1, 10), {GROUPED}, created_at, {OTHERS})"
        )
    else:
        op.execute(
            f"CREATE INDEX ix_messages_analytics ON messages (created_at) INCLUDE ({GROUPED}, {OTHERS})"
        )


def downgrade() -> None:
    op.execute("DROP INDEX ix_messages_analytics")
