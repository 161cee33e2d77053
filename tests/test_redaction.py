"""Card and phone numbers are redacted; order numbers, dates, amounts and prices are not."""

from __future__ import annotations

import pytest

from chatbot.redaction import luhn_valid, redact

REDACTED = [
    ("my card is 4111 1111 1111 1111", "my card is [card]"),
    ("4111111111111111", "[card]"),
    ("card: 5500-0000-0000-0004 exp 12/27", "card: [card] exp 12/27"),
    ("amex 378282246310005 please", "amex [card] please"),
    ("visa 4012888888881881.", "visa [card]."),
    ("我的卡号是6011111111111117", "我的卡号是[card]"),
    ("卡号：4111 1111 1111 1111，谢谢", "卡号：[card]，谢谢"),
    ("call me on +44 20 7946 0958", "call me on [phone]"),
    ("+1 (555) 123-4567 after 5", "[phone] after 5"),
    ("(555) 123-4567", "[phone]"),
    ("555-123-4567", "[phone]"),
    ("555.123.4567", "[phone]"),
    ("020 7946 0958", "[phone]"),
    ("+49 30 901820", "[phone]"),
    ("+33612345678", "[phone]"),
    ("我的手机是13812345678", "我的手机是[phone]"),
    ("手机 138 1234 5678", "手机 [phone]"),
    ("+86 139-0000-1111 联系我", "[phone] 联系我"),
    ("请打010-8888-8888", "请打[phone]"),
    ("card 4111111111111111 and phone 13900001111", "card [card] and phone [phone]"),
]

KEPT = [
    "order 4111111111111112 arrives Monday",  # 16 digits, not Luhn-valid
    "order number 1234567890",
    "tracking 1Z999AA10123456784",
    "ref4111111111111111",
    "delivered on 2024-05-01",
    "it cost $1,299.00",
    "the price is 12 345 yuan",
    "room 101, floor 3",
    "my postcode is 10115",
    "订单号 20240501123456",
    "订单 12345678",
    "价格是 1299 元",
    "I ordered 3 chairs and 2 tables",
    "version 1.2.3.4",
    "call us at extension 4567",
    "12/27",
    "99.95%",
    "1234 5678",
    "the year 1999",
    "12345678901",  # 11 digits, not a Chinese mobile (starts 12)
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_card_and_phone_numbers_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_other_numbers_are_kept(text: str) -> None:
    assert redact(text) == text


def test_kinds_can_be_chosen() -> None:
    text = "4111 1111 1111 1111 / 13812345678"
    assert redact(text, {"card"}) == "[card] / 13812345678"
    assert redact(text, {"phone"}) == "4111 1111 1111 1111 / [phone]"
    assert redact(text, ()) == text


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("79927398713", True), ("79927398710", False), ("0", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid
