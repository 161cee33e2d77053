"""Card and phone numbers are redacted (and e-mails, IBANs and Chinese IDs when asked); order
numbers, dates, amounts and prices are not."""

from __future__ import annotations

import re

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
    ("Diners 3622 720627 1667", "Diners [card]"),  # 4-6-4
    ("amex 3782 822463 10005", "amex [card]"),  # 4-6-5
    ("JCB 3530-1113-3330-0000", "JCB [card]"),
    ("card no. 4000 0566 5566 5556 exp 03/26", "card no. [card] exp 03/26"),
    ("(4111111111111111)", "([card])"),
    ("UnionPay 6200 0000 0000 0005 124", "UnionPay [card]"),  # 19 digits, 4-4-4-4-3
    ("银联卡 6222 0210 0000 0005", "银联卡 [card]"),
    ("卡号6011-0009-9990-0016。", "卡号[card]。"),
    ("+1-555-123-4567", "[phone]"),
    ("mobile +44 7911 123456", "mobile [phone]"),
    ("Tokyo office +81 3-1234-5678", "Tokyo office [phone]"),
    ("+61 2 9876 5432 (Sydney)", "[phone] (Sydney)"),
    ("call 212.555.0187 tomorrow", "call [phone] tomorrow"),
    ("电话：+86 13812345678", "电话：[phone]"),
    ("+8613912345678", "[phone]"),
    ("0086 138 1234 5678", "[phone]"),  # passes the Luhn check, still a phone
    ("15012345678。", "[phone]。"),
    ("手机号码是 186-1234-5678，谢谢", "手机号码是 [phone]，谢谢"),
    ("我的电话是021-6888-1234", "我的电话是[phone]"),
    ("香港 +852 9123 4567", "香港 [phone]"),
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
    "4111 1111 1111 1112",  # grouped, not Luhn-valid
    "UnionPay 6200 0000 0000 0005 123",  # 19 digits, not Luhn-valid; no part is a phone
    "invoice 20240501-0042",
    "on 2024/05/01 at 14:30",
    "open 10:30-12:00 and 14:00-18:00",
    "total €1.299,00",
    "python 3.11.4, app v2.10.3",
    "IP 192.168.100.200",
    "ISBN 978-3-16-148410-0",
    "SKU-1234-5678-9012",
    "tracking 9400111899223334445566",
    "PIN 1234",
    "2024年5月1日下午3点",
    "¥12,999.00",
    "价格：299元，运费10元",
    "订单号：SO20240501000123",
    "快递单号 SF1234567890123",
    "我买了3件衣服，花了258元",
    "第2排第15号座位",
    "身份证号码：510107197806152348。",  # an ID (passes the Luhn check too): only cn_id takes it
    "账户 CH93 0076 2011 6238 5295 7",  # an IBAN: only iban takes it, no part is a phone
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
    ("mail j.doe@example.com or call", "mail [email] or call"),
    ("<ann@example.org>", "<[email]>"),
    ("email: WANG_Li-88@mail.example.com.cn.", "email: [email]."),
    ("我的邮箱是li.na@163.com谢谢", "我的邮箱是[email]谢谢"),
    ("IBAN: FR14 2004 1010 0505 0001 3M02 606", "IBAN: [iban]"),
    ("NL91ABNA0417164300", "[iban]"),
    ("es9121000418450200051332", "[iban]"),  # typed in lower case
    ("账户 CH93 0076 2011 6238 5295 7", "账户 [iban]"),
    ("BE68539007547034.", "[iban]."),
    ("身份证440304199001011233", "身份证[cn_id]"),
    ("ID 310101198512315673 thanks", "ID [cn_id] thanks"),
    ("身份证号码：510107197806152348。", "身份证号码：[cn_id]。"),
]
OPT_IN_KEPT = [
    "GB82WEST12345698765433",  # wrong check digits
    "order AB12CDEF34567890",
    "身份证 110105194912310021",  # wrong check character
    "user@localhost",
    "email me @ 9",
    "FR14 2004 1010 0505 0001 3M02 607",  # wrong check digits
    "身份证 440304199001011234",  # wrong check character
    "证件号 110105194902301234",  # right check character, but 30 February
    "张三@例子.中国",  # non-Latin addresses are not recognised
]


@pytest.mark.parametrize(("text", "expected"), OPT_IN_REDACTED)
def test_emails_ibans_and_chinese_ids_when_asked(text: str, expected: str) -> None:
    assert redact(text, ALL_KINDS) == expected
    assert redact(text) == text  # not by default


@pytest.mark.parametrize("text", OPT_IN_KEPT)
def test_lookalikes_of_the_opt_in_kinds_are_kept(text: str) -> None:
    assert redact(text, ALL_KINDS) == text


def test_the_table_is_large_enough() -> None:
    positive, negative = REDACTED + OPT_IN_REDACTED, KEPT + OPT_IN_KEPT
    assert len(positive) >= 40 and len(negative) >= 40
    chinese = re.compile(r"[\u4e00-\u9fff]")
    assert sum(bool(chinese.search(text)) for text, _ in positive) >= 10
    assert sum(bool(chinese.search(text)) for text in negative) >= 10


def test_the_setting_takes_known_kinds_only() -> None:
    assert Settings(redact=["email", "card"]).redact == ["email", "card"]
    with pytest.raises(ValidationError, match="unknown kind 'ssn'"):
        Settings(redact=["ssn"])
