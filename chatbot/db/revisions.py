"""What serving processes follow, read in one query: the knowledge base's revision, the
settings' revision and the active model version."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.app_settings import REVISION_KEY
from chatbot.db.models import AppSetting, KnowledgeBase, ModelVersion


@dataclass(frozen=True)
class Revisions:
    knowledge: int
    settings: int
    active_version: str | None


def current(session: Session, knowledge_base: str = "default") -> Revisions:
    """The three revisions, as of this transaction (0 / None where nothing is stored yet)."""
    knowledge, settings, active = session.execute(
        select(
            select(KnowledgeBase.revision)
            .where(KnowledgeBase.name == knowledge_base)
            .scalar_subquery(),
            select(AppSetting.value).where(AppSetting.key == REVISION_KEY).scalar_subquery(),
            select(ModelVersion.version).where(ModelVersion.is_active).limit(1).scalar_subquery(),
        )
    ).one()
    return Revisions(int(knowledge or 0), int(settings or 0), active)
