"""The chat widget in a real browser against the real app and model (see conftest.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from chatbot.events import conversation_channel
from tests.browser.conftest import TINY_KNOWLEDGE_BASE, LiveServer

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

SHADOW_ROOT = "document.querySelector('[data-chatbot-widget]').shadowRoot"
CUSTOMER = '[data-testid="chatbot-message"][data-role="customer"]'
BOT = '[data-testid="chatbot-message"][data-role="bot"]:not([data-greeting])'
GENERIC_ERROR = "Sorry, something went wrong. Please try again."

# Paraphrases: none of them is a stored phrasing of its intent.
RETURNS_PARAPHRASE = "I bought a lamp and want to send it back"
DELIVERY_PARAPHRASE = "how quickly will my package be delivered"
CONTACT_PARAPHRASE = "is there a phone number I can call"


def _answer(intent: str) -> str:
    """The first sentence of an intent's answer, without Markdown."""
    row = next(row for row in TINY_KNOWLEDGE_BASE if row["intent"] == intent)
    return row["answer"].split(". ")[0].replace("**", "")


def _phrasings(intent: str) -> set[str]:
    row = next(row for row in TINY_KNOWLEDGE_BASE if row["intent"] == intent)
    return {row["question"].lower(), *(p.lower() for p in row["alternates"].split("|"))}


def _ask(page: Page, text: str) -> None:
    box = page.get_by_test_id("chatbot-input")
    box.fill(text)
    page.get_by_test_id("chatbot-send").click()


def _shadow_active_testid(page: Page) -> str | None:
    return page.evaluate(f"{SHADOW_ROOT}.activeElement?.dataset.testid ?? null")


def _conversation_id(page: Page) -> str:
    conversation_id: str = page.evaluate(
        "() => Object.values(JSON.parse(localStorage.getItem('chatbot.conversation')))[0].id"
    )
    return conversation_id


def _subscribed_channel(page: Page, live_server: LiveServer) -> str:
    """The page's conversation channel, once the widget's socket listens on it."""
    channel = conversation_channel(_conversation_id(page))
    bus = live_server.app.state.bus
    for _ in range(100):  # the widget opens its socket once the conversation exists
        if bus.subscriber_count(channel):
            break
        page.wait_for_timeout(50)
    assert bus.subscriber_count(channel) == 1
    return channel


def _live_events_handled(page: Page, live_server: LiveServer, channel: str) -> None:
    """Return once the widget has handled every live event published on ``channel`` so far.

    The socket delivers events in order, and the widget holds back messages only while a send is
    in flight: once it is idle, a staff typing event published now shows after everything before
    it was handled. The marker is then taken back.
    """
    expect(page.get_by_test_id("chatbot-log")).to_have_attribute("aria-busy", "false")
    bus = live_server.app.state.bus
    bus.publish(channel, {"type": "typing", "role": "staff", "typing": True})
    expect(page.get_by_text("A person is typing…")).to_be_visible()
    bus.publish(channel, {"type": "typing", "role": "staff", "typing": False})
    expect(page.get_by_text("A person is typing…")).to_be_hidden()


def _failed_image_loaded(page: Page) -> None:
    """Return once an image asked for now from the URL of the payload's <img src=x> has failed.

    An <img onerror> anywhere in the page, asked for earlier, has had its chance to run by then.
    """
    page.evaluate(
        """() => new Promise((resolve) => {
            const probe = new Image();
            probe.onerror = resolve;
            probe.src = "x";
        })"""
    )


def test_the_paraphrases_are_not_stored_phrasings() -> None:
    assert RETURNS_PARAPHRASE.lower() not in _phrasings("returns")
    assert DELIVERY_PARAPHRASE.lower() not in _phrasings("delivery_time")
    assert CONTACT_PARAPHRASE.lower() not in _phrasings("contact")


def test_demo_page_answers_follows_up_resumes_and_never_runs_markup(
    new_page, live_server: LiveServer, screenshots
) -> None:
    page = new_page()
    page.goto("/")
    expect(page).to_have_title(re.compile("Harbor & Pine"))
    launcher = page.get_by_test_id("chatbot-launcher")
    panel = page.get_by_test_id("chatbot-panel")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(panel).to_be_hidden()

    launcher.click()
    expect(panel).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(panel).to_have_attribute("role", "dialog")
    expect(panel).to_have_attribute("aria-label", re.compile(r"\S"))
    assert launcher.get_attribute("aria-controls") == panel.get_attribute("id")
    log = page.get_by_test_id("chatbot-log")
    expect(log).to_have_attribute("role", "log")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(page.get_by_test_id("chatbot-input")).to_have_accessible_name("Type your message")
    expect(page.locator("[data-greeting]")).to_be_visible()  # the greeting from the config

    _ask(page, RETURNS_PARAPHRASE)
    expect(page.locator(BOT).last).to_contain_text(_answer("returns"))
    expect(page.locator(BOT).last.locator("strong")).to_have_text("30 days")
    link = page.locator(BOT).last.locator("a")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    channel = _subscribed_channel(page, live_server)

    follow_up = page.get_by_test_id("chatbot-followup").filter(
        has_text="When will I get my refund?"
    )
    follow_up.click()
    expect(page.locator(CUSTOMER).last).to_have_text(re.compile("When will I get my refund"))
    expect(page.locator(BOT).last).to_contain_text(_answer("refund_time"))

    thumbs_up = page.locator(BOT).last.get_by_test_id("chatbot-feedback-up")
    thumbs_up.click()
    expect(thumbs_up).to_have_attribute("aria-pressed", "true")
    expect(page.locator(BOT).last.get_by_test_id("chatbot-feedback-down")).to_have_attribute(
        "aria-pressed", "false"
    )

    # The live socket also delivers every message the POSTs returned: none may show twice.
    _live_events_handled(page, live_server, channel)
    expect(page.locator(CUSTOMER)).to_have_count(2)
    expect(page.locator(BOT)).to_have_count(2)

    page.reload()
    page.get_by_test_id("chatbot-launcher").click()
    expect(page.locator(CUSTOMER)).to_have_count(2)
    expect(page.locator(CUSTOMER).first).to_contain_text(RETURNS_PARAPHRASE)
    expect(page.locator(BOT).first).to_contain_text(_answer("returns"))
    expect(page.locator(BOT).last).to_contain_text(_answer("refund_time"))
    expect(page.locator(BOT).last.get_by_test_id("chatbot-feedback-up")).to_have_attribute(
        "aria-pressed", "true"
    )

    _ask(page, "How do I look after oiled oak?")
    answer = page.locator(BOT).last
    expect(answer).to_contain_text("likes a damp cloth")
    expect(answer).to_contain_text("Never put it in the dishwasher")
    expect(answer.locator("strong")).to_have_text("Oiled oak")
    _failed_image_loaded(page)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    dangerous = page.evaluate(
        f"""() => {{
            const log = {SHADOW_ROOT}.querySelector('[data-testid="chatbot-log"]');
            return log.querySelectorAll('script, iframe, object, embed, img[onerror], [onerror]')
                .length;
        }}"""
    )
    assert dangerous == 0
    page.screenshot(path=screenshots / "widget-desktop.png")


def test_phone_sized_panel_fills_the_screen(new_page, screenshots) -> None:
    page = new_page(390, 844, is_mobile=True, has_touch=True)
    page.goto("/")
    page.screenshot(path=screenshots / "demo-phone.png")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)
    expect(page.locator(BOT).last).to_contain_text(_answer("delivery_time"))
    box = page.get_by_test_id("chatbot-panel").bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
    page.screenshot(path=screenshots / "widget-phone.png")


def test_full_page_chat_answers_and_hands_off(new_page, screenshots) -> None:
    page = new_page()
    page.goto("/chat")
    expect(page.get_by_test_id("chatbot-launcher")).to_have_count(0)
    panel = page.get_by_test_id("chatbot-panel")
    expect(panel).to_be_visible()
    root = page.locator("#chat-root").bounding_box()
    box = panel.bounding_box()
    assert root and box
    assert abs(box["width"] - root["width"]) <= 2 and abs(box["height"] - root["height"]) <= 2

    _ask(page, CONTACT_PARAPHRASE)
    expect(page.locator(BOT).last).to_contain_text("+44 20 7946 0123")

    page.get_by_test_id("chatbot-handoff").click()
    expect(page.get_by_test_id("chatbot-status")).to_have_text("Waiting for a person…")
    page.screenshot(path=screenshots / "chat-page.png")


def test_live_events_and_customer_text_stays_text(new_page, live_server: LiveServer) -> None:
    page = new_page()
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    sneaky = '<b>bold?</b> <img src=x onerror="window.__pwned=3">'
    _ask(page, sneaky)
    expect(page.locator(CUSTOMER).last).to_contain_text(sneaky)
    expect(page.locator(BOT)).to_have_count(1)
    assert page.locator(CUSTOMER).last.locator("b, img").count() == 0

    channel = _subscribed_channel(page, live_server)
    bus = live_server.app.state.bus

    bus.publish(channel, {"type": "status", "status": "with_staff"})
    expect(page.get_by_test_id("chatbot-status")).to_have_text(re.compile("A person has joined"))
    bus.publish(channel, {"type": "typing", "role": "staff", "typing": True})
    expect(page.get_by_text("A person is typing…")).to_be_visible()
    staff_message = {
        "id": 10**9,
        "role": "staff",
        "text": "Hi, I'm Sam. Let me check that for you.",
        "html": "<p>Hi, I'm Sam. Let me <em>check</em> that for you.</p>",
        "intent": None,
        "confidence": None,
        "action": None,
        "suggestions": [],
        "follow_ups": [],
        "handoff": False,
        "helpful": None,
        "created_at": "2026-01-01T12:00:00Z",
    }
    bus.publish(channel, {"type": "message", "message": staff_message})
    bus.publish(channel, {"type": "message", "message": staff_message})
    staff = page.locator('[data-testid="chatbot-message"][data-role="staff"]')
    expect(staff).to_contain_text("Let me check that for you")
    expect(staff.locator("em")).to_have_text("check")
    expect(page.get_by_text("A person is typing…")).to_be_hidden()
    _live_events_handled(page, live_server, channel)
    expect(staff).to_have_count(1)
    _failed_image_loaded(page)
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_embeds_on_another_origin_despite_hostile_css(
    new_page, live_server: LiveServer, other_origin
) -> None:
    page = new_page()
    host_page = f"""<!doctype html><html lang="en"><head><style>
        * {{ all: unset; }}
        div, section, p, button, textarea, form {{
            display: none !important; color: red !important; font: 40px serif !important;
        }}
    </style></head><body><p>An unrelated shop</p>
    <script src="{live_server.url}/widget.js" defer></script></body></html>"""
    page.goto(other_origin(host_page))
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)
    expect(page.locator(BOT).last).to_contain_text(_answer("delivery_time"))
    color = page.locator(BOT).last.evaluate("node => getComputedStyle(node).color")
    assert color != "rgb(255, 0, 0)"
    stored = page.evaluate("JSON.parse(localStorage.getItem('chatbot.conversation'))")
    assert list(stored) == [live_server.url]


def test_keyboard_only(new_page) -> None:
    page = new_page()
    page.goto("/")
    launcher = page.get_by_test_id("chatbot-launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("chatbot-panel")).to_be_visible()
    assert _shadow_active_testid(page) == "chatbot-input"

    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.get_by_test_id("chatbot-input")).to_have_value("first line\nsecond line")
    page.get_by_test_id("chatbot-input").fill("")

    page.keyboard.type(DELIVERY_PARAPHRASE)
    page.keyboard.press("Enter")
    expect(page.locator(BOT).last).to_contain_text(_answer("delivery_time"))
    expect(page.locator(CUSTOMER)).to_have_count(1)
    expect(page.get_by_test_id("chatbot-input")).to_have_value("")

    page.keyboard.press("Escape")
    expect(page.get_by_test_id("chatbot-panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert _shadow_active_testid(page) == "chatbot-launcher"


def test_a_failed_send_shows_an_error_and_keeps_the_text(new_page) -> None:
    page = new_page()

    def refuse(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=503, json={"detail": "down for a moment"})
        else:
            route.fallback()

    page.route("**/api/v1/conversations", refuse)
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)
    expect(page.get_by_role("alert")).to_have_text(GENERIC_ERROR)
    expect(page.get_by_test_id("chatbot-input")).to_have_value(DELIVERY_PARAPHRASE)
    expect(page.locator(CUSTOMER)).to_have_count(0)

    page.unroute("**/api/v1/conversations", refuse)
    page.get_by_test_id("chatbot-send").click()
    expect(page.locator(BOT).last).to_contain_text(_answer("delivery_time"))
    expect(page.get_by_role("alert")).to_be_hidden()


def test_a_rate_limit_says_how_long_to_wait(new_page) -> None:
    page = new_page()

    def limited(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(
                status=429,
                headers={"Retry-After": "1200"},
                json={"detail": "too many requests (conversations): try again in 1200 s"},
            )
        else:
            route.fallback()

    page.route("**/api/v1/conversations", limited)
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)
    expect(page.get_by_role("alert")).to_have_text(
        "You've sent a lot of requests in a short time. Please try again in 20 min."
    )
    expect(page.get_by_test_id("chatbot-input")).to_have_value(DELIVERY_PARAPHRASE)


def test_the_conversation_token_never_travels_in_a_url(new_page, live_server: LiveServer) -> None:
    page = new_page()
    sockets: list[str] = []
    requests: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)
    expect(page.locator(BOT)).to_contain_text(_answer("delivery_time"))
    _subscribed_channel(page, live_server)  # the socket authenticated with its first frame
    token: str = page.evaluate(
        "() => Object.values(JSON.parse(localStorage.getItem('chatbot.conversation')))[0].token"
    )
    assert sockets and all("/ws" in url for url in sockets)
    assert not [url for url in sockets + requests if token in url or "token=" in url]
