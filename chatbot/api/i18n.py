"""Interface language for the consoles and the customer's side: English, or Chinese.

Templates write English text as ``{{ _("Sign in") }}``; ``chatbot/web/i18n/zh/*.json`` map
English to Chinese, one file per area, so pages can be translated independently. The language of
a page comes from the ``chatbot_lang`` cookie (the switch in the consoles' header), else the
browser's Accept-Language. The customer's side (the chat and demo pages, and widget.js, which
carries every language's ``customer.json``) has an area of its own: ``customer``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from fastapi import Request

I18N_DIR = Path(__file__).resolve().parents[1] / "web" / "i18n"
LANGUAGES = ("en", "zh")
LANGUAGE_COOKIE = "chatbot_lang"
Translate = Callable[..., str]


@lru_cache
def catalog(language: str) -> dict[str, str]:
    """English text -> translation, merged from every file of the language."""
    merged: dict[str, str] = {}
    folder = I18N_DIR / language
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


CUSTOMER_AREA = "customer"


def customer_catalogs() -> dict[str, dict[str, str]]:
    """Every language's customer texts (English text -> translation), English excepted: what
    widget.js carries."""
    return {language: _area(language, CUSTOMER_AREA) for language in LANGUAGES if language != "en"}


@lru_cache
def _area(language: str, area: str) -> dict[str, str]:
    path = I18N_DIR / language / f"{area}.json"
    entries: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return entries


def supported_language(tag: str) -> str | None:
    """The language we speak for a BCP 47 tag (``zh-CN`` -> ``zh``), or None.

    Example:
        >>> supported_language("zh-Hans-CN"), supported_language("EN-gb"), supported_language("fr")
        ('zh', 'en', None)
    """
    base = tag.strip().split("-")[0].split("_")[0].lower()
    return base if base in LANGUAGES else None


def html_lang(language: str) -> str:
    """The ``<html lang>`` of a page in ``language``."""
    return "zh-CN" if language == "zh" else language


def request_language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        language = supported_language(part.split(";")[0])
        if language is not None:
            return language
    return "en"


def translator(language: str) -> Translate:
    """``_(text, **values)``: the translation of ``text`` with ``{name}`` fields filled in."""
    table = catalog(language) if language != "en" else {}

    def translate(text: str, **values: object) -> str:
        translated = table.get(text, text)
        return translated.format(**values) if values else translated

    return translate
