"""Opening hours: when a person may answer a language's customers.

An admin writes a week as text, one entry per line or separated by ``;``, each a list of days (or
day ranges) and one or more times of day::

    mon-fri 09:00-12:30, 13:30-17:00
    sat 10:00-14:00

with a time zone (IANA, e.g. ``Europe/London``; empty: UTC) and holidays (``YYYY-MM-DD`` dates,
closed all day). Pure functions: no database, no web.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_TIME = r"(\d{2}):(\d{2})"
_SPAN = re.compile(rf"^{_TIME}-{_TIME}$")
_DAY_LIST = re.compile(r"^[a-z]{3}(-[a-z]{3})?(,[a-z]{3}(-[a-z]{3})?)*$")
_SEPARATOR = re.compile(r"[;\n]+")
_DATE_SEPARATOR = re.compile(r"[\s,;]+")

# One open interval: weekday (0 = Monday), first minute, minute it closes (up to 1440).
Interval = tuple[int, int, int]


class HoursInvalid(ValueError):
    """The text is not a week of hours; the message quotes the part that is wrong."""


def parse_week(text: str) -> tuple[Interval, ...]:
    """The open intervals a week's text describes; () for an empty text.

    Example:
        >>> parse_week("mon-fri 09:00-17:00; sat 10:00-14:00")[-1]
        (5, 600, 840)
    """
    intervals: list[Interval] = []
    for entry in _SEPARATOR.split(text.strip().lower()):
        entry = entry.strip()
        if not entry:
            continue
        days_text, _, times_text = entry.partition(" ")
        days = _days(days_text, entry)
        spans = [_span(part.strip(), entry) for part in times_text.split(",") if part.strip()]
        if not spans:
            raise HoursInvalid(f"'{entry}' has no opening times (e.g. 09:00-17:00)")
        intervals.extend((day, start, end) for day in days for start, end in spans)
    return tuple(sorted(intervals))


def _days(text: str, entry: str) -> list[int]:
    if not _DAY_LIST.match(text):
        raise HoursInvalid(f"'{entry}' does not start with days such as mon-fri or sat,sun")
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise HoursInvalid(f"'{part}' is not a day: use {', '.join(DAYS)}")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise HoursInvalid(f"'{part}' runs backwards: write the earlier day first")
        days.extend(range(start, end + 1))
    return days


def _span(text: str, entry: str) -> tuple[int, int]:
    match = _SPAN.match(text.replace(" ", ""))
    if match is None:
        raise HoursInvalid(f"'{text}' in '{entry}' is not a time span like 09:00-17:00")
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start_m > 59 or end_m > 59 or start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise HoursInvalid(f"'{text}' in '{entry}' is not a time of day (00:00 to 24:00)")
    if end <= start:
        raise HoursInvalid(f"'{text}' in '{entry}' closes before it opens")
    return start, end


def parse_zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (empty: UTC)."""
    name = name.strip()
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursInvalid(f"'{name}' is not a time zone (e.g. Europe/London)") from None


def parse_holidays(text: str) -> frozenset[date]:
    """The dates in ``text`` (``YYYY-MM-DD``, separated by commas, spaces or lines)."""
    days = set()
    for part in _DATE_SEPARATOR.split(text.strip()):
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            raise HoursInvalid(f"'{part}' is not a date written YYYY-MM-DD") from None
    return frozenset(days)


@dataclass(frozen=True)
class Schedule:
    """A language's opening hours in its time zone, closed on its holidays."""

    week: tuple[Interval, ...]
    zone: tzinfo = UTC
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, week: str, zone: str = "", holidays: str = "") -> Schedule | None:
        """The schedule the admin's texts describe; None when ``week`` is empty (no opening
        hours: a person may be asked for at any time)."""
        intervals = parse_week(week)
        if not intervals:
            return None
        return cls(intervals, parse_zone(zone), parse_holidays(holidays))

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls in the opening hours, in the schedule's time zone.

        Example:
            >>> week = Schedule.parse("mon-fri 09:00-17:00", "Europe/London")
            >>> week.is_open(datetime(2026, 7, 6, 8, 30, tzinfo=UTC))  # 09:30 in London
            True
        """
        local = at.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        return any(day == weekday and start <= minute < end for day, start, end in self.week)
