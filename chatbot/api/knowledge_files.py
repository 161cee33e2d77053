"""Knowledge base files over HTTP, for the JSON API and the console's pages alike: reading an
upload within its limit, the uploads waiting for confirmation, a download, a draft's preview."""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException, UploadFile, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from chatbot import authoring
from chatbot.api.markdown import render_markdown
from chatbot.config import Settings
from chatbot.knowledge.uploads import PendingUploads
from chatbot.knowledge.writers import MEDIA_TYPES

FileFormat = Literal["csv", "json", "jsonl", "xlsx"]


def draft_html(markdown: str) -> str:
    # Not the cached render: drafts typed key by key would push real answers out of the cache.
    return render_markdown.__wrapped__(markdown)


def export_response(session: Session, file_format: FileFormat) -> Response:
    """The whole knowledge base as a download (422 when XLSX cannot hold it)."""
    try:
        data = authoring.export_knowledge(session, file_format)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    return Response(
        data,
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="knowledge-base.{file_format}"'},
    )


def pending_uploads(settings: Settings) -> PendingUploads:
    return PendingUploads(settings.data_dir / "uploads")


def upload_bytes(file: UploadFile, limit: int) -> bytes:
    """An uploaded file's bytes; ``ImportRejected`` when it is over ``limit``."""
    filename = file.filename or ""
    if file.size is not None and file.size > limit:
        # Refused before reading: the limit also protects this process's memory.
        raise authoring.file_too_large(filename, file.size, limit)
    # At most one byte over the limit: enough for the reader to refuse the file as too large.
    return file.file.read(limit + 1)
