"""One intent, two languages: a Chinese question in a Chinese browser gets the intent's Chinese
answer, an English question in an English browser its English one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.model]

BOT = '[data-testid="chatbot-message"][data-role="bot"]:not([data-greeting])'
ENGLISH_ANSWER = "Yes: add **gift wrapping** at checkout for 4.95."
CHINESE_ANSWER = "可以：结账时选择**礼品包装**，每单 4.95。"


@pytest.fixture
def bilingual_intent(live_server: LiveServer) -> Iterator[None]:
    """A gift-wrapping intent in English and Chinese, in the live server's knowledge base for
    this test only (the server follows the knowledge base's revision on the next message)."""
    from chatbot.db.knowledge import delete_intent, import_intents
    from chatbot.db.session import make_engine, make_session_factory, transaction
    from chatbot.knowledge.spec import IntentSpec

    intent = IntentSpec(
        "gift_wrap",
        ENGLISH_ANSWER,
        (
            "Do you offer gift wrapping?",
            "Can you gift wrap my order?",
            "可以包装成礼物吗",
            "有礼品包装吗",
            "送人的东西能帮忙包一下吗",
        ),
        answers=(("zh", CHINESE_ANSWER),),
        phrasing_languages=(
            ("可以包装成礼物吗", "zh"),
            ("有礼品包装吗", "zh"),
            ("送人的东西能帮忙包一下吗", "zh"),
        ),
    )
    engine = make_engine(live_server.database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            import_intents(session, [intent], replace=False)
        yield
    finally:
        with transaction(factory) as session:
            delete_intent(session, intent.key)
        engine.dispose()


def _ask(page: Page, text: str) -> None:
    page.get_by_test_id("chatbot-input").fill(text)
    page.get_by_test_id("chatbot-send").click()


@pytest.mark.usefixtures("bilingual_intent")
def test_each_customer_gets_the_answer_in_their_language(new_page, screenshots) -> None:
    page = new_page(locale="zh-CN")
    page.goto("/chat")
    _ask(page, "你们可以提供礼品包装吗")
    reply = page.locator(BOT).last
    expect(reply).to_contain_text("可以：结账时选择礼品包装，每单 4.95。")
    expect(reply).not_to_contain_text("gift wrapping")
    page.screenshot(path=screenshots / "bilingual-answer-zh.png")

    page = new_page(locale="en-GB")
    page.goto("/chat")
    _ask(page, "do you offer gift wrapping for my order")
    reply = page.locator(BOT).last
    expect(reply).to_contain_text("Yes: add gift wrapping at checkout for 4.95.")
    expect(reply).not_to_contain_text("礼品包装")
    page.screenshot(path=screenshots / "bilingual-answer-en.png")
