"""Offline requests: a customer asked for a person when nobody could come, so they leave a
message and an e-mail address. The conversation waits in the queue marked "reply by e-mail";
what staff write to it is e-mailed (chatbot/mail.py) and shown in the widget on their return.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from chatbot.conversation import builtins
from chatbot.conversation.policies import Action
from chatbot.conversation.takeover import LIVE, WrongState
from chatbot.db import conversations as store
from chatbot.db.models import Conversation, HandoffReason, Message, Role

MAX_EMAIL_CHARS = 254  # RFC 5321's longest path
# One address, no display name or list: a local part without spaces or brackets, and a domain
# with at least one dot. What mail servers accept is wider; what customers mistype is narrower.
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"\\]{1,64}@(?=.{1,253}$)([A-Za-z0-9](-*[A-Za-z0-9])*\.)+"
    r"[A-Za-z]{2,63}$"
)


class InvalidEmail(ValueError):
    """Not an e-mail address: the message says why, naming the field."""


def checked_email(value: str) -> str:
    """``value`` as an e-mail address (trimmed, domain lower-cased), or InvalidEmail.

    Example:
        >>> checked_email(" Ada@Example.ORG ")
        'Ada@example.org'
    """
    email = value.strip()
    if not email:
        raise InvalidEmail("email: enter your e-mail address")
    if len(email) > MAX_EMAIL_CHARS or not _EMAIL.match(email):
        raise InvalidEmail(f"email: '{email[:80]}' is not an e-mail address like ada@example.org")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def leave_message(
    session: Session, conversation: Conversation, email: str, text: str
) -> tuple[Message, Message]:
    """Store the customer's message and address; the conversation joins the queue as a request
    to answer by e-mail. Returns the customer's message and the bot's confirmation."""
    if conversation.status in LIVE:
        raise WrongState("a person has already been asked for in this conversation")
    customer = store.add_message(session, conversation, Role.CUSTOMER, text)
    store.set_offline(session, conversation, email)
    language = (conversation.language or "en").lower()
    confirmation = builtins.localized(builtins.OFFLINE_SENT, language).format(email=email)
    # A handoff message: the queue counts the wait from it, analytics count it as a handoff.
    reply = store.add_message(
        session,
        conversation,
        Role.BOT,
        confirmation,
        reply_to_id=customer.id,
        intent=builtins.HUMAN,
        confidence=1.0,
        action=Action.HANDOFF,
        handoff_reason=HandoffReason.ASKED,
    )
    return customer, reply
