"""Typed tables. A conversation is an append-only log of messages with typed columns."""

# One module on purpose, though long: it is the whole declarative schema that Alembic compares
# with the database, and its 30 tables refer to each other; split, a reader would chase them.

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chatbot.db.base import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as the value string with a CHECK constraint: portable across SQLite and PostgreSQL,
    # and new members need no ALTER TYPE.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    STAFF = "staff"
    SYSTEM = "system"


class UserRole(enum.StrEnum):
    STAFF = "staff"  # the staff console: transcripts, live takeover, corrections
    ADMIN = "admin"  # the staff console and the admin pages


class HandoffReason(enum.StrEnum):
    """Why the bot handed a conversation to a person (on the bot's handoff message)."""

    ASKED = "asked"  # the customer asked for a person
    # The customer asked right after the bot was unsure (its last reply fell back or asked
    # which was meant): the bot's low confidence, more than a wish for a person.
    LOW_CONFIDENCE = "low_confidence"
    REPEATED_FALLBACK = "repeated_fallback"  # the bot fell back once too often in a row


class ConversationStatus(enum.StrEnum):
    BOT = "bot"  # the bot answers
    WAITING = "waiting"  # handed off, waiting for a person: the bot stays silent
    WITH_STAFF = "with_staff"  # a person holds the conversation: the bot stays silent
    CLOSED = "closed"


class KnowledgeBase(Base):
    __tablename__ = "knowledge_bases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Bumped on every change, so serving processes know when to rebuild their index.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Groups of interchangeable terms, each group's first term canonical (退款 / 退钱 / refund).
    synonyms: Mapped[list[list[str]]] = mapped_column(JSON, default=list)

    intents: Mapped[list[Intent]] = relationship(
        back_populates="knowledge_base", cascade="all, delete-orphan", order_by="Intent.id"
    )


class Intent(Base):
    __tablename__ = "intents"
    __table_args__ = (UniqueConstraint("knowledge_base_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16), default="en")  # its first language
    # The answers in its other languages: language tag -> answer.
    answers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    follow_ups: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Slots, an HTTP call and answer templates (chatbot.knowledge.actions), as a file holds them.
    action: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    knowledge_base: Mapped[KnowledgeBase] = relationship(back_populates="intents")
    phrasings: Mapped[list[Phrasing]] = relationship(
        back_populates="intent", cascade="all, delete-orphan", order_by="Phrasing.position"
    )


class Phrasing(Base):
    __tablename__ = "phrasings"

    id: Mapped[int] = mapped_column(primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("intents.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    # Order in the source file; the first phrasing is the intent's canonical question.
    position: Mapped[int] = mapped_column(Integer, default=0)

    intent: Mapped[Intent] = relationship(back_populates="phrasings")


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Only a hash of the customer's bearer token is kept.
    token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[ConversationStatus] = mapped_column(
        _enum(ConversationStatus), default=ConversationStatus.BOT, index=True
    )
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The staff member holding the conversation (status with_staff).
    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Kept on the conversation so the transcript list filters without scanning messages.
    message_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    had_fallback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    feedback_given: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # How many of the customer's messages were negative and positive (chatbot/nlu/sentiment.py).
    negative_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    positive_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 1-5, asked when it closes
    # When a person was first involved (a handoff, or staff taking it): None means the bot alone
    # handled it, which analytics count as contained.
    handed_off_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An offline request (nobody could come when the customer asked for a person): where staff
    # replies are e-mailed, and since when it waits in the offline queue.
    contact_email: Mapped[str | None] = mapped_column(String(255))
    offline_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When staff on duty were e-mailed that it waits (once per request for a person).
    staff_emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When its assignee was last reminded that the customer waits for a reply (once per wait).
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While the bot asks for an action's slots: which intent, the values so far, the slot asked
    # and since when (chatbot.conversation.slots); stored so any replica takes the next turn.
    slot_filling: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Message.id"
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # A retried send (same client id) is stored once; a customer message gets one bot reply.
        Index("ux_messages_conversation_id_client_id", "conversation_id", "client_id", unique=True),
        Index("ux_messages_reply_to_id", "reply_to_id", unique=True),
        Index("ix_messages_created_at", "created_at"),  # analytics over a period
        # Related questions offered and clicked in a period: only those rows, counted from
        # the index alone (a partial index; most messages have neither).
        Index(
            "ix_messages_related_offered",
            "created_at",
            "conversation_id",
            "intent",
            sqlite_where=text("related IS NOT NULL"),
            postgresql_where=text("related IS NOT NULL"),
        ),
        Index(
            "ix_messages_related_clicked",
            "created_at",
            "conversation_id",
            "related_from_id",
            sqlite_where=text("related_from_id IS NOT NULL"),
            postgresql_where=text("related_from_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(_enum(Role))
    text: Mapped[str] = mapped_column(Text)
    # What the bot made of a customer message (on the bot's reply): intent key, confidence 0..1,
    # the decision taken, the suggestions offered, which model version and how long it took.
    intent: Mapped[str | None] = mapped_column(String(200), index=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    action: Mapped[str | None] = mapped_column(String(16))
    suggestions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    follow_ups: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # On a bot answer: the related questions offered under it (chatbot.conversation.related);
    # NULL, not [], when none were, so counting the offers needs no JSON function.
    related: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    # On a customer message sent by clicking one of them: the bot answer that offered it.
    related_from_id: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(100))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    # On a bot handoff message: why it handed off (a HandoffReason value).
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    # On a customer message: negative, neutral or positive, and the score (-1..1) behind it.
    sentiment: Mapped[str | None] = mapped_column(String(8))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    # The id the customer's browser gave its message, so that a retry is not stored twice.
    client_id: Mapped[str | None] = mapped_column(String(64))
    # On a bot reply: the id of the customer message it answers. No foreign key: adding one to
    # SQLite would rebuild the table and drop its full-text triggers; both rows live and die with
    # their conversation.
    reply_to_id: Mapped[int | None] = mapped_column(Integer)
    # The staff member who wrote a staff message.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The image or PDF this message carries; no foreign key, as for reply_to_id.
    attachment_id: Mapped[int | None] = mapped_column(Integer)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    # Loaded by id (the identity map first), and never queried for a message without one.
    attachment: Mapped[Attachment | None] = relationship(
        primaryjoin="foreign(Message.attachment_id) == Attachment.id", viewonly=True
    )


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        # At most one active version, guaranteed by the database (a partial unique index).
        Index(
            "ux_model_versions_active",
            "is_active",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="base")  # base | fine-tuned
    base_model: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ready")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TrainingRun(Base):
    """A fine-tuning job: its persisted status and progress, whichever process runs it."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(
        _enum(RunStatus), default=RunStatus.QUEUED, index=True
    )
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    device: Mapped[str | None] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # step, total_steps, epoch, loss, elapsed_seconds, eta_seconds
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    losses: Mapped[list[float]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(100))
    # Who runs it: a run whose process is gone is marked failed at the next start.
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Correction(Base):
    """A staff member's verdict on what a message meant: training data for the next fine-tune."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    # The intent the message meant; None: out of scope (the bot should not have answered).
    intent: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A staff member or admin. Customers have no accounts: a bearer token per conversation."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)  # stored lower-cased
    name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    role: Mapped[UserRole] = mapped_column(_enum(UserRole), default=UserRole.STAFF)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for integrations, acting with its owner's role."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """Sign-in attempts, kept in the database so throttling holds across app replicas."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
        Index("ix_login_attempts_at", "at"),  # purging old attempts
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginThrottle(Base):
    """Recent failed sign-ins of one email from one address (or, with email "", of any email
    from one address), and until when the next attempt from there must wait. A row is locked
    while an attempt is counted, so parallel attempts cannot all slip past the count."""

    __tablename__ = "login_throttles"

    email: Mapped[str] = mapped_column(String(255), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CannedReply(Base):
    """A ready-made answer staff insert while talking to a customer."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    updated_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class AuditEntry(Base):
    """Who did what to the configuration, when, with the state before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(255), index=True)  # email; None: the CLI
    action: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "intent.update"
    target: Mapped[str | None] = mapped_column(String(255))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)


class AppSetting(Base):
    """A setting changed from the admin pages; it overrides the environment's value at once."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PresenceStatus(enum.StrEnum):
    AVAILABLE = "available"  # may be asked to help customers now
    AWAY = "away"


class StaffPresence(Base):
    """What a staff member chose in the live console: available or away. They count as
    available only while one of their console tabs is connected (``ConsoleConnection``)."""

    __tablename__ = "staff_presence"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[PresenceStatus] = mapped_column(
        _enum(PresenceStatus), default=PresenceStatus.AWAY
    )
    # Automatic assignment goes round: the least recently assigned available person is next.
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ConsoleConnection(Base):
    """One open live-console tab, on whichever replica holds its socket. Kept in the database
    so every replica sees who is on duty; a tab beats while open, so the row of a replica that
    died goes stale and stops counting."""

    __tablename__ = "console_connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UnansweredReview(Base):
    """An admin's decision on a customer message the bot could not answer: it leaves the
    unanswered list for good, whichever way it was settled."""

    __tablename__ = "unanswered_reviews"

    # The customer's message (not the bot's reply); it and its review go with the conversation.
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    # added (as phrasings of ``intent``), new_intent, out_of_scope, dismissed
    outcome: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(200))
    reviewed_by: Mapped[str | None] = mapped_column(String(255))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Webhook(Base):
    """A company URL told about chosen events (chatbot/webhooks.py signs and sends them)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Kept as it is, not hashed: every delivery is signed with it. Shown in full once.
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class WebhookDelivery(Base):
    """One event for one webhook: its exact body, and how sending it went (the delivery log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # What the dispatcher looks for every few seconds: pending deliveries that are due.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36))  # the payload's id, for idempotency
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # signed and sent as it is on every attempt
    # A message event carries the customer's words: it goes when the conversation is erased.
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it may be sent next; while a job sends it, past that job's timeout.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Handed to the job queue until then; a job lost meanwhile is queued again after it.
    queued_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Attachment(Base):
    """An image or PDF sent in a conversation. The file lives under the data directory with a
    random name (``stored_name``); the name the sender gave is kept only to show and download."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Found from the file's first bytes, never taken from the sender.
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConversationNote(Base):
    """A staff member's private note on a conversation: for colleagues, never for the customer."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConversationLabel(Base):
    """A label staff put on a conversation ("refund", "vip"), to find and export it by."""

    __tablename__ = "conversation_labels"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    added_by: Mapped[str | None] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
