"""Related questions in the widget, in a real browser against the real app and model: buttons
under an answer, and a click asks that question and is stored as a click on that answer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from chatbot.db.models import Message, Role
from tests.api.conftest import committed
from tests.browser.conftest import TINY_KNOWLEDGE_BASE, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.model]

CUSTOMER = '[data-testid="chatbot-message"][data-role="customer"]'
BOT = '[data-testid="chatbot-message"][data-role="bot"]:not([data-greeting])'


def _answer(intent: str) -> str:
    row = next(row for row in TINY_KNOWLEDGE_BASE if row["intent"] == intent)
    return row["answer"].split(". ")[0].replace("**", "")


def test_the_widget_offers_related_questions_and_a_click_asks_one(
    new_page, live_server: LiveServer, screenshots
) -> None:
    page = new_page()
    page.goto("/")
    page.get_by_test_id("chatbot-launcher").click()
    page.get_by_test_id("chatbot-input").fill("how quickly will my package be delivered")
    page.get_by_test_id("chatbot-send").click()
    answer = page.locator(BOT).last
    expect(answer).to_contain_text(_answer("delivery_time"))
    related = answer.get_by_test_id("chatbot-related")
    expect(related).to_have_count(3)
    expect(answer.get_by_role("group", name="Customers also asked")).to_be_visible()
    intents = [chip.get_attribute("data-intent") for chip in related.all()]
    assert "delivery_time" not in intents and len(set(intents)) == 3
    page.screenshot(path=screenshots / "widget-related.png")

    chip = related.nth(1)
    question, intent = chip.inner_text(), chip.get_attribute("data-intent")
    assert intent is not None
    answer_id = int(answer.get_attribute("data-id") or 0)
    chip.click()
    expect(page.locator(CUSTOMER).last).to_have_text(re.compile(re.escape(question)))
    expect(page.locator(BOT).last).to_contain_text(_answer(intent))
    expect(page.locator(BOT).last.get_by_test_id("chatbot-related").first).to_be_visible()

    with committed(live_server.database_url) as session:
        clicked = session.scalars(select(Message).where(Message.related_from_id == answer_id)).all()
        assert [(m.role, m.text) for m in clicked] == [(Role.CUSTOMER, question)]
        reply = session.scalar(select(Message).where(Message.reply_to_id == clicked[0].id))
        assert reply is not None and reply.intent == intent
