"""The audit log: every admin action, who did it, when, and the state before and after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.models import AuditEntry


def record(
    session: Session,
    actor: str | None,
    action: str,
    target: str | None = None,
    *,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction: it commits, or rolls back, with the change.

    Args:
        actor: the email of who did it; None for the command line.
        action: dotted verb, e.g. ``intent.update``, ``model.activate``, ``user.disable``.
        before, after: JSON-serialisable snapshots of what changed.
    """
    entry = AuditEntry(actor=actor, action=action, target=target, before=before, after=after)
    session.add(entry)
    session.flush()
    return entry


def list_entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[AuditEntry]:
    """Entries newest first; ``action`` matches a prefix (``intent.`` finds every intent change)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return session.scalars(query).all()
