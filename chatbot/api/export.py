"""Transcript exports: the filtered conversations as CSV or JSON Lines, one row per message.

Served at ``/staff/export.*`` (the console's Conversations page links them, with its filters) and
documented in the API: a file download, read by spreadsheets and scripts, not a page.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse

from chatbot.api.principals import StaffUser
from chatbot.api.transcripts import read_filters
from chatbot.db import transcripts
from chatbot.db.transcripts import TranscriptFilter

router = APIRouter(prefix="/staff")

# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    "/export.csv",
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
    "/export.jsonl",
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
