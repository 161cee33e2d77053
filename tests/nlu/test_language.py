"""Language detection and script routing: the thresholds, mixed text, tags of any case."""

from __future__ import annotations

import pytest

from chatbot.nlu.language import detect_language, same_script


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的订单在哪里？", "zh"),
        ("where is my order?", "en"),
        ("où est ma commande ?", "en"),  # any non-Chinese script routes as "en"
        ("", "en"),  # nothing to go by
        ("？！…", "en"),  # punctuation only: no letters
        ("12345", "en"),
        # The threshold: Chinese characters are at least a fifth of the letters and digits.
        ("abcd退", "zh"),  # 1 of 5
        ("abcde退", "en"),  # 1 of 6
        ("ab 退货", "zh"),
        ("order 12345678 退", "en"),  # 1 of 14: an order number in English with one character
        # Mixed messages go by the share, not by which script comes first.
        ("iPhone 15 怎么退货", "zh"),
        ("退货 please, I bought the wrong size", "en"),
        ("请问 DHL 快递几天到", "zh"),
        # Rarer ranges count too: CJK extension A and compatibility ideographs.
        ("\u3400\u3401", "zh"),
        ("\uf900\uf901", "zh"),
        # Japanese kana and Korean are not Chinese characters.
        ("ありがとう", "en"),
        ("감사합니다", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("zh", "zh", True),
        ("zh", "zh-Hant", True),
        ("zh-Hans", "zh-Hant", True),  # one script for routing: both are Chinese
        ("zh-CN", "zh-TW", True),
        ("ZH-TW", "zh", True),  # tags are case-insensitive (BCP 47)
        ("Zh-Hant-HK", "zh-hans", True),
        ("en", "en-GB", True),
        ("EN", "fr", True),  # neither is Chinese: routed alike
        ("zh", "en", False),
        ("ZH-TW", "EN", False),
        ("en-US", "zh-Hant", False),
    ],
)
def test_same_script(one: str, other: str, same: bool) -> None:
    assert same_script(one, other) is same
    assert same_script(other, one) is same
