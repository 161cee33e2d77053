"""An offline request in two real browsers: outside the opening hours the customer asks for a
person, leaves an e-mail address and a message; a staff member replies from the live console;
a real SMTP server receives the reply; the customer reopens the chat and finds it there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chatbot.config import Settings
from chatbot.db import app_settings
from chatbot.db.app_settings import RuntimeSettings
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.hours import DAYS
from tests.browser.conftest import LiveServer, sign_in
from tests.browser.test_takeover import STAFF, _conversation_id
from tests.browser.test_widget import BOT, _ask
from tests.mailbox import Mailbox, smtp_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

REPLY = "Sorry about the lamp! A replacement ships tomorrow."


def _store_settings(live_server: LiveServer, changes: dict[str, str]) -> None:
    engine = make_engine(live_server.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            app_settings.update(session, RuntimeSettings.from_settings(Settings()), changes, None)
    finally:
        engine.dispose()


@pytest.fixture
def closed_now_with_mail(live_server: LiveServer) -> Iterator[Mailbox]:
    """English opening hours that exclude today (UTC), and the server's e-mail pointed at a
    local SMTP server; both put back afterwards (the server serves the whole session)."""
    other_day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    settings: Any = live_server.app.state.settings
    before = (settings.smtp_host, settings.smtp_port, settings.smtp_tls)
    with smtp_server() as mailbox:
        settings.smtp_host, settings.smtp_port, settings.smtp_tls = (
            "127.0.0.1",
            mailbox.port,
            "none",
        )
        _store_settings(live_server, {"hours_en": f"{other_day} 09:00-17:00"})
        try:
            yield mailbox
        finally:
            _store_settings(live_server, {"hours_en": ""})
            settings.smtp_host, settings.smtp_port, settings.smtp_tls = before


def test_outside_the_hours_a_customer_leaves_a_message_and_gets_the_reply_by_e_mail(
    new_page,
    live_server: LiveServer,
    accounts_on_server: dict[str, str],
    closed_now_with_mail: Mailbox,
    screenshots,
) -> None:
    customer: Page = new_page()
    customer.goto("/chat")
    _ask(customer, "I want to talk to a person")
    offer = customer.locator(BOT).last
    expect(offer).to_contain_text("nobody from our team is available right now")
    form = customer.get_by_test_id("chatbot-offline")
    # A bad address is refused in the widget, before anything is sent.
    form.get_by_test_id("chatbot-offline-email").fill("ada.example.org")
    form.get_by_test_id("chatbot-offline-text").fill("My lamp arrived broken.")
    form.get_by_test_id("chatbot-offline-send").click()
    expect(form.get_by_test_id("chatbot-offline-error")).to_contain_text("e-mail address")
    form.get_by_test_id("chatbot-offline-email").fill("ada@example.org")
    form.get_by_test_id("chatbot-offline-send").click()
    expect(customer.locator(BOT).last).to_contain_text("will reply to ada@example.org")
    expect(customer.get_by_test_id("chatbot-offline")).to_have_count(0)
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("Waiting for a person…")
    customer.screenshot(path=str(screenshots / "offline-request-customer.png"))
    conversation_id = _conversation_id(customer)
    customer.close()  # the customer leaves

    staff: Page = new_page()
    sign_in(staff, accounts_on_server["staff"], next_path="/staff/live")
    item = staff.locator(f'[data-testid="live-queue-item"][data-id="{conversation_id}"]')
    expect(item).to_contain_text("reply by e-mail")
    item.click()
    expect(staff.get_by_test_id("live-transcript")).to_contain_text("My lamp arrived broken.")
    staff.get_by_test_id("live-reply").fill(REPLY)
    staff.get_by_test_id("live-send").click()
    expect(staff.get_by_test_id("live-transcript")).to_contain_text(REPLY)
    staff.screenshot(path=str(screenshots / "offline-request-staff.png"))

    (email,) = closed_now_with_mail.wait_for(1)
    assert email["To"] == "ada@example.org"
    body = email.get_body(preferencelist=("plain",))
    assert body is not None and REPLY in body.get_content()
    assert accounts_on_server["staff"] not in str(email)

    # The customer comes back later, in the same browser: the reply is in the chat.
    back: Page = customer.context.new_page()
    back.goto("/chat")
    expect(back.locator(STAFF).last).to_contain_text(REPLY)
    back.screenshot(path=str(screenshots / "offline-request-back.png"))


def test_a_customer_entering_the_queue_raises_a_browser_notification(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str]
) -> None:
    staff: Page = new_page(permissions=["notifications"])
    sign_in(staff, accounts_on_server["staff"], next_path="/staff/live")
    staff.get_by_test_id("live-presence").select_option("available")
    expect(staff.get_by_test_id("live-presence-note")).to_contain_text("available now")
    expect(staff.get_by_test_id("live-notify")).to_be_hidden()  # granted: nothing to ask
    customer: Page = new_page()
    customer.goto("/chat")
    _ask(customer, "I want to talk to a person")  # no opening hours: queued at once
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("Waiting for a person…")
    expect(staff.locator("#live")).to_have_attribute("data-notified", "1")
