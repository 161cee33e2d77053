"""Request and response bodies of the customer API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chatbot.api.markdown import render_markdown
from chatbot.attachments import is_image
from chatbot.db.base import as_utc
from chatbot.db.models import Attachment, Message, PresenceStatus, Role


def answer_example(value: Any, code: int = 200) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` showing ``value`` as an example answer with status ``code``."""
    return {code: {"content": {"application/json": {"example": value}}}}


class Button(BaseModel):
    intent: str
    question: str


class ConversationCreated(BaseModel):
    id: str
    token: str = Field(description="Bearer token authorising this customer for this conversation.")


class ConversationCreate(BaseModel):
    language: str | None = Field(None, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")


class MessageCreate(BaseModel):
    text: str = Field(min_length=1, description="What the customer wrote.")
    intent: str | None = Field(
        None, max_length=200, description="Set when the customer clicked a suggestion button."
    )
    related_to: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="The id of the bot's answer under which the customer clicked this related "
        "question (with its `intent`): counted as a click on the dashboard.",
    )
    client_id: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="An id the client picks for this message: sending it again with the same id "
        "(a retry after a timeout or a 503) stores it once and returns the same reply.",
    )


class FeedbackCreate(BaseModel):
    helpful: bool


class AttachmentPublic(BaseModel):
    id: int
    name: str = Field(description="The sender's file name, cleaned (no path).")
    content_type: str = Field(description="Found from the file's content: an image type or PDF.")
    size: int
    image: bool = Field(description="Shown as a thumbnail; anything else is a download.")


class MessagePublic(BaseModel):
    id: int
    role: Role
    text: str
    html: str | None = Field(description="Sanitised HTML of a bot or staff message's Markdown.")
    intent: str | None
    confidence: float | None
    action: str | None
    suggestions: list[Button]
    follow_ups: list[Button]
    related: list[Button] = Field(
        default_factory=list,
        description="Under an answer: questions customers often ask next, in the customer's "
        "language. Send one back with its `intent` and `related_to` (this message's id).",
    )
    handoff: bool
    helpful: bool | None
    model_version: str | None
    created_at: datetime
    attachment: AttachmentPublic | None = Field(
        None,
        description="The image or PDF this message carries: GET "
        "/api/v1/conversations/{id}/attachments/{attachment id} (staff: "
        "/api/v1/staff/attachments/{attachment id}).",
    )

    @classmethod
    def of(cls, message: Message) -> MessagePublic:
        return cls(
            id=message.id,
            role=message.role,
            text=message.text,
            # An attachment's text is its file name, never Markdown.
            html=None
            if message.role is Role.CUSTOMER or message.attachment_id
            else render_markdown(message.text),
            intent=message.intent,
            confidence=message.confidence,
            action=message.action,
            suggestions=[Button(**b) for b in message.suggestions or []],
            follow_ups=[Button(**b) for b in message.follow_ups or []],
            related=[Button(**b) for b in message.related or []],
            handoff=message.action == "handoff",
            helpful=message.helpful,
            model_version=message.model_version,
            created_at=as_utc(message.created_at),
            attachment=_attachment(message.attachment) if message.attachment_id else None,
        )


def _attachment(attachment: Attachment | None) -> AttachmentPublic | None:
    if attachment is None:
        return None
    return AttachmentPublic(
        id=attachment.id,
        name=attachment.name,
        content_type=attachment.content_type,
        size=attachment.size,
        image=is_image(attachment.content_type),
    )


class TurnPublic(BaseModel):
    message: MessagePublic
    reply: MessagePublic | None = Field(description="None while a person holds the conversation.")
    language: str | None = Field(
        None,
        description="The conversation's language after this message (en, zh, ...): the one the "
        "customer started in, or the one they last wrote clearly in. The widget follows it.",
    )


class ConversationPublic(BaseModel):
    id: str
    status: str
    satisfaction: int | None = Field(None, description="The customer's 1-5 rating once closed.")
    language: str | None = Field(None, description="The conversation's language, as in a turn.")
    agent: str | None = Field(
        None, description="The staff member holding it, as customers see them (with_staff only)."
    )


class TranscriptPublic(BaseModel):
    conversation: ConversationPublic
    messages: list[MessagePublic]


class HandoffPublic(BaseModel):
    status: str
    message: MessagePublic | None


class OfflineRequestCreate(BaseModel):
    email: str = Field(max_length=320, description="Where staff replies are sent.")
    text: str = Field(max_length=100_000, description="The customer's message to the team.")


class OfflineRequestPublic(BaseModel):
    status: str
    message: MessagePublic = Field(description="The customer's message, as stored.")
    reply: MessagePublic = Field(description="The bot's confirmation.")


class FeedbackPublic(BaseModel):
    id: int
    helpful: bool


class WidgetTexts(BaseModel):
    """The widget's names and the bot's own texts in one language, the admin's where set."""

    title: str
    company: str
    greeting: str
    placeholder: str
    rating: str = Field(description="The 1-5 question once staff closed the conversation.")


class WidgetConfig(WidgetTexts):
    """The texts in the asked language (``lang``), and every language's under ``languages``:
    the widget switches when the conversation does."""

    color: str
    language: str
    languages: dict[str, WidgetTexts]
    person_available: bool = Field(
        True,
        description="Whether asking for a person now gets one in ``language`` (inside its team's "
        "opening hours, someone on duty); if not, the bot offers to take a message and an e-mail "
        "address.",
    )
    available_by_language: dict[str, bool] = Field(
        default_factory=dict, description="``person_available`` for every language."
    )


class SatisfactionCreate(BaseModel):
    rating: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy).")


class SatisfactionPublic(BaseModel):
    id: str
    satisfaction: int


# ---- the staff side of live takeover


class ClaimCreate(BaseModel):
    take_over: bool = Field(False, description="Take it even though another person holds it.")


class StaffReplyCreate(BaseModel):
    text: str = Field(min_length=1, description="What the staff member writes to the customer.")


class LastMessage(BaseModel):
    role: Role
    text: str
    created_at: datetime


class QueueEntry(BaseModel):
    id: str
    status: str
    offline: bool = Field(
        False, description="An offline request: the customer waits for a reply by e-mail."
    )
    contact_email: str | None = Field(None, description="The address replies are e-mailed to.")
    assignee: str | None = Field(description="Display name of who holds it.")
    assignee_id: int | None
    language: str | None
    last_message: LastMessage | None
    waiting_since: datetime | None
    updated_at: datetime | None


class QueuePublic(BaseModel):
    """One page of the live queue, and the whole queue's size."""

    conversations: list[QueueEntry]
    waiting: int = Field(description="Conversations waiting for a person, on every page.")
    with_staff: int = Field(description="Conversations a person holds, on every page.")
    offset: int
    limit: int


class StaffMessagePublic(MessagePublic):
    author: str | None = Field(None, description="The staff member who wrote a staff message.")

    @classmethod
    def written(cls, message: Message, author: str | None) -> StaffMessagePublic:
        return cls(**MessagePublic.of(message).model_dump(), author=author)


class StaffTranscriptPublic(BaseModel):
    conversation: QueueEntry
    satisfaction: int | None
    messages: list[StaffMessagePublic]


def message_json(message: Message) -> dict[str, Any]:
    """A message as live events carry it to the widget and the console."""
    return MessagePublic.of(message).model_dump(mode="json")


# ---- who is on duty


class PresenceUpdate(BaseModel):
    status: PresenceStatus = Field(description="`available` to be asked for, or `away`.")


class PresencePublic(BaseModel):
    status: PresenceStatus = Field(description="What this staff member chose.")
    connected: bool = Field(description="Whether one of their live-console tabs is open.")
    available_staff: int = Field(description="Staff members available now, this one included.")
    person_available: dict[str, bool] = Field(
        description="Per language: whether a customer asking for a person now gets one (inside "
        "the opening hours, someone available), else is offered to leave a message."
    )
