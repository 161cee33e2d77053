"""Knowledge base files over HTTP: the JSON API's uploads (preview, then confirm) and download
under /api/v1/admin/knowledge, and what the console's pages share with them: reading an upload
within its limit, the uploads waiting for confirmation, a download, a draft's preview.

The intents themselves are chatbot/api/knowledge.py, under the same prefix and guard.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from chatbot import authoring
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.errors import ErrorPublic
from chatbot.api.markdown import render_markdown
from chatbot.api.principals import AdminUser, admin_user
from chatbot.config import Settings
from chatbot.knowledge.spec import ImportRejected
from chatbot.knowledge.uploads import PendingUploads, UploadGone
from chatbot.knowledge.writers import MEDIA_TYPES

FileFormat = Literal["csv", "json", "jsonl", "xlsx"]
router = APIRouter(
    prefix="/api/v1/admin/knowledge", tags=["knowledge"], dependencies=[Depends(admin_user)]
)
Responses = dict[int | str, dict[str, Any]]
_GONE: Responses = {
    410: {"model": ErrorPublic, "description": "Expired, applied already, or not yours"}
}

# Shared with the intents' routes (chatbot/api/knowledge.py): one shape for refused fields.
_FIELD_PROBLEMS_EXAMPLE = {
    "detail": [
        {"type": "value_error", "loc": ["body", "answer"], "msg": "Write the answer."},
        {
            "type": "value_error",
            "loc": ["body", "phrasings"],
            "msg": "'Refund?' is already a phrasing of 'refunds'.",
        },
    ]
}
REFUSED: Responses = {
    422: {
        "model": ErrorPublic,
        "description": "A field is refused; each problem names its field, as the form does",
        "content": {"application/json": {"example": _FIELD_PROBLEMS_EXAMPLE}},
    }
}


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


def preview_file(
    session: Session,
    settings: Settings,
    actor: str,
    file: UploadFile,
    filename: str,
    *,
    replace: bool,
) -> authoring.UploadPreview:
    """Check an uploaded file and say what it would change, keeping it for confirm_file;
    ``ImportRejected`` names every problem."""
    data = upload_bytes(file, settings.max_import_bytes)
    return authoring.preview_upload(
        session,
        pending_uploads(settings),
        actor,
        data,
        filename,
        replace=replace,
        max_bytes=settings.max_import_bytes,
    )


def confirm_file(
    session: Session, settings: Settings, actor: str, token: str
) -> authoring.UploadPreview:
    """Apply a previewed file, all or nothing; ``UploadGone`` or ``ImportRejected`` if not."""
    return authoring.confirm_upload(
        session, pending_uploads(settings), actor, token, max_bytes=settings.max_import_bytes
    )


# ---- uploads: preview, then confirm


class ChangePublic(BaseModel):
    key: str
    fields: list[str] = Field(description="What differs: answer, phrasings, category, ...")
    phrasings_added: list[str]
    phrasings_removed: list[str]


class UploadPublic(BaseModel):
    filename: str
    replace: bool
    added: list[str]
    changed: list[ChangePublic]
    removed: list[str]
    unchanged: int
    synonyms_replaced: bool
    synonym_groups: int
    token: str | None = Field(
        description="Confirms this preview (for an hour, once, by whoever uploaded it); null "
        "when the file changes nothing, and once applied."
    )
    applied: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "filename": "faq.csv",
                    "replace": False,
                    "added": ["gift_cards"],
                    "changed": [
                        {
                            "key": "refunds",
                            "fields": ["answer", "phrasings"],
                            "phrasings_added": ["Money back?"],
                            "phrasings_removed": [],
                        }
                    ],
                    "removed": [],
                    "unchanged": 12,
                    "synonyms_replaced": False,
                    "synonym_groups": 0,
                    "token": "kJ0m2m9c1b4Q8sXoU3yV6tZr7wA5eH2dN1fL0pGqRzI",
                    "applied": False,
                }
            ]
        }
    )

    @classmethod
    def of(cls, preview: authoring.UploadPreview, *, applied: bool) -> UploadPublic:
        diff = preview.diff
        return cls(
            filename=preview.filename,
            replace=preview.replace,
            added=diff.added,
            changed=[
                ChangePublic(
                    key=change.key,
                    fields=list(change.fields),
                    phrasings_added=list(change.phrasings_added),
                    phrasings_removed=list(change.phrasings_removed),
                )
                for change in preview.changes
            ],
            removed=diff.removed,
            unchanged=len(diff.unchanged),
            synonyms_replaced=diff.synonyms_replaced,
            synonym_groups=preview.synonym_count,
            token=preview.token,
            applied=applied,
        )


class UploadConfirm(BaseModel):
    token: str = Field(max_length=100, description="The preview's token.")


def _file_problems(rejected: ImportRejected) -> HTTPException:
    detail = []
    for problem in rejected.problems:
        where: list[str | int] = ["body", "file"]
        where += [part for part in (problem.row, problem.column) if part is not None]
        detail.append({"type": "value_error", "loc": where, "msg": str(problem)})
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.post("/uploads", responses=REFUSED)
def preview_upload(
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    file: Annotated[UploadFile, File(description="CSV, JSON, JSONL or XLSX")],
    replace: Annotated[bool, Form(description="Remove intents the file lacks")] = False,
) -> UploadPublic:
    """Check a knowledge base file and say what it would change; nothing is written yet.

    422 names every problem (file, row, column). Confirm the preview with its ``token``.
    """
    filename = file.filename or "upload"
    try:
        preview = preview_file(session, settings, principal.actor, file, filename, replace=replace)
    except ImportRejected as rejected:
        raise _file_problems(rejected) from None
    return UploadPublic.of(preview, applied=False)


@router.post("/uploads/confirm", responses=REFUSED | _GONE)
def confirm_upload(
    body: UploadConfirm, session: SessionDep, settings: SettingsDep, principal: AdminUser
) -> UploadPublic:
    """Apply a previewed file, all or nothing (audited as ``knowledge.import``)."""
    try:
        applied = confirm_file(session, settings, principal.actor, body.token)
    except UploadGone:
        raise HTTPException(
            status.HTTP_410_GONE,
            "this upload has expired or was already applied: upload the file again",
        ) from None
    except ImportRejected as rejected:
        raise _file_problems(rejected) from None
    return UploadPublic.of(applied, applied=True)


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {media.split(";")[0]: {} for media in MEDIA_TYPES.values()}}},
)
def export_knowledge(
    session: SessionDep, file_format: Annotated[FileFormat, Query(alias="format")] = "csv"
) -> Response:
    """The whole knowledge base as a file that uploads back unchanged."""
    return export_response(session, file_format)
