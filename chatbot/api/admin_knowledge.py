"""Admin console: the knowledge base pages (list, edit, upload with preview, download).

Every change is written with an audit record in the same transaction and bumps the knowledge
base's revision, which serving processes follow: no restart is needed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot.api import admin_synonyms
from chatbot.api.auth import AdminUser, Principal
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.markdown import render_markdown
from chatbot.api.views import render
from chatbot.config import Settings
from chatbot.db import audit
from chatbot.db import knowledge as store
from chatbot.knowledge.diff import IntentChange, describe_change
from chatbot.knowledge.edits import FieldProblem, IntentRejected, intent_from_form
from chatbot.knowledge.files import MAX_ANSWER_CHARS, read_knowledge_bytes
from chatbot.knowledge.spec import ImportRejected, IntentSpec, KnowledgeDiff, Problem
from chatbot.knowledge.uploads import PendingUploads, UploadGone
from chatbot.knowledge.writers import MEDIA_TYPES, write_faq_bytes

pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api = APIRouter(prefix="/api/v1/admin/knowledge", tags=["admin"])
FileFormat = Literal["csv", "json", "jsonl", "xlsx"]


def _draft_html(markdown: str) -> str:
    # Not the cached render: drafts typed key by key would push real answers out of the cache.
    return render_markdown.__wrapped__(markdown)


def _snapshot(intent: IntentSpec | None) -> dict[str, Any] | None:
    return asdict(intent) if intent is not None else None


# ---- the list and the downloads


@pages.get("/admin/knowledge")
def knowledge_list(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    q: str = "",
    language: str = "",
    category: str = "",
    saved: str = "",
    deleted: str = "",
) -> HTMLResponse:
    """Every intent, searchable and filterable."""
    everything = store.load_intents(session)
    intents = store.search_intents(session, text=q, language=language, category=category)
    return render(
        request,
        "console/knowledge.html",
        principal,
        intents=intents,
        total=len(everything),
        languages_found=sorted({intent.language for intent in everything}),
        categories_found=sorted({intent.category for intent in everything if intent.category}),
        q=q,
        language=language,
        category=category,
        saved=saved,
        deleted=deleted,
    )


@pages.get("/admin/knowledge/export.{file_format}")
def knowledge_export(
    session: SessionDep, principal: AdminUser, file_format: FileFormat
) -> Response:
    """The whole knowledge base as a file that uploads back unchanged."""
    try:
        data = write_faq_bytes(
            store.load_intents(session), file_format, store.load_synonyms(session)
        )
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(error)) from error
    return Response(
        data,
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="knowledge-base.{file_format}"'},
    )


# ---- uploads: preview, then confirm


def _uploads(settings: Settings) -> PendingUploads:
    return PendingUploads(settings.data_dir / "uploads")


def _upload_page(
    request: Request,
    principal: Principal,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("problems", [])
    return render(
        request, "console/knowledge_upload.html", principal, status_code=status_code, **context
    )


def _changes(
    before: list[IntentSpec], after: list[IntentSpec], diff: KnowledgeDiff
) -> list[IntentChange]:
    old = {intent.key: intent for intent in before}
    new = {intent.key: intent for intent in after}
    return [describe_change(old[key], new[key]) for key in diff.changed]


@pages.get("/admin/knowledge/upload")
def upload_form(request: Request, principal: AdminUser) -> HTMLResponse:
    """Choose a file to preview."""
    return _upload_page(request, principal)


@pages.post("/admin/knowledge/upload")
def upload_preview(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    file: UploadFile | None = None,
    replace: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Check a file and show what it would change; nothing is written yet."""
    _ = translator(request_language(request))
    if file is None or not file.filename:
        problem = Problem("", _("Choose a file to upload."))
        return _upload_page(request, principal, 422, problems=[problem], replace=replace)
    filename = file.filename
    limit = settings.max_import_bytes
    if file.size is not None and file.size > limit:
        # Refused before reading: the limit also protects this process's memory.
        reason = f"file too large: {file.size} bytes, the limit is {limit} bytes"
        problem = Problem(filename, reason)
        return _upload_page(request, principal, 422, problems=[problem], replace=replace)
    # At most one byte over the limit: enough for the reader to refuse the file as too large.
    data = file.file.read(limit + 1)
    try:
        incoming = read_knowledge_bytes(data, filename, max_bytes=limit)
        diff = store.import_intents(
            session,
            incoming.intents,
            replace=replace,
            dry_run=True,
            source=filename,
            synonyms=incoming.synonyms,
        )
    except ImportRejected as rejected:
        return _upload_page(
            request, principal, 422, problems=rejected.problems, filename=filename, replace=replace
        )
    token = None
    if not diff.is_empty:
        token = _uploads(settings).keep(data, filename, replace=replace, owner=principal.actor)
    return _upload_page(
        request,
        principal,
        filename=filename,
        replace=replace,
        diff=diff,
        changes=_changes(store.load_intents(session), incoming.intents, diff),
        synonym_count=len(incoming.synonyms or ()),
        token=token,
    )


@pages.post("/admin/knowledge/upload/confirm")
def upload_confirm(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    token: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    """Apply a previewed file, all or nothing."""
    _ = translator(request_language(request))
    try:
        upload = _uploads(settings).take(token, owner=principal.actor)
    except UploadGone:
        error = _("This upload has expired or was already applied. Upload the file again.")
        return _upload_page(request, principal, status.HTTP_410_GONE, error=error)
    before = store.load_intents(session)
    revision = store.knowledge_revision(session)
    try:
        # Parsed again from the kept bytes: the preview's objects did not outlive its request.
        incoming = read_knowledge_bytes(
            upload.data, upload.filename, max_bytes=settings.max_import_bytes
        )
        diff = store.import_intents(
            session,
            incoming.intents,
            replace=upload.replace,
            dry_run=False,
            source=upload.filename,
            synonyms=incoming.synonyms,
        )
    except ImportRejected as rejected:
        session.rollback()
        return _upload_page(
            request,
            principal,
            422,
            problems=rejected.problems,
            filename=upload.filename,
            replace=upload.replace,
        )
    if not diff.is_empty:
        audit.record(
            session,
            principal.actor,
            "knowledge.import",
            upload.filename,
            before={"revision": revision},
            after={
                "file": upload.filename,
                "replace": upload.replace,
                "added": diff.added,
                "changed": diff.changed,
                "removed": diff.removed,
                "synonyms_replaced": diff.synonyms_replaced,
                "revision": store.knowledge_revision(session),
            },
        )
    session.commit()
    return _upload_page(
        request,
        principal,
        filename=upload.filename,
        replace=upload.replace,
        diff=diff,
        changes=_changes(before, incoming.intents, diff),
        synonym_count=len(incoming.synonyms or ()),
        applied=True,
    )


# ---- one intent: add, edit, delete


def _edit_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    creating: bool,
    form: dict[str, Any],
    problems: list[FieldProblem] | None = None,
) -> HTMLResponse:
    _ = translator(request_language(request))
    by_field: dict[str, list[str]] = {}
    for problem in problems or []:
        by_field.setdefault(problem.field, []).append(_(problem.message, **problem.values))
    everything = store.load_intents(session)
    return render(
        request,
        "console/knowledge_edit.html",
        principal,
        status_code=422 if problems else 200,
        creating=creating,
        form=form,
        problems=by_field,
        preview_html=_draft_html(form["answer"]) if form["answer"] else "",
        # Any intent may be a follow-up except the one being edited.
        candidates=[intent for intent in everything if intent.key != form["key"] or creating],
        languages_found=sorted({"en", "zh", *(intent.language for intent in everything)}),
        categories_found=sorted({intent.category for intent in everything if intent.category}),
        strings=_edit_strings(_),
    )


def _edit_strings(_: Translate) -> dict[str, str]:
    # What knowledge.js shows; translated here so the script holds no English.
    return {
        "previewFailed": _("The preview could not be updated."),
        "previewEmpty": _("The answer preview appears here."),
        "noMatch": _("No intent matches."),
    }


def _form_of(intent: IntentSpec) -> dict[str, Any]:
    return {
        "key": intent.key,
        "language": intent.language,
        "category": intent.category or "",
        "phrasings": "\n".join(intent.phrasings),
        "answer": intent.answer,
        "follow_ups": list(intent.follow_ups),
        "action": _action_text(intent),
    }


def _action_text(intent: IntentSpec) -> str:
    if intent.action is None:
        return ""
    return json.dumps(intent.action.to_json(), ensure_ascii=False, indent=2)


def _find_or_404(session: Session, key: str) -> IntentSpec:
    intent = store.find_intent(session, key)
    if intent is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"intent '{key}' not found")
    return intent


FormText = Annotated[str, Form(max_length=200_000)]


def _save(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    creating: bool,
    form: dict[str, Any],
) -> Response:
    try:
        intent = intent_from_form(**form)
        if not creating:
            # The form edits the first language; the intent's other languages stay as they are.
            intent = intent.carrying_languages_of(store.find_intent(session, intent.key))
        before = store.save_intent(session, intent, create=creating)
    except IntentRejected as rejected:
        session.rollback()
        return _edit_page(
            request, session, principal, creating=creating, form=form, problems=rejected.problems
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    if before != intent:
        action = "intent.create" if creating else "intent.update"
        audit.record(
            session,
            principal.actor,
            action,
            intent.key,
            before=_snapshot(before),
            after=_snapshot(intent),
        )
    session.commit()
    return _back_to_list(saved=intent.key)


def _back_to_list(**message: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/knowledge?{urlencode(message)}", status.HTTP_303_SEE_OTHER)


@pages.get("/admin/knowledge/new")
def new_intent_form(request: Request, session: SessionDep, principal: AdminUser) -> HTMLResponse:
    """An empty intent form."""
    form = {
        "key": "",
        "language": "en",
        "category": "",
        "phrasings": "",
        "answer": "",
        "action": "",
    }
    return _edit_page(request, session, principal, creating=True, form=form | {"follow_ups": []})


@pages.post("/admin/knowledge/new")
def create_intent(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    key: FormText = "",
    language: FormText = "",
    category: FormText = "",
    phrasings: FormText = "",
    answer: FormText = "",
    follow_ups: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    action: FormText = "",
) -> Response:
    """Add an intent."""
    form = _posted_form(key, language, category, phrasings, answer, follow_ups, action)
    return _save(request, session, principal, creating=True, form=form)


def _posted_form(
    key: str,
    language: str,
    category: str,
    phrasings: str,
    answer: str,
    follow_ups: list[str],
    action: str,
) -> dict[str, Any]:
    return {
        "key": key,
        "language": language,
        "category": category,
        "phrasings": phrasings,
        "answer": answer,
        "follow_ups": follow_ups,
        "action": action,
    }


@pages.get("/admin/knowledge/{key}")
def edit_intent_form(
    request: Request, session: SessionDep, principal: AdminUser, key: str
) -> HTMLResponse:
    """An intent's form."""
    intent = _find_or_404(session, key)
    return _edit_page(request, session, principal, creating=False, form=_form_of(intent))


@pages.post("/admin/knowledge/{key}")
def update_intent(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    key: str,
    language: FormText = "",
    category: FormText = "",
    phrasings: FormText = "",
    answer: FormText = "",
    follow_ups: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    action: FormText = "",
) -> Response:
    """Save an intent (its key stays)."""
    _find_or_404(session, key)
    form = _posted_form(key, language, category, phrasings, answer, follow_ups, action)
    return _save(request, session, principal, creating=False, form=form)


@pages.get("/admin/knowledge/{key}/delete")
def delete_intent_form(
    request: Request, session: SessionDep, principal: AdminUser, key: str
) -> HTMLResponse:
    """Ask before deleting, naming the intents that offer this one as a follow-up."""
    intent = _find_or_404(session, key)
    return render(
        request,
        "console/knowledge_delete.html",
        principal,
        intent=intent,
        sources=store.follow_up_sources(session, key),
    )


@pages.post("/admin/knowledge/{key}/delete")
def delete_intent(
    request: Request, session: SessionDep, principal: AdminUser, key: str
) -> Response:
    """Delete an intent; intents that offered it as a follow-up stop offering it."""
    result = store.delete_intent(session, key)
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"intent '{key}' not found")
    deleted, sources = result
    audit.record(
        session,
        principal.actor,
        "intent.delete",
        key,
        before=_snapshot(deleted),
        after={"removed_from_follow_ups_of": sources},
    )
    session.commit()
    return _back_to_list(deleted=key)


# ---- the answer's live preview


class MarkdownPreview(BaseModel):
    markdown: str = Field(max_length=MAX_ANSWER_CHARS)


class HtmlPreview(BaseModel):
    html: str


@api.post("/preview")
def preview_markdown(body: MarkdownPreview, principal: AdminUser) -> HtmlPreview:
    """An answer's Markdown as the sanitised HTML customers would see."""
    return HtmlPreview(html=_draft_html(body.markdown))


router = APIRouter()
router.include_router(pages)
router.include_router(api)
router.include_router(admin_synonyms.router)
