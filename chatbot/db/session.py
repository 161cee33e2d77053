"""Engines and sessions. SQLite gets WAL and foreign keys; PostgreSQL works from its URL alone.

The web app's hot paths go through :class:`Database`: each unit of work runs on a bounded set of
threads, opens its own session, commits and closes before it returns. No thread ever holds a
connection or SQLite's write lock while it waits for another thread, the model or a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def make_engine(
    url: str,
    *,
    read_only: bool = False,
    pool_size: int = 5,
    pool_timeout: float = 30,
    **kwargs: Any,
) -> Engine:
    """Create an engine; for SQLite, create the file's folder and set the pragmas we rely on.

    Args:
        read_only: (SQLite) transactions begin DEFERRED: under WAL, readers never wait for the
            writer. Only for sessions that never write.
        pool_size: connections kept open; ``pool_timeout`` seconds to wait for one before
            SQLAlchemy's TimeoutError (which the web app answers with 503 and Retry-After).
    """
    # A failed statement's error names its SQL, never its values: they hold customers' messages,
    # e-mail addresses and token digests, and the error is logged.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = not parsed.database or parsed.database == ":memory:"
        if not in_memory:  # an in-memory database has one connection per thread, no pool
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
            kwargs.setdefault("pool_size", pool_size)
            kwargs.setdefault("max_overflow", pool_size)
            kwargs.setdefault("pool_timeout", pool_timeout)
        # The web app serves requests from a thread pool: one connection may move between threads.
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINTs and transactional DDL: take over
        # (SQLAlchemy's documented recipe). IMMEDIATE takes the write lock up front: a deferred
        # transaction that reads, then writes after another one committed, fails at once with
        # "database is locked" instead of waiting out the busy timeout.
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", pool_timeout)
    kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("max_overflow", pool_size)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits at the end of the block, or rolls back on any error."""
    with factory() as session, session.begin():
        yield session


class Database:
    """Short units of work on bounded threads, each in a transaction of its own.

    Writers are as many as the pool has connections (one on SQLite, whose writers take turns
    anyway: a single writer thread never waits on the busy timeout). SQLite readers use a second
    engine whose transactions begin DEFERRED, so under WAL they never wait for the writer;
    PostgreSQL readers share the writers' engine and threads.

    Example:
        >>> db = Database("sqlite:///:memory:", pool_size=2)
        >>> from sqlalchemy import text
        >>> anyio.run(db.read, lambda session: session.scalar(text("SELECT 40 + 2")))
        42
        >>> db.dispose()
    """

    def __init__(self, url: str, *, pool_size: int = 5, pool_timeout: float = 30) -> None:
        self.engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.sessions = make_session_factory(self.engine)
        sqlite = self.engine.dialect.name == "sqlite"
        self._writers = anyio.CapacityLimiter(1 if sqlite else pool_size)
        if sqlite:
            self._read_engine: Engine | None = make_engine(
                url, read_only=True, pool_size=pool_size, pool_timeout=pool_timeout
            )
            self._read_sessions = make_session_factory(self._read_engine)
            self._readers = anyio.CapacityLimiter(pool_size)
        else:
            self._read_engine = None
            self._read_sessions = self.sessions
            self._readers = self._writers

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction that commits when it returns."""
        return await anyio.to_thread.run_sync(
            _in_transaction, self.sessions, work, limiter=self._writers
        )

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction that only reads (it is rolled back)."""
        return await anyio.to_thread.run_sync(
            _read, self._read_sessions, work, limiter=self._readers
        )

    def read_now(self, work: Callable[[Session], T]) -> T:
        """:meth:`read` on the calling thread (one that may block)."""
        return _read(self._read_sessions, work)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()


def _in_transaction(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with transaction(factory) as session:
        return work(session)


def _read(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with factory() as session:
        return work(session)
