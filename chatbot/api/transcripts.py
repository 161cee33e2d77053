"""Staff API: the transcript list the console's Conversations page shows (filters, search, keyset
pages) and the verdicts staff gave on one conversation's bot turns.

The filters are read here by ``read_filters``, for this API, the console's page and the exports,
so the same query string narrows them all the same way. (One conversation's messages:
``GET /api/v1/staff/conversations/{id}/messages``; exports: ``/staff/export.csv`` and ``.jsonl``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from chatbot.api.corrections import CorrectionPublic, verdict
from chatbot.api.deps import SessionDep
from chatbot.api.principals import StaffUser
from chatbot.api.schemas import answer_example
from chatbot.db import labels, transcripts
from chatbot.db.base import as_utc
from chatbot.db.models import ConversationStatus
from chatbot.db.transcripts import ConversationRow, Cursor, TranscriptFilter

router = APIRouter(prefix="/api/v1/staff/conversations", tags=["transcripts"])
MAX_PAGE = 200
Mood = Literal["negative", "neutral", "positive"]
PREVIEW_CHARS = 120
FILTER_FIELDS = (
    "from",
    "to",
    "status",
    "intent",
    "min_confidence",
    "max_confidence",
    "fallback",
    "feedback",
    "language",
    "sentiment",
    "label",
    "q",
)


# ---- filters from the query string


class FilterError(ValueError):
    """A filter value that cannot be read; the message names the field."""


def _day(raw: str, field: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"{field}: expected a date like 2026-01-31, got {raw!r}") from None


def _confidence(raw: str, field: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise FilterError(f"{field}: expected a number from 0 to 1, got {raw!r}")
    return value


def _yes_no(raw: str, field: str) -> bool:
    if raw not in ("yes", "no"):
        raise FilterError(f"{field}: expected 'yes' or 'no', got {raw!r}")
    return raw == "yes"


def _status(raw: str) -> ConversationStatus:
    try:
        return ConversationStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in ConversationStatus)
        raise FilterError(f"status: expected one of {allowed}, got {raw!r}") from None


def _text(raw: str, field: str, limit: int) -> str:
    # PostgreSQL refuses a NUL in any string (a 500 if it got there); no filter needs controls.
    if any(ord(char) < 32 for char in raw):
        raise FilterError(f"{field}: control characters are not allowed")
    return raw[:limit]


def _mood(raw: str) -> str:
    if raw not in transcripts.MOODS:
        allowed = ", ".join(transcripts.MOODS)
        raise FilterError(f"sentiment: expected one of {allowed}, got {raw!r}")
    return raw


def _label(raw: str) -> str:
    try:
        return labels.normalized(raw)
    except labels.LabelError as problem:
        raise FilterError(str(problem)) from None


def read_filters(params: Mapping[str, str]) -> tuple[TranscriptFilter, dict[str, str], list[str]]:
    """The filter, the values to show back in the form, and a problem per unreadable field."""
    form = {name: params.get(name, "").strip() for name in FILTER_FIELDS}
    values: dict[str, Any] = {}
    problems: list[str] = []
    readers = {
        "from": ("created_from", lambda raw: _day(raw, "from")),
        "to": ("created_to", lambda raw: _day(raw, "to")),
        "status": ("status", _status),
        "intent": ("intent", lambda raw: _text(raw, "intent", 200)),
        "min_confidence": ("min_confidence", lambda raw: _confidence(raw, "min_confidence")),
        "max_confidence": ("max_confidence", lambda raw: _confidence(raw, "max_confidence")),
        "fallback": ("had_fallback", lambda raw: _yes_no(raw, "fallback")),
        "feedback": ("feedback", lambda raw: _yes_no(raw, "feedback")),
        "language": ("language", lambda raw: _text(raw, "language", 16)),
        "sentiment": ("sentiment", _mood),
        "label": ("label", _label),
        "q": ("q", lambda raw: _text(raw, "q", 200)),
    }
    for name, (attribute, read) in readers.items():
        if form[name]:
            try:
                values[attribute] = read(form[name])
            except FilterError as problem:
                problems.append(str(problem))
                form[name] = ""
    return TranscriptFilter(**values), form, problems


def read_cursor(params: Mapping[str, str]) -> Cursor | None:
    before, before_id = params.get("before", ""), params.get("before_id", "")
    if not before or not before_id:
        return None
    try:
        return Cursor(datetime.fromisoformat(before), before_id[:36])
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"before: not a time: {before!r}"
        ) from None


# ---- the API


class ConversationSummary(BaseModel):
    id: str
    status: str
    language: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int
    preview: str | None = Field(description="The customer's first message, shortened.")
    satisfaction: int | None = Field(description="1-5, when the customer rated it.")
    thumbs_up: int
    thumbs_down: int
    mood: Mood = Field(description="negative if any customer message was, else positive if any.")
    labels: list[str]

    @classmethod
    def of(cls, row: ConversationRow, row_labels: list[str]) -> ConversationSummary:
        conversation = row.conversation
        text = row.first_customer_text
        if text is not None and len(text) > PREVIEW_CHARS:
            text = text[: PREVIEW_CHARS - 1] + "…"
        mood: Mood = "neutral"
        if conversation.negative_messages:
            mood = "negative"
        elif conversation.positive_messages:
            mood = "positive"
        return cls(
            id=conversation.id,
            status=conversation.status.value,
            language=conversation.language,
            created_at=as_utc(conversation.created_at),
            updated_at=as_utc(conversation.updated_at),
            message_count=conversation.message_count,
            preview=text,
            satisfaction=conversation.satisfaction,
            thumbs_up=row.thumbs_up,
            thumbs_down=row.thumbs_down,
            mood=mood,
            labels=row_labels,
        )


class OlderPage(BaseModel):
    """Query parameters that fetch the next (older) page, with the same filters."""

    before: datetime
    before_id: str


class ConversationPage(BaseModel):
    conversations: list[ConversationSummary]
    older: OlderPage | None = Field(description="null: this is the last page.")


EXAMPLE_PAGE = {
    "conversations": [
        {
            "id": "6f1c2a9e-1b7d-4c55-9a43-2f0e8f6c1d20",
            "status": "closed",
            "language": "en",
            "created_at": "2026-11-30T09:15:00Z",
            "updated_at": "2026-11-30T09:21:40Z",
            "message_count": 6,
            "preview": "How long does a refund take?",
            "satisfaction": 4,
            "thumbs_up": 1,
            "thumbs_down": 0,
            "mood": "neutral",
            "labels": ["refunds"],
        }
    ],
    "older": {
        "before": "2026-11-30T09:21:40Z",
        "before_id": "6f1c2a9e-1b7d-4c55-9a43-2f0e8f6c1d20",
    },
}

Text = Annotated[str, Query(max_length=200)]
YesNo = Annotated[Literal["", "yes", "no"], Query()]
Fraction = Annotated[str, Query(max_length=20, description="A number from 0 to 1.")]


@router.get("", responses=answer_example(EXAMPLE_PAGE))
def list_conversations(
    session: SessionDep,
    principal: StaffUser,
    from_: Annotated[
        str, Query(alias="from", max_length=10, description="Started on or after.")
    ] = "",
    to: Annotated[str, Query(max_length=10, description="Started on or before.")] = "",
    status_: Annotated[str, Query(alias="status", max_length=20)] = "",
    intent: Text = "",
    min_confidence: Fraction = "",
    max_confidence: Fraction = "",
    fallback: YesNo = "",
    feedback: YesNo = "",
    language: Annotated[str, Query(max_length=16)] = "",
    sentiment: Annotated[Literal["", "negative", "neutral", "positive"], Query()] = "",
    label: Text = "",
    q: Annotated[str, Query(max_length=200, description="Words or text in any message.")] = "",
    before: Annotated[str, Query(max_length=40, description="From `older`: the next page.")] = "",
    before_id: Annotated[str, Query(pattern=r"^[0-9A-Za-z-]{0,36}$")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = transcripts.PAGE_SIZE,
) -> ConversationPage:
    """Conversations, most recent activity first, narrowed as the console's filters narrow
    them; a value that cannot be read is 422 naming its parameter."""
    params: dict[str, Any] = {
        "from": from_,
        "to": to,
        "status": status_,
        "intent": intent,
        "min_confidence": min_confidence,
        "max_confidence": max_confidence,
        "fallback": fallback,
        "feedback": feedback,
        "language": language,
        "sentiment": sentiment,
        "label": label,
        "q": q,
    }
    chosen, _form, problems = read_filters(params)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))
    cursor = read_cursor({"before": before, "before_id": before_id})
    page = transcripts.list_conversations(session, chosen, cursor, page_size=limit)
    ids = [row.conversation.id for row in page.rows]
    by_conversation = labels.labels_by_conversation(session, ids)
    older = None
    if page.older is not None:
        older = OlderPage(
            before=as_utc(page.older.updated_at), before_id=page.older.conversation_id
        )
    return ConversationPage(
        conversations=[
            ConversationSummary.of(row, by_conversation.get(row.conversation.id, []))
            for row in page.rows
        ],
        older=older,
    )


@router.get("/{conversation_id}/corrections")
def list_corrections(
    conversation_id: str,
    session: SessionDep,
    principal: StaffUser,
) -> list[CorrectionPublic]:
    """The verdicts staff gave on this conversation's bot turns, as its transcript page shows."""
    transcript = transcripts.get_transcript(session, conversation_id)
    if transcript is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "conversation not found")
    return [
        verdict(message, transcript.corrections[message.id])
        for message in transcript.messages
        if message.id in transcript.corrections
    ]
