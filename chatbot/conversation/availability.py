"""Whether a person can come now: inside a language's opening hours, with someone on duty."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from chatbot.db import presence
from chatbot.db.base import utcnow
from chatbot.hours import Schedule


def person_available(
    session: Session, schedule: Schedule | None, *, now: datetime | None = None
) -> bool:
    """A request for a person can be met now.

    Without opening hours (``schedule`` None) every request waits in the queue, as it always
    did: True. With hours: only inside them, and only while a staff member is available (chose
    so in the live console, which is open).

    Example:
        >>> person_available(session, Schedule.parse("mon-fri 09:00-17:00"))  # Sunday
        False
    """
    if schedule is None:
        return True
    now = now or utcnow()
    return schedule.is_open(now) and presence.anyone_available(session, now=now)
