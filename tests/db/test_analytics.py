"""Each dashboard figure equals a direct count over the same rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db import analytics
from chatbot.db.analytics import ConversationCounts, ReplyCounts
from chatbot.db.base import as_utc
from chatbot.db.models import Conversation, ConversationStatus, Message, ModelVersion, Role
from chatbot.db.periods import Period

START = datetime(2026, 3, 1, tzinfo=UTC)
# Three days inside, one before and one after: the period must leave those two out.
PERIOD = Period(
    since=START,
    until=START + timedelta(days=3),
    idle_before=START + timedelta(days=2, hours=12),
)
VERSIONS = ("base-v1", "ft-v2")
INTENTS = ("returns", "delivery", "refunds", "hours")
REASONS = ("asked", "low_confidence", "repeated_fallback", None)


def _history(session: Session, seed: int = 11, count: int = 60) -> None:
    """Conversations from a day before the period to a day after, of every kind."""
    rng = random.Random(seed)
    session.add(
        ModelVersion(
            version="ft-v2",
            base_model="base",
            activated_at=START + timedelta(days=1, hours=3),
        )
    )
    for _ in range(count):
        created = START + timedelta(days=-1 + rng.random() * 5)
        status = rng.choice(list(ConversationStatus))
        conversation = Conversation(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            token_hash="0" * 64,
            status=status,
            language=rng.choice(["en", "en", "zh", None]),
            created_at=created,
            updated_at=created + timedelta(hours=rng.choice([0.1, 20])),
            satisfaction=rng.choice([None, None, 1, 2, 3, 4, 5]),
        )
        at = created
        messages = []
        for _turn in range(rng.randint(1, 4)):
            # Some turns cross midnight or the period's end: messages count where they were sent.
            at += timedelta(minutes=rng.randint(1, 400))
            messages.append(Message(role=Role.CUSTOMER, text="q", created_at=at))
            action = rng.choice(["answer", "answer", "clarify", "fallback", "handoff", "smalltalk"])
            at += timedelta(seconds=1)
            messages.append(
                Message(
                    role=Role.BOT,
                    text="a",
                    created_at=at,
                    action=action,
                    intent=rng.choice(INTENTS) if action in ("answer", "clarify") else None,
                    model_version=rng.choice(VERSIONS),
                    latency_ms=rng.choice([None, round(rng.uniform(5, 400), 1), 50.0]),
                    helpful=rng.choice([None, None, True, False]) if action == "answer" else None,
                    handoff_reason=rng.choice(REASONS) if action == "handoff" else None,
                )
            )
            if action == "handoff":
                conversation.handed_off_at = conversation.handed_off_at or at
        if rng.random() < 0.2:
            messages.append(Message(role=Role.STAFF, text="s", created_at=at))
        if rng.random() < 0.2:
            messages.append(Message(role=Role.SYSTEM, text="closed", created_at=at))
        conversation.messages = messages
        session.add(conversation)
    session.flush()


@pytest.fixture
def history(db_session: Session) -> tuple[list[Conversation], list[tuple[Message, Conversation]]]:
    _history(db_session)
    conversations = list(db_session.scalars(select(Conversation)))
    messages = list(
        db_session.execute(
            select(Message, Conversation).join(Conversation, Message.conversation)
        ).tuples()
    )
    return conversations, messages


def _in(moment: datetime, period: Period) -> bool:
    return period.since <= as_utc(moment) < period.until


def _day(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%d")


def _conversations(conversations: list[Conversation], period: Period) -> list[Conversation]:
    return [
        c
        for c in conversations
        if _in(c.created_at, period) and (period.language in (None, c.language))
    ]


def _messages(messages: list[tuple[Message, Conversation]], period: Period) -> list[Message]:
    return [
        m
        for m, c in messages
        if _in(m.created_at, period) and (period.language in (None, c.language))
    ]


@pytest.mark.parametrize("language", [None, "zh"])
def test_conversations_by_day_match_a_direct_count(
    db_session: Session,
    history: tuple[list[Conversation], list[tuple[Message, Conversation]]],
    language: str | None,
) -> None:
    period = Period(PERIOD.since, PERIOD.until, PERIOD.idle_before, language)
    expected: dict[str, ConversationCounts] = {}
    for c in _conversations(history[0], period):
        row = expected.setdefault(_day(c.created_at), ConversationCounts(day=_day(c.created_at)))
        row.conversations += 1
        ended = c.status is ConversationStatus.CLOSED or (
            c.status is ConversationStatus.BOT and as_utc(c.updated_at) < period.idle_before
        )
        row.contained += c.handed_off_at is None and ended
        row.handed_off += c.handed_off_at is not None
        if c.satisfaction is not None:
            row.rated += 1
            row.satisfaction_sum += c.satisfaction
    found = analytics.conversations_by_day(db_session, period)
    assert found == [expected[day] for day in sorted(expected)]
    assert sum(row.conversations for row in found) > 5  # the fixture really tests something
    summed = analytics.totals(found, ConversationCounts())
    assert summed.containment_rate == pytest.approx(summed.contained / summed.conversations)

    scores = Counter(c.satisfaction for c in _conversations(history[0], period) if c.satisfaction)
    assert analytics.satisfaction_scores(db_session, period) == {s: scores[s] for s in range(1, 6)}


@pytest.mark.parametrize("language", [None, "en"])
def test_replies_by_day_and_version_match_a_direct_count(
    db_session: Session,
    history: tuple[list[Conversation], list[tuple[Message, Conversation]]],
    language: str | None,
) -> None:
    period = Period(PERIOD.since, PERIOD.until, PERIOD.idle_before, language)
    expected: dict[tuple[str, str | None], ReplyCounts] = {}
    for m in _messages(history[1], period):
        key = (_day(m.created_at), m.model_version)
        row = expected.setdefault(key, ReplyCounts(day=key[0], model_version=key[1]))
        row.messages += m.role is not Role.SYSTEM
        row.customer_messages += m.role is Role.CUSTOMER
        if m.role is Role.BOT:
            row.bot_replies += 1
            row.answers += m.action == "answer"
            row.clarifications += m.action == "clarify"
            row.fallbacks += m.action == "fallback"
            row.handoffs += m.action == "handoff"
            row.asked += m.handoff_reason == "asked"
            row.low_confidence += m.handoff_reason == "low_confidence"
            row.repeated_fallback += m.handoff_reason == "repeated_fallback"
        row.helpful += m.helpful is True
        row.unhelpful += m.helpful is False
    found = analytics.replies_by_day_and_version(db_session, period)

    def order(row: ReplyCounts) -> tuple[str, str]:
        return row.day, row.model_version or ""

    assert sorted(found, key=order) == sorted(expected.values(), key=order)

    days = analytics.by_day(found)
    assert [d.day for d in days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert sum(d.messages for d in days) == sum(r.messages for r in found)
    versions = analytics.by_version(found)
    assert {v.model_version for v in versions} == set(VERSIONS)
    for version in versions:
        replies = [
            m for m in _messages(history[1], period) if m.model_version == version.model_version
        ]
        assert version.bot_replies == len(replies)
        assert version.fallbacks == sum(m.action == "fallback" for m in replies)
        assert version.unrecorded == sum(
            m.action == "handoff" and m.handoff_reason is None for m in replies
        )


def test_intents_and_their_feedback_match_a_direct_count(
    db_session: Session, history: tuple[list[Conversation], list[tuple[Message, Conversation]]]
) -> None:
    answered = [
        m for m in _messages(history[1], PERIOD) if m.role is Role.BOT and m.action == "answer"
    ]
    counts = Counter(m.intent for m in answered)
    found = analytics.intents(db_session, PERIOD)
    assert [(row.intent, row.answers) for row in found] == sorted(
        counts.items(), key=lambda item: (-item[1], item[0])
    )
    for row in found:
        assert row.helpful == sum(m.intent == row.intent and m.helpful is True for m in answered)
        assert row.unhelpful == sum(m.intent == row.intent and m.helpful is False for m in answered)
    worst = analytics.worst_feedback(found, min_votes=1)
    rates = [row.helpful / row.votes for row in worst]
    assert worst and rates == sorted(rates)
    assert all(row.unhelpful > 0 for row in worst)


def test_busiest_hours_match_a_direct_count(
    db_session: Session, history: tuple[list[Conversation], list[tuple[Message, Conversation]]]
) -> None:
    hours = Counter(
        as_utc(m.created_at).hour for m in _messages(history[1], PERIOD) if m.role is Role.CUSTOMER
    )
    assert analytics.busiest_hours(db_session, PERIOD) == [hours[h] for h in range(24)]


def _nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(Fraction(share) * len(ordered)) - 1]


def test_latency_percentiles_match_nearest_rank(
    db_session: Session, history: tuple[list[Conversation], list[tuple[Message, Conversation]]]
) -> None:
    timed = [
        m for m in _messages(history[1], PERIOD) if m.role is Role.BOT and m.latency_ms is not None
    ]
    found = {row.model_version: row for row in analytics.latency(db_session, PERIOD)}
    groups: dict[str | None, list[float]] = defaultdict(list)
    for m in timed:
        assert m.latency_ms is not None
        groups[None].append(m.latency_ms)
        groups[m.model_version].append(m.latency_ms)
    assert set(found) == set(groups)
    for version, values in groups.items():
        row = found[version]
        assert row.replies == len(values)
        assert row.p50_ms == _nearest_rank(values, 0.5)
        assert row.p95_ms == _nearest_rank(values, 0.95)


def test_an_empty_period_has_no_rows(db_session: Session) -> None:
    empty = Period(START, START + timedelta(days=1), START)
    assert analytics.conversations_by_day(db_session, empty) == []
    assert analytics.replies_by_day_and_version(db_session, empty) == []
    assert analytics.busiest_hours(db_session, empty) == [0] * 24
    assert analytics.latency(db_session, empty) == [analytics.Latency(None, 0, None, None)]


def test_activations_within_the_period(db_session: Session, history: object) -> None:
    assert analytics.activations(db_session, PERIOD) == [
        ("ft-v2", START + timedelta(days=1, hours=3))
    ]
