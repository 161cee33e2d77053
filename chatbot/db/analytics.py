"""The analytics dashboard's figures, each aggregated by the database in one GROUP BY query.

Every function takes a :class:`Period` (UTC, ``since`` inclusive, ``until`` exclusive, optionally
one conversation language) and returns small rows; rates and sums across days or model versions
are left to the caller (:func:`totals`, :func:`by_version`), so each table is scanned once.
Days and hours are UTC, computed in SQL per dialect (:mod:`chatbot.db.periods`).

Conversations count in the period they started; messages in the period they were sent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from chatbot.db.base import as_utc
from chatbot.db.models import (
    Conversation,
    ConversationStatus,
    HandoffReason,
    Message,
    ModelVersion,
    Role,
)
from chatbot.db.periods import Day, Hour, Period, in_language, message_period


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


# ---- conversations over time


@dataclass
class ConversationCounts:
    """Conversations started on one day (or summed over several)."""

    day: str = ""
    conversations: int = 0
    # Ended (closed, or abandoned with the bot) and no person ever involved.
    contained: int = 0
    handed_off: int = 0  # a person was involved (handoff, or staff took it)
    rated: int = 0  # satisfaction given (1-5)
    satisfaction_sum: int = 0

    @property
    def containment_rate(self) -> float | None:
        return _rate(self.contained, self.conversations)

    @property
    def handoff_rate(self) -> float | None:
        return _rate(self.handed_off, self.conversations)

    @property
    def satisfaction_avg(self) -> float | None:
        return _rate(self.satisfaction_sum, self.rated)


def conversations_by_day(session: Session, period: Period) -> list[ConversationCounts]:
    """Conversations started each day of the period, with how they went; days without any are
    absent."""
    day = Day(Conversation.created_at)
    ended = or_(
        Conversation.status == ConversationStatus.CLOSED,
        and_(
            Conversation.status == ConversationStatus.BOT,
            Conversation.updated_at < period.idle_before,
        ),
    )
    query = (
        select(
            day,
            func.count(),
            _count(and_(Conversation.handed_off_at.is_(None), ended)),
            _count(Conversation.handed_off_at.is_not(None)),
            func.count(Conversation.satisfaction),
            func.coalesce(func.sum(Conversation.satisfaction), 0),
        )
        .where(Conversation.created_at >= period.since, Conversation.created_at < period.until)
        .group_by(day)
        .order_by(day)
    )
    if period.language is not None:
        query = query.where(Conversation.language == period.language)
    return [
        ConversationCounts(
            day.isoformat(), total, contained, handed_off, rated, int(score_sum or 0)
        )
        for day, total, contained, handed_off, rated, score_sum in session.execute(query)
    ]


def satisfaction_scores(session: Session, period: Period) -> dict[int, int]:
    """How many conversations of the period got each rating, 1 to 5."""
    query = (
        select(Conversation.satisfaction, func.count())
        .where(
            Conversation.created_at >= period.since,
            Conversation.created_at < period.until,
            Conversation.satisfaction.is_not(None),
        )
        .group_by(Conversation.satisfaction)
    )
    if period.language is not None:
        query = query.where(Conversation.language == period.language)
    scores = dict.fromkeys(range(1, 6), 0)
    scores.update({score: count for score, count in session.execute(query) if score is not None})
    return scores


# ---- messages and the bot's replies, per day and model version


@dataclass
class ReplyCounts:
    """Messages of one day and model version (None: messages of people), or a sum of them."""

    day: str = ""
    model_version: str | None = None
    messages: int = 0  # customers', the bot's and staff's (not system notices)
    customer_messages: int = 0
    bot_replies: int = 0
    answers: int = 0
    clarifications: int = 0
    fallbacks: int = 0
    handoffs: int = 0
    asked: int = 0  # handoff reasons
    low_confidence: int = 0
    repeated_fallback: int = 0
    helpful: int = 0  # answer feedback: thumbs up
    unhelpful: int = 0

    @property
    def unrecorded(self) -> int:
        """Handoffs from before reasons were recorded."""
        return self.handoffs - self.asked - self.low_confidence - self.repeated_fallback

    @property
    def fallback_rate(self) -> float | None:
        return _rate(self.fallbacks, self.bot_replies)

    @property
    def clarification_rate(self) -> float | None:
        return _rate(self.clarifications, self.bot_replies)

    @property
    def handoff_share(self) -> float | None:
        """Handoffs among the bot's replies (the conversation-level rate is ConversationCounts')."""
        return _rate(self.handoffs, self.bot_replies)

    @property
    def helpful_rate(self) -> float | None:
        return _rate(self.helpful, self.helpful + self.unhelpful)


def replies_by_day_and_version(session: Session, period: Period) -> list[ReplyCounts]:
    """Message and reply counts for each day and model version of the period.

    Grouped by every column a count depends on, in the order of the analytics index (migration
    0011): SQLite streams the groups from the index instead of sorting the period's messages.
    A few rows per day and version come back and are summed here.
    """
    day = Day(Message.created_at)
    keys = (
        day,
        Message.model_version,
        Message.role,
        Message.action,
        Message.handoff_reason,
        Message.helpful,
    )
    query = select(*keys, func.count()).where(*message_period(period, by_day=True)).group_by(*keys)
    if session.get_bind().dialect.name == "sqlite":
        # In index order: SQLite streams the groups. PostgreSQL hashes them instead, unless
        # asked for an order: then it sorted every message of the period, on disk (180 days at
        # 50k conversations: 953 ms with ORDER BY, 443 ms without, on a loaded machine).
        query = query.order_by(*keys)
    counts: dict[tuple[str, str | None], ReplyCounts] = {}
    for when, version, role, action, reason, helpful, count in session.execute(
        in_language(query, period)
    ):
        day_text = when.isoformat()
        row = counts.setdefault(
            (day_text, version), ReplyCounts(day=day_text, model_version=version)
        )
        if role is not Role.SYSTEM:
            row.messages += count
        if role is Role.CUSTOMER:
            row.customer_messages += count
        if role is Role.BOT:
            row.bot_replies += count
            if action in _ACTION_FIELDS:
                setattr(row, _ACTION_FIELDS[action], getattr(row, _ACTION_FIELDS[action]) + count)
            if action == "handoff" and reason in _REASON_FIELDS:
                setattr(row, reason, getattr(row, reason) + count)
        if helpful is not None:
            row.helpful += count if helpful else 0
            row.unhelpful += 0 if helpful else count
    return list(counts.values())


_ACTION_FIELDS = {
    "answer": "answers",
    "clarify": "clarifications",
    "fallback": "fallbacks",
    "handoff": "handoffs",
}
_REASON_FIELDS = frozenset(reason.value for reason in HandoffReason)


def totals(rows: Iterable[Any], into: Any) -> Any:
    """``into`` with every count of ``rows`` added (the day and version fields left alone)."""
    for row in rows:
        for field in fields(row):
            if field.name not in ("day", "model_version"):
                setattr(into, field.name, getattr(into, field.name) + getattr(row, field.name))
    return into


def by_day(rows: Iterable[ReplyCounts]) -> list[ReplyCounts]:
    """The per-version rows summed per day, in day order."""
    days: dict[str, ReplyCounts] = {}
    for row in rows:
        totals([row], days.setdefault(row.day, ReplyCounts(day=row.day)))
    return [days[day] for day in sorted(days)]


def by_version(rows: Iterable[ReplyCounts]) -> list[ReplyCounts]:
    """The per-day rows summed per model version (bot replies only), most replies first."""
    versions: dict[str, ReplyCounts] = {}
    for row in rows:
        if row.model_version is not None:
            summed = versions.setdefault(
                row.model_version, ReplyCounts(day=row.day, model_version=row.model_version)
            )
            totals([row], summed)
    return sorted(versions.values(), key=lambda row: (-row.bot_replies, row.model_version or ""))


# ---- intents, hours, latency


@dataclass
class IntentCounts:
    intent: str
    answers: int
    helpful: int
    unhelpful: int

    @property
    def votes(self) -> int:
        return self.helpful + self.unhelpful

    @property
    def helpful_rate(self) -> float | None:
        return _rate(self.helpful, self.votes)


def intents(session: Session, period: Period) -> list[IntentCounts]:
    """Every intent the bot answered in the period, with its feedback, most answered first."""
    answered = and_(Message.role == Role.BOT, Message.action == "answer")
    query = (
        select(
            Message.intent,
            func.count(),
            _count(Message.helpful == true()),
            _count(Message.helpful == false()),
        )
        .where(*message_period(period, by_day=True), answered, Message.intent.is_not(None))
        .group_by(Message.intent)
        .order_by(func.count().desc(), Message.intent)
    )
    rows = session.execute(in_language(query, period))
    return [IntentCounts(intent or "", answers, up, down) for intent, answers, up, down in rows]


def worst_feedback(rows: Iterable[IntentCounts], *, min_votes: int = 3) -> list[IntentCounts]:
    """Intents with at least ``min_votes`` votes, least helpful first (then most votes)."""
    rated = [row for row in rows if row.votes >= min_votes and row.unhelpful > 0]
    return sorted(rated, key=lambda row: (row.helpful / row.votes, -row.votes, row.intent))


def busiest_hours(session: Session, period: Period) -> list[int]:
    """Customer messages in each hour of the day (UTC), 24 counts."""
    hour = Hour(Message.created_at)
    query = (
        select(hour, func.count())
        .where(*message_period(period, by_day=True), Message.role == Role.CUSTOMER)
        .group_by(hour)
    )
    counts = [0] * 24
    for at, count in session.execute(in_language(query, period)):
        counts[int(at)] = count
    return counts


@dataclass
class Latency:
    """Bot reply latency (ms) of one model version (None: all of them), nearest-rank
    percentiles."""

    model_version: str | None
    replies: int
    p50_ms: float | None
    p95_ms: float | None


PERCENTILES = (0.5, 0.95)


def latency(session: Session, period: Period) -> list[Latency]:
    """p50 and p95 of the bot's reply latency, overall first, then per model version.

    Exact nearest-rank percentiles (p: the smallest latency that at least that share of replies
    do not exceed) from one aggregated pass rather than a sort of every reply: replies are
    counted per distinct latency (stored to a hundredth of a millisecond, so there are tens of
    thousands of them at most, not one per reply), then ranked here.
    """
    query = (
        select(Message.model_version, Message.latency_ms, func.count())
        .where(
            *message_period(period, by_day=True),
            Message.role == Role.BOT,
            Message.latency_ms.is_not(None),
            Message.model_version.is_not(None),
        )
        .group_by(Message.model_version, Message.latency_ms)
    )
    counts: dict[str | None, Counter[float]] = {None: Counter()}
    for version, value, count in session.execute(in_language(query, period)):
        assert value is not None  # only timed replies
        counts.setdefault(version, Counter())[value] = count
        counts[None][value] += count
    return [
        Latency(
            version,
            values.total(),
            *(_nearest_rank(values, share) for share in PERCENTILES),
        )
        for version, values in sorted(counts.items(), key=lambda item: item[0] or "")
    ]


def _nearest_rank(counts: Counter[float], share: float) -> float | None:
    """The smallest value that at least ``share`` of the counted values do not exceed."""
    total = counts.total()
    if not total:
        return None
    rank = max(1, math.ceil(Fraction(share).limit_denominator(1000) * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the counts add up to the total")


def activations(session: Session, period: Period) -> list[tuple[str, datetime]]:
    """Model versions (last) activated within the period, in order: marks on the charts."""
    rows = session.execute(
        select(ModelVersion.version, ModelVersion.activated_at)
        .where(ModelVersion.activated_at >= period.since, ModelVersion.activated_at < period.until)
        .order_by(ModelVersion.activated_at)
    )
    return [(version, as_utc(at)) for version, at in rows if at is not None]


# ---- shared pieces


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
