"""Redacting personal data from customers' messages before they are stored, shown or trained on.

Pure functions, no web and no database. What is redacted (``CHATBOT_REDACT``; ``card`` and
``phone`` by default, the others when named):

- ``card``: 13-19 digits, alone or grouped by single spaces or dashes, that pass the Luhn check
  (so an order number of the same length usually stays).
- ``phone``: a number written with a leading ``+`` (international, 7-15 digits), a Chinese mobile
  number (11 digits starting 13-19, optionally +86), or a national number written with the usual
  separators (``(555) 123-4567``, ``555-123-4567``, ``020 7946 0958``).
- ``email``: an e-mail address.
- ``iban``: an IBAN (country, check digits, up to 30 letters and digits, grouped or not, in
  either case) whose check digits are right (ISO 13616, mod 97).
- ``cn_id``: a Chinese resident identity number (18 characters) whose birth date is a real date
  and whose check character is right.

Not redacted: digit runs without separators other than Chinese mobiles (order and tracking
numbers look the same as landlines), numbers glued to Latin letters (``ref4111111111111111``),
dates, amounts, version strings, e-mail addresses with non-Latin characters (``张三@例子.中国``),
and a run of digit groups that is neither a card nor a phone number as a whole (no part of
``6200 0000 0000 0005 123`` is taken for a phone number). A resident identity number is only
ever tagged ``[cn_id]``: when ``cn_id`` is not named it stays, even if it happens to pass the
Luhn check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import date

KINDS = ("card", "phone")  # the default
ALL_KINDS = ("email", "iban", "cn_id", "card", "phone")  # in the order they are looked for

# Boundaries are ASCII letters and digits only: Chinese characters count as word characters for
# \w, and 我的手机是13812345678 has no space before the number.
_BEFORE, _AFTER = r"(?<![A-Za-z0-9_+])", r"(?![A-Za-z0-9_])"
_CARD = re.compile(_BEFORE + r"\d(?:[ -]?\d){12,18}" + _AFTER)
# Not the tail of a longer run of digit groups (a card or account number that is not one).
_PHONE = re.compile(
    _BEFORE + r"(?<!\d[ -])(?:"
    r"\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d){4,11}"  # +44 20 7946 0958, +1 (555) 123-4567
    r"|(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"  # 13812345678, 138 1234 5678, 0086 138...
    r"|\(\d{3}\)[ ]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r"|0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}"  # 020 7946 0958, 010-8888-8888
    r")" + _AFTER
)


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_IBAN = re.compile(
    _BEFORE + r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?" + _AFTER
)
_CN_ID = re.compile(_BEFORE + r"\d{17}[\dXx]" + _AFTER)
_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def iban_valid(iban: str) -> bool:
    """Whether an IBAN's check digits are right (mod 97).

    >>> iban_valid("GB82WEST12345698765432"), iban_valid("GB82WEST12345698765433")
    (True, False)
    """
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in moved)) % 97 == 1


def cn_id_valid(number: str) -> bool:
    """Whether a Chinese resident identity number's last character is its check character.

    >>> cn_id_valid("11010519491231002X"), cn_id_valid("110105194912310021")
    (True, False)
    """
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1880 <= born.year <= 2100:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number, _CN_ID_WEIGHTS, strict=False))
    return "10X98765432"[total % 11] == number[-1].upper()


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check that payment card numbers carry.

    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def redact(text: str, kinds: Collection[str] = KINDS) -> str:
    """``text`` with every card and phone number (of the kinds asked for) replaced by its kind.

    >>> redact("card 4111 1111 1111 1111, call +44 20 7946 0958")
    'card [card], call [phone]'
    >>> redact("order 4111111111111112 arrives Monday")
    'order 4111111111111112 arrives Monday'
    """
    if "email" in kinds:
        text = _EMAIL.sub("[email]", text)
    if "iban" in kinds:
        text = _checked(_IBAN, iban_valid, "[iban]", text)
    if "cn_id" in kinds:
        text = _checked(_CN_ID, cn_id_valid, "[cn_id]", text)
    if "card" in kinds:

        def card(match: re.Match[str]) -> str:
            number = match.group()
            digits = re.sub(r"\D", "", number)
            # A resident ID or a +86 mobile that passes the Luhn check by chance is not a card.
            if (_CN_ID.fullmatch(number) and cn_id_valid(number)) or _PHONE.fullmatch(number):
                return number
            return "[card]" if luhn_valid(digits) else number

        text = _CARD.sub(card, text)
    if "phone" in kinds:
        text = _PHONE.sub("[phone]", text)
    return text


def _checked(pattern: re.Pattern[str], valid: Callable[[str], bool], tag: str, text: str) -> str:
    return pattern.sub(
        lambda match: tag if valid(match.group().replace(" ", "")) else match.group(), text
    )
