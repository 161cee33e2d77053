"""Reading transcripts for the staff console: filters, full-text search, keyset pages, export rows.

Pages are keyset pages over (``updated_at``, ``id``), newest first: the next page starts below the
last row shown, so a deep page costs what the first one does (no OFFSET, no COUNT over the table).
Filters on what the bot did (intent, confidence) and the search are conditions on a conversation's
messages, written so the indexes on ``messages`` serve them.
"""

# One module though past 400 lines: the console's list, one transcript and the export read the
# same filter conditions and the same rows; apart, each would import the others' private parts.

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session

from chatbot.db.labels import labels_by_conversation
from chatbot.db.models import (
    Conversation,
    ConversationLabel,
    ConversationStatus,
    Correction,
    Message,
    Role,
    User,
)
from chatbot.nlu.language import has_chinese

PAGE_SIZE = 50
MOODS = ("negative", "neutral", "positive")
EXPORT_BATCH = 200  # conversations per query while streaming an export
TRIGRAM = 3  # SQLite's trigram tokenizer cannot match anything shorter
# A search matching more messages than this is cheaper on SQLite checked per conversation.
COMMON_MATCHES = 20_000

# SQLite's FTS5 table (migration 0003), kept in step with messages by triggers. Not in the models.
messages_fts = table("messages_fts", column("rowid"), column("messages_fts"))


@dataclass(frozen=True)
class TranscriptFilter:
    """What the staff member narrowed the list to; ``None`` means "any"."""

    created_from: date | None = None
    created_to: date | None = None  # inclusive
    status: ConversationStatus | None = None
    intent: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    had_fallback: bool | None = None
    feedback: bool | None = None
    language: str | None = None
    # The customer's mood (MOODS): negative when any of their messages was, else positive
    # when any was, else neutral.
    sentiment: str | None = None
    label: str | None = None  # carries this label (see chatbot/db/labels.py)
    q: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, field.name) is None for field in fields(self))


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: strictly older than this row of the newest-first order."""

    updated_at: datetime
    conversation_id: str


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    first_customer_text: str | None
    thumbs_up: int
    thumbs_down: int


@dataclass(frozen=True)
class TranscriptPage:
    rows: list[ConversationRow]
    older: Cursor | None  # None: this is the last page


# ---- search


def message_search(session: Session, q: str) -> ColumnElement[bool]:
    """A condition on ``Conversation``: it has a message whose text matches ``q``.

    SQLite searches the FTS5 trigram index (any substring of three or more characters, so it
    finds Chinese without word breaks; ``q`` is quoted as one phrase, so its punctuation is
    literal); shorter queries fall back to ``LIKE``. PostgreSQL matches words with the GIN index
    on ``to_tsvector('simple', text)``, and a query with Chinese or punctuation in it as a
    substring (``ILIKE``) with the trigram index: Chinese has no spaces, so a whole run of it is
    one "word" there, and a code like ``50%-off`` means those characters, not the words 50 and off.

    >>> from chatbot.db.conversations import add_message, start_conversation
    >>> conversation, _token = start_conversation(session)
    >>> _ = add_message(session, conversation, Role.CUSTOMER, "我想退货，怎么办？")
    >>> query = select(Conversation.id).where(message_search(session, "退货"))
    >>> session.scalars(query).all() == [conversation.id]
    True
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        matches = (
            Message.text.ilike("%" + _like_literal(q) + "%", escape="\\")
            if has_chinese(q) or not all(c.isalnum() or c.isspace() for c in q)
            else func.to_tsvector(literal_column("'simple'"), Message.text).op("@@")(
                func.plainto_tsquery(literal_column("'simple'"), q)
            )
        )
        if _count_capped(session, select(Message.id).where(matches)) > COMMON_MATCHES:
            return exists().where(Message.conversation_id == Conversation.id, matches)
        # Rare words: look them up in a GIN index first. Left to itself the planner walks the
        # conversations newest first and computes to_tsvector for each message (seconds at 1M
        # messages when nothing matches); MATERIALIZED keeps the lookup a step of its own.
        hits = (
            select(Message.conversation_id)
            .where(matches)
            .cte("search_hits")
            .prefix_with("MATERIALIZED")
        )
        return Conversation.id.in_(select(hits.c.conversation_id))
    if len(q) < TRIGRAM or _matches_many(session, q):
        # Checked conversation by conversation, newest first: a common text stops the scan early,
        # where collecting every match first would read much of the table.
        return exists().where(
            Message.conversation_id == Conversation.id,
            Message.text.like("%" + _like_literal(q) + "%", escape="\\"),
        )
    conversation_ids = select(Message.conversation_id).where(Message.id.in_(_fts_ids(q)))
    return Conversation.id.in_(conversation_ids.scalar_subquery())


def _fts_ids(q: str) -> Select[tuple[Any]]:
    phrase = '"' + q.replace('"', '""') + '"'
    return select(messages_fts.c.rowid).where(messages_fts.c.messages_fts.match(phrase))


def _matches_many(session: Session, q: str) -> bool:
    return _count_capped(session, _fts_ids(q)) > COMMON_MATCHES


def _count_capped(session: Session, query: Select[Any]) -> int:
    """How many rows ``query`` finds, counting no further than one past COMMON_MATCHES."""
    probe = query.limit(COMMON_MATCHES + 1).subquery()
    return session.scalar(select(func.count()).select_from(probe)) or 0


def _like_literal(value: str) -> str:
    # LIKE's wildcards and the escape character itself, matched literally (with escape="\\").
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---- the list


def _bot_turn_exists(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    # Served by ix_messages_conversation_id_id: a conversation's few messages are read directly.
    return exists().where(
        Message.conversation_id == Conversation.id, Message.role == Role.BOT, *conditions
    )


def _conditions(session: Session, chosen: TranscriptFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if chosen.created_from is not None:
        conditions.append(Conversation.created_at >= _midnight(chosen.created_from))
    if chosen.created_to is not None:
        conditions.append(
            Conversation.created_at < _midnight(chosen.created_to + timedelta(days=1))
        )
    if chosen.status is not None:
        conditions.append(Conversation.status == chosen.status)
    if chosen.intent is not None:
        conditions.append(_bot_turn_exists(Message.intent == chosen.intent))
    if chosen.min_confidence is not None or chosen.max_confidence is not None:
        low = chosen.min_confidence if chosen.min_confidence is not None else 0.0
        high = chosen.max_confidence if chosen.max_confidence is not None else 1.0
        conditions.append(_bot_turn_exists(Message.confidence.between(low, high)))
    if chosen.had_fallback is not None:
        conditions.append(Conversation.had_fallback.is_(chosen.had_fallback))
    if chosen.feedback is not None:
        given = or_(Conversation.feedback_given.is_(True), Conversation.satisfaction.is_not(None))
        conditions.append(given if chosen.feedback else ~given)
    if chosen.language is not None:
        # "en" also finds the conversations that said "en-GB".
        conditions.append(
            or_(
                Conversation.language == chosen.language,
                Conversation.language.like(_like_literal(chosen.language) + "-%", "\\"),
            )
        )
    if chosen.sentiment is not None:
        conditions.append(_mood(chosen.sentiment))
    if chosen.label is not None:
        conditions.append(
            exists().where(
                ConversationLabel.conversation_id == Conversation.id,
                ConversationLabel.label == chosen.label,
            )
        )
    if chosen.q:
        conditions.append(message_search(session, chosen.q))
    return conditions


def _mood(sentiment: str) -> ColumnElement[bool]:
    # Counted on the conversation as its messages are stored: no message is read.
    if sentiment == "negative":
        return Conversation.negative_messages > 0
    if sentiment == "positive":
        return and_(Conversation.negative_messages == 0, Conversation.positive_messages > 0)
    return and_(Conversation.negative_messages == 0, Conversation.positive_messages == 0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _older_than(cursor: Cursor) -> ColumnElement[bool]:
    # The first term alone is a range the updated_at index serves; the second breaks ties.
    return and_(
        Conversation.updated_at <= cursor.updated_at,
        or_(
            Conversation.updated_at < cursor.updated_at,
            Conversation.id < cursor.conversation_id,
        ),
    )


def _conversations(
    session: Session, chosen: TranscriptFilter, cursor: Cursor | None, limit: int
) -> Sequence[Conversation]:
    query = select(Conversation).where(*_conditions(session, chosen))
    if cursor is not None:
        query = query.where(_older_than(cursor))
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit)
    return session.scalars(query).all()


def list_conversations(
    session: Session,
    chosen: TranscriptFilter,
    cursor: Cursor | None = None,
    page_size: int = PAGE_SIZE,
) -> TranscriptPage:
    """One page of conversations, most recent activity first, with their previews.

    >>> from chatbot.db.conversations import add_message, start_conversation
    >>> for text in ("Where is my parcel?", "Can I return shoes?", "Do you ship to Oslo?"):
    ...     conversation, _token = start_conversation(session)
    ...     _ = add_message(session, conversation, Role.CUSTOMER, text)
    >>> everything = TranscriptFilter()
    >>> page = list_conversations(session, everything, page_size=2)
    >>> next_page = list_conversations(session, everything, page.older, page_size=2)
    >>> len(page.rows), len(next_page.rows), next_page.older
    (2, 1, None)
    >>> [row.first_customer_text for row in next_page.rows]
    ['Where is my parcel?']
    """
    found = list(_conversations(session, chosen, cursor, page_size + 1))
    older = None
    if len(found) > page_size:
        found = found[:page_size]
        older = Cursor(found[-1].updated_at, found[-1].id)
    ids = [conversation.id for conversation in found]
    previews = _first_customer_texts(session, ids)
    thumbs = _thumbs(session, ids)
    rows = [ConversationRow(c, previews.get(c.id), *thumbs.get(c.id, (0, 0))) for c in found]
    return TranscriptPage(rows, older)


def _first_customer_texts(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    first = (
        select(func.min(Message.id))
        .where(Message.conversation_id.in_(ids), Message.role == Role.CUSTOMER)
        .group_by(Message.conversation_id)
        .scalar_subquery()
    )
    found = session.execute(
        select(Message.conversation_id, Message.text).where(Message.id.in_(first))
    )
    return {conversation_id: message_text for conversation_id, message_text in found}


def _thumbs(session: Session, ids: list[str]) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    found = session.execute(
        select(Message.conversation_id, Message.helpful, func.count())
        .where(Message.conversation_id.in_(ids), Message.helpful.is_not(None))
        .group_by(Message.conversation_id, Message.helpful)
    )
    counts: dict[str, list[int]] = {}
    for conversation_id, helpful, count in found:
        counts.setdefault(conversation_id, [0, 0])[0 if helpful else 1] = count
    return {key: (up, down) for key, (up, down) in counts.items()}


# ---- one transcript


@dataclass(frozen=True)
class Transcript:
    conversation: Conversation
    messages: Sequence[Message]
    authors: dict[int, str]  # user id -> email, for staff messages
    assignee: str | None
    corrections: dict[int, Correction]  # message id -> the staff verdict on that bot turn


def get_transcript(session: Session, conversation_id: str) -> Transcript | None:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    messages = session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    ).all()
    user_ids = {m.author_id for m in messages if m.author_id is not None}
    if conversation.assigned_to_id is not None:
        user_ids.add(conversation.assigned_to_id)
    emails = dict(
        session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).tuples().all()
        if user_ids
        else []
    )
    corrections = session.scalars(
        select(Correction)
        .where(Correction.message_id.in_([m.id for m in messages]))
        .order_by(Correction.id)
    ).all()
    return Transcript(
        conversation,
        messages,
        emails,
        emails.get(conversation.assigned_to_id) if conversation.assigned_to_id else None,
        {c.message_id: c for c in corrections if c.message_id is not None},
    )


def answered_customer_text(session: Session, bot_message: Message) -> str | None:
    """The customer message a bot turn answered: the latest one before it in its conversation."""
    return session.scalar(
        select(Message.text)
        .where(
            Message.conversation_id == bot_message.conversation_id,
            Message.role == Role.CUSTOMER,
            Message.id < bot_message.id,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


# ---- export


EXPORT_COLUMNS = (
    "conversation_id",
    "conversation_status",
    "satisfaction",
    "labels",  # the conversation's, sorted: a list in JSON Lines, comma-separated in CSV
    "message_id",
    "time",
    "role",
    "text",
    "intent",
    "confidence",
    "action",
    "model_version",
    "latency_ms",
    "helpful",
    "sentiment",
    "sentiment_score",
)


def export_rows(
    session: Session, chosen: TranscriptFilter, batch: int = EXPORT_BATCH
) -> Iterator[dict[str, Any]]:
    """Every message of the matching conversations, one dict per message, in list order.

    Reads ``batch`` conversations at a time by keyset, so memory stays flat however many match,
    and ends its transaction before handing a batch out: a slow download never holds SQLite's
    lock while the customers' messages wait.
    """
    cursor: Cursor | None = None
    while True:
        conversations = _conversations(session, chosen, cursor, batch)
        if not conversations:
            return
        by_id = {c.id: c for c in conversations}
        labelled = labels_by_conversation(session, list(by_id))
        grouped: dict[str, list[Message]] = {}
        for message in session.scalars(
            select(Message).where(Message.conversation_id.in_(list(by_id)))
        ):
            grouped.setdefault(message.conversation_id, []).append(message)
        rows = [
            _export_row(conversation, labelled.get(conversation.id, []), message)
            for conversation in conversations
            for message in sorted(grouped.get(conversation.id, []), key=lambda m: m.id)
        ]
        last = conversations[-1]
        cursor = Cursor(last.updated_at, last.id)
        session.commit()  # read-only: this only ends the transaction
        session.expunge_all()
        yield from rows
        if len(conversations) < batch:
            return


def _export_row(conversation: Conversation, labels: list[str], message: Message) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "conversation_status": conversation.status.value,
        "satisfaction": conversation.satisfaction,
        "labels": labels,
        "message_id": message.id,
        "time": message.created_at.isoformat(),
        "role": message.role.value,
        "text": message.text,
        "intent": message.intent,
        "confidence": message.confidence,
        "action": message.action,
        "model_version": message.model_version,
        "latency_ms": message.latency_ms,
        "helpful": message.helpful,
        "sentiment": message.sentiment,
        "sentiment_score": message.sentiment_score,
    }
