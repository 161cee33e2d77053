"""Retention: what is older than the configured periods goes, from `chatbot retention run` and
from a periodic job in every server (each run is idempotent, so replicas may overlap)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db import privacy
from chatbot.db.session import Database

log = logging.getLogger(__name__)
EVERY_S = 3600.0


def run(session: Session, settings: Settings) -> privacy.Erased:
    """Delete expired conversations (with their corrections) and old sign-in attempts."""
    days = settings.conversation_retention_days
    return privacy.expire(
        session,
        conversation_retention=timedelta(days=days) if days else None,
        login_attempt_retention=timedelta(days=settings.login_attempt_retention_days),
    )


async def periodically(db: Database, settings: Settings, every_s: float = EVERY_S) -> None:
    """Run retention now and then every ``every_s`` seconds until cancelled; a failed run is
    logged and tried again at the next turn."""
    while True:
        try:
            erased = await db.write(lambda session: run(session, settings))
            if any(erased.as_dict().values()):
                log.info("retention: deleted %s", erased.as_dict())
        except Exception:
            log.exception("retention run failed; trying again in %.0f s", every_s)
        await asyncio.sleep(every_s)
