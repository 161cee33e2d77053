"""The period a figure covers, and the SQL that bounds and groups messages by it.

Days and hours are UTC, computed in SQL with one expression per dialect (SQLite, PostgreSQL);
the analytics dashboard, text analysis, related questions and unanswered questions share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Date, Integer, Select, and_, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from chatbot.db.models import Conversation, Message

# Any select statement, whatever its columns.
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Period:
    """What the figures cover: ``since`` <= moment < ``until`` (timezone-aware, UTC).

    ``idle_before``: a conversation still with the bot, silent since before this moment, counts
    as abandoned (ended) for containment. ``language``: only conversations in that language.
    """

    since: datetime
    until: datetime
    idle_before: datetime
    language: str | None = None


class Day(FunctionElement[date]):
    """A moment's UTC day, as a date."""

    type = Date()
    name = "analytics_day"
    inherit_cache = True


class Hour(FunctionElement[int]):
    """A moment's UTC hour, 0 to 23."""

    type = Integer()
    name = "analytics_hour"
    inherit_cache = True


def _argument(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(Day, "sqlite")
def _day_sqlite(element: Day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC moments as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    return f"substr({_argument(element, compiler, **kw)}, 1, 10)"


@compiles(Day)
def _day_postgresql(element: Day, compiler: SQLCompiler, **kw: Any) -> str:
    # A cast, not to_char(): formatting every message's day as text doubled the query's time.
    return f"CAST({_argument(element, compiler, **kw)} AT TIME ZONE 'UTC' AS DATE)"


@compiles(Hour, "sqlite")
def _hour_sqlite(element: Hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(substr({_argument(element, compiler, **kw)}, 12, 2) AS INTEGER)"


@compiles(Hour)
def _hour_postgresql(element: Hour, compiler: SQLCompiler, **kw: Any) -> str:
    moment = _argument(element, compiler, **kw)
    return f"CAST(extract(hour FROM {moment} AT TIME ZONE 'UTC') AS INTEGER)"


class _OnSQLite(FunctionElement[Any]):
    """A condition for SQLite only (elsewhere it reads ``true``): the day bounds that let SQLite
    range over the analytics index, led by the day. PostgreSQL takes the period from created_at
    alone: with the day bounds beside it, its planner multiplied their selectivities as if they
    were independent, expected 84 messages instead of 165,000 and joined the language's
    conversations by a nested loop (Chinese reply latency over 180 days: 628 ms, 170 ms without).

    Untyped, not Boolean: SQLite has no boolean type, so SQLAlchemy writes a Boolean element in a
    WHERE clause as ``(...) = 1``, which hides the last day's bound from SQLite's planner; it then
    ranged over created_at and read the table for every message (reply latency over 180 days:
    533 ms)."""

    type = NullType()
    name = "analytics_on_sqlite"
    inherit_cache = True


@compiles(_OnSQLite, "sqlite")
def _on_sqlite_sqlite(element: _OnSQLite, compiler: SQLCompiler, **kw: Any) -> str:
    return _argument(element, compiler, **kw)


@compiles(_OnSQLite)
def _on_sqlite_elsewhere(element: _OnSQLite, compiler: SQLCompiler, **kw: Any) -> str:
    return "true"


def message_period(period: Period, *, by_day: bool = False) -> tuple[ColumnElement[bool], ...]:
    """The period's messages; ``by_day`` also bounds the day on SQLite, so that it can range
    over the analytics index (led by the day) rather than over created_at."""
    exact = (Message.created_at >= period.since, Message.created_at < period.until)
    if not by_day:
        return exact
    day = Day(Message.created_at)
    last = period.until - timedelta(microseconds=1)
    first_day = bindparam(None, period.since.date(), type_=Date())
    last_day = bindparam(None, last.date(), type_=Date())
    return (_OnSQLite(and_(day >= first_day, day <= last_day)), *exact)


def in_language(query: _Query, period: Period) -> _Query:
    """Only messages of conversations in the period's language. An IN list rather than a join:
    SQLite builds it once and keeps streaming messages from the analytics index."""
    if period.language is None:
        return query
    return query.where(
        Message.conversation_id.in_(
            select(Conversation.id).where(Conversation.language == period.language)
        )
    )
