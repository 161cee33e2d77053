"""Opening hours: the week's text, time zones and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chatbot.hours import HoursInvalid, Schedule, parse_holidays, parse_week, parse_zone


def test_a_week_is_days_and_spans() -> None:
    week = parse_week("Mon-Fri 09:00-12:30, 13:30-17:00\nsat 10:00-14:00; sun 00:00-24:00")
    assert (0, 540, 750) in week and (4, 810, 1020) in week
    assert (5, 600, 840) in week and (6, 0, 1440) in week
    assert len(week) == 12
    assert parse_week("  ") == ()
    assert parse_week("mon,wed 08:00-09:00") == ((0, 480, 540), (2, 480, 540))


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("monday 09:00-17:00", "monday"),
        ("mon-fri 9-17", "9-17"),
        ("mon-fri 17:00-09:00", "closes before it opens"),
        ("fri-mon 09:00-17:00", "runs backwards"),
        ("mon 09:00-25:00", "not a time of day"),
        ("mon 09:60-10:00", "not a time of day"),
        ("mon-fri", "no opening times"),
        ("xyz-fri 09:00-10:00", "'xyz-fri' is not a day"),
    ],
)
def test_a_bad_week_says_which_part(text: str, quoted: str) -> None:
    with pytest.raises(HoursInvalid, match=quoted):
        parse_week(text)


def test_zones_and_holidays() -> None:
    assert parse_zone("") is UTC and parse_zone("utc") is UTC
    assert str(parse_zone("Asia/Shanghai")) == "Asia/Shanghai"
    with pytest.raises(HoursInvalid, match="'Mars/Olympus' is not a time zone"):
        parse_zone("Mars/Olympus")
    assert parse_holidays("2026-12-25, 2027-01-01\n2026-12-26") == {
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2027, 1, 1),
    }
    with pytest.raises(HoursInvalid, match="'25/12/2026'"):
        parse_holidays("2026-12-24, 25/12/2026")


def test_open_in_the_schedules_own_time_zone_and_closed_on_holidays() -> None:
    shanghai = Schedule.parse("mon-fri 09:00-18:00", "Asia/Shanghai", "2026-10-01")
    assert shanghai is not None
    # Monday 02:00 UTC is 10:00 in Shanghai; 11:00 UTC is 19:00 there.
    assert shanghai.is_open(datetime(2026, 7, 6, 2, 0, tzinfo=UTC))
    assert not shanghai.is_open(datetime(2026, 7, 6, 11, 0, tzinfo=UTC))
    # Sunday 23:30 UTC is already Monday 07:30 in Shanghai: not yet open.
    assert not shanghai.is_open(datetime(2026, 7, 5, 23, 30, tzinfo=UTC))
    # 1 October 2026 is a Thursday, and a holiday.
    assert not shanghai.is_open(datetime(2026, 10, 1, 3, 0, tzinfo=UTC))
    assert Schedule.parse("", "Asia/Shanghai") is None  # no hours: always reachable
    london = Schedule.parse("mon-fri 09:00-17:00", "Europe/London")
    assert london is not None
    # Summer time: 08:30 UTC is 09:30 in London; in winter 08:30 UTC is 08:30 there.
    assert london.is_open(datetime(2026, 7, 6, 8, 30, tzinfo=UTC))
    assert not london.is_open(datetime(2026, 1, 5, 8, 30, tzinfo=UTC))
