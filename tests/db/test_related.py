"""What customers asked next, and the related questions offered and clicked, equal direct counts
over the same rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db import related
from chatbot.db.base import as_utc
from chatbot.db.models import Conversation, Message, Role
from chatbot.db.periods import Period

START = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD = Period(since=START, until=START + timedelta(days=3), idle_before=START)
INTENTS = ("returns", "delivery", "refunds", "hours")


def _history(session: Session, seed: int = 5, count: int = 120) -> None:
    """Conversations of a few turns each, a day before the period to a day after: answers (some
    clicked from a related question), fallbacks and small talk between them."""
    rng = random.Random(seed)
    for _ in range(count):
        at = START + timedelta(days=-1 + rng.random() * 5)
        conversation = Conversation(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            token_hash="0" * 64,
            language=rng.choice(["en", "zh"]),
            created_at=at,
            updated_at=at,
        )
        session.add(conversation)
        session.flush()
        offered: Message | None = None
        for _turn in range(rng.randint(1, 6)):
            at += timedelta(minutes=rng.randint(1, 30))
            clicked = offered is not None and offered.related is not None and rng.random() < 0.4
            asked = Message(
                conversation_id=conversation.id,
                role=Role.CUSTOMER,
                text="q",
                created_at=at,
                related_from_id=offered.id if clicked and offered else None,
            )
            session.add(asked)
            session.flush()
            action = rng.choice(["answer", "answer", "answer", "fallback", "smalltalk"])
            # Some intents far more often than others: some pairs pass a minimum, some do not.
            intent = rng.choices(INTENTS, weights=(6, 3, 2, 1))[0] if action == "answer" else None
            reply = Message(
                conversation_id=conversation.id,
                role=Role.BOT,
                text="a",
                created_at=at + timedelta(seconds=1),
                action=action,
                intent=intent,
                reply_to_id=asked.id,
                related=[{"intent": "hours", "question": "?"}]
                if action == "answer" and rng.random() < 0.7
                else None,
            )
            session.add(reply)
            session.flush()
            offered = reply
    session.flush()


@pytest.fixture
def messages(db_session: Session) -> list[Message]:
    _history(db_session)
    return list(db_session.scalars(select(Message).order_by(Message.id)))


def _direct_asked_next(messages: list[Message], since: datetime) -> Counter[tuple[str, str]]:
    """Conversations in which intent B was answered right after intent A, by hand."""
    by_id = {m.id: m for m in messages}
    answers: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        if m.role is Role.BOT and m.action == "answer" and as_utc(m.created_at) >= since:
            answers[m.conversation_id].append(m)
    pairs: set[tuple[str, str, str]] = set()
    for conversation, replies in answers.items():
        for first, then in pairwise(replies):
            assert first.intent and then.intent
            clicked = by_id[then.reply_to_id or 0].related_from_id is not None
            if then.intent != first.intent and not clicked:
                pairs.add((conversation, first.intent, then.intent))
    return Counter((a, b) for _, a, b in pairs)


@pytest.mark.parametrize("min_count", [1, 4, 8])
def test_asked_next_equals_a_direct_count_above_the_minimum(
    db_session: Session, messages: list[Message], min_count: int
) -> None:
    since = START + timedelta(days=1)
    counted = _direct_asked_next(messages, since)
    expected = {pair: count for pair, count in counted.items() if count >= min_count}
    if min_count > 1:  # the minimum keeps some pairs and leaves others out
        assert 0 < len(expected) < len(counted)
    table = related.asked_next(db_session, since=since, min_count=min_count)
    found = {(a, b): count for a, pairs in table.items() for b, count in pairs}
    assert found == expected
    if min_count == 1:
        assert len(expected) >= 6  # the fixture has real pairs to count
        # Left out: answers before `since`, clicked questions, the same intent twice.
        everything = _direct_asked_next(messages, START - timedelta(days=2))
        assert sum(everything.values()) > sum(expected.values())
    for pairs in table.values():  # most often first
        assert [c for _, c in pairs] == sorted((c for _, c in pairs), reverse=True)


def test_a_click_is_never_learnt_as_asked_next(db_session: Session) -> None:
    """returns -> delivery asked twice unprompted, then twice more by clicking: it counts 2."""
    for n in range(4):
        conversation = Conversation(id=f"c{n}", token_hash="0" * 64)
        db_session.add(conversation)
        db_session.flush()
        previous: Message | None = None
        for intent in ("returns", "delivery"):
            asked = Message(
                conversation_id=conversation.id,
                role=Role.CUSTOMER,
                text="q",
                related_from_id=previous.id if previous is not None and n >= 2 else None,
            )
            db_session.add(asked)
            db_session.flush()
            previous = Message(
                conversation_id=conversation.id,
                role=Role.BOT,
                text="a",
                action="answer",
                intent=intent,
                reply_to_id=asked.id,
                related=[{"intent": "delivery", "question": "?"}],
            )
            db_session.add(previous)
            db_session.flush()
    since = datetime.now(UTC) - timedelta(days=1)
    assert related.asked_next(db_session, since=since, min_count=1) == {
        "returns": [("delivery", 2)]
    }
    assert related.asked_next(db_session, since=since, min_count=3) == {}


@pytest.mark.parametrize("language", [None, "zh"])
def test_offers_and_clicks_equal_a_direct_count(
    db_session: Session, messages: list[Message], language: str | None
) -> None:
    period = Period(PERIOD.since, PERIOD.until, PERIOD.idle_before, language)
    rows = db_session.execute(select(Conversation.id, Conversation.language))
    languages = {conversation: language for conversation, language in rows}
    by_id = {m.id: m for m in messages}
    inside = [
        m
        for m in messages
        if period.since <= as_utc(m.created_at) < period.until
        and language in (None, languages[m.conversation_id])
    ]
    offered = Counter(m.intent for m in inside if m.related is not None)
    clicked = Counter(
        by_id[m.related_from_id].intent for m in inside if m.related_from_id is not None
    )
    rows = related.offers_and_clicks(db_session, period)
    assert {r.intent: (r.offered, r.clicked) for r in rows} == {
        intent: (offered[intent], clicked[intent]) for intent in offered | clicked
    }
    assert sum(clicked.values()) > 0 and sum(offered.values()) > sum(clicked.values())
    assert [r.offered for r in rows] == sorted((r.offered for r in rows), reverse=True)
    total = related.total(rows)
    assert (total.offered, total.clicked) == (offered.total(), clicked.total())
    assert total.click_rate == pytest.approx(clicked.total() / offered.total())
