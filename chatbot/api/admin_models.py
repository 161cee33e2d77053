"""Admin console: the training page, model versions, a version's report and a test pane.

The pages only read; starting, cancelling and activating go through the JSON admin API
(``chatbot/api/admin.py``) from the pages' scripts. The test pane runs any ready version against
the current knowledge base, keeping a couple of non-active engines warm for repeated questions.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from chatbot.api.deps import ManagerDep, SessionDep, SettingsDep, message_text
from chatbot.api.i18n import request_language, translator
from chatbot.api.markdown import render_markdown
from chatbot.api.principals import AdminUser
from chatbot.console.views import render
from chatbot.conversation.manager import ConversationManager, Preview
from chatbot.db import app_settings
from chatbot.db import model_versions as registry
from chatbot.db.knowledge import knowledge_revision, load_intents, load_synonyms
from chatbot.db.models import ModelVersion
from chatbot.evaluation.version_reports import (
    compare_intents,
    compare_metrics,
    load_report,
    report_image,
    scope_points,
)
from chatbot.nlu.engine import IntentEngine
from chatbot.runtime import engine_for_version

log = logging.getLogger(__name__)
router = APIRouter()
# Non-active versions kept loaded for the test pane: each holds its own encoder's weights.
CACHED_ENGINES = 2
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
DECISIONS = ("answer", "clarify", "fallback")


class VersionEngines:
    """At most ``capacity`` ready engines of non-active versions, least recently used evicted."""

    def __init__(self, capacity: int = CACHED_ENGINES) -> None:
        self.capacity = capacity
        self._engines: OrderedDict[str, IntentEngine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str, build: Callable[[], IntentEngine]) -> IntentEngine:
        # Building under the lock: two admins asking a cold version load its weights once.
        with self._lock:
            engine = self._engines.get(version)
            if engine is None:
                engine = build()
                self._engines[version] = engine
                while len(self._engines) > self.capacity:
                    self._engines.popitem(last=False)
            self._engines.move_to_end(version)
            return engine

    def versions(self) -> list[str]:
        """Cached versions, least recently used first."""
        return list(self._engines)


_engines_created = threading.Lock()


def version_engines(request: Request) -> VersionEngines:
    state = request.app.state
    with _engines_created:
        if getattr(state, "model_engines", None) is None:
            state.model_engines = VersionEngines()
    engines: VersionEngines = state.model_engines
    return engines


# ---- formatting helpers the templates share


def number(value: object, digits: int = 3) -> str:
    """A metric for display: fixed decimals, integers as they are, '—' when missing."""
    if isinstance(value, bool) or value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def signed(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def _version_or_404(session: SessionDep, version: str) -> ModelVersion:
    row = registry.get_version(session, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model version '{version}' not found")
    return row


# ---- pages


@router.get("/admin/training", response_class=HTMLResponse, include_in_schema=False)
def training_page(request: Request, principal: AdminUser) -> HTMLResponse:
    """Start a fine-tuning run and watch it live; earlier runs below."""
    _ = translator(request_language(request))
    strings = {
        **{word: _(word) for word in RUN_STATUSES},
        "no_runs": _("No training run yet."),
        "start_failed": _("Could not start training:"),
        "cancel_failed": _("Could not cancel:"),
        "load_failed": _("Could not load the training runs:"),
        "step_of": _("Step {step} of {total}"),
        "epoch": _("Epoch {epoch}"),
        "loss": _("Loss {loss}"),
        "elapsed": _("Elapsed {time}"),
        "eta": _("ETA {time}"),
        "device": _("Device {device}"),
        "view_report": _("View the report of {version}"),
        "no_losses": _("The loss curve appears after the first steps."),
        "run": _("Run {id}"),
    }
    return render(
        request,
        "console/training.html",
        principal,
        cuda_available=torch.cuda.is_available(),
        strings=strings,
    )


@router.get("/admin/models", response_class=HTMLResponse, include_in_schema=False)
def models_page(request: Request, session: SessionDep, principal: AdminUser) -> HTMLResponse:
    """Every version with its metrics; activate or roll back; pick two to compare."""
    _ = translator(request_language(request))
    versions = list(reversed(registry.list_versions(session)))  # newest first
    active = next((v for v in versions if v.is_active), None)
    others = [v for v in versions if v is not active]
    strings = {
        "activate": _("Activate"),
        "roll_back": _("Roll back"),
        "active": _("active"),
        "activating": _("Activating…"),
        "now_active": _("{version} is now active: servers switch at their next message."),
        "failed": _("Could not activate:"),
        "confirm_scope": _(
            "{version} catches {recall} of out-of-scope questions, the active {active} "
            "{active_recall}: it would answer more questions it cannot help with. "
            "Activate it anyway?"
        ),
        "not_activated": _("Nothing changed: the active version still serves."),
    }
    return render(
        request,
        "console/models.html",
        principal,
        versions=versions,
        active=active,
        compare_a=active.version if active else (versions[0].version if versions else ""),
        compare_b=others[0].version if others else (active.version if active else ""),
        number=number,
        strings=strings,
    )


@router.get("/admin/models/compare", response_class=HTMLResponse, include_in_schema=False)
def compare_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    a: str | None = None,
    b: str | None = None,
) -> Response:
    """Two versions' metrics side by side, and per-intent F1 with what got worse first."""
    if not a or not b:  # the form on the models page chooses them
        return RedirectResponse("/admin/models", status.HTTP_303_SEE_OTHER)
    first, second = _version_or_404(session, a), _version_or_404(session, b)
    report_a, report_b = load_report(first.path), load_report(second.path)
    return render(
        request,
        "console/compare.html",
        principal,
        a=first,
        b=second,
        has_report_a=report_a is not None,
        has_report_b=report_b is not None,
        metrics=compare_metrics(first.metrics, second.metrics),
        intents=compare_intents(report_a, report_b),
        versions=list(reversed(registry.list_versions(session))),
        number=number,
        signed=signed,
    )


@router.get("/admin/models/{version}", response_class=HTMLResponse, include_in_schema=False)
def model_page(
    request: Request, version: str, session: SessionDep, principal: AdminUser
) -> HTMLResponse:
    """A version's evaluation report and a pane to try it on any message."""
    _ = translator(request_language(request))
    row = _version_or_404(session, version)
    report = load_report(row.path)
    alt = {
        "confusion": _("Confusion heat map: true intents in rows, predicted intents in columns"),
        "calibration": _("Reliability diagram: accuracy against confidence"),
        "confidence": _("Histogram of confidence for correct, wrong and out-of-scope messages"),
    }
    images = [
        {"name": name, "alt": alt.get(chart, chart)}
        for chart, name in ((report or {}).get("images") or {}).items()
    ]
    strings = {
        **{word: _(word) for word in DECISIONS},
        "asking": _("Asking…"),
        "failed": _("Could not ask:"),
        "intent": _("Intent"),
        "confidence": _("Confidence"),
        "decision": _("Decision"),
        "suggestions": _("Suggestions"),
        "reply": _("Reply"),
        "no_intent": _("(no intent)"),
    }
    settings = request.app.state.settings
    strictness = app_settings.effective(
        session, app_settings.RuntimeSettings.from_settings(settings)
    ).strictness
    return render(
        request,
        "console/model.html",
        principal,
        model=row,
        report=report,
        scope=scope_points(report, strictness),
        images=images,
        max_chars=request.app.state.settings.max_message_chars,
        number=number,
        strings=strings,
    )


@router.get("/admin/models/{version}/images/{name}", include_in_schema=False)
def report_image_file(
    version: str, name: str, session: SessionDep, principal: AdminUser
) -> FileResponse:
    """A chart of a version's report; only the files its report.json lists."""
    row = _version_or_404(session, version)
    path = report_image(row.path, load_report(row.path), name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report image '{name}' for '{version}'")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private"})


# ---- the test pane's API


class AskBody(BaseModel):
    text: str


@router.post("/api/v1/admin/models/{version}/ask", tags=["admin"])
def ask_version(
    version: str,
    body: AskBody,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    manager: ManagerDep,
    principal: AdminUser,
) -> dict[str, Any]:
    """What this version would do with a message, on the current knowledge base."""
    text = message_text(body.text, settings)
    row = _version_or_404(session, version)
    if row.status != "ready":
        raise HTTPException(status.HTTP_409_CONFLICT, f"model version '{version}' is {row.status}")
    engine = _engine(request, session, settings, manager, row)
    manager.follow_settings(session)  # the admin's texts and thresholds, as customers get them
    return _reply(manager.preview(text, engine))


def _engine(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    manager: ConversationManager,
    row: ModelVersion,
) -> IntentEngine:
    if row.version == manager.engine.version:
        manager.refresh(session)  # the current knowledge base, as a customer's message would
        if manager.engine.version == row.version:
            return manager.engine

    def build() -> IntentEngine:
        # Only the base version is built on the base encoder; a fine-tuned one loads its own.
        base = request.app.state.load_base(settings.device) if row.kind == "base" else None
        return engine_for_version(settings, session, base or manager.engine.encoder, row.version)

    try:
        engine = version_engines(request).get(row.version, build)
    except Exception as exc:  # missing or damaged files: say so rather than fail the page
        log.exception("cannot load model %s for the test pane", row.version)
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"cannot load model version '{row.version}': {exc}"
        ) from exc
    revision = knowledge_revision(session)
    if engine.revision != revision:
        engine.load_knowledge(load_intents(session), revision, load_synonyms(session))
    return engine


def _reply(preview: Preview) -> dict[str, Any]:
    reply, prediction = preview.reply, preview.prediction
    return {
        "version": preview.version,
        "intent": reply.intent,
        "confidence": round(reply.confidence, 4),
        "decision": reply.action.value,
        "language": preview.language,
        "ranking": [
            {"intent": r.intent, "confidence": round(r.confidence, 4)}
            for r in (prediction.ranking if prediction else ())
        ],
        "suggestions": reply.suggestions or reply.follow_ups,
        "answer_html": render_markdown(reply.text),
    }
