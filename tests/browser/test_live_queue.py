"""The staff live queue under a flood: sixty customers ask for a person at once while a staff
member has the live page open. The page must not fetch or redraw the queue once per event (it
once did both), and must end showing one page of the queue with the right totals."""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, sign_in

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

CUSTOMERS = 60
PAGE = 50  # live.js's PAGE: entries the console shows before "Show more"
# live.js's throttles: a redraw at most every RENDER_MS, a fetch of the queue at most every
# RESYNC_MS however many events arrive.
RENDER_MS = 50
RESYNC_MS = 2000

# Notes when each queue event reaches the page (before live.js sees it) and counts each redraw
# of the queue: live.js replaces the list's children in one call, which is one childList record
# on the list itself (waiting times ticking inside items are not).
WATCH_EVENTS = """(() => {
  window.__queueEvents = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (message) => {
        if (JSON.parse(message.data).type === 'queue') window.__queueEvents.push(performance.now());
      });
    }
  };
})();"""
COUNT_REDRAWS = """() => {
  const list = document.querySelector('[data-testid="live-queue"]');
  window.__redraws = 0;
  window.__queueEvents.length = 0;
  new MutationObserver((records) => {
    window.__redraws += records.filter((r) => r.target === list && r.type === 'childList').length;
  }).observe(list, { childList: true });
}"""


def _render_windows(arrivals_ms: list[float]) -> int:
    """How many RENDER_MS windows the events open: an event after the last window starts one."""
    windows, window_end = 0, -math.inf
    for arrival in sorted(arrivals_ms):
        if arrival > window_end:
            windows, window_end = windows + 1, arrival + RENDER_MS
    return windows


def _customers(api: httpx.Client, n: int) -> list[tuple[str, dict[str, str]]]:
    customers = []
    for _ in range(n):
        created = api.post("/api/v1/conversations", json={"language": "en"}).json()
        customers.append((created["id"], {"Authorization": f"Bearer {created['token']}"}))
    return customers


def _queue_counts(staff: Page) -> dict[str, Any]:
    response = staff.request.get("/api/v1/staff/queue?limit=1")
    assert response.ok, response.text()
    counts: dict[str, Any] = response.json()
    return counts


def test_a_flood_of_handoffs_redraws_the_queue_a_few_times(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str]
) -> None:
    staff = new_page()
    sign_in(staff, accounts_on_server["staff"])
    fetches: list[float] = []
    staff.on(
        "request",
        lambda request: (
            fetches.append(time.monotonic()) if "/api/v1/staff/queue" in request.url else None
        ),
    )
    staff.add_init_script(WATCH_EVENTS)
    with staff.expect_response(lambda r: "/api/v1/staff/queue" in r.url):
        staff.goto("/staff/live")  # the socket's "ready" fetches the queue: it is connected
    before = _queue_counts(staff)
    staff.evaluate(COUNT_REDRAWS)
    fetches.clear()
    csrf = {"X-CSRF-Token": staff.evaluate("window.Console.csrf")}

    with httpx.Client(base_url=live_server.url, timeout=60) as api:
        customers = _customers(api, CUSTOMERS)  # not in the queue yet: the bot talks to them

        def ask_for_a_person(customer: tuple[str, dict[str, str]]) -> int:
            conversation_id, headers = customer
            url = f"/api/v1/conversations/{conversation_id}/handoff"
            return api.post(url, headers=headers).status_code

        try:
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(ask_for_a_person, customers))
            assert statuses == [200] * CUSTOMERS

            # The page settles on one page of the queue and the whole queue's totals.
            waiting = before["waiting"] + CUSTOMERS
            total = waiting + before["with_staff"]
            expect(staff.get_by_test_id("live-waiting-count")).to_have_text(str(waiting))
            expect(staff.get_by_test_id("live-queue-item")).to_have_count(PAGE)
            expect(staff.get_by_test_id("live-queue-more")).to_contain_text(
                f"{total - PAGE} more in the queue"
            )
            expect(staff).to_have_title(re.compile(rf"^\({waiting}\) Live queue"))
            # Whatever fetch the flood's last events asked for has come and gone.
            staff.wait_for_timeout(RESYNC_MS + 500)
            settled_s = time.monotonic() - started
            redraws: int = staff.evaluate("window.__redraws")
            queue_events: list[float] = staff.evaluate("window.__queueEvents")
            assert len(queue_events) >= CUSTOMERS  # every handoff reached the page
            # One fetch per RESYNC_MS while events arrive, and one after the last.
            most_fetches = math.ceil(settled_s * 1000 / RESYNC_MS) + 1
            assert 1 <= len(fetches) <= most_fetches, (len(fetches), settled_s)
            # At most one redraw per RENDER_MS window in which events arrived, plus one per
            # fetch: far fewer than the events themselves.
            windows = _render_windows(queue_events)
            assert redraws <= windows + len(fetches), (redraws, windows, len(fetches))
            assert redraws <= len(queue_events) // 2, (redraws, len(queue_events))
        finally:
            # Later tests on this server look for their own conversation on the first page.
            for conversation_id, _headers in customers:
                url = f"/api/v1/staff/conversations/{conversation_id}/close"
                assert staff.request.post(url, headers=csrf).ok
    assert _queue_counts(staff)["waiting"] == before["waiting"]
