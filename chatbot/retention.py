"""Retention: what is older than the configured periods goes, and conversations abandoned longer
than the idle time close, from `chatbot retention run` and from a periodic job in every server
(each run is idempotent, so replicas may overlap)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from chatbot.attachments import AttachmentFiles
from chatbot.config import Settings
from chatbot.conversation import takeover
from chatbot.db import privacy
from chatbot.db.session import Database
from chatbot.events import Event, EventBus

log = logging.getLogger(__name__)
EVERY_S = 3600.0
IDLE_EVERY_S = 60.0  # how often the server looks for idle conversations to close


def run(session: Session, settings: Settings) -> privacy.Erased:
    """Delete expired conversations (with their corrections) and old sign-in attempts."""
    days = settings.conversation_retention_days
    return privacy.expire(
        session,
        conversation_retention=timedelta(days=days) if days else None,
        login_attempt_retention=timedelta(days=settings.login_attempt_retention_days),
    )


def remove_files(settings: Settings, erased: privacy.Erased) -> None:
    """Remove the attachment files of the conversations :func:`run` deleted, once committed."""
    AttachmentFiles.of(settings).remove(erased.files)


@dataclass(frozen=True)
class IdleClosed:
    """What :func:`close_idle` did: how many it closed, and what to publish once committed."""

    count: int = 0
    announcements: list[tuple[str, Event]] = field(default_factory=list)


def close_idle(
    session: Session, settings: Settings, view: takeover.MessageView | None = None
) -> IdleClosed:
    """Close the conversations idle longer than CHATBOT_CONVERSATION_IDLE_MINUTES (0: never);
    with ``view`` (a message's JSON) it also says what to announce."""
    minutes = settings.conversation_idle_minutes
    if not minutes:
        return IdleClosed()
    changes = takeover.close_idle(session, timedelta(minutes=minutes))
    if changes:
        log.info("closed %d conversations idle for %d minutes", len(changes), minutes)
    if view is None:
        return IdleClosed(len(changes))
    announcements = [
        event for change in changes for event in takeover.announcements(session, change, view)
    ]
    return IdleClosed(len(changes), announcements)


async def periodically(
    db: Database,
    settings: Settings,
    bus: EventBus | None = None,
    view: takeover.MessageView | None = None,
) -> None:
    """Run retention now and then every EVERY_S seconds, and close idle conversations every
    IDLE_EVERY_S (announced on ``bus``), until cancelled; a failed run is logged and tried
    again at the next turn."""
    every_s, idle_every_s = EVERY_S, IDLE_EVERY_S
    last_expiry: float | None = None
    while True:
        if last_expiry is None or time.monotonic() - last_expiry >= every_s:
            last_expiry = time.monotonic()
            try:
                erased = await db.write(lambda session: run(session, settings))
                await asyncio.to_thread(remove_files, settings, erased)
                if any(erased.as_dict().values()):
                    log.info("retention: deleted %s", erased.as_dict())
            except Exception:
                log.exception("retention run failed; trying again in %.0f s", every_s)
        try:
            closed = await db.write(lambda session: close_idle(session, settings, view))
            if bus is not None:
                for channel, event in closed.announcements:
                    bus.publish(channel, event)
        except Exception:
            log.exception("closing idle conversations failed; trying again in %.0f s", idle_every_s)
        await asyncio.sleep(min(every_s, idle_every_s))
