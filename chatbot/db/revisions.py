"""What serving processes follow, read in one query: the knowledge base's revision, the
settings' revision, the active model version, and whether any webhook is enabled."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from chatbot.db.app_settings import REVISION_KEY
from chatbot.db.models import AppSetting, KnowledgeBase, ModelVersion, Webhook


@dataclass(frozen=True)
class Revisions:
    knowledge: int
    settings: int
    active_version: str | None
    # Enabled webhooks: with none (the usual case) a turn records its events without asking.
    webhooks: int = 0


# Every turn reads it: built once (building it cost more than running it).
_CURRENT = select(
    select(KnowledgeBase.revision)
    .where(KnowledgeBase.name == bindparam("knowledge_base"))
    .scalar_subquery(),
    select(AppSetting.value).where(AppSetting.key == REVISION_KEY).scalar_subquery(),
    select(ModelVersion.version).where(ModelVersion.is_active).limit(1).scalar_subquery(),
    select(func.count()).select_from(Webhook).where(Webhook.enabled).scalar_subquery(),
)

# In a session's info: (its transaction, the revisions read in it).
_SEEN = "revisions.seen"


def current(session: Session, knowledge_base: str = "default") -> Revisions:
    """The revisions, as of this transaction (0 / None where nothing is stored yet).

    Remembered for the rest of the transaction (:func:`seen`): what the turn records next
    relies on them rather than reading again.
    """
    knowledge, settings, active, webhooks = session.execute(
        _CURRENT, {"knowledge_base": knowledge_base}
    ).one()
    found = Revisions(int(knowledge or 0), int(settings or 0), active, int(webhooks or 0))
    session.info[_SEEN] = (session.get_transaction(), found)
    return found


def seen(session: Session) -> Revisions | None:
    """What :func:`current` read in this session's transaction, unless it has not or
    :func:`forget` was called since."""
    transaction, found = session.info.get(_SEEN, (None, None))
    if transaction is None or transaction is not session.get_transaction():
        return None
    return found


def forget(session: Session) -> None:
    """This transaction changed what :func:`current` read: read it again when asked."""
    session.info.pop(_SEEN, None)
