"""How fast the analytics dashboard's queries are over 50k conversations, SQLite and PostgreSQL.

Builds a SQLite file database and a PostgreSQL schema of their own, each migrated to head, with
N conversations (default 50,000) spread over 180 days, of 1 to 6 turns each (about 350k
messages): English and Chinese customers, bot replies from three model versions activated one
after another (each answering a little better and faster), answers, clarifications, fallbacks,
handoffs with their reasons, thumbs, staff replies, statuses and satisfaction scores. Rows go in
with SQLAlchemy Core executemany.

Then it times every query of ``chatbot.db.analytics`` (what one dashboard page or JSON route
runs), median of ``--runs`` runs, over the last 30 days (the dashboard's default) and over the
whole history, for every language and for Chinese only. The goal is under 500 ms each.

    .venv/bin/python bench/analytics.py                        # 50k conversations
    .venv/bin/python bench/analytics.py --conversations 2000   # a quick check
    .venv/bin/python bench/analytics.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

PostgreSQL comes from ``--postgres`` or ``CHATBOT_TEST_POSTGRES_URL``; without either only SQLite
runs. The schema is dropped at the end and the SQLite file lives in a temporary folder. Run it
alone: filling keeps a CPU core busy for a minute or two.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch_db import Backend, insert_history, message_row, postgres_backend, sqlite_backend
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from chatbot.db import analytics, related, text_analysis
from chatbot.db.models import ConversationStatus, ModelVersion
from chatbot.db.periods import Period
from chatbot.nlu.keywords import top_keywords

GOAL_MS = 500
DAYS = 180
END = datetime(2026, 7, 1, tzinfo=UTC)
START = END - timedelta(days=DAYS)
# Version, when it was activated, its share of fallbacks, its latency (ms, median-ish).
VERSIONS = [
    ("base-minilm", START, 0.18, 40.0),
    ("ft-20260301", START + timedelta(days=60), 0.10, 30.0),
    ("ft-20260501", START + timedelta(days=120), 0.06, 25.0),
]
INTENTS = [
    "track_order", "cancel_order", "return_item", "refund_time", "delivery_time", "payment_methods",
    "reset_password", "wood_care", "opening_hours", "gift_cards", "size_guide", "contact",
    "warranty", "assembly", "discount_codes", "invoice", "stock", "damaged_item", "address_change",
    "newsletter",
]  # fmt: skip

# The related questions an answer offers (what they are does not change the queries' cost).
OFFERED = [{"intent": "contact", "question": "How can I contact you?"}]

QUERIES: dict[str, Callable[[Session, Period], object]] = {
    "conversations by day": analytics.conversations_by_day,
    "satisfaction scores": analytics.satisfaction_scores,
    "replies by day and version": analytics.replies_by_day_and_version,
    "intents and feedback": analytics.intents,
    "busiest hours": analytics.busiest_hours,
    "latency p50/p95": analytics.latency,
    "activations": analytics.activations,
    "customer moods": text_analysis.moods,
    # The newest KEYWORD_SAMPLE customer messages, cut into words (the keywords table's work).
    "keywords": lambda session, period: top_keywords(
        "\n".join(texts) for texts in text_analysis.customer_texts(session, period).values()
    ),
    "related offered and clicked": related.offers_and_clicks,
    # Not a dashboard query: what each server runs in the background every
    # CHATBOT_RELATED_REFRESH_SECONDS (over CHATBOT_RELATED_DAYS, here the period's start on).
    "related: asked next (background)": lambda session, period: related.asked_next(
        session, since=period.since, min_count=5
    ),
}


def _version_at(moment: datetime) -> tuple[str, datetime, float, float]:
    return [v for v in VERSIONS if v[1] <= moment][-1]


def fake_conversations(
    count: int, rng: random.Random
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One conversation row and its message rows at a time. Messages get their ids here, so that
    a bot reply names the message it answers and a click the answer that offered it."""
    ids = itertools.count(1)
    span = timedelta(days=DAYS).total_seconds()
    for _ in range(count):
        conversation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        # More customers during the day (UTC 8-20) than at night.
        created = START + timedelta(seconds=rng.random() * span)
        if rng.random() < 0.6:
            created = created.replace(hour=rng.randint(8, 20))
        version, _activated, fallback_share, latency = _version_at(created)
        at = created
        messages: list[dict[str, Any]] = []
        handed_off_at = None
        had_fallback = feedback = False
        fallbacks_in_a_row = 0
        for _turn in range(rng.randint(1, 6)):
            at += timedelta(seconds=rng.randint(5, 120))
            offered = messages[-1] if messages and messages[-1]["related"] else None
            clicked = offered is not None and rng.random() < 0.15
            messages.append(
                _message(
                    conversation_id,
                    "customer",
                    at,
                    id=next(ids),
                    related_from_id=offered["id"] if clicked and offered else None,
                )
            )
            roll = rng.random()
            reason = None
            if roll < 0.03:
                action, reason = "handoff", "asked"
            elif roll < fallback_share:
                action = "fallback"
            elif roll < fallback_share + 0.08:
                action = "clarify"
            elif roll < fallback_share + 0.12:
                action = "smalltalk"
            else:
                action = "answer"
            if action == "fallback" and fallbacks_in_a_row:
                action, reason = "handoff", "repeated_fallback"
            elif action == "handoff" and messages[-2:-1] and messages[-2]["action"] == "fallback":
                reason = "low_confidence"
            fallbacks_in_a_row = fallbacks_in_a_row + 1 if action == "fallback" else 0
            had_fallback |= action == "fallback"
            helpful = rng.random() < 0.7 if action == "answer" and rng.random() < 0.1 else None
            feedback |= helpful is not None
            at += timedelta(milliseconds=rng.randint(20, 900))
            messages.append(
                _message(
                    conversation_id,
                    "bot",
                    at,
                    id=next(ids),
                    reply_to_id=messages[-1]["id"],
                    related=OFFERED if action == "answer" else None,
                    intent=rng.choice(INTENTS) if action in ("answer", "clarify") else None,
                    confidence=rng.random(),
                    action=action,
                    model_version=version,
                    latency_ms=round(rng.lognormvariate(0, 0.5) * latency, 2),
                    helpful=helpful,
                    handoff_reason=reason,
                )
            )
            if action == "handoff":
                handed_off_at = at
                at += timedelta(minutes=rng.randint(1, 10))
                messages.append(_message(conversation_id, "staff", at, id=next(ids)))
                break
        status = rng.choices(list(ConversationStatus), weights=[10, 2, 1, 87])[0]
        if (
            handed_off_at is None
            and status is not ConversationStatus.BOT
            and status.value != "closed"
        ):
            status = ConversationStatus.CLOSED
        yield (
            {
                "id": conversation_id,
                "token_hash": "0" * 64,
                "status": status.value,
                "language": "zh" if rng.random() < 0.25 else "en",
                "created_at": created,
                "updated_at": at,
                "closed_at": at if status is ConversationStatus.CLOSED else None,
                "message_count": len(messages),
                "had_fallback": had_fallback,
                "feedback_given": feedback,
                "satisfaction": rng.choice([1, 2, 3, 4, 4, 5, 5]) if rng.random() < 0.2 else None,
                "handed_off_at": handed_off_at,
            },
            messages,
        )


# What customers write, in both languages: the keywords figure cuts these into words.
CUSTOMER_TEXTS = [
    "Where is my parcel? I ordered it last week.",
    "The lamp arrived broken, I want a refund",
    "How do I change the delivery address?",
    "Thanks, the sofa is lovely",
    "我的快递怎么还没到？",
    "沙发有划痕，可以退货吗",
    "请问退款几天到账",
    "谢谢，客服很耐心",
]


def _customer_text(conversation_id: str, at: datetime) -> str:
    # Deterministic for a seed (str hashes are salted per process; crc32 is not).
    key = f"{conversation_id}{at.isoformat()}".encode()
    return CUSTOMER_TEXTS[zlib.crc32(key) % len(CUSTOMER_TEXTS)]


def _message(conversation_id: str, role: str, at: datetime, **fields: Any) -> dict[str, Any]:
    text = _customer_text(conversation_id, at) if role == "customer" else "…"
    return message_row(conversation_id, role, text, at, **fields)


def fill(engine: Engine, count: int, seed: int) -> int:
    """Insert the history; returns how many messages it holds."""
    rng = random.Random(seed)
    with engine.begin() as connection:
        connection.execute(
            insert(ModelVersion.__table__),
            [
                {
                    "version": v,
                    "kind": "fine-tuned",
                    "base_model": "minilm",
                    "status": "ready",
                    "is_active": v == VERSIONS[-1][0],
                    "metrics": {},
                    "config": {},
                    "created_at": at,
                    "activated_at": at,
                }
                for v, at, _f, _l in VERSIONS
            ],
        )
    total = insert_history(engine, fake_conversations(count, rng))
    # What autovacuum does on a live PostgreSQL: statistics, and the visibility map that lets the
    # analytics index answer without reading the table (index-only scans).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("VACUUM ANALYZE conversations"))
            connection.execute(text("VACUUM ANALYZE messages"))
        else:
            connection.execute(text("ANALYZE"))
    return total


def median_ms(
    engine: Engine, query: Callable[[Session, Period], object], period: Period, runs: int
) -> float:
    timings = []
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter()
            query(session, period)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def periods() -> dict[str, Period]:
    idle = END - timedelta(hours=2)
    last_30 = END - timedelta(days=30)
    return {
        "30 days": Period(last_30, END, idle),
        "30 days, zh": Period(last_30, END, idle, "zh"),
        "180 days": Period(START, END, idle),
        "180 days, zh": Period(START, END, idle, "zh"),
    }


def run(backend: Backend, conversations: int, seed: int, runs: int) -> dict[str, dict[str, float]]:
    started = time.perf_counter()
    messages = fill(backend.engine, conversations, seed)
    print(
        f"{backend.name}: {conversations} conversations, {messages} messages, "
        f"filled in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    results: dict[str, dict[str, float]] = {}
    for period_name, period in periods().items():
        for name, query in QUERIES.items():
            median_ms(backend.engine, query, period, 1)  # warm the cache
            taken = median_ms(backend.engine, query, period, runs)
            results.setdefault(name, {})[period_name] = taken
            print(f"  {period_name}: {name}: {taken:.1f} ms", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("CHATBOT_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    backends = [sqlite_backend(folder / "analytics.db")]
    if args.postgres:
        backends.append(postgres_backend(args.postgres, "bench_analytics"))
    table: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for backend in backends:
            table[backend.name] = run(backend, args.conversations, args.seed, args.runs)
    finally:
        for backend in backends:
            backend.cleanup()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()

    period_names = list(periods())
    print(
        f"\n{args.conversations} conversations over {DAYS} days; median of {args.runs} runs, ms; "
        f"goal < {GOAL_MS} ms\n"
    )
    print("| query | backend | " + " | ".join(period_names) + " |")
    print("| --- | --- |" + " ---: |" * len(period_names))
    slow = False
    for name in QUERIES:
        for backend_name, results in table.items():
            cells = []
            for period_name in period_names:
                taken = results[name][period_name]
                slow |= taken >= GOAL_MS
                cells.append(f"{taken:.1f}" + (" ⚠" if taken >= GOAL_MS else ""))
            print(f"| {name} | {backend_name} | " + " | ".join(cells) + " |")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
