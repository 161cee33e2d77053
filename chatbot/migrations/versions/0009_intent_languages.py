"""One intent in several languages: an answer per language, a language per phrasing.

``intents.answers`` holds the answers in the intent's other languages as a JSON object
(language tag -> answer; empty for every existing intent, whose one answer stays in ``answer``).
``phrasings.language`` names each phrasing's language; existing phrasings take their intent's,
which is what they meant until now. Nothing is merged here: ``chatbot knowledge
merge-languages`` joins ``x`` / ``x_zh`` pairs when an admin asks.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: recreating `intents` on SQLite would drop the old table
    # and, with foreign keys on, cascade-delete every phrasing.
    op.add_column(
        "intents", sa.Column("answers", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
    )
    op.add_column(
        "phrasings", sa.Column("language", sa.String(16), nullable=False, server_default="en")
    )
    op.execute(
        "UPDATE phrasings SET language = "
        "(SELECT intents.language FROM intents WHERE intents.id = phrasings.intent_id)"
    )


def downgrade() -> None:
    # Going back keeps each intent's first-language answer; the others' answers are lost.
    op.drop_column("phrasings", "language")
    op.drop_column("intents", "answers")
