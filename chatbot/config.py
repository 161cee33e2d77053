"""Settings: one class, read from the environment (prefix ``CHATBOT_``) and an optional ``.env``."""

# One module on purpose, though long: every setting is a documented field of the one class, so a
# reader (and the test that every setting is documented) finds them all in one place.

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import limits
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chatbot.nlu.scope import DEFAULT_STRICTNESS
from chatbot.redaction import ALL_KINDS

DEFAULT_SECRET_KEY = "change-me-in-production"
MIN_SECRET_KEY_CHARS = 32


class UnsafeForProduction(ValueError):
    """CHATBOT_ENV=production with settings that are not safe to serve with."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Every setting of the chatbot. Each field's description is its documentation (see README)."""

    model_config = SettingsConfigDict(env_prefix="CHATBOT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the database. Empty: a SQLite file `chatbot.db` under the "
        "data directory. PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    data_dir: Path = Field(
        Path("var"), description="Directory for the SQLite database, model versions and uploads."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the encoder runs: `auto` takes CUDA when available, else the CPU.",
    )
    env: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses to start with unsafe settings: the default or a short "
        "CHATBOT_SECRET_KEY, session cookies over plain HTTP (no TLS proxy in "
        "CHATBOT_TRUSTED_PROXIES) unless CHATBOT_ALLOW_PLAIN_HTTP, or `/metrics` open to "
        "anyone unless CHATBOT_METRICS_PUBLIC says so; its session cookies are always Secure.",
    )
    secret_key: str = Field(
        DEFAULT_SECRET_KEY,
        description="Signs the sign-in form's CSRF token (so a cookie planted from another site "
        "or subdomain cannot pass). Session cookies and API tokens are random and stored only "
        "as digests, so they need no signature. In production: at least "
        f"{MIN_SECRET_KEY_CHARS} random characters.",
    )
    allow_plain_http: bool = Field(
        False,
        description="In production, allow serving without TLS (session cookies then travel "
        "over plain HTTP, readable on the network). Only for a private network.",
    )
    metrics_public: bool | None = Field(
        None,
        description="Whether anyone may read `/metrics`. `false`: a staff or admin API token "
        "is needed (`Authorization: Bearer cbt_...`, e.g. Prometheus' `authorization`). Unset: "
        "public in development; production refuses to start until it is set.",
    )
    base_model: Path | None = Field(
        None,
        description="Local Hugging Face encoder directory used as the base model. Empty: the "
        "packaged all-MiniLM-L6-v2 (its weights' sha256 is verified on load).",
    )
    torch_threads: int = Field(
        0,
        ge=0,
        description="CPU threads for torch. 0: one per available core; while serving, one less "
        "whenever other messages are queued or on their way (the web threads need a core), "
        "every core for a message that is alone.",
    )
    inference_precision: Literal["auto", "fp32", "bf16", "int8", "onnx"] = Field(
        "auto",
        description="Numeric mode of the serving encoder. `auto`: the fastest mode whose accuracy "
        "cost, measured when the model version is built (or, for the base model, on the knowledge "
        "base's phrasings at start), is at most 0.3 points; `fp32` always works.",
    )
    batch_max_size: int = Field(
        32, ge=1, le=512, description="Most customer messages encoded together in one pass."
    )
    batch_wait_ms: float = Field(
        2.0,
        ge=0,
        le=100,
        description="Longest a message waits for others to join its batch. It waits only for "
        "messages already received and on their way to the model: a lone customer never waits.",
    )
    max_pending_turns: int = Field(
        1000,
        ge=1,
        description="Customer turns in progress at once; past this the API answers 503 with "
        "Retry-After instead of queueing without bound.",
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        description="Database connections the customer path uses at once (PostgreSQL: also the "
        "pool size; another as many may overflow for the consoles). SQLite has one writer.",
    )
    db_pool_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds to wait for a free database connection before answering 503.",
    )
    http_threads: int = Field(
        40,
        ge=1,
        description="Threads that run the consoles' synchronous routes (the customer path has "
        "its own bounded threads).",
    )
    max_sequence_length: int = Field(
        128, ge=8, le=512, description="Longest input, in tokens, the encoder reads of a message."
    )
    chinese_words: bool = Field(
        False,
        description="Also match Chinese by the words jieba segments it into, beside its character "
        "n-grams. Off by default: on the Chinese paraphrase bench words cost a few points.",
    )
    follow_up_context: bool = Field(
        True,
        description='Read a short follow-up ("and how much is express?", "那退货呢？") together '
        "with the question the bot answered just before it, when the model is unsure of it "
        "alone. On by default: on the context bench it answers more exchanges right (out of "
        "scope follow-ups fall back a little less often).",
    )
    answer_threshold: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Confidence at or above which the bot answers directly (if no rival is close).",
    )
    clarify_threshold: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Confidence below which the bot falls back (offers a person) instead of asking "
        "'did you mean ...?'. Between this and answer_threshold it asks.",
    )
    clarify_margin: float = Field(
        0.04,
        ge=0,
        le=1,
        description="When the best two intents' scores are closer than this, the bot asks which "
        "one was meant, even if confident.",
    )
    first_run_training: bool = Field(
        False,
        description="On the first start with a knowledge base and no training run yet, fine-tune "
        "it in the background and serve the result if it beats the base model (`make run` "
        "turns this on).",
    )
    strictness: float = Field(
        DEFAULT_STRICTNESS,
        ge=0,
        le=1,
        description="Between answering more (0) and refusing more out-of-scope questions (1): "
        "picks the fallback threshold on the curve measured when the model was built. An admin "
        "clarify threshold overrides it.",
    )
    max_suggestions: int = Field(3, ge=1, le=5, description="Most intents offered when clarifying.")
    related_questions: int = Field(
        3,
        ge=0,
        le=5,
        description="Related questions offered under an answer: the intents customers most often "
        "asked next, else the nearest by embedding. 0: none.",
    )
    related_min_count: int = Field(
        5,
        ge=1,
        description="Conversations in which customers asked one intent right after another before "
        "it is offered as asked next; below that the nearest intents by embedding fill in.",
    )
    related_days: int = Field(
        90, ge=1, description="Days of conversation history the asked-next counts learn from."
    )
    related_refresh_seconds: float = Field(
        600.0,
        gt=0,
        description="How often each replica recounts what customers asked next (one query).",
    )
    fallbacks_before_handoff: int = Field(
        2,
        ge=1,
        description="Consecutive fallbacks after which the bot hands the conversation to a person.",
    )
    offer_person_when_frustrated: bool = Field(
        True,
        description="A customer negative twice in a conversation gets the bot's answer with a "
        "person offered below it (the admin settings page overrides it).",
    )
    max_message_chars: int = Field(
        2000, ge=10, description="Longest customer message accepted, in characters."
    )
    max_import_bytes: int = Field(
        20_000_000, ge=1, description="Largest knowledge base file accepted for import, in bytes."
    )
    max_attachment_bytes: int = Field(
        10_000_000,
        ge=1,
        description="Largest image or PDF a customer or staff member may attach, in bytes.",
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed to call the customer API from a browser (sites embedding the "
        "widget). Customer calls carry bearer tokens, not cookies, so `*` is safe.",
    )
    redis_url: str = Field(
        "",
        description="Redis URL (`redis://host:6379/0`). Set: live events go through Redis "
        "pub/sub and jobs (training) to `chatbot worker` processes through a Redis queue, and "
        "rate limits are counted in Redis, so that several replicas work as one. Empty: all of "
        "it in this process.",
    )
    redis_prefix: str = Field(
        "chatbot",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of this deployment's Redis channels and job queue, so that several "
        "deployments can share one Redis.",
    )
    job_heartbeat_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How often a running job (a training run) records that it is alive. A run "
        "silent for six of these is marked failed: its process or worker died.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as plain text, or one JSON object a line (time, level, logger, "
        "message, request_id, conversation_id) for a log collector.",
    )
    model_check_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="How often a replica checks the active model version and knowledge base "
        "even without news (an activation also reaches every replica as a live event).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies in front of the app "
        "(comma-separated or a JSON list, e.g. `10.0.0.0/8,192.0.2.7`). Only a request from "
        "one of them may name the client in X-Forwarded-For (and https in X-Forwarded-Proto); "
        "from anyone else those headers are ignored. Empty: nobody is believed.",
    )
    rate_limits_enabled: bool = Field(
        True, description="Whether the per-address limits below apply (off only for benchmarks)."
    )
    rate_limit_conversations: str = Field(
        "30/hour",
        description="New conversations per client address (limits notation: `N/second|minute|"
        "hour|day`, several separated by `;`).",
    )
    rate_limit_messages: str = Field(
        "60/minute", description="Customer messages per client address."
    )
    rate_limit_conversation_messages: str = Field(
        "20/minute", description="Customer messages per conversation."
    )
    rate_limit_handoffs: str = Field(
        "10/minute;30/hour", description="Requests for a person per client address."
    )
    rate_limit_feedback: str = Field(
        "60/minute", description="Thumbs and satisfaction ratings per client address."
    )
    rate_limit_login: str = Field(
        "20/minute;200/hour", description="Sign-in attempts per client address."
    )
    rate_limit_attachments: str = Field(
        "10/minute;60/hour", description="Customer attachments (images, PDFs) per client address."
    )
    redact: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["card", "phone"],
        description="What is redacted from customers' messages before they are stored (and so "
        "before staff see them or a model trains on them): `card` (Luhn-checked payment card "
        "numbers), `phone`, and when named `email`, `iban`, `cn_id` (Chinese resident ID). "
        "Comma-separated; empty: nothing.",
    )
    conversation_retention_days: int = Field(
        365,
        ge=0,
        description="Days a conversation is kept after its last activity; then it is deleted "
        "with its messages and the corrections copying them (hourly in the server, and by "
        "`chatbot retention run`). 0: kept for ever.",
    )
    conversation_idle_minutes: int = Field(
        120,
        ge=0,
        description="Minutes without a message after which an open conversation counts as "
        "abandoned and is closed: it leaves the staff queue and frees whoever held it (checked "
        "every minute in the server, and by `chatbot retention run`; the customer may write "
        "again). 0: never.",
    )
    login_attempt_retention_days: int = Field(
        30,
        ge=1,
        description="Days a sign-in attempt (email, address, success) is kept; older ones are "
        "deleted when someone signs in and by `chatbot retention run`.",
    )
    frame_ancestors: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["'self'"],
        description="Sites allowed to show the full-page chat (`/chat`) and the demo page in a "
        "frame (CSP frame-ancestors sources, comma-separated or a JSON list, e.g. "
        "`'self',https://shop.example`). Every other page refuses to be framed. The widget is a "
        "script, not a frame: it works on any site whatever this says.",
    )
    smtp_host: str = Field(
        "",
        description="Mail server for e-mail to customers (staff replies to offline requests) and "
        "to staff (a conversation waiting). Empty: no e-mail is sent.",
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="Port of the mail server.")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="`starttls` (upgrade a plain connection, port 587), `tls` (TLS from the "
        "start, port 465) or `none` (a local relay only).",
    )
    smtp_username: str = Field("", description="Mail server account; empty: no login.")
    smtp_password: str = Field("", description="Password of the mail server account.")
    smtp_sender: str = Field(
        "",
        description="From address of the e-mail sent (`Support <help@shop.example>`); empty: "
        "the SMTP username.",
    )
    queue_email: bool = Field(
        False,
        description="E-mail the staff members on duty when a conversation has waited in the "
        "queue for CHATBOT_QUEUE_EMAIL_DELAY_SECONDS without anyone taking it (once per wait).",
    )
    queue_email_delay_seconds: int = Field(
        120, ge=0, le=86400, description="How long a conversation waits before staff are e-mailed."
    )
    webhook_timeout_seconds: float = Field(
        10.0,
        ge=1,
        le=120,
        description="Seconds a webhook receiver has to answer one delivery before the attempt "
        "counts as failed.",
    )
    webhook_max_attempts: int = Field(
        6, ge=1, le=20, description="Attempts per webhook delivery before it is given up."
    )
    webhook_backoff_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="Wait before a failed webhook delivery's second attempt; each further wait "
        "doubles (30 s, 1, 2, 4, 8 min by default).",
    )
    webhook_log_days: int = Field(
        14,
        ge=1,
        le=3650,
        description="Days a finished webhook delivery (sent or given up) stays in the delivery "
        "log; pending ones stay until they finish.",
    )
    auto_assign: bool = Field(
        False,
        description="Give each conversation entering the queue to an available staff member, "
        "round robin, skipping anyone holding CHATBOT_MAX_OPEN_CONVERSATIONS; with nobody free "
        "it waits in the queue until someone is.",
    )
    max_open_conversations: int = Field(
        5,
        ge=1,
        le=1000,
        description="Most conversations automatic assignment gives one staff member at once.",
    )
    reply_reminder_seconds: int = Field(
        300,
        ge=0,
        le=86400,
        description="Remind the staff member holding a conversation (live console notification) "
        "when its customer has waited this long for a reply, once per wait; 0: never.",
    )
    company_name: str = Field("Harbor & Pine", description="Company name shown in the widget.")
    widget_title: str = Field("Chat with us", description="Title of the chat widget.")
    widget_color: str = Field(
        "#1f6f5c", pattern=r"^#[0-9a-fA-F]{6}$", description="Accent colour of the widget."
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.clarify_threshold > self.answer_threshold:
            raise ValueError(
                "CHATBOT_CLARIFY_THRESHOLD must not exceed CHATBOT_ANSWER_THRESHOLD "
                f"({self.clarify_threshold} > {self.answer_threshold})"
            )
        return self

    @field_validator(
        "rate_limit_conversations",
        "rate_limit_messages",
        "rate_limit_conversation_messages",
        "rate_limit_handoffs",
        "rate_limit_feedback",
        "rate_limit_login",
        "rate_limit_attachments",
    )
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        try:
            limits.parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"'{value}' is not a rate limit such as '30/hour' or '5/minute;100/day'"
            ) from exc
        return value

    @field_validator("trusted_proxies", "frame_ancestors", "redact", mode="before")
    @classmethod
    def _comma_or_json_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [entry for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"'{entry}' is not an IP address or network") from exc
        return [entry.strip() for entry in value]

    @field_validator("redact")
    @classmethod
    def _redaction_kinds(cls, value: list[str]) -> list[str]:
        kinds = [kind.strip() for kind in value]
        unknown = sorted(set(kinds) - set(ALL_KINDS))
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}: choose from {', '.join(ALL_KINDS)}")
        return kinds

    @field_validator("frame_ancestors")
    @classmethod
    def _frame_sources(cls, value: list[str]) -> list[str]:
        sources = [entry.strip() for entry in value]
        for source in sources:
            if not re.fullmatch(r"'self'|'none'|(https?://)?[A-Za-z0-9*.-]+(:[0-9*]+)?", source):
                raise ValueError(
                    f"'{source}' is not a frame-ancestors source ('self', https://shop.example)"
                )
        return sources

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def metrics_open(self) -> bool:
        """Whether `/metrics` answers without an API token."""
        return self.metrics_public if self.metrics_public is not None else not self.production

    def unsafe_for_production(self) -> list[str]:
        """Why this configuration must not serve in production, one line per setting (empty in
        development, or when it is safe)."""
        if not self.production:
            return []
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY:
            problems.append(
                "CHATBOT_SECRET_KEY is the default: set a long random value (python3 -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        elif len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            problems.append(
                f"CHATBOT_SECRET_KEY has {len(self.secret_key)} characters: use at least "
                f"{MIN_SECRET_KEY_CHARS} random ones"
            )
        if not self.trusted_proxies and not self.allow_plain_http:
            problems.append(
                "no TLS in front: name the HTTPS proxy in CHATBOT_TRUSTED_PROXIES (session "
                "cookies would otherwise travel over plain HTTP), or set "
                "CHATBOT_ALLOW_PLAIN_HTTP=true on a private network"
            )
        if self.metrics_public is None:
            problems.append(
                "CHATBOT_METRICS_PUBLIC is unset: `false` makes /metrics ask for a staff or "
                "admin API token, `true` leaves it open (when only your network reaches it)"
            )
        return problems

    def check_production(self) -> None:
        """Raise :class:`UnsafeForProduction` naming every unsafe setting, in production."""
        problems = self.unsafe_for_production()
        if problems:
            raise UnsafeForProduction(problems)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'chatbot.db'}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


@lru_cache
def get_settings() -> Settings:
    return Settings()
