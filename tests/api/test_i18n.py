"""The consoles in Chinese: every English text has a translation, and the language is chosen by
the browser's Accept-Language unless the header's switch (a cookie) says otherwise."""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jinja2.ext import extract_from_ast

from chatbot import accounts
from chatbot.api.i18n import I18N_DIR, catalog
from chatbot.api.views import WEB_DIR, templates
from chatbot.db import app_settings, transcripts
from chatbot.db.models import UserRole

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "chatbot"
CODE_DIRS = (PACKAGE_DIR / "api", PACKAGE_DIR / "console")  # the routes that translate
HTML_LANG = re.compile(r'<html lang="([^"]+)"')


def template_texts() -> dict[str, set[str]]:
    """Every literal passed to ``_()`` in the templates: text -> files using it."""
    found: dict[str, set[str]] = {}
    for path in sorted((WEB_DIR / "templates").rglob("*.html")):
        tree = templates.env.parse(path.read_text(encoding="utf-8"))
        for _line, _function, message in extract_from_ast(tree, gettext_functions=("_",)):
            texts = message if isinstance(message, tuple) else (message,)
            for text in texts:
                if isinstance(text, str):
                    found.setdefault(text, set()).add(str(path.relative_to(WEB_DIR)))
    return found


def code_texts() -> dict[str, set[str]]:
    """Every literal passed to ``_()`` in chatbot/api and chatbot/console (implicitly joined
    literals included)."""
    found: dict[str, set[str]] = {}
    for path in sorted(p for folder in CODE_DIRS for p in folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.setdefault(node.args[0].value, set()).add(
                    str(path.relative_to(PACKAGE_DIR.parent))
                )
    return found


def other_texts() -> dict[str, set[str]]:
    """Texts translated at run time rather than written as literals."""
    found = {role.value: {"UserRole"} for role in UserRole}
    found.update({problem: {"app_settings.PROBLEMS"} for problem in app_settings.PROBLEMS})
    found.update({mood: {"transcripts.MOODS"} for mood in transcripts.MOODS})
    found.update({rule: {"accounts.RULES"} for rule in accounts.RULES})
    return found


def test_the_scan_finds_the_console_chrome() -> None:
    texts = template_texts() | code_texts()
    assert {"Sign in", "Audit log", "Wrong email or password.", "Role of {email}"} <= set(texts)


def test_every_console_text_has_a_chinese_translation() -> None:
    chinese = catalog("zh")
    used = other_texts()
    for source in (template_texts(), code_texts()):
        for text, where in source.items():
            used.setdefault(text, set()).update(where)
    missing = {text: sorted(where) for text, where in used.items() if not chinese.get(text)}
    assert not missing, (
        "no zh translation (add them to chatbot/web/i18n/zh/<area>.json):\n"
        + "\n".join(
            f"  {json.dumps(text, ensure_ascii=False)}  <- {', '.join(where)}"
            for text, where in sorted(missing.items())
        )
    )


@pytest.mark.parametrize("path", sorted((I18N_DIR / "zh").glob("*.json")), ids=lambda p: p.name)
def test_each_catalog_is_valid_and_keeps_the_placeholders(path: Path) -> None:
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(entries, dict)
    fields = string.Formatter()
    for english, chinese in entries.items():
        assert isinstance(chinese, str) and chinese.strip(), english
        names = {name for _, name, _, _ in fields.parse(english) if name}
        assert {name for _, name, _, _ in fields.parse(chinese) if name} == names, english


def test_no_text_is_translated_two_ways() -> None:
    """The catalogs merge into one table: a text translated differently in two files would get
    whichever file sorts last. Give such texts distinct English (e.g. "Old value", not "Before")."""
    first: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((I18N_DIR / "zh").glob("*.json")):
        for english, chinese in json.loads(path.read_text(encoding="utf-8")).items():
            seen = first.setdefault(english, (path.name, chinese))
            if seen[1] != chinese:
                clashes.append(f"  {english!r}: {seen[0]} {seen[1]!r} vs {path.name} {chinese!r}")
    assert not clashes, "translated two ways:\n" + "\n".join(clashes)


def test_a_chinese_browser_gets_the_chinese_page(client: TestClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text
    assert HTML_LANG.search(page).group(1) == "zh-CN"  # type: ignore[union-attr]
    assert "<h1>登录</h1>" in page and "邮箱" in page


def test_other_browsers_get_english(client: TestClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "fr-FR,en;q=0.5"}).text
    assert HTML_LANG.search(page).group(1) == "en"  # type: ignore[union-attr]
    assert "<h1>Sign in</h1>" in page


def test_the_switch_overrides_the_browser(client: TestClient) -> None:
    switched = client.get("/language/zh?next=/login", headers={"Accept-Language": "en-GB"})
    assert switched.url.path == "/login"
    assert "<h1>登录</h1>" in switched.text
    back = client.get("/language/en?next=/login", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Sign in</h1>" in back.text
    ignored = client.get("/language/xx?next=/login", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Sign in</h1>" in ignored.text  # an unknown language leaves the choice as it was


def test_the_signed_in_console_is_translated(client: TestClient, admin: object) -> None:
    client.get("/language/zh?next=/account")
    page = client.get("/admin/users").text
    assert HTML_LANG.search(page).group(1) == "zh-CN"  # type: ignore[union-attr]
    chinese = catalog("zh")
    for english in (
        "Transcripts",
        "Knowledge base",
        "Audit log",
        "Sign out",
        "Add a user",
        "admin",
    ):
        assert f">{chinese[english]}<" in page, english
    messages = client.post(
        "/login",
        data={"email": "x@example.com", "password": "wrong", "csrf_token": "forged"},
    )
    assert "表单已过期，请重新登录。" in messages.text  # auth.py's messages too
