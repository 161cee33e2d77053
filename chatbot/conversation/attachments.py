"""Attachments in a conversation: an image or PDF arrives as a message of its own.

The bot never reads one (no turn, no model): a customer's attachment is only stored and shown to
whoever holds or watches the conversation; a staff member's claims the conversation first, as a
written reply does. Like the takeover rules, these only read and write through ``chatbot.db``
and leave announcing to the caller, after the commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from chatbot.conversation import takeover
from chatbot.db import conversations as store
from chatbot.db.models import Attachment, Conversation, ConversationStatus, Message, Role, User


def from_customer(session: Session, conversation: Conversation, attachment: Attachment) -> Message:
    """The customer's attachment, as a message; a closed conversation takes none."""
    if conversation.status is ConversationStatus.CLOSED:
        raise takeover.WrongState("the conversation is closed: start a new one")
    return store.add_message(
        session, conversation, Role.CUSTOMER, attachment.name, attachment_id=attachment.id
    )


def from_staff(
    session: Session, conversation: Conversation, user: User, attachment: Attachment
) -> takeover.Change:
    """A staff member's attachment, as their message; it claims a conversation nobody holds."""
    change = takeover.claim(session, conversation, user)
    change.messages.append(
        store.add_message(
            session,
            conversation,
            Role.STAFF,
            attachment.name,
            author_id=user.id,
            attachment_id=attachment.id,
        )
    )
    return change
