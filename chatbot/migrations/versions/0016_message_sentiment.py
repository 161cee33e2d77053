"""How customers feel: the sentiment of each customer message, and per conversation how many of
its messages were negative and positive (what the transcript list filters on and the frustration
signal counts, without reading the messages).

Earlier messages keep NULL (not analysed) and their conversations count 0: the analysis is the
application's, so a migration does not run it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: recreating `messages` on SQLite would drop its
    # full-text triggers.
    op.add_column("messages", sa.Column("sentiment", sa.String(8), nullable=True))
    op.add_column("messages", sa.Column("sentiment_score", sa.Float(), nullable=True))
    for name in ("negative_messages", "positive_messages"):
        op.add_column(
            "conversations",
            sa.Column(name, sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    op.drop_column("conversations", "positive_messages")
    op.drop_column("conversations", "negative_messages")
    op.drop_column("messages", "sentiment_score")
    op.drop_column("messages", "sentiment")
