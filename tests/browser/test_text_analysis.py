"""Text analysis in a real browser: staff narrow the transcript list to unhappy customers, read
each message's sentiment and the conversation's keywords; the dashboard lists the period's
keywords."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, sign_in
from tests.browser.test_transcripts import customer_conversation

pytestmark = [pytest.mark.browser, pytest.mark.model]  # the live server loads the real model


def test_staff_find_unhappy_customers_and_what_they_wrote_about(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    unhappy = customer_conversation(
        live_server, "This is terrible, how do I return an item?", "这个台灯太差了，我要退款"
    )
    calm = customer_conversation(live_server, "How do I return an item?")
    page = new_page()
    sign_in(page, accounts_on_server["staff"], next_path="/staff")
    page.get_by_label("Customer's mood").select_option("negative")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f'tr[data-conversation-id="{unhappy}"]')).to_be_visible()
    expect(page.locator(f'tr[data-conversation-id="{calm}"]')).to_have_count(0)
    expect(page.get_by_label("Customer's mood")).to_have_value("negative")
    row = page.locator(f'tr[data-conversation-id="{unhappy}"]')
    expect(row.get_by_test_id("mood")).to_contain_text("2 negative")
    page.screenshot(path=screenshots / "staff-transcripts-mood.png", full_page=True)

    row.get_by_role("link").click()
    page.wait_for_url(f"**/staff/conversations/{unhappy}")
    badges = page.locator('[data-testid="turn"][data-role="customer"] [data-testid="sentiment"]')
    expect(badges).to_have_count(2)
    expect(badges.first).to_contain_text("negative")
    keywords = page.get_by_test_id("keyword")
    for word in ("terrible", "return", "台灯", "退款"):
        expect(keywords.filter(has_text=word).first).to_be_visible()
    page.screenshot(path=screenshots / "staff-transcript-sentiment.png", full_page=True)


def test_the_dashboard_lists_the_periods_keywords(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    page = new_page()
    sign_in(page, accounts_on_server["admin"], next_path="/admin/analytics")
    # Other tests' conversations share this server and the table lists the top words only: the
    # word is used by one conversation more than the most used word so far, so it must be listed.
    ranked = page.request.get("/api/v1/admin/analytics/keywords").json()["rows"]
    for _ in range(1 + max((row["conversations"] for row in ranked), default=0)):
        customer_conversation(live_server, "The wardrobe hinge is broken")
    page.reload()
    table = page.get_by_test_id("analytics-keywords")
    expect(table.locator("th", has_text="wardrobe")).to_be_visible()
    expect(page.get_by_test_id("analytics-moods")).to_contain_text("negative")
    table.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "analytics-keywords.png", full_page=True)
