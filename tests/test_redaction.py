"""Card and phone numbers are redacted (and e-mails, IBANs and Chinese IDs when asked); order
numbers, dates, amounts and prices are not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chatbot.config import Settings
from chatbot.redaction import ALL_KINDS, luhn_valid, redact

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


OPT_IN_REDACTED = [
    ("write to ann.example+shop@mail.example.co.uk please", "write to [email] please"),
    ("邮箱：wang.li@example.cn", "邮箱：[email]"),
    ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN [iban] thanks"),
    ("DE89370400440532013000", "[iban]"),
    ("身份证号11010519491231002X", "身份证号[cn_id]"),
    ("id 11010519491231002x.", "id [cn_id]."),
]
OPT_IN_KEPT = [
    "GB82WEST12345698765433",  # wrong check digits
    "order AB12CDEF34567890",
    "身份证 110105194912310021",  # wrong check character
    "user@localhost",
    "email me @ 9",
]


@pytest.mark.parametrize(("text", "expected"), OPT_IN_REDACTED)
def test_emails_ibans_and_chinese_ids_when_asked(text: str, expected: str) -> None:
    assert redact(text, ALL_KINDS) == expected
    assert redact(text) == text  # not by default


@pytest.mark.parametrize("text", OPT_IN_KEPT)
def test_lookalikes_of_the_opt_in_kinds_are_kept(text: str) -> None:
    assert redact(text, ALL_KINDS) == text


def test_the_setting_takes_known_kinds_only() -> None:
    assert Settings(redact=["email", "card"]).redact == ["email", "card"]
    with pytest.raises(ValidationError, match="unknown kind 'ssn'"):
        Settings(redact=["ssn"])
