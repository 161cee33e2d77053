"""What customers wrote over a period and how they felt: the analytics dashboard's text figures.

Moods are counted by the database from the counts kept on each conversation. Keywords need the
texts themselves, cut into words in Python: the newest KEYWORD_SAMPLE customer messages of the
period are read, which bounds the page's cost however long the period (the page says so).
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from chatbot.db.models import Conversation, Message, Role
from chatbot.db.periods import Period, in_language, message_period

# Cutting 1,000 messages into words takes about 0.08 s here (5,000: 0.41 s; the dashboard
# wants each figure within 0.5 s on a busy machine too).
KEYWORD_SAMPLE = 1_000


def moods(session: Session, period: Period) -> dict[str, int]:
    """Conversations started in the period by the customer's mood, as the transcript list
    filters them: negative when any of their messages was, else positive when any was, else
    neutral. Read from the counts kept on each conversation: no message is read."""
    mood = case(
        (Conversation.negative_messages > 0, "negative"),
        (Conversation.positive_messages > 0, "positive"),
        else_="neutral",
    )
    query = (
        select(mood, func.count())
        .where(Conversation.created_at >= period.since, Conversation.created_at < period.until)
        .group_by(mood)
    )
    if period.language is not None:
        query = query.where(Conversation.language == period.language)
    return {str(label): count for label, count in session.execute(query)}


def customer_texts(
    session: Session, period: Period, limit: int = KEYWORD_SAMPLE
) -> dict[str, list[str]]:
    """The newest ``limit`` customer messages of the period, grouped by conversation id."""
    query = (
        select(Message.conversation_id, Message.text)
        .where(*message_period(period), Message.role == Role.CUSTOMER)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    grouped: dict[str, list[str]] = {}
    for conversation_id, text in session.execute(in_language(query, period)):
        grouped.setdefault(conversation_id, []).append(text)
    return grouped
