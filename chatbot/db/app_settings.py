"""Settings an admin changes at run time: thresholds, the bot's own texts, the widget's branding.

Each stored row overrides the environment's value (``Settings``) for one field; a field set back to
its default loses its row. A ``revision`` row counts the changes, so running servers notice one
with a single primary-key read and reload the rest only then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot import hours
from chatbot.config import Settings
from chatbot.db import audit
from chatbot.db.models import AppSetting
from chatbot.nlu.scope import DEFAULT_STRICTNESS

log = logging.getLogger(__name__)

REVISION_KEY = "revision"
NAME_MAX = 100
TEXT_MAX = 1000
LANGUAGES = ("en", "zh")
# The bot's own texts an admin may replace, per language: greeting_en, fallback_zh, ...
TEXT_KINDS = ("greeting", "fallback", "handoff", "clarify", "rating", "offline")
# Names in the widget with a Chinese variant (empty: the English one, translated when built in).
NAMES = ("widget_title", "company_name", "widget_title_zh", "company_name_zh")
THRESHOLDS = ("answer_threshold", "clarify_threshold", "clarify_margin", "strictness")
# Each language's team: weekly opening hours, their time zone and holidays (chatbot/hours.py).
# No hours: a person may be asked for at any time and the conversation waits in the queue.
SCHEDULE_KINDS = ("hours", "timezone", "holidays")
ZONE_MAX = 64

# Why a value is refused, in English; the console translates them
# (chatbot/web/i18n/zh/console.json).
NOT_A_FRACTION = "enter a number from 0 to 1"
CLARIFY_ABOVE_ANSWER = "must not be above the answer threshold"
NOT_A_COLOUR = "enter a colour as #rrggbb, e.g. #1f6f5c"
EMPTY = "cannot be empty"
NAME_TOO_LONG = f"at most {NAME_MAX} characters"
TEXT_TOO_LONG = f"at most {TEXT_MAX} characters"
UNKNOWN = "not a setting"
BAD_HOURS = "write days and times, e.g. mon-fri 09:00-17:00; sat 10:00-14:00"
BAD_ZONE = "enter a time zone such as Europe/London or Asia/Shanghai (empty: UTC)"
BAD_HOLIDAYS = "enter dates as YYYY-MM-DD, separated by commas"
NOT_ON_OFF = "choose on or off"
CONTROL_CHARACTERS = "remove the control characters (line breaks are fine)"
PROBLEMS = (
    NOT_A_FRACTION,
    CLARIFY_ABOVE_ANSWER,
    NOT_A_COLOUR,
    EMPTY,
    NAME_TOO_LONG,
    TEXT_TOO_LONG,
    UNKNOWN,
    BAD_HOURS,
    BAD_ZONE,
    BAD_HOLIDAYS,
    NOT_ON_OFF,
    CONTROL_CHARACTERS,
)
# The texts reach messages and pages: PostgreSQL refuses a NUL in text (a 500 where a customer
# starts a chat), and no other control character is meant in them either.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text() -> Any:
    return Field("", max_length=TEXT_MAX)


class RuntimeSettings(BaseModel):
    """What the admin settings page controls. Empty texts mean the built-in text."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", frozen=True)

    answer_threshold: float = Field(0.55, ge=0, le=1, allow_inf_nan=False)
    clarify_threshold: float = Field(0.3, ge=0, le=1, allow_inf_nan=False)
    clarify_margin: float = Field(0.04, ge=0, le=1, allow_inf_nan=False)
    # 0 answers more, 1 refuses more: picks the fallback threshold on the active version's
    # measured curve (a version without one keeps clarify_threshold).
    strictness: float = Field(DEFAULT_STRICTNESS, ge=0, le=1, allow_inf_nan=False)
    greeting_en: str = _text()
    greeting_zh: str = _text()
    fallback_en: str = _text()
    fallback_zh: str = _text()
    handoff_en: str = _text()
    handoff_zh: str = _text()
    clarify_en: str = _text()
    clarify_zh: str = _text()
    rating_en: str = _text()
    rating_zh: str = _text()
    offline_en: str = _text()
    offline_zh: str = _text()
    widget_title: str = Field("Chat with us", min_length=1, max_length=NAME_MAX)
    widget_color: str = Field("#1f6f5c", pattern=r"^#[0-9a-fA-F]{6}$")
    company_name: str = Field("Harbor & Pine", min_length=1, max_length=NAME_MAX)
    widget_title_zh: str = Field("", max_length=NAME_MAX)
    company_name_zh: str = Field("", max_length=NAME_MAX)
    hours_en: str = _text()
    hours_zh: str = _text()
    timezone_en: str = Field("", max_length=ZONE_MAX)
    timezone_zh: str = Field("", max_length=ZONE_MAX)
    holidays_en: str = _text()
    holidays_zh: str = _text()
    # A customer negative twice in a conversation is offered a person beside the bot's answer.
    offer_person_when_frustrated: bool = True

    @field_validator("*")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if isinstance(value, str) and _CONTROL.search(value):
            raise PydanticCustomError("control_characters", CONTROL_CHARACTERS)
        return value

    @field_validator("hours_en", "hours_zh")
    @classmethod
    def _a_week(cls, value: str) -> str:
        hours.parse_week(value)  # HoursInvalid is a ValueError: refused with BAD_HOURS
        return value

    @field_validator("timezone_en", "timezone_zh")
    @classmethod
    def _a_zone(cls, value: str) -> str:
        hours.parse_zone(value)
        return value

    @field_validator("holidays_en", "holidays_zh")
    @classmethod
    def _dates(cls, value: str) -> str:
        hours.parse_holidays(value)
        return value

    @field_validator("clarify_threshold")
    @classmethod
    def _not_above_answer(cls, value: float, info: ValidationInfo) -> float:
        answer = info.data.get("answer_threshold")
        if answer is not None and value > answer:
            raise ValueError(CLARIFY_ABOVE_ANSWER)
        return value

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeSettings:
        """The defaults: the environment's values (texts default to the built-in ones)."""
        return cls(
            answer_threshold=settings.answer_threshold,
            clarify_threshold=settings.clarify_threshold,
            clarify_margin=settings.clarify_margin,
            strictness=settings.strictness,
            widget_title=settings.widget_title,
            widget_color=settings.widget_color,
            company_name=settings.company_name,
            offer_person_when_frustrated=settings.offer_person_when_frustrated,
        )

    def text(self, kind: str, language: str) -> str:
        """The admin's text of ``kind`` (greeting, fallback, handoff, clarify, rating) in
        ``language``, or ''."""
        value: str = getattr(self, f"{kind}_{language}", "")
        return value

    def name(self, field: str, language: str) -> str:
        """``widget_title`` or ``company_name`` in ``language``: its own variant when the admin
        gave one, else the main value."""
        own: str = getattr(self, f"{field}_{language}", "") if language != "en" else ""
        return own or str(getattr(self, field))

    def schedule(self, language: str) -> hours.Schedule | None:
        """The opening hours of ``language``'s team (None: no hours set, always reachable)."""
        base = language.split("-")[0].lower()
        if base not in LANGUAGES:
            base = "en"
        return hours.Schedule.parse(
            getattr(self, f"hours_{base}"),
            getattr(self, f"timezone_{base}"),
            getattr(self, f"holidays_{base}"),
        )


class SettingsInvalid(ValueError):
    """Refused values; ``problems`` maps each field to why (one of PROBLEMS)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in problems.items()))
        self.problems = problems


def settings_revision(session: Session) -> int:
    """How many changes were ever saved: 0 while every setting has its default."""
    row = session.get(AppSetting, REVISION_KEY)
    return int(row.value) if row is not None else 0


def stored(session: Session) -> dict[str, Any]:
    """The overridden fields and their stored values."""
    rows = session.scalars(select(AppSetting).where(AppSetting.key != REVISION_KEY)).all()
    return {row.key: row.value for row in rows}


def merge(defaults: RuntimeSettings, overrides: Mapping[str, Any]) -> RuntimeSettings:
    """``defaults`` with every valid override applied; a stored value that has become invalid
    (say the environment's answer threshold fell below a stored clarify threshold) is skipped."""
    values = defaults.model_dump()
    try:
        return RuntimeSettings.model_validate({**values, **overrides})
    except ValidationError:
        pass
    # Apply what fits, in passes: a lower answer threshold may fit only once its clarify has.
    pending = dict(overrides)
    progress = True
    while pending and progress:
        progress = False
        for key, value in list(pending.items()):
            candidate = {**values, key: value}
            try:
                RuntimeSettings.model_validate(candidate)
            except ValidationError:
                continue
            values = candidate
            del pending[key]
            progress = True
    for key, value in pending.items():
        log.warning("ignoring the stored setting %s=%r: it is not valid now", key, value)
    return RuntimeSettings.model_validate(values)


def effective(session: Session, defaults: RuntimeSettings) -> RuntimeSettings:
    """The settings in force: ``defaults`` with the stored overrides."""
    return merge(defaults, stored(session))


def validate(current: RuntimeSettings, changes: Mapping[str, Any]) -> RuntimeSettings:
    """``current`` with ``changes`` applied, or SettingsInvalid naming every bad field."""
    try:
        return RuntimeSettings.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "settings"
            problems.setdefault(field, _problem(field, error["type"]))
        raise SettingsInvalid(problems) from exc


def _problem(field: str, error_type: str) -> str:
    if error_type == "extra_forbidden":
        return UNKNOWN
    if error_type == "control_characters":
        return CONTROL_CHARACTERS
    if field in THRESHOLDS:
        return CLARIFY_ABOVE_ANSWER if error_type == "value_error" else NOT_A_FRACTION
    if field == "widget_color":
        return NOT_A_COLOUR
    if field == "offer_person_when_frustrated":
        return NOT_ON_OFF
    kind = field.rsplit("_", 1)[0]
    if kind == "timezone" or (kind in SCHEDULE_KINDS and error_type != "string_too_long"):
        return {"hours": BAD_HOURS, "timezone": BAD_ZONE, "holidays": BAD_HOLIDAYS}[kind]
    if error_type == "string_too_short":
        return EMPTY
    return NAME_TOO_LONG if field in NAMES else TEXT_TOO_LONG


def update(
    session: Session,
    defaults: RuntimeSettings,
    changes: Mapping[str, Any],
    actor: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate and store ``changes`` with their audit entry; nothing is written when any value
    is refused. The console's form and the JSON API both save through this.

    Returns:
        (before, after): the values of the fields that really changed, for the audit log.

    Example:
        >>> defaults = RuntimeSettings()
        >>> update(session, defaults, {"answer_threshold": "0.7"}, "ada@example.com")
        ({'answer_threshold': 0.55}, {'answer_threshold': 0.7})
        >>> effective(session, defaults).answer_threshold
        0.7
    """
    current = effective(session, defaults)
    wanted = validate(current, changes)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    default_values = defaults.model_dump()
    for key, value in wanted.model_dump().items():
        if value == getattr(current, key):
            continue
        before[key], after[key] = getattr(current, key), value
        row = session.get(AppSetting, key)
        if value == default_values[key]:
            if row is not None:
                session.delete(row)  # back to the default: follow the environment again
        elif row is None:
            session.add(AppSetting(key=key, value=value, updated_by=actor))
        else:
            row.value, row.updated_by = value, actor
    if after:
        _bump_revision(session, actor)
        audit.record(session, actor, "settings.update", None, before=before, after=after)
    session.flush()
    return before, after


def _bump_revision(session: Session, actor: str | None) -> None:
    # FOR UPDATE: two admins saving at once on PostgreSQL must not both write the same revision.
    row = session.get(AppSetting, REVISION_KEY, with_for_update=True)
    if row is None:
        session.add(AppSetting(key=REVISION_KEY, value=1, updated_by=actor))
    else:
        row.value, row.updated_by = int(row.value) + 1, actor
