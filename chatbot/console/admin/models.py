"""The model pages: the versions, one version's report, two versions compared.

The test pane on a version's page asks chatbot/api/models.py's ``ask`` route.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from chatbot.api.deps import SessionDep
from chatbot.api.i18n import request_language, translator
from chatbot.api.models import version_or_404
from chatbot.api.principals import AdminUser
from chatbot.console.views import render
from chatbot.db import app_settings
from chatbot.db import model_versions as registry
from chatbot.evaluation.version_reports import (
    compare_intents,
    compare_metrics,
    load_report,
    report_image,
    scope_points,
)

router = APIRouter()
DECISIONS = ("answer", "clarify", "fallback")


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


@router.get("/models", response_class=HTMLResponse)
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


@router.get("/models/compare", response_class=HTMLResponse)
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
    first, second = version_or_404(session, a), version_or_404(session, b)
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


@router.get("/models/{version}", response_class=HTMLResponse)
def model_page(
    request: Request, version: str, session: SessionDep, principal: AdminUser
) -> HTMLResponse:
    """A version's evaluation report and a pane to try it on any message."""
    _ = translator(request_language(request))
    row = version_or_404(session, version)
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


@router.get("/models/{version}/images/{name}")
def report_image_file(
    version: str, name: str, session: SessionDep, principal: AdminUser
) -> FileResponse:
    """A chart of a version's report; only the files its report.json lists."""
    row = version_or_404(session, version)
    path = report_image(row.path, load_report(row.path), name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report image '{name}' for '{version}'")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private"})
