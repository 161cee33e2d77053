"""Customer messages the bot did not answer well, and admins' decisions on them.

A message is unanswered when the bot's reply to it fell back, was voted unhelpful, asked "did you
mean ...?" and the customer picked none of the suggestions, or was corrected by staff to another
intent. A message an admin settled (``UnansweredReview``) or staff already judged out of scope
(a correction with no intent) is not listed again.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from chatbot.db.base import as_utc, utcnow
from chatbot.db.models import Conversation, Correction, Message, Role, UnansweredReview
from chatbot.db.periods import Period


class Reason(enum.StrEnum):
    FALLBACK = "fallback"
    UNHELPFUL = "unhelpful"  # thumbs down
    CLARIFICATION_ABANDONED = "clarification_abandoned"
    CORRECTED = "corrected"  # staff said it meant another intent


class Outcome(enum.StrEnum):
    ADDED = "added"  # added as phrasings of an existing intent
    NEW_INTENT = "new_intent"
    OUT_OF_SCOPE = "out_of_scope"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class UnansweredMessage:
    message_id: int  # the customer's message
    reply_id: int  # the bot's reply to it
    conversation_id: str
    text: str
    language: str | None  # the conversation's
    intent: str | None  # what the bot made of it
    reasons: tuple[Reason, ...]
    created_at: datetime


def unanswered_messages(
    session: Session, period: Period, *, limit: int = 1000
) -> list[UnansweredMessage]:
    """The period's unanswered customer messages (by the reply's time), newest first."""
    customer = aliased(Message)
    query = (
        select(Message, customer.text, Conversation.language, Correction.intent, Correction.id)
        .join(customer, customer.id == Message.reply_to_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Correction, Correction.message_id == Message.id)
        .outerjoin(UnansweredReview, UnansweredReview.message_id == customer.id)
        .where(
            Message.role == Role.BOT,
            Message.created_at >= period.since,
            Message.created_at < period.until,
            UnansweredReview.message_id.is_(None),
            or_(
                Message.action.in_(("fallback", "clarify")),
                Message.helpful.is_(False),
                and_(Correction.id.is_not(None), Correction.intent.is_not(None)),
            ),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    if period.language is not None:
        query = query.where(Conversation.language == period.language)
    rows = session.execute(query).all()
    clarified = _clarifications_settled(
        session, [row[0] for row in rows if row[0].action == "clarify"]
    )
    found = []
    for reply, text, language, corrected_to, correction_id in rows:
        if correction_id is not None and corrected_to is None:
            continue  # staff already judged it out of scope
        reasons = []
        if reply.action == "fallback":
            reasons.append(Reason.FALLBACK)
        if reply.helpful is False:
            reasons.append(Reason.UNHELPFUL)
        if reply.action == "clarify" and reply.id not in clarified:
            reasons.append(Reason.CLARIFICATION_ABANDONED)
        if corrected_to is not None and corrected_to != reply.intent:
            reasons.append(Reason.CORRECTED)
        if reasons:
            found.append(
                UnansweredMessage(
                    reply.reply_to_id or 0,
                    reply.id,
                    reply.conversation_id,
                    text,
                    language,
                    reply.intent,
                    tuple(reasons),
                    as_utc(reply.created_at),
                )
            )
    return found


def _clarifications_settled(session: Session, clarifications: Sequence[Message]) -> set[int]:
    """The "did you mean" replies whose next bot reply answered one of the suggested intents."""
    if not clarifications:
        return set()
    later = session.scalars(
        select(Message)
        .where(
            Message.conversation_id.in_({m.conversation_id for m in clarifications}),
            Message.role == Role.BOT,
            Message.id > min(m.id for m in clarifications),
        )
        .order_by(Message.id)
    ).all()
    settled = set()
    for clarification in clarifications:
        following = next(
            (
                m
                for m in later
                if m.conversation_id == clarification.conversation_id and m.id > clarification.id
            ),
            None,
        )
        offered = {s.get("intent") for s in clarification.suggestions or []}
        if following is not None and following.action == "answer" and following.intent in offered:
            settled.add(clarification.id)
    return settled


def find_unanswered(session: Session, message_ids: Iterable[int]) -> dict[int, UnansweredMessage]:
    """The customer messages with these ids that a bot reply answered, by id (any period,
    reviewed or not), for the actions: the caller says which ids are missing."""
    ids = set(message_ids)
    if not ids:
        return {}
    customer = aliased(Message)
    rows = session.execute(
        select(Message, customer.text, Conversation.language)
        .join(customer, customer.id == Message.reply_to_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.role == Role.BOT, Message.reply_to_id.in_(ids))
    ).all()
    return {
        reply.reply_to_id or 0: UnansweredMessage(
            reply.reply_to_id or 0,
            reply.id,
            reply.conversation_id,
            text,
            language,
            reply.intent,
            (),
            as_utc(reply.created_at),
        )
        for reply, text, language in rows
    }


def review(
    session: Session,
    message_ids: Iterable[int],
    outcome: Outcome,
    *,
    intent: str | None = None,
    reviewed_by: str | None = None,
) -> None:
    """Record the decision on these messages (replacing an earlier one); flushed, not committed."""
    ids = sorted(set(message_ids))
    existing = {
        row.message_id: row
        for row in session.scalars(
            select(UnansweredReview).where(UnansweredReview.message_id.in_(ids))
        )
    }
    now = utcnow()
    for message_id in ids:
        row = existing.get(message_id) or UnansweredReview(message_id=message_id)
        row.outcome, row.intent, row.reviewed_by, row.reviewed_at = (
            outcome.value,
            intent,
            reviewed_by,
            now,
        )
        session.add(row)
    session.flush()
