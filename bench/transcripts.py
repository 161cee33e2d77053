"""How fast the staff console's transcript list is with 100k conversations, SQLite and PostgreSQL.

Builds a SQLite file database and a PostgreSQL schema of their own, each migrated to head, with
N conversations (default 100,000) of about ten messages each (about 1M messages): customer
questions in English and Chinese, bot replies with intents, confidences, actions, thumbs, and
conversation statuses, languages and satisfaction scores. Rows go in with SQLAlchemy Core
executemany (SQLite's FTS5 index is filled by its triggers, as in production).

Then it times ``list_conversations`` (the page query, its previews and thumbs) for each filter
and for search, on the first page and on a deep keyset page (starting 80% of the way down the
timeline), median of ``--runs`` runs, and prints a table. The goal is under 300 ms each.

    .venv/bin/python bench/transcripts.py                       # 100k conversations, ~1M messages
    .venv/bin/python bench/transcripts.py --conversations 3000  # a quick check
    .venv/bin/python bench/transcripts.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

PostgreSQL comes from ``--postgres`` or ``CHATBOT_TEST_POSTGRES_URL``; without either only SQLite
runs. The schema (``bench_transcripts_<random>``) is dropped at the end, and the SQLite file lives
in a temporary folder, unless ``--keep``. Run it alone: it keeps both CPU cores busy.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch_db import Backend, insert_history, message_row, postgres_backend, sqlite_backend
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from chatbot.db.models import Conversation, ConversationStatus
from chatbot.db.transcripts import Cursor, TranscriptFilter, list_conversations

GOAL_MS = 300
START = datetime(2026, 1, 1, tzinfo=UTC)

INTENTS = [
    "track_order", "cancel_order", "return_item", "refund_time", "delivery_time", "payment_methods",
    "reset_password", "wood_care", "opening_hours", "gift_cards", "size_guide", "contact",
    "warranty", "assembly", "discount_codes", "invoice", "stock", "damaged_item", "address_change",
    "newsletter",
]  # fmt: skip
ENGLISH = [
    "where is my {thing}", "how do I return the {thing}", "my {thing} arrived damaged",
    "can I change the delivery address for my {thing}", "when will the {thing} be back in stock",
    "do you have a discount code for the {thing}", "how long does a refund for the {thing} take",
    "can I pay for the {thing} with PayPal", "how do I look after the oak {thing}",
    "I need an invoice for my {thing}", "is there a warranty on the {thing}",
]  # fmt: skip
THINGS = ["sofa", "lamp", "table", "chair", "rug", "wardrobe", "mirror", "bed", "shelf", "parcel"]
CHINESE = [
    "我想退货，请问怎么办？", "我的订单什么时候到？", "可以开发票吗？", "沙发坏了怎么办",
    "运费谁出？", "有优惠码吗", "怎么修改收货地址", "退款多久到账",
]  # fmt: skip
BOT_TEXT = "Here is what I found about {intent}. Anything else I can help with?"

# name -> filter; searches are chosen so some match often, some rarely, some use LIKE.
FILTERS: dict[str, TranscriptFilter] = {
    "no filter": TranscriptFilter(),
    "status=waiting": TranscriptFilter(status=ConversationStatus.WAITING),
    "intent=warranty": TranscriptFilter(intent="warranty"),
    "confidence 0.3-0.5": TranscriptFilter(min_confidence=0.3, max_confidence=0.5),
    "had fallback": TranscriptFilter(had_fallback=True),
    "feedback given": TranscriptFilter(feedback=True),
    "language=zh": TranscriptFilter(language="zh"),
    "created in one week": TranscriptFilter(
        created_from=(START + timedelta(days=60)).date(),
        created_to=(START + timedelta(days=66)).date(),
    ),
    "q=wardrobe": TranscriptFilter(q="wardrobe"),
    "q=damaged sofa": TranscriptFilter(q="damaged sofa"),
    "q=退款多久 (trigram)": TranscriptFilter(q="退款多久"),
    "q=退货 (LIKE)": TranscriptFilter(q="退货"),
    "q=xylophone (none)": TranscriptFilter(q="xylophone"),
    "q=help (every bot reply)": TranscriptFilter(q="help"),
    "q=xq (LIKE, none)": TranscriptFilter(q="xq"),
    "waiting+zh+q=运费": TranscriptFilter(
        status=ConversationStatus.WAITING, language="zh", q="运费谁出"
    ),
}


def fake_conversations(
    count: int, rng: random.Random
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One conversation row and its message rows at a time."""
    span = timedelta(days=180).total_seconds()
    statuses = list(ConversationStatus)
    for _ in range(count):
        conversation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        chinese = rng.random() < 0.2
        created = START + timedelta(seconds=rng.random() * span)
        at = created
        messages: list[dict[str, Any]] = []
        had_fallback = feedback = False
        for _turn in range(rng.randint(3, 7)):
            at += timedelta(seconds=rng.randint(5, 120))
            question = (
                rng.choice(CHINESE)
                if chinese
                else rng.choice(ENGLISH).format(thing=rng.choice(THINGS))
            )
            messages.append(message_row(conversation_id, "customer", question, at))
            confidence = rng.betavariate(5, 2)
            action = (
                "answer" if confidence > 0.55 else "clarify" if confidence > 0.3 else "fallback"
            )
            had_fallback |= action == "fallback"
            helpful = rng.choice([True, False]) if rng.random() < 0.1 else None
            feedback |= helpful is not None
            intent = rng.choice(INTENTS)
            at += timedelta(milliseconds=rng.randint(20, 900))
            messages.append(
                message_row(
                    conversation_id,
                    "bot",
                    BOT_TEXT.format(intent=intent.replace("_", " ")),
                    at,
                    intent=intent,
                    confidence=confidence,
                    action=action,
                    model_version="base-bench",
                    latency_ms=rng.uniform(5, 60),
                    helpful=helpful,
                )
            )
        status = rng.choices(statuses, weights=[30, 3, 2, 65])[0]
        yield (
            {
                "id": conversation_id,
                "token_hash": "0" * 64,
                "status": status.value,
                "language": "zh" if chinese else rng.choice(["en", "en", "en-GB"]),
                "created_at": created,
                "updated_at": at,
                "closed_at": at if status is ConversationStatus.CLOSED else None,
                "message_count": len(messages),
                "had_fallback": had_fallback,
                "feedback_given": feedback,
                "satisfaction": rng.randint(1, 5) if rng.random() < 0.15 else None,
            },
            messages,
        )


def fill(engine: Engine, count: int, seed: int) -> None:
    insert_history(engine, fake_conversations(count, random.Random(seed)))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE conversations"))
            connection.execute(text("ANALYZE messages"))
        else:
            connection.execute(text("ANALYZE"))


def deep_cursor(engine: Engine) -> Cursor:
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Conversation)) or 0
        row = session.execute(
            select(Conversation.updated_at, Conversation.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .offset(int(total * 0.8))
            .limit(1)
        ).one()
        return Cursor(row.updated_at, row.id)


def median_ms(engine: Engine, chosen: TranscriptFilter, cursor: Cursor | None, runs: int) -> float:
    timings = []
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter()
            list_conversations(session, chosen, cursor)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def run(
    backend: Backend, conversations: int, seed: int, runs: int
) -> dict[str, tuple[float, float]]:
    started = time.perf_counter()
    fill(backend.engine, conversations, seed)
    print(f"{backend.name}: filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    cursor = deep_cursor(backend.engine)
    results = {}
    for name, chosen in FILTERS.items():
        median_ms(backend.engine, chosen, None, 1)  # warm the cache
        results[name] = (
            median_ms(backend.engine, chosen, None, runs),
            median_ms(backend.engine, chosen, cursor, runs),
        )
        print(f"  {name}: {results[name][0]:.1f} / {results[name][1]:.1f} ms", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("CHATBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the database and schema")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-transcripts-"))
    backends = [sqlite_backend(folder / "transcripts.db")]
    if args.postgres:
        backends.append(postgres_backend(args.postgres, "bench_transcripts", keep=args.keep))
    table: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for backend in backends:
            table[backend.name] = run(backend, args.conversations, args.seed, args.runs)
    finally:
        for backend in backends:
            backend.cleanup()
        if args.keep:
            print(f"SQLite database kept in {folder}", file=sys.stderr)
        else:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()

    names = list(table)
    print(
        f"\n{args.conversations} conversations; median of {args.runs} runs, ms "
        f"(first page / deep page); goal < {GOAL_MS} ms\n"
    )
    print("| filter | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    slow = False
    for filter_name in FILTERS:
        cells = []
        for name in names:
            first, deep = table[name][filter_name]
            slow |= max(first, deep) >= GOAL_MS
            cells.append(
                f"{first:.1f} / {deep:.1f}" + (" ⚠" if max(first, deep) >= GOAL_MS else "")
            )
        print(f"| {filter_name} | " + " | ".join(cells) + " |")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
