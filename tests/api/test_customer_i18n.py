"""The customer's side in the customer's language: every text of the widget, the chat page and
the demo page has a translation in ``chatbot/web/i18n/zh/customer.json`` (the one catalogue
widget.js carries), none is translated twice, and the language follows the page, then the
conversation."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jinja2.ext import extract_from_ast

from chatbot.api.i18n import CUSTOMER_AREA, I18N_DIR, customer_catalogs, supported_language
from chatbot.api.views import WEB_DIR, templates
from chatbot.conversation.builtins import BotTexts
from chatbot.db import app_settings
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.api.conftest import Customer, start_conversation

WIDGET = WEB_DIR / "static" / "widget.js"
CUSTOMER_TEMPLATES = ("base.html", "_brand.html", "chat.html", "demo.html")
CUSTOMER_CODE = Path(__file__).resolve().parents[2] / "chatbot" / "api" / "pages.py"
CHINESE = json.loads((I18N_DIR / "zh" / f"{CUSTOMER_AREA}.json").read_text(encoding="utf-8"))
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}

# A JavaScript string literal: "...", '...' or `...` (escapes allowed, no line breaks in quotes).
JS_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`', re.S)
JS_COMMENT = re.compile(r"^\s*//[^\n]*$|\s//[^\n]*$|^\s*/\*.*?\*/", re.M | re.S)
T_CALL = re.compile(r"\bt\(\s*")
# Literals in widget.js that no customer reads: the style sheet, icons, fonts, a developer's
# console message. Anything else that reads like a text (a capitalised word and another, or a
# sentence's end) must go through t().
NOT_SHOWN = re.compile(r"^(\n:host|<svg|system-ui|\"Hiragino|\"Source Han|chatbot widget: )")
TEXT_LIKE = re.compile(r"\b[A-Z][a-z]+ [A-Za-z]|[a-z][.!?…]$")
INTERPOLATION = re.compile(r"\$\{[^}]*\}")
# Where a single word is shown too: an element's text, label, placeholder or title.
SHOWN_AT = re.compile(
    r"""(?:\btext|"aria-label"|\bplaceholder|\btitle)\s*:\s*["'`](?!\$\{)"""
    r"""|(?:textContent|placeholder|title)\s*=\s*["'`][^"'`]"""
)


def widget_source() -> str:
    return JS_COMMENT.sub("", WIDGET.read_text(encoding="utf-8"))


def widget_texts() -> set[str]:
    """The English literal of every ``t(...)`` call in widget.js."""
    source = widget_source()
    found = set()
    for call in T_CALL.finditer(source):
        literal = JS_STRING.match(source, call.end())
        assert literal is not None and literal.group()[0] == '"', (
            f"widget.js: t() at character {call.start()} takes a plain string literal, so that "
            f"this test can see it: {source[call.start() : call.start() + 60]!r}"
        )
        found.add(json.loads(literal.group()))
    return found


def template_texts() -> set[str]:
    """Every literal passed to ``_()`` in the customer's templates and in pages.py."""
    found: set[str] = set()
    for name in CUSTOMER_TEMPLATES:
        tree = templates.env.parse((WEB_DIR / "templates" / name).read_text(encoding="utf-8"))
        for _line, _function, message in extract_from_ast(tree, gettext_functions=("_",)):
            found.update(text for text in (message if isinstance(message, tuple) else (message,)))
    found.update(re.findall(r'\b_\("([^"]+)"\)', CUSTOMER_CODE.read_text(encoding="utf-8")))
    return {text for text in found if isinstance(text, str)}


def test_the_scan_finds_the_widget_texts() -> None:
    assert {"Talk to a person", "Was this helpful?", "{agent} has joined the conversation."} <= (
        widget_texts()
    )
    assert {"Back to the shop", "Customer favourites", "Type your question…"} <= template_texts()


def test_every_customer_text_has_a_chinese_translation() -> None:
    used = widget_texts() | template_texts()
    missing = sorted(text for text in used if not CHINESE.get(text, "").strip())
    assert not missing, (
        "no zh translation (add them to chatbot/web/i18n/zh/customer.json):\n"
        + "\n".join(f"  {json.dumps(text, ensure_ascii=False)}" for text in missing)
    )


def test_the_catalogue_holds_only_texts_in_use() -> None:
    """A text no longer used is a translation nobody checks: remove it with the text."""
    unused = sorted(set(CHINESE) - widget_texts() - template_texts())
    assert not unused, f"customer.json translates texts nothing uses: {unused}"


def test_every_text_the_widget_shows_goes_through_t() -> None:
    source = widget_source()
    translated = {match.end() for match in T_CALL.finditer(source)}
    bare = [
        literal.group()
        for literal in JS_STRING.finditer(source)
        if literal.start() not in translated
        and TEXT_LIKE.search(INTERPOLATION.sub("", literal.group()[1:-1]))
        and not NOT_SHOWN.search(literal.group()[1:])
    ]
    bare += [match.group() for match in SHOWN_AT.finditer(source)]
    assert not bare, f"widget.js shows texts without t(): {bare}"


def test_no_text_is_translated_twice() -> None:
    """t() of a translation would look the Chinese up as English: only literals go in."""
    source = widget_source()
    assert not re.search(r"\bt\(\s*t\(", source)
    assert not re.search(r"\b_\(\s*_\(", " ".join(t.read_text() for t in WEB_DIR.rglob("*.html")))


def test_the_widget_script_carries_the_catalogue(client: TestClient) -> None:
    script = client.get("/widget.js").text
    carried = re.search(r"^  const CATALOGUES = (\{.*\});$", script, re.M)
    assert carried is not None
    assert json.loads(carried.group(1)) == customer_catalogs() == {"zh": CHINESE}


class _VisibleText(HTMLParser):
    """The text a reader meets: text nodes outside scripts and styles, and labels/titles."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "alt") and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data.strip())


@pytest.mark.parametrize("path", ["/", "/chat"])
def test_the_customer_pages_in_chinese_have_no_english_left(client: TestClient, path: str) -> None:
    page = client.get(path, headers=ZH).text
    assert '<html lang="zh-CN">' in page
    reader = _VisibleText()
    reader.feed(page)
    # The company's name is the admin's own (company_name_zh translates it when wanted).
    english = [
        text
        for text in reader.texts
        if re.search(r"[A-Za-z]{3,}", text.replace("Harbor & Pine", "").replace("JavaScript", ""))
    ]
    assert not english, f"{path} in Chinese still says: {english}"


def test_the_customer_pages_follow_the_browser(client: TestClient) -> None:
    assert "返回商店" in client.get("/chat", headers=ZH).text
    english = client.get("/chat", headers={"Accept-Language": "fr-FR,en;q=0.5"}).text
    assert '<html lang="en">' in english and "Back to the shop" in english


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-CN", "zh"),
        ("zh-Hant-TW", "zh"),
        ("ZH", "zh"),
        ("en-GB", "en"),
        ("fr", None),
        ("", None),
    ],
)
def test_supported_language(tag: str, language: str | None) -> None:
    assert supported_language(tag) == language


# ---- the configuration: the admin's texts per language


def store_settings(db_url: str, **changes: str) -> None:
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            defaults = app_settings.RuntimeSettings()
            app_settings.update(session, defaults, changes, "ada@example.com")
    finally:
        engine.dispose()


def test_the_configuration_in_chinese_has_the_built_in_texts(client: TestClient) -> None:
    config = client.get("/api/v1/widget/config", params={"lang": "zh-CN"}).json()
    chinese = BotTexts()
    assert config["language"] == "zh"
    assert {key: config[key] for key in ("title", "company", "placeholder")} == {
        "title": "在线咨询",  # the built-in title, translated
        "company": "Harbor & Pine",  # the admin's name: kept unless given in Chinese
        "placeholder": "输入您的问题…",
    }
    assert (config["greeting"], config["rating"]) == (chinese.greeting("zh"), chinese.rating("zh"))
    assert config["languages"]["zh"] == {key: config[key] for key in config["languages"]["zh"]}
    assert config["languages"]["en"]["title"] == "Chat with us"


def test_the_admins_texts_per_language_reach_the_widget(client: TestClient, db_url: str) -> None:
    store_settings(
        db_url,
        widget_title="Ask Pine",
        widget_title_zh="松木客服",
        company_name_zh="松木家居",
        greeting_zh="欢迎光临！",
        rating_en="Did we help?",
        rating_zh="我们帮到您了吗？",
    )
    config = client.get("/api/v1/widget/config").json()["languages"]
    assert config["en"] == {
        "title": "Ask Pine",
        "company": "Harbor & Pine",
        "greeting": "Hello! How can I help you today?",
        "placeholder": "Type your question…",
        "rating": "Did we help?",
    }
    assert config["zh"] == {
        "title": "松木客服",
        "company": "松木家居",
        "greeting": "欢迎光临！",
        "placeholder": "输入您的问题…",
        "rating": "我们帮到您了吗？",
    }
    chat = client.get("/chat", headers=ZH).text
    assert "<title>松木客服 · 松木家居</title>" in chat


def test_a_title_the_admin_wrote_is_kept_in_every_language(client: TestClient, db_url: str) -> None:
    store_settings(db_url, widget_title="Ask Pine")
    config = client.get("/api/v1/widget/config", params={"lang": "zh"}).json()
    assert config["title"] == "Ask Pine"


def test_the_clarification_text_per_language_from_the_settings(
    client: TestClient, db_url: str
) -> None:
    store_settings(db_url, clarify_en="Which of these did you mean?", clarify_zh="您想问哪一个？")
    customer = start_conversation(client, language="zh")
    # With the hashing encoder this is close to both delivery_time and refund_time.
    reply = say(client, customer, "how long will it take")["reply"]
    assert reply["action"] == "clarify"
    assert reply["text"] == "Which of these did you mean?"  # asked in English: answered so
    assert BotTexts({"clarify": {"zh": "您想问哪一个？"}}).clarify("zh-CN") == "您想问哪一个？"


# ---- the conversation's language, which the widget follows


def say(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    turn: dict[str, Any] = response.json()
    return turn


def history_language(client: TestClient, customer: Customer) -> str | None:
    response = client.get(customer.messages_url, headers=customer.headers)
    language: str | None = response.json()["conversation"]["language"]
    return language


def test_the_reply_carries_the_language_the_widget_started_in(client: TestClient) -> None:
    customer = start_conversation(client, language="zh")
    assert say(client, customer, "hello")["language"] == "zh"  # "hello" says too little
    assert history_language(client, customer) == "zh"


def test_a_clear_message_turns_the_conversation_to_its_language(client: TestClient) -> None:
    customer = start_conversation(client, language="zh")
    turn = say(client, customer, "How long does delivery take?")
    assert turn["language"] == "en"
    assert history_language(client, customer) == "en"
    back = say(client, customer, "我的包裹什么时候到？")
    assert back["language"] == "zh"
    assert say(client, customer, "ok")["language"] == "zh"


def test_a_conversation_without_a_language_takes_the_first_messages(client: TestClient) -> None:
    customer = start_conversation(client)
    assert history_language(client, customer) is None
    assert say(client, customer, "你好")["language"] == "zh"
