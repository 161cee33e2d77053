"""Interface language for the staff and admin consoles: English, or Chinese.

Templates write English text as ``{{ _("Sign in") }}``; ``chatbot/web/i18n/zh/*.json`` map
English to Chinese, one file per area of the console, so pages can be translated independently. The
language comes from the ``chatbot_lang`` cookie (the switch in the header), else the browser's
Accept-Language.
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


def request_language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(language: str) -> Translate:
    """``_(text, **values)``: the translation of ``text`` with ``{name}`` fields filled in."""
    table = catalog(language) if language != "en" else {}

    def translate(text: str, **values: object) -> str:
        translated = table.get(text, text)
        return translated.format(**values) if values else translated

    return translate
