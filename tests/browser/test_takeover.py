"""Live takeover in two real browsers: a customer asks for a person, a staff member takes over,
hands back to the bot, closes, and the customer rates the conversation (see conftest.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chatbot.db.models import Conversation
from chatbot.db.session import make_engine, make_session_factory
from tests.browser.conftest import LiveServer, sign_in
from tests.browser.test_widget import BOT, CUSTOMER, _answer, _ask

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

STAFF = '[data-testid="chatbot-message"][data-role="staff"]'
SYSTEM = '[data-testid="chatbot-message"][data-role="system"]'
CANNED_TITLE = "Checking your order"
CANNED_TEXT = "Thanks for waiting, I'm looking into your order now."


def _conversation_id(customer: Page) -> str:
    conversation_id: str = customer.evaluate(
        "() => Object.values(JSON.parse(localStorage.getItem('chatbot.conversation')))[0].id"
    )
    return conversation_id


def _stored_conversation(live_server: LiveServer, conversation_id: str) -> Any:
    engine = make_engine(live_server.database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.get(Conversation, conversation_id)
    finally:
        engine.dispose()


def _add_canned_reply(staff: Page, title: str, text: str) -> None:
    staff.goto("/staff/canned")
    form = staff.get_by_test_id("canned-create")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Text").fill(text)
    form.get_by_role("button", name="Add canned reply").click()
    expect(staff.get_by_test_id("canned-reply").filter(has_text=title)).to_be_visible()


def test_a_person_takes_over_hands_back_and_closes(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    staff = new_page()
    sign_in(staff, accounts_on_server["staff"], next_path="/staff/canned")
    _add_canned_reply(staff, CANNED_TITLE, CANNED_TEXT)
    staff.goto("/staff/live")
    staff.get_by_role(
        "heading", name="Live queue"
    ).click()  # an interaction: the page may beep from now on

    customer = new_page()
    customer.goto("/chat")
    _ask(customer, "How long does delivery take?")
    expect(customer.locator(BOT).last).to_contain_text(_answer("delivery_time"))
    _ask(customer, "I want to talk to a person")
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("Waiting for a person…")
    conversation_id = _conversation_id(customer)

    # It shows up in the queue without a reload, and the title counts who waits.
    item = staff.locator(f'[data-testid="live-queue-item"][data-id="{conversation_id}"]')
    expect(item).to_have_attribute("data-status", "waiting")
    expect(item).to_contain_text("I'm connecting you with a member of our team")
    expect(staff).to_have_title(re.compile(r"^\(\d+\) Live queue"))
    item.click()
    expect(staff).to_have_url(re.compile(f"conversation={conversation_id}"))
    transcript = staff.get_by_test_id("live-transcript")
    expect(transcript).to_contain_text("I want to talk to a person")

    staff.get_by_test_id("live-claim").click()
    expect(staff.get_by_test_id("live-status")).to_have_text("With a person")
    expect(item).to_have_attribute("data-status", "with_staff")
    # Customers see the staff member's name (here the email's local part), never the address.
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("You are talking to sam.")
    expect(customer.get_by_test_id("chatbot-joined")).to_have_text(
        "sam has joined the conversation."
    )

    # The staff member types (the customer sees it), picks a canned reply and sends with Enter.
    reply_box = staff.get_by_test_id("live-reply")
    reply_box.press_sequentially("Hello! ")
    expect(customer.get_by_text("A person is typing…")).to_be_visible()
    staff.get_by_test_id("live-canned").select_option(label=CANNED_TITLE)
    expect(reply_box).to_have_value(f"Hello! {CANNED_TEXT}")
    reply_box.press("Enter")
    expect(reply_box).to_have_value("")
    expect(customer.locator(STAFF).last).to_contain_text(f"Hello! {CANNED_TEXT}")
    expect(customer.get_by_text("A person is typing…")).to_be_hidden()
    customer.screenshot(path=screenshots / "widget-staff-joined.png")

    # While a person holds it, the customer's messages reach them and the bot stays silent.
    bot_answers = customer.locator(BOT).count()
    customer.get_by_test_id("chatbot-input").press_sequentially("Is my")
    expect(staff.get_by_test_id("live-customer-typing")).to_be_visible()
    customer.get_by_test_id("chatbot-input").fill(
        "Is my order on its way? How long does delivery take?"
    )
    customer.get_by_test_id("chatbot-send").click()
    expect(transcript.locator('[data-role="customer"]').last).to_contain_text(
        "Is my order on its way?"
    )
    expect(staff.get_by_test_id("live-customer-typing")).to_be_hidden()
    # The send has come back (the widget drops "pending" only with the server's answer in hand,
    # a bot reply included) ...
    expect(customer.locator(f"{CUSTOMER}[data-pending]")).to_have_count(0)
    # ... and a reply the staff member sends now reaches the customer after anything the bot
    # could have said to that message: the bot had its chance, and stayed silent.
    reply_box.fill("Let me check that for you.")
    reply_box.press("Enter")
    expect(customer.locator(STAFF).last).to_contain_text("Let me check that for you.")
    expect(customer.locator(BOT)).to_have_count(bot_answers)
    staff.screenshot(path=screenshots / "staff-live-desktop.png", full_page=True)

    # Handed back, the bot answers again.
    staff.get_by_test_id("live-handback").click()
    expect(customer.locator(SYSTEM).last).to_contain_text("You are back with our assistant")
    expect(item).to_have_count(0)  # it left the queue
    _ask(customer, "How long does delivery take?")
    expect(customer.locator(BOT)).to_have_count(bot_answers + 1)
    expect(customer.locator(BOT).last).to_contain_text(_answer("delivery_time"))

    # Closed, the customer is asked for a rating.
    staff.get_by_test_id("live-close").click()
    expect(staff.get_by_test_id("live-status")).to_have_text("Closed")
    rating = customer.get_by_test_id("chatbot-satisfaction")
    expect(rating).to_contain_text("How satisfied are you with this conversation?")
    rating.get_by_role("button", name="4 out of 5").click()
    expect(rating).to_contain_text("Thank you for rating this conversation!")
    expect(rating.get_by_role("button", name="4 out of 5")).to_have_attribute(
        "aria-pressed", "true"
    )
    stored = _stored_conversation(live_server, conversation_id)
    assert (stored.status.value, stored.satisfaction, stored.feedback_given) == ("closed", 4, True)


def test_the_live_page_at_phone_width(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    customer = new_page()
    customer.goto("/chat")
    customer.get_by_test_id("chatbot-handoff").click()
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("Waiting for a person…")
    conversation_id = _conversation_id(customer)

    staff = new_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(
        staff, accounts_on_server["staff"], next_path=f"/staff/live?conversation={conversation_id}"
    )
    queue = staff.get_by_test_id("live-queue")
    conversation = staff.get_by_test_id("live-conversation")
    expect(queue.locator(f'[data-id="{conversation_id}"]')).to_be_visible()
    expect(staff.get_by_test_id("live-claim")).to_be_enabled()
    queue_box, conversation_box = queue.bounding_box(), conversation.bounding_box()
    assert queue_box and conversation_box
    assert queue_box["y"] < conversation_box["y"]  # queue above, conversation below
    assert conversation_box["x"] + conversation_box["width"] <= 390
    scroll_width = staff.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390, "the page scrolls sideways at phone width"
    staff.screenshot(path=screenshots / "staff-live-phone.png", full_page=True)


def test_canned_replies_page(new_page, accounts_on_server: dict[str, str], screenshots) -> None:
    staff = new_page()
    sign_in(staff, accounts_on_server["staff"], next_path="/staff/canned")
    _add_canned_reply(staff, "Opening hours", "We answer chats 9:00-18:00, Monday to Friday.")
    form = staff.get_by_test_id("canned-create")
    form.get_by_label("Title").fill("x" * 100)
    # Past the browser's own checks, so the server's validation shows.
    staff.evaluate(
        "document.querySelectorAll('[maxlength],[required]').forEach(n => {"
        " n.removeAttribute('maxlength'); n.removeAttribute('required'); })"
    )
    form.get_by_label("Title").fill("x" * 101)
    form.get_by_label("Text").fill("Anything")
    form.get_by_role("button", name="Add canned reply").click()
    expect(staff.get_by_test_id("canned-error")).to_have_text(
        "Title must be 1 to 100 characters long."
    )
    staff.screenshot(path=screenshots / "staff-canned-desktop.png", full_page=True)

    phone = new_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(phone, accounts_on_server["staff"], next_path="/staff/canned")
    item = phone.get_by_test_id("canned-reply").filter(has_text="Opening hours")
    item.locator("summary").click()
    item.get_by_label("Text").fill("We answer chats 8:00-20:00 every day.")
    item.get_by_role("button", name="Save").click()
    expect(phone.get_by_test_id("canned-reply").filter(has_text="8:00-20:00")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=screenshots / "staff-canned-phone.png", full_page=True)


def test_a_fetch_read_before_the_handoff_does_not_undo_its_status(new_page) -> None:
    """The fetch a new socket makes can read the conversation before the handoff that started it
    commits, and arrive after the handoff's answer: its older "bot" must not replace "waiting"."""
    customer = new_page()
    delivered: list[str] = []

    def stale(route: Any) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        response = route.fetch()
        body = response.json()
        body["conversation"]["status"] = "bot"  # as read before the handoff committed
        time.sleep(1.0)  # and delivered after the handoff's own answer
        route.fulfill(response=response, json=body)
        delivered.append(body["conversation"]["status"])

    customer.route(re.compile(r".*/conversations/[^/]+/messages$"), stale)
    customer.goto("/chat")
    customer.get_by_test_id("chatbot-handoff").click()
    status = customer.get_by_test_id("chatbot-status")
    expect(status).to_have_text("Waiting for a person…")
    deadline = time.monotonic() + 10
    while not delivered and time.monotonic() < deadline:
        customer.wait_for_timeout(100)
    assert delivered == ["bot"]
    customer.wait_for_timeout(300)  # the widget has read it
    expect(status).to_have_text("Waiting for a person…")
