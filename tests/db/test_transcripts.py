"""Transcript queries: message search on SQLite and PostgreSQL, keyset pages, corrections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from chatbot.db import conversations as store
from chatbot.db import transcripts
from chatbot.db.corrections import list_corrections, set_correction
from chatbot.db.models import Conversation, ConversationStatus, Message, Role
from chatbot.db.session import make_engine
from chatbot.db.transcripts import (
    Cursor,
    TranscriptFilter,
    answered_customer_text,
    list_conversations,
    message_search,
)

MESSAGES = {
    "parcel": "Where is my parcel? It was due on Monday.",
    "refund": "I returned the lamp, when do I get my money back?",
    "chinese": "我想退货，请问运费谁出？",
    "quoted": 'The voucher "SAVE20" did not work',
}


def add_conversations(session: Session, texts: dict[str, str]) -> dict[str, str]:
    """One conversation per text, with a bot reply after it; name -> conversation id."""
    ids = {}
    for name, body in texts.items():
        conversation, _token = store.start_conversation(session)
        store.add_message(session, conversation, Role.CUSTOMER, body)
        store.add_message(
            session, conversation, Role.BOT, "Let me help.", intent="x", action="answer"
        )
        ids[name] = conversation.id
    return ids


def found(session: Session, ids: dict[str, str], q: str) -> set[str]:
    names = {conversation_id: name for name, conversation_id in ids.items()}
    matching = session.scalars(
        select(Conversation.id).where(Conversation.id.in_(names), message_search(session, q))
    )
    return {names[conversation_id] for conversation_id in matching}


SQLITE_CASES = [
    ("parcel", {"parcel"}),  # an English word
    ("PARCEL", {"parcel"}),  # any case
    ("money back", {"refund"}),  # a phrase
    ("arcel", {"parcel"}),  # part of a word: trigrams
    ("退货", {"chinese"}),  # two characters: LIKE
    ("运费谁出", {"chinese"}),  # a Chinese substring: trigrams
    ('"SAVE20"', {"quoted"}),  # quotes are literal
    ("help", {"parcel", "refund", "chinese", "quoted"}),  # the bot's replies count too
    ("Mo", {"parcel", "refund"}),  # Monday, money: short queries match substrings too
    ("parcel money", set()),  # a phrase, not two words anywhere
    ("%", set()),
    ("*", set()),
    ("a OR b", set()),
]


@pytest.mark.parametrize(("q", "expected"), SQLITE_CASES)
def test_search_on_sqlite(sqlite_session: Session, q: str, expected: set[str]) -> None:
    ids = add_conversations(sqlite_session, MESSAGES)
    assert found(sqlite_session, ids, q) == expected


@pytest.mark.parametrize(("q", "expected"), SQLITE_CASES)
def test_search_for_common_text_on_sqlite_finds_the_same(
    sqlite_session: Session, monkeypatch: pytest.MonkeyPatch, q: str, expected: set[str]
) -> None:
    # Text matching more than COMMON_MATCHES messages is checked per conversation instead.
    monkeypatch.setattr(transcripts, "COMMON_MATCHES", 0)
    ids = add_conversations(sqlite_session, MESSAGES)
    assert found(sqlite_session, ids, q) == expected


def test_search_follows_edited_and_deleted_messages_on_sqlite(db_session: Session) -> None:
    ids = add_conversations(db_session, {"parcel": MESSAGES["parcel"]})
    message = store.list_messages(db_session, ids["parcel"])[0]
    message.text = "Where is my wardrobe?"
    db_session.flush()
    assert found(db_session, ids, "parcel") == set()
    assert found(db_session, ids, "wardrobe") == {"parcel"}
    db_session.delete(message)
    db_session.flush()
    assert found(db_session, ids, "wardrobe") == set()


@pytest.fixture
def pg_session(postgres_schema_url: str) -> Iterator[Session]:
    """A session on a migrated schema of the PostgreSQL test database, rolled back after the
    test (a schema of its own: the database's default one may hold another checkout's tables)."""
    engine = make_engine(postgres_schema_url)
    try:
        with engine.connect() as connection:
            outer = connection.begin()
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            try:
                yield session
            finally:
                session.close()
                outer.rollback()
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("parcel", {"parcel"}),
        ("PARCEL", {"parcel"}),
        ("money back", {"refund"}),  # every word, anywhere in the message
        ("back money", {"refund"}),
        ("SAVE20", {"quoted"}),
        ('"SAVE20"', {"quoted"}),  # punctuation: the characters themselves, as on SQLite
        ('"SAVE20" & !', set()),  # not tsquery operators either
        ("SAVE20!", set()),
        ("parcel money", set()),  # in different conversations' messages
        ("help", {"parcel", "refund", "chinese", "quoted"}),
        ("退货", {"chinese"}),  # Chinese inside a longer run of Chinese: trigram substring
        ("运费谁出", {"chinese"}),
        ("运费谁付", set()),
    ],
)
def test_search_on_postgresql(pg_session: Session, q: str, expected: set[str]) -> None:
    ids = add_conversations(pg_session, MESSAGES)
    assert found(pg_session, ids, q) == expected


@pytest.mark.postgres
def test_a_chinese_search_uses_the_trigram_index(pg_session: Session) -> None:
    query = select(Message.id).where(Message.text.ilike("%运费谁出%"))
    pg_session.execute(text("SET LOCAL enable_seqscan = off"))
    compiled = query.compile(pg_session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(pg_session.execute(text(f"EXPLAIN {compiled}")).scalars())
    assert "ix_messages_text_trgm" in plan


@pytest.mark.postgres
def test_the_search_uses_the_gin_index(pg_session: Session) -> None:
    condition = message_search(pg_session, "parcel")
    query = select(Conversation.id).where(condition)
    assert "to_tsvector('simple', messages.text)" in str(query.compile(pg_session.get_bind()))
    # With sequential scans priced out, only a matching index expression can serve the search.
    pg_session.execute(text("SET LOCAL enable_seqscan = off"))
    compiled = query.compile(pg_session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(pg_session.execute(text(f"EXPLAIN {compiled}")).scalars())
    assert "ix_messages_text_search" in plan


def _page_through(session: Session, chosen: TranscriptFilter, page_size: int) -> list[str]:
    seen: list[str] = []
    cursor: Cursor | None = None
    while True:
        page = list_conversations(session, chosen, cursor, page_size=page_size)
        seen += [row.conversation.id for row in page.rows]
        if page.older is None:
            return seen
        cursor = page.older


def _tied_conversations(session: Session, marker: str) -> list[str]:
    """Twelve conversations, four per timestamp, mentioning ``marker``; newest first."""
    now = datetime(2026, 11, 20, tzinfo=UTC)
    ids = []
    for n in range(12):
        conversation, _token = store.start_conversation(session, language="en")
        store.add_message(session, conversation, Role.CUSTOMER, f"about {marker} number {n}")
        store.add_message(
            session,
            conversation,
            Role.BOT,
            "ok",
            intent="x",
            confidence=0.5 + n / 100,
            action="answer",
        )
        conversation.updated_at = now - timedelta(hours=n // 4)
        conversation.status = ConversationStatus.CLOSED if n % 2 else ConversationStatus.BOT
        ids.append((conversation.updated_at, conversation.id))
    session.flush()
    return [conversation_id for _at, conversation_id in sorted(ids, reverse=True)]


def test_keyset_pages_on_sqlite(db_session: Session) -> None:
    marker = "zebra" + uuid.uuid4().hex[:8]
    ids = _tied_conversations(db_session, marker)
    assert _page_through(db_session, TranscriptFilter(q=marker), 5) == ids


@pytest.mark.postgres
def test_keyset_pages_and_filters_on_postgresql(pg_session: Session) -> None:
    marker = "zebra" + uuid.uuid4().hex[:8]
    ids = _tied_conversations(pg_session, marker)
    assert _page_through(pg_session, TranscriptFilter(q=marker), 5) == ids
    closed = _page_through(
        pg_session, TranscriptFilter(q=marker, status=ConversationStatus.CLOSED), 2
    )
    assert len(closed) == 6 and closed == [i for i in ids if i in set(closed)]
    confident = TranscriptFilter(q=marker, min_confidence=0.605, intent="x", language="en")
    assert len(_page_through(pg_session, confident, 50)) == 1  # 0.61 only


def test_a_correction_is_what_training_reads_and_a_new_verdict_replaces_it(
    db_session: Session,
) -> None:
    conversation, _token = store.start_conversation(db_session)
    store.add_message(db_session, conversation, Role.CUSTOMER, "hi")
    store.add_message(db_session, conversation, Role.CUSTOMER, "where is my parcel")
    reply = store.add_message(
        db_session, conversation, Role.BOT, "Refunds take 3 days", intent="refunds", action="answer"
    )
    text = answered_customer_text(db_session, reply)
    assert text == "where is my parcel"
    set_correction(db_session, reply.id, text, "tracking", created_by="sam@staff.example")
    set_correction(db_session, reply.id, text, "delivery", created_by="ada@admin.example")
    ours = [c for c in list_corrections(db_session) if c.message_id == reply.id]
    assert [(c.text, c.intent, c.created_by) for c in ours] == [
        ("where is my parcel", "delivery", "ada@admin.example")
    ]
