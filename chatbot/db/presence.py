"""Who is on duty: staff members' available/away choice and their open live-console tabs.

Kept in the database, not in a process: with several replicas a tab's socket lives on one of
them, while a customer's request for a person may reach another. A staff member is available
while they chose "available" and at least one of their console tabs is connected; closing the
last tab drops them at once, and a replica that died stops counting after ``CONNECTION_TTL``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.orm import Session

from chatbot.db.base import utcnow
from chatbot.db.models import ConsoleConnection, PresenceStatus, StaffPresence, User

BEAT_S = 30.0  # how often an open tab refreshes its connection row
CONNECTION_TTL = timedelta(seconds=3 * BEAT_S)  # past this without a beat: gone


def status_of(session: Session, user_id: int) -> PresenceStatus:
    """What the staff member chose (away until they choose)."""
    row = session.get(StaffPresence, user_id)
    return row.status if row is not None else PresenceStatus.AWAY


def set_status(session: Session, user_id: int, status: PresenceStatus) -> None:
    row = session.get(StaffPresence, user_id)
    if row is None:
        session.add(StaffPresence(user_id=user_id, status=status))
    else:
        row.status = status
    session.flush()


def connect(session: Session, user_id: int, *, now: datetime | None = None) -> str:
    """A console tab opened: its connection id, to beat and to disconnect with."""
    now = now or utcnow()
    session.execute(
        delete(ConsoleConnection).where(ConsoleConnection.seen_at < now - CONNECTION_TTL)
    )
    connection = ConsoleConnection(id=str(uuid.uuid4()), user_id=user_id, seen_at=now)
    session.add(connection)
    session.flush()
    return connection.id


def beat(session: Session, connection_id: str, *, now: datetime | None = None) -> None:
    """The tab is still open."""
    session.execute(
        update(ConsoleConnection)
        .where(ConsoleConnection.id == connection_id)
        .values(seen_at=now or utcnow())
    )


def disconnect(session: Session, connection_id: str) -> None:
    """The tab closed (its socket ended)."""
    session.execute(delete(ConsoleConnection).where(ConsoleConnection.id == connection_id))


def _available(now: datetime) -> Select[User]:
    connected = exists().where(
        ConsoleConnection.user_id == User.id,
        ConsoleConnection.seen_at >= now - CONNECTION_TTL,
    )
    return (
        select(User)
        .join(StaffPresence, StaffPresence.user_id == User.id)
        .where(User.is_active, StaffPresence.status == PresenceStatus.AVAILABLE, connected)
    )


def available_staff(session: Session, *, now: datetime | None = None) -> Sequence[User]:
    """Staff members available now, in the order they were created."""
    query = _available(now or utcnow())
    return session.scalars(query.order_by(User.id)).all()


def anyone_available(session: Session, *, now: datetime | None = None) -> bool:
    query = _available(now or utcnow())
    count = session.scalar(select(func.count()).select_from(query.subquery()))
    return bool(count)


def is_connected(session: Session, user_id: int, *, now: datetime | None = None) -> bool:
    """Whether one of the user's console tabs is open."""
    now = now or utcnow()
    found = session.scalar(
        select(ConsoleConnection.id)
        .where(
            ConsoleConnection.user_id == user_id,
            ConsoleConnection.seen_at >= now - CONNECTION_TTL,
        )
        .limit(1)
    )
    return found is not None
