"""Cheap language guess: enough to route a message to the intents written in its script."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"\w")
_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str) -> str:
    """``zh`` when a fair share of the letters are Chinese characters, else ``en``.

    Example:
        >>> detect_language("我的订单在哪里?"), detect_language("where is my order?")
        ('zh', 'en')
    """
    letters = len(_LETTER.findall(text))
    cjk = len(_CJK.findall(text))
    return "zh" if letters and cjk / letters >= 0.2 else "en"


def clear_language(text: str, detected: str | None = None) -> str | None:
    """The language of ``text`` when it says clearly, else None: Chinese as
    :func:`detect_language` finds it, English from three Latin words with no Chinese character.
    A conversation follows its customer's clear messages; "ok" or "hi" say too little.
    ``detected``: what :func:`detect_language` found for ``text``, when the caller has it.

    Example:
        >>> clear_language("我的包裹还没到"), clear_language("where is my parcel?")
        ('zh', 'en')
        >>> clear_language("hello") is None, clear_language("ok thanks") is None
        (True, True)
    """
    if (detected or detect_language(text)) == "zh":
        return "zh"
    if not has_chinese(text) and len(_WORD.findall(text)) >= 3:
        return "en"
    return None


def has_chinese(text: str) -> bool:
    """Whether any Chinese character appears in the text.

    Example:
        >>> has_chinese("退货 refund"), has_chinese("refund")
        (True, False)
    """
    return _CJK.search(text) is not None


def same_script(language: str, other: str) -> bool:
    """Whether two language tags are written alike for routing purposes (Chinese or not).

    Tags are case-insensitive, as BCP 47 has them; a script or region changes nothing.

    Example:
        >>> same_script("ZH-TW", "zh-Hans"), same_script("zh", "en-GB")
        (True, False)
    """
    return _is_chinese(language) == _is_chinese(other)


def _is_chinese(language: str) -> bool:
    return language.split("-")[0].lower().startswith("zh")
