"""Cheap language guess: enough to route a message to the intents written in its script."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"\w")


def detect_language(text: str) -> str:
    """``zh`` when a fair share of the letters are Chinese characters, else ``en``.

    Example:
        >>> detect_language("我的订单在哪里?"), detect_language("where is my order?")
        ('zh', 'en')
    """
    letters = len(_LETTER.findall(text))
    cjk = len(_CJK.findall(text))
    return "zh" if letters and cjk / letters >= 0.2 else "en"


def same_script(language: str, other: str) -> bool:
    """Whether two language tags are written alike for routing purposes (Chinese or not)."""
    return language.split("-")[0].startswith("zh") == other.split("-")[0].startswith("zh")
