"""What customers wrote over a period and how they felt: the analytics dashboard's text figures.

Sentiment is counted by the database (one GROUP BY over the stored labels). Keywords need the
texts themselves, cut into words in Python: the newest KEYWORD_SAMPLE customer messages of the
period are read, which bounds the page's cost however long the period (the page says so).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.analytics import Period, _in_language, _message_period
from chatbot.db.models import Message, Role

KEYWORD_SAMPLE = 5_000


def sentiment_counts(session: Session, period: Period) -> dict[str | None, int]:
    """Customer messages of the period by sentiment (None: stored before it was analysed)."""
    query = (
        select(Message.sentiment, func.count())
        .where(*_message_period(period, by_day=True), Message.role == Role.CUSTOMER)
        .group_by(Message.sentiment)
    )
    return {sentiment: count for sentiment, count in session.execute(_in_language(query, period))}


def customer_texts(
    session: Session, period: Period, limit: int = KEYWORD_SAMPLE
) -> dict[str, list[str]]:
    """The newest ``limit`` customer messages of the period, grouped by conversation id."""
    query = (
        select(Message.conversation_id, Message.text)
        .where(*_message_period(period), Message.role == Role.CUSTOMER)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    grouped: dict[str, list[str]] = {}
    for conversation_id, text in session.execute(_in_language(query, period)):
        grouped.setdefault(conversation_id, []).append(text)
    return grouped
