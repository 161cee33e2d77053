"""The widget in the customer's language: a Chinese browser gets it in Chinese, a page's own
language wins over the browser's, and after a clear message the widget follows the conversation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.model]

BOT = '[data-testid="chatbot-message"][data-role="bot"]:not([data-greeting])'
DELIVERY_QUESTION = (
    "how quickly will my package be delivered"  # clear English: three words and more
)
CHINESE_GREETING = "您好！请问有什么可以帮您？"


def _ask(page: Page, text: str) -> None:
    page.get_by_test_id("chatbot-input").fill(text)
    page.get_by_test_id("chatbot-send").click()


def _expect_chinese_widget(page: Page) -> None:
    expect(page.locator(".cb-title")).to_have_text("在线咨询")
    expect(page.get_by_test_id("chatbot-input")).to_have_attribute("placeholder", "输入您的问题…")
    expect(page.get_by_test_id("chatbot-input")).to_have_accessible_name("输入您的消息")
    expect(page.get_by_test_id("chatbot-send")).to_have_accessible_name("发送消息")
    expect(page.get_by_test_id("chatbot-handoff")).to_have_text("转人工客服")
    expect(page.locator("[data-greeting]")).to_have_text(CHINESE_GREETING)
    expect(page.get_by_test_id("chatbot-log")).to_have_attribute("aria-label", "对话记录")


def _expect_english_widget(page: Page) -> None:
    expect(page.locator(".cb-title")).to_have_text("Chat with us")
    expect(page.get_by_test_id("chatbot-input")).to_have_attribute(
        "placeholder", "Type your question…"
    )
    expect(page.get_by_test_id("chatbot-handoff")).to_have_text("Talk to a person")
    expect(page.locator("[data-greeting]")).to_have_text("Hello! How can I help you today?")


def test_a_chinese_browser_gets_a_chinese_widget_that_follows_the_conversation(
    new_page, screenshots
) -> None:
    page = new_page(locale="zh-CN")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")  # the page, translated
    expect(page.get_by_role("heading", level=1)).to_have_text("经久耐用的家居好物，送货上门。")
    launcher = page.get_by_test_id("chatbot-launcher")
    expect(launcher).to_have_accessible_name("打开对话窗口：在线咨询")
    launcher.click()
    expect(launcher).to_have_accessible_name("关闭对话窗口：在线咨询")
    _expect_chinese_widget(page)
    # A font that has the characters: Chinese text is drawn, not boxes (fonts-wqy-microhei).
    family = page.locator(".cb-title").evaluate("node => getComputedStyle(node).fontFamily")
    assert "Noto Sans CJK SC" in family and "WenQuanYi Micro Hei" in family

    _ask(page, "你好")
    reply = page.locator(BOT).last
    expect(reply).to_contain_text(CHINESE_GREETING)
    # Times as Chinese readers write them ("2026年1月1日 12:00").
    expect(reply.locator(".cb-bubble")).to_have_attribute(
        "title", re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")
    )
    page.screenshot(path=screenshots / "widget-zh-desktop.png")

    # An English question turns the conversation to English: the widget follows it, and keeps
    # following it after a reload, whatever the browser says.
    _ask(page, DELIVERY_QUESTION)
    expect(page.locator(BOT).last).to_contain_text("Standard delivery takes 3-5 working days")
    _expect_english_widget(page)
    expect(page.locator(BOT).last.locator(".cb-feedback-label")).to_have_text("Was this helpful?")
    page.reload()
    page.get_by_test_id("chatbot-launcher").click()
    _expect_english_widget(page)
    _ask(page, "我的包裹什么时候到？")
    _expect_chinese_widget(page)


def test_the_chat_page_in_chinese_on_a_phone(new_page, screenshots) -> None:
    page = new_page(390, 844, is_mobile=True, has_touch=True, locale="zh-CN")
    page.goto("/chat")
    expect(page.get_by_role("link", name="返回商店")).to_be_visible()
    _expect_chinese_widget(page)
    _ask(page, "我想找人工客服")
    expect(page.locator(BOT).last).to_contain_text("正在为您转接人工客服")
    expect(page.get_by_test_id("chatbot-status")).to_have_text("正在等待客服人员…")
    page.screenshot(path=screenshots / "chat-zh-phone.png")


def test_the_page_language_wins_then_data_lang_then_the_browser(
    new_page, live_server: LiveServer, other_origin
) -> None:
    def host(html_lang: str, data_lang: str = "") -> str:
        lang = f' lang="{html_lang}"' if html_lang else ""
        data = f' data-lang="{data_lang}"' if data_lang else ""
        return (
            f"<!doctype html><html{lang}><head><title>Shop</title></head><body><p>A shop</p>"
            f'<script src="{live_server.url}/widget.js"{data} defer></script></body></html>'
        )

    cases = [
        ("en", "", "zh-CN", "en"),  # an English page in a Chinese browser follows the page
        ("zh-Hans", "en", "en-GB", "zh"),  # the page's language comes before data-lang
        ("", "zh", "en-GB", "zh"),  # a page without one: the script's data-lang
        ("fr", "", "zh-CN", "zh"),  # a language the widget does not speak: the browser's
        ("fr", "", "fr-FR", "en"),  # nothing it speaks: English
    ]
    for html_lang, data_lang, browser_locale, expected in cases:
        page = new_page(locale=browser_locale)
        page.goto(other_origin(host(html_lang, data_lang)))
        page.get_by_test_id("chatbot-launcher").click()
        if expected == "zh":
            _expect_chinese_widget(page)
        else:
            _expect_english_widget(page)
        language = page.evaluate(
            "document.querySelector('[data-chatbot-widget]').shadowRoot.querySelector('.cb').lang"
        )
        assert language == ("zh-CN" if expected == "zh" else "en"), (html_lang, data_lang)
