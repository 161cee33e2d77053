"""Related questions in the database: what customers asked next, and the offers and clicks.

"Asked next" pairs two consecutive answers of one conversation: the bot answered intent A, and
the customer's next answered message was intent B. Each pair counts once per conversation, and
a message sent by clicking a related question does not count (otherwise what is offered would
teach itself to be offered again). One windowed query over the history, run in the background
(:class:`chatbot.conversation.related.RelatedQuestions`), never during a turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from chatbot.db.models import Message, Role
from chatbot.db.periods import Period, in_language, message_period


def asked_next(
    session: Session, *, since: datetime, min_count: int
) -> dict[str, list[tuple[str, int]]]:
    """For each intent, the intents customers asked right after it in at least ``min_count``
    conversations since ``since``: ``{A: [(B, conversations), ...]}``, most often first (then by
    key, so ties come out the same every time).

    Args:
        since: answers before this moment are left out.
        min_count: fewer conversations than this and the pair is not returned.
    """
    asked = aliased(Message)  # the customer's message each answer replies to
    answers = (
        select(
            Message.conversation_id.label("conversation_id"),
            Message.intent.label("intent"),
            func.lead(Message.intent)
            .over(partition_by=Message.conversation_id, order_by=Message.id)
            .label("next_intent"),
            func.lead(asked.related_from_id)
            .over(partition_by=Message.conversation_id, order_by=Message.id)
            .label("next_clicked"),
        )
        .select_from(Message)
        .join(asked, asked.id == Message.reply_to_id)
        .where(
            Message.role == Role.BOT,
            Message.action == "answer",
            Message.intent.is_not(None),
            Message.created_at >= since,
        )
        .subquery()
    )
    conversations = func.count(answers.c.conversation_id.distinct())
    query = (
        select(answers.c.intent, answers.c.next_intent, conversations)
        .where(
            answers.c.next_intent.is_not(None),
            answers.c.next_intent != answers.c.intent,
            answers.c.next_clicked.is_(None),
        )
        .group_by(answers.c.intent, answers.c.next_intent)
        .having(conversations >= min_count)
    )
    table: dict[str, list[tuple[str, int]]] = {}
    for intent, following, count in session.execute(query):
        table.setdefault(intent, []).append((following, count))
    for pairs in table.values():
        pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    return table


def offered_question(session: Session, conversation_id: str, message_id: int, intent: str) -> bool:
    """Whether the bot's message ``message_id`` of this conversation offered ``intent`` among
    its related questions."""
    message = session.get(Message, message_id)
    return (
        message is not None
        and message.conversation_id == conversation_id
        and message.role is Role.BOT
        and any(button.get("intent") == intent for button in message.related or [])
    )


# ---- the dashboard


@dataclass
class RelatedCounts:
    """Under the answers of one intent (or all of them): related questions offered, clicked."""

    intent: str = ""
    offered: int = 0  # answers that offered related questions
    clicked: int = 0  # customers' messages sent by clicking one of them

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.offered if self.offered else None


def offers_and_clicks(session: Session, period: Period) -> list[RelatedCounts]:
    """Per answered intent: answers of the period that offered related questions, and clicks
    in the period on the questions such answers offered; most offered first.

    Two small queries, each from a partial index holding only the rows that have offers or
    clicks.
    """
    counts: dict[str, RelatedCounts] = {}
    offers = (
        select(Message.intent, func.count())
        .where(*message_period(period), Message.related.is_not(None))
        .group_by(Message.intent)
    )
    for intent, count in session.execute(in_language(offers, period)):
        counts.setdefault(intent or "", RelatedCounts(intent or "")).offered += count
    offering = aliased(Message)
    clicks = (
        select(offering.intent, func.count())
        .select_from(Message)
        .join(offering, offering.id == Message.related_from_id)
        .where(*message_period(period), Message.related_from_id.is_not(None))
        .group_by(offering.intent)
    )
    for intent, count in session.execute(in_language(clicks, period)):
        counts.setdefault(intent or "", RelatedCounts(intent or "")).clicked += count
    return sorted(counts.values(), key=lambda row: (-row.offered, -row.clicked, row.intent))


def total(rows: Iterable[RelatedCounts]) -> RelatedCounts:
    """The rows summed (intent "")."""
    summed = RelatedCounts()
    for row in rows:
        summed.offered += row.offered
        summed.clicked += row.clicked
    return summed
