"""Redacting personal data from customers' messages before they are stored, shown or trained on.

Pure functions, no web and no database. What is redacted (``CHATBOT_REDACT``):

- ``card``: 13-19 digits, alone or grouped by single spaces or dashes, that pass the Luhn check
  (so an order number of the same length usually stays).
- ``phone``: a number written with a leading ``+`` (international, 7-15 digits), a Chinese mobile
  number (11 digits starting 13-19, optionally +86), or a national number written with the usual
  separators (``(555) 123-4567``, ``555-123-4567``, ``020 7946 0958``).

Not redacted: digit runs without separators other than Chinese mobiles (order and tracking
numbers look the same as landlines), numbers glued to Latin letters (``ref4111111111111111``),
dates and amounts.
"""

from __future__ import annotations

import re
from collections.abc import Collection

KINDS = ("card", "phone")

# Boundaries are ASCII letters and digits only: Chinese characters count as word characters for
# \w, and 我的手机是13812345678 has no space before the number.
_BEFORE, _AFTER = r"(?<![A-Za-z0-9_+])", r"(?![A-Za-z0-9_])"
_CARD = re.compile(_BEFORE + r"\d(?:[ -]?\d){12,18}" + _AFTER)
_PHONE = re.compile(
    _BEFORE + r"(?:"
    r"\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d){4,11}"  # +44 20 7946 0958, +1 (555) 123-4567
    r"|(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"  # 13812345678, 138 1234 5678, +86 138...
    r"|\(\d{3}\)[ ]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r"|0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}"  # 020 7946 0958, 010-8888-8888
    r")" + _AFTER
)


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
    if "card" in kinds:

        def card(match: re.Match[str]) -> str:
            digits = re.sub(r"\D", "", match.group())
            return "[card]" if luhn_valid(digits) else match.group()

        text = _CARD.sub(card, text)
    if "phone" in kinds:
        text = _PHONE.sub("[phone]", text)
    return text
