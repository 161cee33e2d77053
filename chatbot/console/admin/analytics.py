"""The analytics dashboard: the period's figures, charts and tables (the same as JSON and CSV:
chatbot/api/analytics.py).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from chatbot.api.analytics import TABLES, Figures, Rows, period_about, period_of, summary
from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.principals import AdminUser
from chatbot.console import charts
from chatbot.console.views import render
from chatbot.db import text_analysis

router = APIRouter()


def _charts(_: Translate, figures: Figures, tables: dict[str, Rows]) -> dict[str, Markup]:
    daily = tables["daily"]
    labels = [row["day"][5:] for row in daily]  # MM-DD
    markers = [
        charts.Marker(at.date().isoformat()[5:], _("{version} activated", version=version))
        for version, at in figures.activations
    ]

    def series(name: str, key: str, rows: Rows = daily) -> charts.Series:
        return charts.Series(name, [row[key] for row in rows])

    versions = [row["model_version"] for row in tables["models"]]
    by_version: dict[str, dict[str, float | None]] = {}
    for row in tables["daily_by_model"]:
        by_version.setdefault(row["model_version"], {})[row["day"][5:]] = row["fallback_rate"]
    return {
        "volume": charts.line_chart(
            _("Conversations and messages per day"),
            labels,
            [series(_("Conversations"), "conversations"), series(_("Messages"), "messages")],
            test_id="chart-volume",
        ),
        "rates": charts.line_chart(
            _("Containment, handoff, fallback and clarification rates per day"),
            labels,
            [
                series(_("Containment"), "containment_rate"),
                series(_("Handoff"), "handoff_rate"),
                series(_("Fallback"), "fallback_rate"),
                series(_("Clarification"), "clarification_rate"),
            ],
            fmt=charts.percent,
            top=1.0,
            markers=markers,
            test_id="chart-rates",
        ),
        "feedback": charts.line_chart(
            _("Helpful answers per day"),
            labels,
            [series(_("Helpful"), "helpful_rate")],
            fmt=charts.percent,
            top=1.0,
            markers=markers,
            test_id="chart-feedback",
        ),
        "satisfaction": charts.line_chart(
            _("Average satisfaction per day (1-5)"),
            labels,
            [series(_("Satisfaction"), "satisfaction_avg")],
            top=5.0,
            test_id="chart-satisfaction",
        ),
        "versions": charts.line_chart(
            _("Fallback rate per day by model version"),
            labels,
            [
                charts.Series(version, [by_version.get(version, {}).get(day) for day in labels])
                for version in versions
            ],
            fmt=charts.percent,
            top=1.0,
            markers=markers,
            test_id="chart-versions",
        ),
        "hours": charts.bar_chart(
            _("Customer messages by hour of day (UTC)"),
            [f"{row['hour']:02d}" for row in tables["hours"]],
            [row["customer_messages"] for row in tables["hours"]],
            test_id="chart-hours",
        ),
    }


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
    since: str | None = None,
    until: str | None = None,
    language: str | None = None,
) -> HTMLResponse:
    """The dashboard for a period and language."""
    _ = translator(request_language(request))
    try:
        period = period_of(settings, since, until, language)
    except HTTPException as exc:
        return render(
            request,
            "console/analytics.html",
            principal,
            status_code=exc.status_code,
            error=exc.detail,
            chosen={"since": since or "", "until": until or "", "language": language or ""},
        )
    figures = Figures(session, period)
    tables = {name: build(figures) for name, build in TABLES.items()}
    about = period_about(period)
    return render(
        request,
        "console/analytics.html",
        principal,
        error=None,
        chosen={**about, "language": period.language or "all"},
        query=f"since={about['since']}&until={about['until']}&language={period.language or 'all'}",
        summary=summary(figures),
        tables=tables,
        charts=_charts(_, figures, tables),
        percent=lambda value: "—" if value is None else charts.percent(value),
        keyword_sample=text_analysis.KEYWORD_SAMPLE,
        reason_labels={
            "asked": _("Asked for a person"),
            "low_confidence": _("Asked after an unsure reply"),
            "repeated_fallback": _("Repeated fallback"),
            "unrecorded": _("Not recorded"),
        },
    )
