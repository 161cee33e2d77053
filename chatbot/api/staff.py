"""Staff console: transcripts (filters, search, export) and corrections."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, StreamingResponse
from markupsafe import Markup
from pydantic import BaseModel, Field

from chatbot.api.deps import RowId, SessionDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.markdown import render_markdown
from chatbot.api.principals import StaffUser
from chatbot.console.views import render
from chatbot.db import conversations as store
from chatbot.db import corrections, labels, transcripts
from chatbot.db.knowledge import load_intents
from chatbot.db.models import ConversationStatus, Correction, Message, Role
from chatbot.db.transcripts import Cursor, TranscriptFilter
from chatbot.nlu.keywords import top_keywords

router = APIRouter()

# The bot turns a staff member can judge: it answered, asked which was meant, or gave up.
CORRECTABLE = ("answer", "clarify", "fallback")
PREVIEW_CHARS = 120
TRANSCRIPT_KEYWORDS = 10
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
# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def _query(form: Mapping[str, str], **extra: str) -> str:
    return urlencode({**{k: v for k, v in form.items() if v}, **extra})


# ---- pages


@router.get("/staff", response_class=HTMLResponse, include_in_schema=False)
def transcript_list(request: Request, session: SessionDep, principal: StaffUser) -> HTMLResponse:
    """Conversations, newest activity first, filtered and searched; keyset pages."""
    chosen, form, problems = read_filters(request.query_params)
    cursor = read_cursor(request.query_params)
    page = transcripts.list_conversations(session, chosen, cursor)
    older = None
    if page.older is not None:
        older = _query(
            form,
            before=page.older.updated_at.isoformat(),
            before_id=page.older.conversation_id,
        )
    intents = load_intents(session)
    return render(
        request,
        "console/transcripts.html",
        principal,
        rows=page.rows,
        form=form,
        problems=problems,
        filtered=not chosen.is_empty(),
        paged=cursor is not None,
        older_query=older,
        filter_query=_query(form),
        intent_keys=[intent.key for intent in intents],
        languages=sorted({intent.language for intent in intents} | {"en", "zh"}),
        statuses=[s.value for s in ConversationStatus],
        moods=transcripts.MOODS,
        preview_chars=PREVIEW_CHARS,
        row_labels=labels.labels_by_conversation(
            session, [row.conversation.id for row in page.rows]
        ),
        label_names=labels.known_labels(session),
    )


@router.get(
    "/staff/conversations/{conversation_id}", response_class=HTMLResponse, include_in_schema=False
)
def transcript_page(
    request: Request, conversation_id: str, session: SessionDep, principal: StaffUser
) -> HTMLResponse:
    """One conversation, every turn, with what the bot made of it and the staff verdicts."""
    transcript = transcripts.get_transcript(session, conversation_id)
    if transcript is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "conversation not found")
    _ = translator(request_language(request))
    verdicts = {
        message.id: verdict(message, transcript.corrections[message.id])
        for message in transcript.messages
        if message.id in transcript.corrections
    }
    return render(
        request,
        "console/transcript.html",
        principal,
        transcript=transcript,
        conversation=transcript.conversation,
        verdicts=verdicts,
        # What the customer saw: bot and staff Markdown, sanitised. Customer text stays text.
        rendered={
            message.id: Markup(render_markdown(message.text))  # sanitised by nh3
            for message in transcript.messages
            if message.role is not Role.CUSTOMER
        },
        correctable=CORRECTABLE,
        # What the customer talked about: the words of most of their messages.
        keywords=top_keywords(
            (m.text for m in transcript.messages if m.role is Role.CUSTOMER), TRANSCRIPT_KEYWORDS
        ),
        intent_keys=[intent.key for intent in load_intents(session)],
        live=transcript.conversation.status
        in (ConversationStatus.WAITING, ConversationStatus.WITH_STAFF),
        strings=_page_strings(_),
    )


def _page_strings(_: Translate) -> dict[str, str]:
    # What transcripts.js shows; translated here so the script holds no English.
    return {
        "right": _("Marked right"),
        "wrong": _("Marked wrong: {intent}"),
        "out_of_scope": _("out of scope"),
        "saving": _("Saving…"),
        "failed": _("Could not save: {detail}"),
    }


# ---- export


def _export_filter(request: Request) -> TranscriptFilter:
    chosen, _form, problems = read_filters(request.query_params)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))
    return chosen


def _stream(request: Request, chosen: TranscriptFilter, lines: Any) -> Iterator[str]:
    # Its own session: the request's may be closed before the last row is sent.
    with request.app.state.session_factory() as session:
        yield from lines(transcripts.export_rows(session, chosen))


def _file(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def _attachment(extension: str) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return {"Content-Disposition": f'attachment; filename="transcripts-{stamp}.{extension}"'}


def guard_formula(value: object) -> object:
    """A cell a spreadsheet would evaluate, made literal with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: object) -> object:
    # A conversation's labels, in one cell: labels never contain commas.
    return ",".join(value) if isinstance(value, list) else value


def _csv_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(transcripts.EXPORT_COLUMNS)
    for number, row in enumerate(rows, 1):
        writer.writerow(
            [guard_formula(_cell(row[column])) for column in transcripts.EXPORT_COLUMNS]
        )
        if number % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


@router.get(
    "/staff/export.csv",
    response_class=StreamingResponse,
    responses={200: _file("text/csv", "The conversations as CSV, one row per message")},
)
def export_csv(request: Request, principal: StaffUser) -> StreamingResponse:
    """The filtered conversations as CSV, one row per message, streamed."""
    chosen = _export_filter(request)
    return StreamingResponse(
        _stream(request, chosen, _csv_lines),
        media_type="text/csv; charset=utf-8",
        headers=_attachment("csv"),
    )


@router.get(
    "/staff/export.jsonl",
    response_class=StreamingResponse,
    responses={200: _file("application/x-ndjson", "The conversations as JSON Lines")},
)
def export_jsonl(request: Request, principal: StaffUser) -> StreamingResponse:
    """The filtered conversations as JSON Lines, one object per message, streamed."""
    chosen = _export_filter(request)
    return StreamingResponse(
        _stream(request, chosen, _jsonl_lines),
        media_type="application/x-ndjson; charset=utf-8",
        headers=_attachment("jsonl"),
    )


# ---- corrections


class CorrectionCreate(BaseModel):
    verdict: Literal["right", "wrong"]
    intent: str | None = Field(
        None, max_length=200, description="With 'wrong': the intent meant; null: out of scope."
    )


class CorrectionPublic(BaseModel):
    message_id: int
    verdict: Literal["right", "wrong"]
    intent: str | None
    text: str
    created_by: str | None


def _bot_meant(message: Message) -> str | None:
    # A fallback claims the message is out of scope; the other turns claim their intent.
    return None if message.action == "fallback" else message.intent


def verdict(message: Message, correction: Correction) -> CorrectionPublic:
    return CorrectionPublic(
        message_id=message.id,
        verdict="right" if correction.intent == _bot_meant(message) else "wrong",
        intent=correction.intent,
        text=correction.text,
        created_by=correction.created_by,
    )


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.post("/api/v1/staff/messages/{message_id}/correction", tags=["staff"])
def correct_bot_turn(
    message_id: RowId, body: CorrectionCreate, session: SessionDep, principal: StaffUser
) -> CorrectionPublic:
    """Mark a bot turn right, or wrong with the intent the customer meant (null: out of scope).

    The customer message it answered becomes training data; a new verdict replaces the last.
    """
    message = store.get_message(session, message_id)
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"message {message_id} not found")
    if message.role is not Role.BOT or message.action not in CORRECTABLE:
        raise _unprocessable(
            "message_id: only the bot's answers, clarifying questions and fallbacks take a verdict"
        )
    if body.verdict == "wrong" and "intent" not in body.model_fields_set:
        raise _unprocessable("intent: required with verdict 'wrong' (null: out of scope)")
    intent = _bot_meant(message) if body.verdict == "right" else body.intent
    known = {spec.key for spec in load_intents(session)}
    if intent is not None and intent not in known:
        raise _unprocessable(f"intent: {intent!r} is not an intent of the knowledge base")
    customer_text = transcripts.answered_customer_text(session, message)
    if customer_text is None:
        raise _unprocessable("message_id: this bot turn answered no customer message")
    correction = corrections.set_correction(
        session, message.id, customer_text, intent, created_by=principal.actor
    )
    session.commit()
    return verdict(message, correction)
