"""Webhooks out: signed JSON deliveries of chosen events to the company's own URLs.

An event is recorded where it happens, in the same transaction (``chatbot.db.webhooks.emit``):
one delivery row per webhook that chose it. The :class:`Dispatcher`, in every replica, hands due
deliveries to the job queue (at once after the commit that recorded them, and every few seconds
for retries and for jobs lost with a process), and :func:`deliver`, a job, sends one attempt and
records how it went. A customer's turn only inserts rows; it never waits for a receiver.

Each request carries ``X-Chatbot-Timestamp`` (Unix seconds) and ``X-Chatbot-Signature:
sha256=HEX``, the HMAC-SHA256 of ``timestamp + "." + body`` under the webhook's secret, as
Stripe signs its webhooks; README.md shows how a receiver checks it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

import chatbot
from chatbot.config import Settings
from chatbot.db import webhooks as store
from chatbot.db.base import utcnow
from chatbot.db.session import Database
from chatbot.jobs import JobContext, JobRunner

log = logging.getLogger(__name__)

EVENTS = store.EVENTS
TEST_EVENT = store.TEST_EVENT
SIGNATURE_HEADER = "X-Chatbot-Signature"
TIMESTAMP_HEADER = "X-Chatbot-Timestamp"
EVENT_HEADER = "X-Chatbot-Event"
EVENT_ID_HEADER = "X-Chatbot-Event-Id"
SECRET_PREFIX = "whsec_"
MIN_SECRET_CHARS = 16
MAX_URL_CHARS = 2000
SWEEP_S = 2.0  # how often a replica looks for due deliveries without news of new ones
# A delivery handed to the queue is not handed again for this long: a job lost with its process
# (or waiting behind a long training run) is queued again after it.
QUEUE_LEASE = timedelta(minutes=5)
HOLD_MARGIN_S = 30  # past the call's timeout, before a job that died mid-call is retried
PRUNE_EVERY_S = 3600.0


class WebhookInvalid(ValueError):
    """A URL, event list or secret an admin gave is refused; the message names the field."""


# ---- signing


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``.

    Example:
        >>> sign("whsec_test", 1700000000, b'{"id":"1"}')[:15]
        'sha256=11bf4466'
    """
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(secret: str, event_type: str, event_id: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        "User-Agent": f"chatbot-webhooks/{chatbot.__version__}",
        EVENT_HEADER: event_type,
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def masked(secret: str) -> str:
    """How a stored secret is shown after its creation: its last four characters only.

    Example:
        >>> masked("whsec_abcdefghijklmnopqrstuvwxyz")
        '…wxyz'
    """
    return "…" + secret[-4:]


# ---- what admins may register


def check_url(url: str) -> str:
    """``url`` trimmed, or WebhookInvalid naming why: http(s) only, a host, no credentials."""
    url = url.strip()
    if not url:
        raise WebhookInvalid("url: give the address that should receive the events")
    if len(url) > MAX_URL_CHARS:
        raise WebhookInvalid(f"url: at most {MAX_URL_CHARS} characters, got {len(url)}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise WebhookInvalid("url: spaces and control characters are not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookInvalid(f"url: not a valid address ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookInvalid("url: only http:// and https:// addresses can receive webhooks")
    host = parts.hostname or ""
    if not host:
        raise WebhookInvalid("url: the address names no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookInvalid(
            "url: no user name or password in the address (the signature authenticates us)"
        )
    if port == 0:
        raise WebhookInvalid("url: port 0 is not a port")
    if not _plausible_host(host):
        raise WebhookInvalid(f"url: {host!r} is not a host name or IP address")
    return url


def _plausible_host(host: str) -> bool:
    with suppress(ValueError):
        ipaddress.ip_address(host)
        return True
    labels = host.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and all(c.isalnum() or c in "-_" or ord(c) > 127 for c in label)
        for label in labels
    )


def check_events(events: Sequence[str]) -> list[str]:
    """The chosen events, in the documented order, or WebhookInvalid naming an unknown one."""
    unknown = [name for name in events if name not in EVENTS]
    if unknown:
        raise WebhookInvalid(
            f"events: unknown {', '.join(unknown)}; choose from {', '.join(EVENTS)}"
        )
    if not events:
        raise WebhookInvalid("events: choose at least one event")
    return [name for name in EVENTS if name in events]


def check_secret(secret: str) -> str:
    secret = secret.strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise WebhookInvalid(f"secret: at least {MIN_SECRET_CHARS} characters")
    if len(secret) > 200 or any(c.isspace() for c in secret):
        raise WebhookInvalid("secret: at most 200 characters, without spaces")
    return secret


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: the configured backoff, doubling.

    Example:
        >>> retry_delay(3, Settings(webhook_backoff_seconds=30)).total_seconds()
        120.0
    """
    return timedelta(seconds=settings.webhook_backoff_seconds * 2 ** max(attempts - 1, 0))


# ---- the job


def deliver(context: JobContext, *, delivery_id: int) -> None:
    """Job: one attempt at sending a delivery; records the answer or the error, and when to
    try again. Does nothing when the delivery is done, not due or another job holds it."""
    settings = context.settings
    hold = timedelta(seconds=settings.webhook_timeout_seconds + HOLD_MARGIN_S)
    with context.sessions() as session:
        attempt = store.start_attempt(session, delivery_id, hold)
        session.commit()
    if attempt is None:
        return
    code, error = send(attempt, settings.webhook_timeout_seconds)
    with context.sessions() as session:
        delivery = store.finish_attempt(
            session,
            delivery_id,
            response_code=code,
            error=error,
            max_attempts=settings.webhook_max_attempts,
            retry_in=lambda attempts: retry_delay(attempts, settings),
        )
        tried = delivery.attempts if delivery is not None else None
        session.commit()
    host = urlsplit(attempt.url).hostname  # never the whole URL: it may carry a token
    outcome = "delivered" if error is None else f"failed ({error})"
    log.info(
        "webhook %s: %s %s to %s, attempt %s: %s",
        attempt.webhook_id,
        attempt.event_type,
        attempt.event_id,
        host,
        tried,
        outcome,
    )


def send(attempt: store.Attempt, timeout: float) -> tuple[int | None, str | None]:
    """POST the delivery once: (status code, None) on a 2xx answer, else what went wrong."""
    body = attempt.body.encode()
    signed = headers(attempt.secret, attempt.event_type, attempt.event_id, body, time.time())
    try:
        response = httpx.post(
            attempt.url, content=body, headers=signed, timeout=timeout, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        # Exceptions may quote the URL, which may hold a token of the receiver's.
        reason = str(exc).replace(attempt.url, "the URL") or "no answer"
        return None, f"{type(exc).__name__}: {reason}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    if response.is_redirect:
        return response.status_code, f"answered {response.status_code}: redirects are not followed"
    return response.status_code, f"answered {response.status_code}"


# ---- handing deliveries to the job queue


class Dispatcher:
    """Hands due deliveries to the job queue: woken by every commit that recorded some, and
    every ``SWEEP_S`` for retries and lost jobs; prunes the delivery log hourly."""

    def __init__(self, db: Database, jobs: JobRunner, settings: Settings) -> None:
        self.db = db
        self.jobs = jobs
        self.settings = settings
        self._news = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Wake up after each commit of ``sessions`` that recorded deliveries."""
        event.listen(sessions, "after_commit", self._committed)
        event.listen(sessions, "after_rollback", self._rolled_back)

    def _committed(self, session: Session) -> None:
        if session.info.pop(store.RECORDED, False):
            self.wake()

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(store.RECORDED, None)

    def wake(self) -> None:
        """From any thread: look for due deliveries now."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._news.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        last_prune = 0.0
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), SWEEP_S)
            self._news.clear()
            try:
                await self.sweep()
                if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhooks: handing deliveries to the queue failed", exc_info=True)

    async def sweep(self) -> list[int]:
        """Queue the deliveries that are due (each by one replica); returns their ids."""
        now = utcnow()
        due = await self.db.read(lambda session: store.due(session, now))
        if not due:
            return []
        claimed = await self.db.write(
            lambda session: store.claim_for_queue(session, due, now, QUEUE_LEASE)
        )
        if claimed:
            await asyncio.to_thread(self._submit, claimed)
        return claimed

    def _submit(self, delivery_ids: list[int]) -> None:
        for delivery_id in delivery_ids:
            self.jobs.submit(deliver, delivery_id=delivery_id)

    async def prune(self) -> int:
        before = utcnow() - timedelta(days=self.settings.webhook_log_days)
        return await self.db.write(lambda session: store.prune(session, before))
