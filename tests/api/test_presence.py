"""Opening hours in the admin settings, staff presence in the live console, and whether the
widget is told a person can come now."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db import app_settings
from chatbot.db.app_settings import RuntimeSettings
from tests.api.conftest import (
    Staff,
    in_database,
    post_form,
)
from tests.api.test_takeover import staff_socket

ALWAYS = "mon-sun 00:00-24:00"
PRESENCE = "/api/v1/staff/presence"


def set_hours(db_url: str, **changes: str) -> None:
    def update(session: Any) -> None:
        app_settings.update(session, RuntimeSettings.from_settings(Settings()), changes, None)

    in_database(db_url, update)


def person_available(client: TestClient, lang: str = "en") -> bool:
    config = client.get(f"/api/v1/widget/config?lang={lang}").json()
    available: bool = config["person_available"]
    assert config["available_by_language"][lang] is available
    return available


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_bad_opening_hours_are_refused_naming_the_field(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    response = post_form(
        client,
        admin,
        "/admin/settings",
        hours_en="mon-fri 9-5",
        timezone_zh="Mars/Olympus",
        holidays_en="25/12/2026",
    )
    assert response.status_code == 422
    for field in ("hours_en", "timezone_zh", "holidays_en"):
        assert f'data-testid="error-{field}"' in response.text
    assert "e.g. mon-fri 09:00-17:00" in response.text
    assert in_database(db_url, app_settings.stored) == {}
    saved = post_form(
        client,
        admin,
        "/admin/settings",
        hours_zh="mon-fri 09:00-18:00",
        timezone_zh="Asia/Shanghai",
        holidays_zh="2026-10-01, 2026-10-02",
    )
    assert saved.status_code == 303
    page = client.get("/admin/settings").text
    assert "Asia/Shanghai" in page and "2026-10-01, 2026-10-02" in page
    assert in_database(db_url, app_settings.stored)["hours_zh"] == "mon-fri 09:00-18:00"


def test_the_settings_page_in_chinese_names_the_problem_in_chinese(
    client: TestClient, admin: Staff
) -> None:
    response = client.post(
        "/admin/settings",
        data={"csrf_token": admin.csrf, "hours_en": "always"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert response.status_code == 422
    assert "请填写星期和时段" in response.text


def test_presence_is_chosen_and_counts_only_while_a_console_tab_is_open(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    assert person_available(client)  # no opening hours: a person can always be asked for
    set_hours(db_url, hours_en=ALWAYS)
    assert not person_available(client)  # inside the hours, but nobody on duty

    mine = client.get(PRESENCE, headers=staff.headers).json()
    assert (mine["status"], mine["connected"], mine["available_staff"]) == ("away", False, 0)
    chosen = client.post(PRESENCE, json={"status": "available"}, headers=staff.headers).json()
    assert chosen["status"] == "available" and chosen["available_staff"] == 0  # no tab open
    assert not person_available(client)

    with staff_socket(client) as first, staff_socket(client) as second:
        assert first.receive_json() == {"type": "ready"}
        assert second.receive_json() == {"type": "ready"}
        now = client.get(PRESENCE, headers=staff.headers).json()
        assert now["connected"] and now["available_staff"] == 1
        assert now["person_available"] == {"en": True, "zh": True}  # zh: no hours of its own
        assert person_available(client)
        away = client.post(PRESENCE, json={"status": "away"}, headers=staff.headers).json()
        assert away["available_staff"] == 0 and not person_available(client)
        client.post(PRESENCE, json={"status": "available"}, headers=staff.headers)
        first.close()
        wait_for(lambda: client.get(PRESENCE, headers=staff.headers).json()["connected"])
        assert person_available(client)  # one tab still open
    # The last tab closed: nobody on duty; the choice is kept for the staff member's return.
    wait_for(lambda: not person_available(client))
    mine = client.get(PRESENCE, headers=staff.headers).json()
    assert (mine["status"], mine["connected"]) == ("available", False)


def test_outside_the_hours_nobody_can_come_even_on_duty(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    set_hours(db_url, hours_en=ALWAYS, holidays_en=time.strftime("%Y-%m-%d", time.gmtime()))
    client.post(PRESENCE, json={"status": "available"}, headers=staff.headers)
    with staff_socket(client) as socket:
        assert socket.receive_json() == {"type": "ready"}
        assert not person_available(client)  # today is a holiday


def test_a_bad_presence_is_refused_naming_the_field(client: TestClient, staff: Staff) -> None:
    response = client.post(PRESENCE, json={"status": "asleep"}, headers=staff.headers)
    assert response.status_code == 422
    assert "status" in response.text
