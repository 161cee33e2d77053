"""What every command shares: the user's-mistake error, database sessions, figures as printed."""

from __future__ import annotations

from typing import Any

from chatbot.config import Settings


class UserError(Exception):
    """The user's mistake: reported in one line, exit status 2, no traceback."""


# Engines a command opened, closed when it ends (tests run many commands in one process).
_opened: list[Any] = []


def session_factory(settings: Settings) -> Any:
    from chatbot.db.session import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    _opened.append(engine)
    return make_session_factory(engine)


def close_opened() -> None:
    while _opened:
        _opened.pop().dispose()


def accounts_session(settings: Settings) -> Any:
    """A session on a database that has the accounts table, else a one-line DatabaseNotReady."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from chatbot.db.accounts import count_users
    from chatbot.runtime import DatabaseNotReady

    session = session_factory(settings)()
    try:
        count_users(session)
    except (OperationalError, ProgrammingError) as exc:
        session.close()
        raise DatabaseNotReady(
            f"the database at {settings.resolved_database_url} has no accounts table: "
            "run `chatbot db upgrade` first"
        ) from exc
    return session


def figure(value: object) -> object:
    return f"{value:.4f}" if isinstance(value, float) else value
