"""Sharing the work in three real browsers: with automatic assignment on, a customer's handoff
goes to the one available staff member (a browser notification tells them), who transfers it to
a colleague (whose queue shows it live), adds a private note the customer never sees, and a
label; the customer and the colleague then exchange images (issue 15's second browser test)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.api.conftest import add_account
from tests.browser.conftest import PASSWORD, LiveServer, sign_in
from tests.browser.test_attachments import CUSTOMER_IMAGE, STAFF_IMAGE, _drawn, _file
from tests.browser.test_takeover import _conversation_id
from tests.browser.test_widget import _ask
from tests.browser.test_widget_reconnect import _wait_subscribed

pytestmark = [pytest.mark.browser, pytest.mark.model]

COLLEAGUE = "lena@staff.example"
NOTE = "Private: customer threatened a chargeback, handle with care"
LABEL = "chargeback"
# Records every notification the page shows (title, body, tag) before the page's scripts run.
RECORD_NOTIFICATIONS = """
(() => {
  const Original = window.Notification;
  if (typeof Original !== "function") return;
  window.__notifications = [];
  class Recorded extends Original {
    constructor(title, options) {
      super(title, options);
      const { body, tag } = options || {};
      window.__notifications.push({ title, body, tag });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Original.permission });
  Recorded.requestPermission = (...args) => Original.requestPermission(...args);
  window.Notification = Recorded;
})();
"""

# Everything in the page, the widget's shadow DOM included.
SHOWN_TEXT = """() => document.documentElement.outerHTML + [...document.querySelectorAll("*")]
  .map((node) => (node.shadowRoot ? node.shadowRoot.innerHTML : "")).join("")"""


@pytest.fixture
def auto_assign(live_server: LiveServer) -> Iterator[None]:
    """Automatic assignment on in the running server (the session's one), and reply reminders
    after a second; put back afterwards. No cap to speak of: earlier tests may have left
    conversations with the staff member."""
    settings: Any = live_server.app.state.settings
    chat: Any = live_server.app.state.chat
    names = ("auto_assign", "max_open_conversations", "reply_reminder_seconds")
    before = [getattr(settings, name) for name in names] + [chat.auto_assign_max]
    settings.auto_assign, settings.max_open_conversations = True, 1000
    settings.reply_reminder_seconds = 1
    chat.auto_assign_max = 1000
    try:
        yield
    finally:
        for name, value in zip(names, before, strict=False):
            setattr(settings, name, value)
        chat.auto_assign_max = before[-1]


def _wait_until_only_available(page: Page, name: str, timeout_s: float = 30) -> None:
    """Until the server counts ``name`` as the one available person: the presence and the
    console's connection are stored apart, and a tab that an earlier test closed counts until
    its connection lapses."""
    deadline = time.monotonic() + timeout_s
    while True:
        people = page.request.get("/api/v1/staff/colleagues").json()
        available = sorted(person["name"] for person in people if person["available"])
        if available == [name]:
            return
        assert time.monotonic() < deadline, f"available: {available}"
        time.sleep(0.2)


def _notifications(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.evaluate("() => window.__notifications || []")
    return found


def test_a_handoff_is_assigned_transferred_noted_and_labelled(
    new_page,
    live_server: LiveServer,
    accounts_on_server: dict[str, str],
    auto_assign: None,
    screenshots,
) -> None:
    add_account(live_server.database_url, COLLEAGUE, "staff", PASSWORD)
    sam: Page = new_page()
    sam.context.grant_permissions(["notifications"])
    sam.context.add_init_script(RECORD_NOTIFICATIONS)
    sign_in(sam, accounts_on_server["staff"], next_path="/staff/live")
    sam.get_by_test_id("live-presence").select_option("available")
    expect(sam.get_by_test_id("live-presence-note")).to_contain_text("available now")
    lena: Page = new_page()
    sign_in(lena, COLLEAGUE, next_path="/staff/live")  # away: the round robin skips her
    _wait_until_only_available(sam, accounts_on_server["staff"])

    customer: Page = new_page()
    customer.goto("/chat")
    # A first message opens the conversation and the widget's socket. The handoff comes once the
    # socket listens: the events of the turn that creates a conversation can pass before its
    # socket is open (a known gap: the widget then shows "Waiting" until its next event).
    _ask(customer, "Hello")
    expect(customer.get_by_test_id("chatbot-message")).to_have_count(3)  # greeting, Hello, reply
    conversation_id = _conversation_id(customer)
    _wait_subscribed(customer, live_server.app, conversation_id)
    _ask(customer, "I want to talk to a person")
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("You are talking to sam.")

    # Sam's console tells him, with a browser notification, and his queue shows it as his.
    tag = f"chatbot-assigned-{conversation_id}"
    sam.wait_for_function("tag => (window.__notifications || []).some(n => n.tag === tag)", arg=tag)
    [shown] = [n for n in _notifications(sam) if n["tag"] == tag]
    assert shown["title"] == "A conversation was given to you"
    item = sam.locator(f'[data-testid="live-queue-item"][data-id="{conversation_id}"]')
    expect(item).to_contain_text("Held by you")

    # Nobody answers the customer for a second: Sam, who holds it, is reminded (once a wait).
    reminded = f"chatbot-reminded-{conversation_id}"
    sam.wait_for_function(
        "tag => (window.__notifications || []).some(n => n.tag === tag)", arg=reminded
    )
    [reminder] = [n for n in _notifications(sam) if n["tag"] == reminded]
    assert reminder["title"] == "A customer is waiting for your reply"

    # Sam hands it to Lena: her queue shows it as hers without a reload.
    item.click()
    expect(sam.get_by_test_id("live-transcript")).to_contain_text("I want to talk to a person")
    sam.get_by_test_id("transfer-to").focus()
    sam.get_by_test_id("transfer-to").select_option(label=f"{COLLEAGUE} (away, 0 open)")
    sam.get_by_test_id("transfer").click()
    expect(item).to_contain_text(f"Held by {COLLEAGUE}")
    lena_item = lena.locator(f'[data-testid="live-queue-item"][data-id="{conversation_id}"]')
    expect(lena_item).to_contain_text("Held by you")
    expect(lena.locator("#live")).to_have_attribute("data-assigned", "1")
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("You are talking to lena.")

    # A private note and a label; Lena, reading the conversation, sees both arrive.
    lena_item.click()
    expect(lena.get_by_test_id("live-transcript")).to_contain_text("I want to talk to a person")
    sam.get_by_test_id("note-input").fill(NOTE)
    sam.get_by_test_id("note-add").click()
    expect(sam.get_by_test_id("note")).to_contain_text(NOTE)
    sam.get_by_test_id("label-input").fill(LABEL)
    sam.get_by_test_id("label-add").click()
    expect(sam.get_by_test_id("label")).to_have_text(f"{LABEL}×")
    expect(lena.get_by_test_id("note")).to_contain_text(NOTE)
    expect(lena.get_by_test_id("label")).to_have_attribute("data-label", LABEL)
    lena.get_by_test_id("live-reply").fill("Hello, I'm Lena and I'll take it from here.")
    lena.get_by_test_id("live-send").click()
    sam.screenshot(path=str(screenshots / "teamwork-staff.png"), full_page=True)

    # The customer hears Lena, and never the note or the label, live or after a reload.
    expect(customer.get_by_test_id("chatbot-message").last).to_contain_text("I'm Lena")
    for page in (customer, customer.context.new_page()):
        if page is not customer:
            page.goto("/chat")
            expect(page.get_by_test_id("chatbot-message").last).to_contain_text("I'm Lena")
        text = page.evaluate(SHOWN_TEXT)
        assert "I'm Lena" in text  # the widget's own text is read too
        assert NOTE not in text and LABEL not in text

    # The customer and Lena exchange images: each sees the other's drawn as a thumbnail.
    customer.get_by_test_id("chatbot-attach-input").set_input_files(
        _file("damaged-box.png", CUSTOMER_IMAGE, "image/png")
    )
    _drawn(lena, lena.get_by_test_id("live-attachment-thumbnail").first)
    lena.get_by_test_id("live-attach").set_input_files(_file("label.png", STAFF_IMAGE, "image/png"))
    staff_message = '[data-testid="chatbot-message"][data-role="staff"]'
    _drawn(customer, customer.locator(staff_message).get_by_test_id("chatbot-attachment-thumbnail"))
    customer.screenshot(path=str(screenshots / "teamwork-customer.png"))

    # The label finds it in the transcript list.
    sam.goto(f"/staff?label={LABEL}")
    expect(sam.locator(f'tr[data-conversation-id="{conversation_id}"]')).to_contain_text(LABEL)

    # On the transcript page: the note is there, and the label comes off.
    sam.goto(f"/staff/conversations/{conversation_id}")
    expect(sam.get_by_test_id("note")).to_contain_text(NOTE)
    sam.get_by_role("button", name=f"Remove label {LABEL}").click()
    expect(sam.get_by_test_id("label")).to_have_count(0)
    sam.reload()
    expect(sam.get_by_test_id("note")).to_contain_text(NOTE)
    expect(sam.get_by_test_id("label")).to_have_count(0)
