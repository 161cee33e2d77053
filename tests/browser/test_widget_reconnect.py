"""The widget across a server restart: the server closes its socket with 1012 (service restart)
as it stops; the widget reconnects once the server is back, fetches what was said meanwhile and
hears live events again, all without a reload and without showing anything twice.

The server here is one of the test's own (the fake encoder, no real model): it is stopped and
started again on the same port and database, as a rolling restart or an upgrade does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from chatbot.config import Settings
from chatbot.conversation import takeover
from chatbot.db import accounts
from chatbot.db import conversations as store
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.events import conversation_channel
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, STAFF_EMAIL, add_account, store_knowledge
from tests.fakes import HashingEncoder
from tests.servers import free_port, serving

pytestmark = pytest.mark.browser

CUSTOMER = '[data-testid="chatbot-message"][data-role="customer"]'
BOT = '[data-testid="chatbot-message"][data-role="bot"]:not([data-greeting])'
STAFF = '[data-testid="chatbot-message"][data-role="staff"]'
QUESTION = "How do I return an item?"
ANSWER = "You can return anything within 30 days"
WHILE_DOWN = "Sam here: I saw your question while we restarted."
AFTER_RESTART = "Your return label is on its way."

# Every socket the page opens records how it closed: the first must be the server's 1012.
RECORD_CLOSES = """
window.__socketCloses = [];
window.__socketOpens = 0;
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("open", () => { window.__socketOpens += 1; });
    this.addEventListener("close", (event) => window.__socketCloses.push(event.code));
  }
};
"""


@pytest.fixture
def errors() -> Iterator[list[str]]:
    found: list[str] = []
    yield found
    assert not found, f"JavaScript errors on the page: {found}"


def _ends(text: str) -> re.Pattern[str]:
    return re.compile(f"{re.escape(text)}$")  # a message starts with who wrote it


def _app(settings: Settings) -> FastAPI:
    return create_app(settings, encoder=HashingEncoder())


def _wait_subscribed(page: Page, app: FastAPI, conversation_id: str) -> None:
    """Return once the widget's socket listens on its conversation on ``app``."""
    channel = conversation_channel(conversation_id)
    for _ in range(400):
        if app.state.bus.subscriber_count(channel):
            return
        page.wait_for_timeout(50)
    raise AssertionError("the widget's socket never subscribed to its conversation")


def _staff_reply_written_elsewhere(database_url: str, conversation_id: str, text: str) -> None:
    """A staff reply made while this server was down (through another replica, say)."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            conversation = store.lock_conversation(session, conversation_id)
            user = accounts.get_user_by_email(session, STAFF_EMAIL)
            assert conversation is not None and user is not None
            takeover.reply(session, conversation, user, text)
    finally:
        engine.dispose()


def test_the_widget_reconnects_and_resumes_after_a_restart(
    browser: Any, db_url: str, tmp_path: Path, errors: list[str]
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    staff_token = add_account(db_url, STAFF_EMAIL)
    settings = Settings(database_url=db_url, data_dir=tmp_path, rate_limits_enabled=False)
    port = free_port()

    first = _app(settings)
    with serving(first, port=port) as url:
        context = browser.new_context(base_url=url)
        context.set_default_timeout(20_000)
        context.add_init_script(RECORD_CLOSES)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/chat")
        page.evaluate("window.__sameDocument = true")
        page.get_by_test_id("chatbot-input").fill(QUESTION)
        page.get_by_test_id("chatbot-send").click()
        expect(page.locator(BOT)).to_contain_text(ANSWER)
        conversation_id: str = page.evaluate(
            "() => Object.values(JSON.parse(localStorage.getItem('chatbot.conversation')))[0].id"
        )
        _wait_subscribed(page, first, conversation_id)
    # Stopped as on SIGTERM: the widget was told to reconnect.
    page.wait_for_function("window.__socketCloses.length > 0")
    assert page.evaluate("window.__socketCloses[0]") == 1012

    _staff_reply_written_elsewhere(db_url, conversation_id, WHILE_DOWN)
    second = _app(settings)
    with serving(second, port=port):
        # Back on its own: what was said meanwhile shows ...
        expect(page.locator(STAFF)).to_have_text([_ends(WHILE_DOWN)], timeout=30_000)
        _wait_subscribed(page, second, conversation_id)
        # ... and a reply sent now arrives over the new socket.
        sent = page.request.post(
            f"/api/v1/staff/conversations/{conversation_id}/reply",
            data={"text": AFTER_RESTART},
            headers={"Authorization": f"Bearer {staff_token}"},
        )
        assert sent.ok, sent.text()
        expect(page.locator(STAFF)).to_have_text([_ends(WHILE_DOWN), _ends(AFTER_RESTART)])
        # Nothing said before the restart shows twice; the page was never reloaded.
        expect(page.locator(CUSTOMER)).to_have_text([_ends(QUESTION)])
        expect(page.locator(BOT)).to_have_count(1)
        assert page.evaluate("window.__sameDocument") is True
        assert page.evaluate("window.__socketOpens") >= 2
        context.close()
