"""Transcripts in a real browser: customer markup stays text, and staff correct a bot turn."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, sign_in

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

MARKUP = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> is this safe?'


def customer_conversation(live_server: LiveServer, *texts: str) -> str:
    """A conversation started and fed through the customer API; returns its id."""
    with httpx.Client(base_url=live_server.url, timeout=60) as api:
        created = api.post("/api/v1/conversations", json={"language": "en"}).json()
        headers = {"Authorization": f"Bearer {created['token']}"}
        for text in texts:
            response = api.post(
                f"/api/v1/conversations/{created['id']}/messages",
                json={"text": text},
                headers=headers,
            )
            assert response.status_code == 200, response.text
    conversation_id: str = created["id"]
    return conversation_id


def assert_nothing_ran(page: Page) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0


def test_customer_markup_is_shown_as_text_and_staff_correct_a_bot_turn(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    conversation_id = customer_conversation(live_server, MARKUP, "How do I return an item?")
    page = new_page()
    sign_in(page, accounts_on_server["staff"], next_path="/staff")
    row = page.locator(f'tr[data-conversation-id="{conversation_id}"]')
    expect(row).to_contain_text(MARKUP)
    assert_nothing_ran(page)
    page.screenshot(path=screenshots / "staff-transcripts-desktop.png", full_page=True)

    row.get_by_role("link").click()
    page.wait_for_url(f"**/staff/conversations/{conversation_id}")
    customer_turns = page.locator('[data-testid="turn"][data-role="customer"]')
    expect(customer_turns.first.get_by_test_id("turn-text")).to_have_text(MARKUP)
    assert_nothing_ran(page)

    answer = page.locator('[data-testid="turn"][data-role="bot"]').last
    expect(answer).to_contain_text("returns")
    expect(answer.get_by_test_id("turn-text").locator("strong")).to_have_text(
        "30 days"
    )  # as the customer saw it
    correction = answer.get_by_test_id("correction")
    correction.get_by_role("button", name="Wrong").click()
    correction.get_by_label("What the customer meant").select_option("refund_time")
    correction.get_by_role("button", name="Save").click()
    expect(correction.get_by_test_id("verdict")).to_have_text("Marked wrong: refund_time")

    page.reload()  # the verdict was stored, not just shown
    answer = page.locator('[data-testid="turn"][data-role="bot"]').last
    expect(answer.get_by_test_id("verdict")).to_have_text("Marked wrong: refund_time")
    answer.get_by_role("button", name="Right").click()
    expect(answer.get_by_test_id("verdict")).to_have_text("Marked right")
    assert_nothing_ran(page)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top
    page.screenshot(path=screenshots / "staff-transcript-desktop.png", full_page=True)


def test_transcripts_fit_a_phone(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    conversation_id = customer_conversation(
        live_server, "When will my order arrive?", "我想退货", "How do I oil a wooden board?"
    )
    page = new_page(390, 844)
    sign_in(page, accounts_on_server["staff"], next_path="/staff")
    expect(page.locator(f'tr[data-conversation-id="{conversation_id}"]')).to_be_visible()
    # Nothing scrolls sideways: on a phone each row is a card.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_label("Search messages").fill("退货")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-conversation-id]")).to_have_count(1)
    expect(page.get_by_label("Search messages")).to_have_value("退货")
    page.screenshot(path=screenshots / "staff-transcripts-phone.png", full_page=True)

    page.goto(f"/staff/conversations/{conversation_id}")
    expect(page.locator('[data-testid="turn"][data-role="customer"]')).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_nothing_ran(page)  # the wood_care answer carries markup from the knowledge base
    page.screenshot(path=screenshots / "staff-transcript-phone.png", full_page=True)
