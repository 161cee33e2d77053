"""Counting the SQL a piece of work sends: for tests that a path reads no more than it should."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session


def statements(session: Session, work: Callable[[], object]) -> list[str]:
    """The SQL statements ``work`` sent through ``session``'s connection, in order."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen
