"""The knowledge base pages: list, edit, upload with preview, download.

The pages hold forms and their messages; what a change does (checks, storage, the audit record,
the revision that serving processes follow) is ``chatbot.authoring``'s, which the JSON API in
``chatbot.api.knowledge`` calls too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from chatbot import authoring
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.knowledge_files import (
    FileFormat,
    confirm_file,
    draft_html,
    export_response,
    preview_file,
)
from chatbot.api.principals import AdminUser, Principal
from chatbot.console.views import render
from chatbot.db import knowledge as store
from chatbot.knowledge.edits import FieldProblem, IntentRejected
from chatbot.knowledge.spec import ImportRejected, IntentSpec, Problem
from chatbot.knowledge.uploads import UploadGone

router = APIRouter(default_response_class=HTMLResponse)


@router.get("/knowledge")
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


def _export_route(file_format: FileFormat) -> None:
    # One route per format, not `export.{format}`: that would shadow every intent whose key
    # starts with "export." (RESERVED_KEYS names exactly these four).
    def knowledge_export(session: SessionDep, principal: AdminUser) -> Response:
        """The whole knowledge base as a file that uploads back unchanged."""
        return export_response(session, file_format)

    router.add_api_route(f"/knowledge/export.{file_format}", knowledge_export)


for _format in get_args(FileFormat):
    _export_route(_format)


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


def _preview_context(preview: authoring.UploadPreview) -> dict[str, Any]:
    return {
        "filename": preview.filename,
        "replace": preview.replace,
        "diff": preview.diff,
        "changes": preview.changes,
        "synonym_count": preview.synonym_count,
        "token": preview.token,
    }


@router.get("/knowledge/upload")
def upload_form(request: Request, principal: AdminUser) -> HTMLResponse:
    """Choose a file to preview."""
    return _upload_page(request, principal)


@router.post("/knowledge/upload")
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
    try:
        preview = preview_file(session, settings, principal.actor, file, filename, replace=replace)
    except ImportRejected as rejected:
        return _upload_page(
            request, principal, 422, problems=rejected.problems, filename=filename, replace=replace
        )
    return _upload_page(request, principal, **_preview_context(preview))


@router.post("/knowledge/upload/confirm")
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
        applied = confirm_file(session, settings, principal.actor, token)
    except UploadGone:
        error = _("This upload has expired or was already applied. Upload the file again.")
        return _upload_page(request, principal, status.HTTP_410_GONE, error=error)
    except authoring.UploadRejected as rejected:
        return _upload_page(
            request,
            principal,
            422,
            problems=rejected.problems,
            filename=rejected.filename,
            replace=rejected.replace,
        )
    return _upload_page(request, principal, applied=True, **_preview_context(applied))


def _edit_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    creating: bool,
    form: dict[str, Any],
    problems: list[FieldProblem] | None = None,
    conflict: authoring.Conflict | None = None,
) -> HTMLResponse:
    _ = translator(request_language(request))
    by_field: dict[str, list[str]] = {}
    for problem in problems or []:
        by_field.setdefault(problem.field, []).append(_(problem.message, **problem.values))
    everything = store.load_intents(session)
    if conflict is not None:
        # Saving again overwrites the other change, knowingly: the form now holds its version.
        current = conflict.current
        form = form | {"version": authoring.intent_version(current) if current else ""}
    return render(
        request,
        "console/knowledge_edit.html",
        principal,
        status_code=409 if conflict else 422 if problems else 200,
        creating=creating,
        form=form,
        problems=by_field,
        conflict=conflict is not None,
        preview_html=draft_html(form["answer"]) if form["answer"] else "",
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
        "version": authoring.intent_version(intent),
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
    draft = authoring.IntentDraft(
        key=form["key"],
        answer=form["answer"],
        phrasings=form["phrasings"].splitlines(),
        language=form["language"],
        category=form["category"],
        follow_ups=form["follow_ups"],
        action=form["action"],
    )
    try:
        intent = authoring.save_intent(
            session, principal.actor, draft, creating=creating, version=form["version"] or None
        )
    except IntentRejected as rejected:
        return _edit_page(
            request, session, principal, creating=creating, form=form, problems=rejected.problems
        )
    except authoring.Conflict as conflict:
        return _edit_page(
            request, session, principal, creating=creating, form=form, conflict=conflict
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    return _back_to_list(saved=intent.key)


def _back_to_list(**message: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/knowledge?{urlencode(message)}", status.HTTP_303_SEE_OTHER)


@router.get("/knowledge/new")
def new_intent_form(request: Request, session: SessionDep, principal: AdminUser) -> HTMLResponse:
    """An empty intent form."""
    form = _posted_form("", "en", "", "", "", [], "", "")
    return _edit_page(request, session, principal, creating=True, form=form)


@router.post("/knowledge/new")
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
    form = _posted_form(key, language, category, phrasings, answer, follow_ups, action, "")
    return _save(request, session, principal, creating=True, form=form)


def _posted_form(
    key: str,
    language: str,
    category: str,
    phrasings: str,
    answer: str,
    follow_ups: list[str],
    action: str,
    version: str,
) -> dict[str, Any]:
    return {
        "key": key,
        "language": language,
        "category": category,
        "phrasings": phrasings,
        "answer": answer,
        "follow_ups": follow_ups,
        "action": action,
        "version": version,
    }


@router.get("/knowledge/{key}")
def edit_intent_form(
    request: Request, session: SessionDep, principal: AdminUser, key: str
) -> HTMLResponse:
    """An intent's form."""
    intent = _find_or_404(session, key)
    return _edit_page(request, session, principal, creating=False, form=_form_of(intent))


@router.post("/knowledge/{key}")
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
    version: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Save an intent (its key stays); 409 when someone else saved it since the form opened."""
    _find_or_404(session, key)
    form = _posted_form(key, language, category, phrasings, answer, follow_ups, action, version)
    return _save(request, session, principal, creating=False, form=form)


@router.get("/knowledge/{key}/delete")
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


@router.post("/knowledge/{key}/delete")
def delete_intent(
    request: Request, session: SessionDep, principal: AdminUser, key: str
) -> Response:
    """Delete an intent; intents that offered it as a follow-up stop offering it."""
    try:
        authoring.delete_intent(session, principal.actor, key)
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    return _back_to_list(deleted=key)
