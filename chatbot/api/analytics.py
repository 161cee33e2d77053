"""The analytics dashboard: /admin/analytics, its JSON under /api/v1/admin/analytics and CSV.

One period (``since`` .. ``until``, whole UTC days, at most MAX_PERIOD_DAYS) and optionally one
conversation language choose what every figure covers. The figures come from
``chatbot.db.analytics``; each table the page shows is also JSON (``/api/v1/admin/analytics/
{table}``) and CSV (``/{table}.csv``), built by the same function.

One module over 400 lines on purpose: nearly all of it is the tables, which the dashboard page
(chatbot/console/admin/analytics.py) and the three routes at the bottom read alike; the routes
are a few lines each, so moving them out would split nothing but the URL prefix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.export import guard_formula
from chatbot.api.principals import admin_user
from chatbot.api.text_analysis import keywords_table, moods_table
from chatbot.config import Settings
from chatbot.db import analytics, related
from chatbot.db.analytics import ConversationCounts, Period, ReplyCounts
from chatbot.db.app_settings import LANGUAGES
from chatbot.db.base import utcnow

MAX_PERIOD_DAYS = 366
DEFAULT_DAYS = 30
TOP_INTENTS = 10
MIN_VOTES = 3  # an intent needs this many thumbs to be ranked by its feedback
REASONS = ("asked", "low_confidence", "repeated_fallback", "unrecorded")

router = APIRouter(
    prefix="/api/v1/admin/analytics", tags=["analytics"], dependencies=[Depends(admin_user)]
)


# ---- the period


def _moment(name: str, value: str) -> tuple[datetime, bool]:
    """A query parameter as a UTC moment, and whether it was a whole day (a date)."""
    try:
        return datetime.combine(date.fromisoformat(value), time(), UTC), True
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def period_of(
    settings: Settings,
    since: str | None = None,
    until: str | None = None,
    language: str | None = None,
    *,
    now: datetime | None = None,
) -> Period:
    """The period the query parameters ask for; 422 naming the parameter when they make none.

    ``until`` as a date includes that day. Default: the last DEFAULT_DAYS days up to today.
    """
    now = now or utcnow()
    if until:
        end, whole_day = _moment("until", until)
        end = end + timedelta(days=1) if whole_day else end
    else:
        end = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    start = _moment("since", since)[0] if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since: must be before until")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"until: the period is {(end - start).days} days; at most {MAX_PERIOD_DAYS}",
        )
    chosen = (language or "").strip().lower() or None
    if chosen == "all":
        chosen = None
    if chosen is not None and chosen not in LANGUAGES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"language: {language!r} is not one of all, {', '.join(LANGUAGES)}",
        )
    # A conversation silent this long counts as abandoned (the idle closer's setting; when that
    # is off, its default).
    idle = timedelta(minutes=settings.conversation_idle_minutes or 120)
    return Period(start, end, now - idle, chosen)


def _period(
    settings: SettingsDep,
    since: str | None = None,
    until: str | None = None,
    language: str | None = None,
) -> Period:
    return period_of(settings, since, until, language)


# ---- the tables, each as rows of plain values (JSON and CSV alike)


class Figures:
    """The period's query results, each run once however many tables use it."""

    def __init__(self, session: Session, period: Period) -> None:
        self.session = session
        self.period = period

    @cached_property
    def conversations(self) -> list[ConversationCounts]:
        return analytics.conversations_by_day(self.session, self.period)

    @cached_property
    def replies(self) -> list[ReplyCounts]:
        return analytics.replies_by_day_and_version(self.session, self.period)

    @cached_property
    def intents(self) -> list[analytics.IntentCounts]:
        return analytics.intents(self.session, self.period)

    @cached_property
    def latency(self) -> list[analytics.Latency]:
        return analytics.latency(self.session, self.period)

    @cached_property
    def related(self) -> list[related.RelatedCounts]:
        return related.offers_and_clicks(self.session, self.period)

    @cached_property
    def activations(self) -> list[tuple[str, datetime]]:
        return analytics.activations(self.session, self.period)


Rows = list[dict[str, Any]]


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _days(period: Period) -> list[str]:
    first = period.since.date()
    last = (period.until - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def daily_table(figures: Figures) -> Rows:
    """Every day of the period, empty days included."""
    conversations = {row.day: row for row in figures.conversations}
    replies = {row.day: row for row in analytics.by_day(figures.replies)}
    rows = []
    for day in _days(figures.period):
        c = conversations.get(day, ConversationCounts(day=day))
        r = replies.get(day, ReplyCounts(day=day))
        rows.append(
            {
                "day": day,
                "conversations": c.conversations,
                "contained": c.contained,
                "containment_rate": _round(c.containment_rate),
                "handed_off": c.handed_off,
                "handoff_rate": _round(c.handoff_rate),
                "messages": r.messages,
                "customer_messages": r.customer_messages,
                "bot_replies": r.bot_replies,
                "fallbacks": r.fallbacks,
                "fallback_rate": _round(r.fallback_rate),
                "clarifications": r.clarifications,
                "clarification_rate": _round(r.clarification_rate),
                "helpful": r.helpful,
                "unhelpful": r.unhelpful,
                "helpful_rate": _round(r.helpful_rate),
                "rated": c.rated,
                "satisfaction_avg": _round(c.satisfaction_avg, 2),
            }
        )
    return rows


def _reply_row(row: ReplyCounts) -> dict[str, Any]:
    return {
        "bot_replies": row.bot_replies,
        "answers": row.answers,
        "fallbacks": row.fallbacks,
        "fallback_rate": _round(row.fallback_rate),
        "clarifications": row.clarifications,
        "clarification_rate": _round(row.clarification_rate),
        "handoffs": row.handoffs,
        "handoff_share": _round(row.handoff_share),
        "asked": row.asked,
        "low_confidence": row.low_confidence,
        "repeated_fallback": row.repeated_fallback,
        "unrecorded": row.unrecorded,
        "helpful": row.helpful,
        "unhelpful": row.unhelpful,
        "helpful_rate": _round(row.helpful_rate),
    }


def models_table(figures: Figures) -> Rows:
    """The bot's replies per model version: how each one did, and when it was activated."""
    replies = figures.replies
    latency = {row.model_version: row for row in figures.latency}
    activated = dict(figures.activations)
    rows = []
    for row in analytics.by_version(replies):
        days = [r.day for r in replies if r.model_version == row.model_version]
        timing = latency.get(row.model_version)
        at = activated.get(row.model_version or "")
        rows.append(
            {
                "model_version": row.model_version,
                "activated_at": at.isoformat() if at else None,
                "first_day": min(days),
                "last_day": max(days),
                **_reply_row(row),
                "latency_ms_p50": timing.p50_ms if timing else None,
                "latency_ms_p95": timing.p95_ms if timing else None,
            }
        )
    return rows


def daily_by_model_table(figures: Figures) -> Rows:
    """The bot's replies per day and model version (an activation's effect, day by day)."""
    replies = figures.replies
    return [
        {"day": row.day, "model_version": row.model_version, **_reply_row(row)}
        for row in sorted(replies, key=lambda r: (r.day, r.model_version or ""))
        if row.model_version is not None
    ]


def handoffs_table(figures: Figures) -> Rows:
    """Handoffs by reason, all versions together."""
    total = analytics.totals(figures.replies, ReplyCounts())
    counts = {reason: getattr(total, reason) for reason in REASONS}
    return [
        {"reason": reason, "handoffs": count, "share": _round(count / total.handoffs)}
        for reason, count in counts.items()
        if total.handoffs
    ]


def _intent_row(row: analytics.IntentCounts) -> dict[str, Any]:
    return {
        "intent": row.intent,
        "answers": row.answers,
        "helpful": row.helpful,
        "unhelpful": row.unhelpful,
        "helpful_rate": _round(row.helpful_rate),
    }


def intents_table(figures: Figures) -> Rows:
    """Every intent the bot answered, most answered first."""
    return [_intent_row(row) for row in figures.intents]


def worst_intents_table(figures: Figures) -> Rows:
    """Intents with at least MIN_VOTES thumbs, the least helpful first."""
    rows = analytics.worst_feedback(figures.intents, min_votes=MIN_VOTES)
    return [_intent_row(row) for row in rows[:TOP_INTENTS]]


def hours_table(figures: Figures) -> Rows:
    """Customer messages per hour of the day (UTC)."""
    counts = analytics.busiest_hours(figures.session, figures.period)
    return [{"hour": hour, "customer_messages": count} for hour, count in enumerate(counts)]


def satisfaction_table(figures: Figures) -> Rows:
    """How many conversations got each satisfaction rating."""
    scores = analytics.satisfaction_scores(figures.session, figures.period)
    return [{"rating": rating, "conversations": count} for rating, count in scores.items()]


def latency_table(figures: Figures) -> Rows:
    """Reply latency p50 and p95, all versions (model_version null), then each version."""
    return [
        {
            "model_version": row.model_version,
            "replies": row.replies,
            "latency_ms_p50": row.p50_ms,
            "latency_ms_p95": row.p95_ms,
        }
        for row in figures.latency
    ]


def related_table(figures: Figures) -> Rows:
    """Related questions offered under each intent's answers and clicked, most offered first."""
    return [
        {
            "intent": row.intent,
            "offered": row.offered,
            "clicked": row.clicked,
            "click_rate": _round(row.click_rate),
        }
        for row in figures.related
    ]


TABLES: dict[str, Callable[[Figures], Rows]] = {
    "daily": daily_table,
    "models": models_table,
    "daily_by_model": daily_by_model_table,
    "handoffs": handoffs_table,
    "intents": intents_table,
    "worst_intents": worst_intents_table,
    "hours": hours_table,
    "satisfaction": satisfaction_table,
    "latency": latency_table,
    "keywords": keywords_table,
    "moods": moods_table,
    "related": related_table,
}
Table = Literal[
    "daily",
    "models",
    "daily_by_model",
    "handoffs",
    "intents",
    "worst_intents",
    "hours",
    "satisfaction",
    "latency",
    "keywords",
    "moods",
    "related",
]


def period_about(period: Period) -> dict[str, Any]:
    return {
        "since": period.since.date().isoformat(),
        "until": (period.until - timedelta(microseconds=1)).date().isoformat(),
        "language": period.language,
    }


def summary(figures: Figures) -> dict[str, Any]:
    """The headline figures of the period."""
    conversations = analytics.totals(figures.conversations, ConversationCounts())
    replies = analytics.totals(figures.replies, ReplyCounts())
    overall = figures.latency[0]
    top = figures.intents[:TOP_INTENTS]
    offers = related.total(figures.related)
    return {
        **period_about(figures.period),
        "conversations": conversations.conversations,
        "messages": replies.messages,
        "customer_messages": replies.customer_messages,
        "bot_replies": replies.bot_replies,
        "containment_rate": _round(conversations.containment_rate),
        "handoff_rate": _round(conversations.handoff_rate),
        "fallback_rate": _round(replies.fallback_rate),
        "clarification_rate": _round(replies.clarification_rate),
        "helpful_rate": _round(replies.helpful_rate),
        "satisfaction_avg": _round(conversations.satisfaction_avg, 2),
        "rated": conversations.rated,
        "latency_ms_p50": overall.p50_ms,
        "latency_ms_p95": overall.p95_ms,
        "top_intents": [{"intent": row.intent, "count": row.answers} for row in top],
        "related_offered": offers.offered,
        "related_clicked": offers.clicked,
        "related_click_rate": _round(offers.click_rate),
    }


# ---- JSON and CSV


@router.get("/summary")
def summary_json(session: SessionDep, period: Period = Depends(_period)) -> dict[str, Any]:
    """Headline figures: conversations, messages, containment, handoff, fallback and
    clarification rates, helpful rate, satisfaction, latency and the top intents.

    Query: ``since``, ``until`` (YYYY-MM-DD, until included; default the last 30 days, at most
    366), ``language`` (``all``, ``en``, ``zh``). Days are UTC.
    """
    return summary(Figures(session, period))


@router.get(
    "/{table}.csv",
    response_class=Response,
    responses={200: {"description": "The table as CSV", "content": {"text/csv": {}}}},
)
def table_csv(table: Table, session: SessionDep, period: Period = Depends(_period)) -> Response:
    """One of the dashboard's tables as CSV (spreadsheet formulas defused)."""
    rows = TABLES[table](Figures(session, period))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = list(rows[0]) if rows else []
    writer.writerow(columns)
    for row in rows:
        writer.writerow([guard_formula("" if row[c] is None else row[c]) for c in columns])
    about = period_about(period)
    name = f"analytics-{table}-{about['since']}-{about['until']}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/{table}")
def table_json(
    table: Table, session: SessionDep, period: Period = Depends(_period)
) -> dict[str, Any]:
    """One of the dashboard's tables: ``{"since", "until", "language", "rows": [...]}``."""
    return {**period_about(period), "rows": TABLES[table](Figures(session, period))}
