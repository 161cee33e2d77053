"""The widget sends a message again while the server is busy, always with the message's client_id,
so a retried message is stored once (see conftest.py for the live server)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from chatbot.events import conversation_channel
from tests.browser.conftest import TINY_KNOWLEDGE_BASE, LiveServer

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

MESSAGES = "**/api/v1/conversations/*/messages"
CUSTOMER = '[data-testid="chatbot-message"][data-role="customer"]'
BOT = '[data-testid="chatbot-message"][data-role="bot"]:not([data-greeting])'
DELIVERY_PARAPHRASE = "how quickly will my package be delivered"
RETURNS_PARAPHRASE = "I bought a lamp and want to send it back"
FAILED = "We couldn't send your message. Please try again."
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Backoff 1, 2, 4, 8, 8 s: never shorter than Retry-After (1 s here), never longer than 8 s.
WAITS_S = (1, 2, 4, 8, 8)
# The first two tries wait 1 s and 2 s, in real time.
AFTER_TWO_RETRIES_MS = 15_000


def _answer(intent: str) -> str:
    """The first sentence of an intent's answer, without Markdown."""
    row = next(row for row in TINY_KNOWLEDGE_BASE if row["intent"] == intent)
    return row["answer"].split(". ")[0].replace("**", "")


def _ask(page: Page, text: str) -> None:
    page.get_by_test_id("chatbot-input").fill(text)
    page.get_by_test_id("chatbot-send").click()


def _busy(route: Route) -> None:
    route.fulfill(status=503, headers={"Retry-After": "1"}, json={"detail": "the server is busy"})


def _is_message_post(request: Any) -> bool:
    return request.method == "POST" and bool(
        re.search(r"/conversations/[^/]+/messages$", request.url)
    )


def _saved_conversation(page: Page) -> dict[str, str]:
    saved: dict[str, str] = page.evaluate(
        "() => Object.values(JSON.parse(localStorage.getItem('chatbot.conversation')))[0]"
    )
    return saved


def _transcript(page: Page) -> list[dict[str, Any]]:
    """The page's conversation as the server stored it, read with the page's own token."""
    saved = _saved_conversation(page)
    response = page.request.get(
        f"/api/v1/conversations/{saved['id']}/messages",
        headers={"Authorization": f"Bearer {saved['token']}"},
    )
    assert response.ok, response.status
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def _roles_and_texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], m["text"] if m["role"] == "customer" else "") for m in messages]


def _live_events_handled(page: Page, live_server: LiveServer) -> None:
    """Return once the widget has handled every live event on its conversation so far.

    The socket delivers events in order and the widget holds them back only while a send is in
    flight: once it is idle, a staff typing event published now shows after all earlier ones.
    """
    channel = conversation_channel(_saved_conversation(page)["id"])
    bus = live_server.app.state.bus
    for _ in range(100):  # the widget opens its socket once the conversation exists
        if bus.subscriber_count(channel):
            break
        page.wait_for_timeout(50)
    assert bus.subscriber_count(channel) == 1
    expect(page.get_by_test_id("chatbot-log")).to_have_attribute("aria-busy", "false")
    bus.publish(channel, {"type": "typing", "role": "staff", "typing": True})
    expect(page.get_by_text("A person is typing…")).to_be_visible()
    bus.publish(channel, {"type": "typing", "role": "staff", "typing": False})
    expect(page.get_by_text("A person is typing…")).to_be_hidden()


def test_a_busy_server_is_tried_again_with_the_same_client_id(
    new_page, live_server: LiveServer
) -> None:
    page = new_page()
    posts: list[Any] = []  # the JSON bodies of the POSTs, in order

    def busy_twice(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        posts.append(route.request.post_data_json)
        if len(posts) <= 2:
            _busy(route)
        else:
            route.continue_()

    page.route(MESSAGES, busy_twice)
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)

    waiting = page.get_by_test_id("chatbot-retry-status")
    expect(waiting).to_have_text("We're busy right now - trying again in 1 s…")
    expect(waiting).to_have_attribute("role", "status")
    expect(waiting).to_have_attribute("aria-live", "polite")
    expect(page.locator(CUSTOMER)).to_have_count(1)
    expect(page.locator(CUSTOMER)).to_have_attribute("data-pending", "true")
    expect(page.get_by_test_id("chatbot-send")).to_be_disabled()
    expect(waiting).to_have_text("We're busy right now - trying again in 2 s…")

    expect(page.locator(BOT)).to_contain_text(
        _answer("delivery_time"), timeout=AFTER_TWO_RETRIES_MS
    )
    expect(waiting).to_be_hidden()
    expect(page.locator(CUSTOMER)).not_to_have_attribute("data-pending", re.compile(".*"))
    expect(page.get_by_test_id("chatbot-send-failed")).to_have_count(0)
    _live_events_handled(page, live_server)
    expect(page.locator(CUSTOMER)).to_have_count(1)
    expect(page.locator(BOT)).to_have_count(1)

    assert len(posts) == 3
    assert [post["text"] for post in posts] == [DELIVERY_PARAPHRASE] * 3
    client_ids = {post["client_id"] for post in posts}
    assert len(client_ids) == 1
    assert CLIENT_ID.fullmatch(client_ids.pop())
    assert _roles_and_texts(_transcript(page)) == [("customer", DELIVERY_PARAPHRASE), ("bot", "")]


def test_an_answer_lost_on_the_way_is_fetched_again_not_stored_twice(
    new_page, live_server: LiveServer
) -> None:
    page = new_page()
    posts: list[Any] = []  # the JSON bodies of the POSTs, in order

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        posts.append(route.request.post_data_json)
        if len(posts) == 1:
            route.fetch()  # the server stores the message and answers it...
            _busy(route)  # ...but the widget never sees the answer
        else:
            route.continue_()

    page.route(MESSAGES, lose_the_first_answer)
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, RETURNS_PARAPHRASE)
    expect(page.locator(BOT)).to_contain_text(_answer("returns"), timeout=AFTER_TWO_RETRIES_MS)
    _live_events_handled(page, live_server)
    expect(page.locator(CUSTOMER)).to_have_count(1)
    expect(page.locator(BOT)).to_have_count(1)
    assert len(posts) == 2 and posts[0]["client_id"] == posts[1]["client_id"]
    assert _roles_and_texts(_transcript(page)) == [("customer", RETURNS_PARAPHRASE), ("bot", "")]

    # A follow-up button sends its intent, and a client_id of its own.
    page.get_by_test_id("chatbot-followup").filter(has_text="When will I get my refund?").click()
    expect(page.locator(BOT).last).to_contain_text(_answer("refund_time"))
    assert len(posts) == 3
    assert posts[2]["intent"] == "refund_time"
    assert CLIENT_ID.fullmatch(posts[2]["client_id"])
    assert posts[2]["client_id"] != posts[0]["client_id"]


def test_after_the_last_retry_the_customer_can_try_again(
    new_page, live_server: LiveServer, screenshots
) -> None:
    page = new_page()
    # A fake clock for the page's timers: the test moves time on instead of waiting 23 s.
    page.clock.install()
    posts: list[Any] = []  # the JSON bodies of the POSTs, in order

    def always_busy(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        posts.append(route.request.post_data_json)
        _busy(route)

    page.route(MESSAGES, always_busy)
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    _ask(page, DELIVERY_PARAPHRASE)

    waiting = page.get_by_test_id("chatbot-retry-status")
    expect(waiting).to_be_visible()
    page.screenshot(path=screenshots / "widget-send-retrying.png")
    for seconds in WAITS_S:
        # Each try sets "Trying again…" as it starts, so two 8 s waits in a row read apart.
        expect(waiting).to_have_text(f"We're busy right now - trying again in {seconds} s…")
        page.clock.fast_forward(seconds * 1000)

    failed = page.get_by_test_id("chatbot-send-failed")
    expect(failed).to_contain_text(FAILED)
    expect(failed.get_by_role("alert")).to_have_text(FAILED)
    expect(waiting).to_be_hidden()
    expect(page.locator(CUSTOMER)).to_have_count(1)
    expect(page.locator(CUSTOMER)).to_have_attribute("data-pending", "failed")
    expect(page.get_by_test_id("chatbot-send")).to_be_enabled()
    assert len(posts) == 1 + len(WAITS_S)
    assert len({post["client_id"] for post in posts}) == 1
    page.screenshot(path=screenshots / "widget-send-failed.png")

    page.unroute(MESSAGES, always_busy)
    with page.expect_request(_is_message_post) as resent:
        page.get_by_role("button", name="Try again").click()
    assert resent.value.post_data_json["client_id"] == posts[0]["client_id"]
    expect(page.locator(BOT)).to_contain_text(_answer("delivery_time"))
    expect(failed).to_have_count(0)
    expect(waiting).to_be_hidden()
    expect(page.locator(CUSTOMER)).not_to_have_attribute("data-pending", re.compile(".*"))
    _live_events_handled(page, live_server)
    expect(page.locator(CUSTOMER)).to_have_count(1)
    expect(page.locator(BOT)).to_have_count(1)
    assert _roles_and_texts(_transcript(page)) == [("customer", DELIVERY_PARAPHRASE), ("bot", "")]
