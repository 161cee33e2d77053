"""Per-client rate limits for anonymous callers and sign-in, counted with the `limits` library.

Counts live in this process by default, or in Redis (``CHATBOT_REDIS_URL``) so that every replica
shares them. Each rule is a sliding window counter: two counters per key (this window and the
last), the last one weighted by how much of it still overlaps "the past hour"; cheap in memory
and in Redis, where an exact moving window keeps every request's time (and the in-process store
scans every key's list after each request). The defaults, and why:

- conversations, 30/hour per address: Chatwoot allows 6 per address per 12 h, but an office
  behind one address may have dozens of people asking the shop something on one morning; a
  script gets 30 an hour instead of 60 in 0.4 s.
- messages, 60/minute per address: several people chatting at once from one office.
- conversation_messages, 20/minute per conversation: one person sends a message every 3 s at
  most, buttons included.
- handoffs, 10/minute and 30/hour per address: each one rings the staff's live queue.
- feedback, 60/minute per address: thumbs and ratings are cheap, but stored.
- attachments, 10/minute and 60/hour per address: each one is a file of up to
  CHATBOT_MAX_ATTACHMENT_BYTES on disk; a customer shows a photo or a receipt or two.
- login, 20/minute and 200/hour per address: bounds password spraying across accounts (the
  per-account throttle in chatbot/db/accounts.py is separate).

The client address is the connection's peer, or, behind a proxy listed in
``CHATBOT_TRUSTED_PROXIES``, the address that proxy names in X-Forwarded-For (set by uvicorn's
ProxyHeadersMiddleware in ``create_app``). IPv6 clients are counted per /64, which one subscriber
usually holds whole.

When the store fails (Redis down), requests are let through and a warning logged: the limits
protect the service, so they must not be what takes it down.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.requests import HTTPConnection

from chatbot.config import Settings

log = logging.getLogger(__name__)

# Rule name -> the setting that holds its limits.
RULES = {
    "conversations": "rate_limit_conversations",
    "messages": "rate_limit_messages",
    "conversation_messages": "rate_limit_conversation_messages",
    "handoffs": "rate_limit_handoffs",
    "feedback": "rate_limit_feedback",
    "login": "rate_limit_login",
    "attachments": "rate_limit_attachments",
}
REDIS_KEY_PREFIX = "ratelimit"
REDIS_TIMEOUT_S = 1.0  # a slow Redis must not hold customers' requests
WARN_EVERY_S = 60.0


class RateLimited(Exception):
    """Too many requests under ``rule``; ``retry_after_s``: when the next one will be let in."""

    def __init__(self, rule: str, retry_after_s: int) -> None:
        super().__init__(f"too many requests ({rule}): try again in {retry_after_s} s")
        self.rule = rule
        self.retry_after_s = retry_after_s


class RateLimiter:
    """Named rules (``{"login": "20/minute;200/hour"}``) counted per key in one store.

    >>> import asyncio
    >>> async def three_tries() -> list[int]:
    ...     limiter = RateLimiter({"login": "2/minute"})
    ...     return [await limiter.hit("login", "192.0.2.1") for _ in range(3)]
    >>> waits = asyncio.run(three_tries())
    >>> waits[:2], 0 < waits[2] <= 60
    ([0, 0], True)
    """

    def __init__(
        self, rules: dict[str, str], redis_url: str = "", redis_prefix: str = "chatbot"
    ) -> None:
        self.rules: dict[str, list[RateLimitItem]] = {
            name: parse_many(spec) for name, spec in rules.items()
        }
        self.storage: Storage
        if redis_url:
            self.storage = RedisStorage(
                "async+" + redis_url,
                wrap_exceptions=True,
                implementation="redispy",
                # Under CHATBOT_REDIS_PREFIX: installations sharing a Redis count apart.
                key_prefix=f"{redis_prefix}:{REDIS_KEY_PREFIX}",
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
        else:
            self.storage = MemoryStorage(wrap_exceptions=True)
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        rules = {name: getattr(settings, field) for name, field in RULES.items()}
        return cls(rules, settings.redis_url, settings.redis_prefix)

    async def hit(self, rule: str, key: str) -> int:
        """Count one request under ``rule`` for ``key``: 0 if allowed, else seconds to wait."""
        wait = 0
        try:
            for item in self.rules[rule]:
                if not await self.strategy.hit(item, rule, key):
                    stats = await self.strategy.get_window_stats(item, rule, key)
                    wait = max(wait, math.ceil(stats.reset_time - time.time()), 1)
        except StorageError as exc:
            now = time.monotonic()
            if now - self._warned_at > WARN_EVERY_S:
                self._warned_at = now
                log.warning("rate limits not applied: their store failed: %s", exc)
            return 0
        return wait

    async def close(self) -> None:
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None:  # redis.asyncio.Redis: its connections belong to this loop
            await client.aclose()


def client_address(connection: HTTPConnection) -> str:
    """The address limits count the caller under: IPv4 as is, IPv6 by its /64."""
    host = connection.client.host if connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _conversation_key(request: Request) -> str:
    # The conversation and a digest of the token presented: a caller without the right token
    # counts against a bucket of its own, so it cannot use up the customer's.
    token = request.headers.get("authorization", "")
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{request.path_params.get('conversation_id', '')}:{digest}"


async def check(request: Request, rule: str, key: str) -> None:
    """Count this request under ``rule``; raise RateLimited past the limit."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    if limiter is None:
        return
    wait = await limiter.hit(rule, key)
    if wait:
        raise RateLimited(rule, wait)


def per_address(rule: str) -> Any:
    """A route dependency: at most the rule's limit per client address."""

    async def limited(request: Request) -> None:
        await check(request, rule, client_address(request))

    return Depends(limited)


def wait_per_address(rule: str) -> Any:
    """A dependency giving the seconds to wait under the rule (0: go ahead), for routes that
    answer a refusal themselves (the sign-in form shows it on its page)."""

    async def wait(request: Request) -> int:
        try:
            await check(request, rule, client_address(request))
        except RateLimited as exc:
            return exc.retry_after_s
        return 0

    return Depends(wait)


def per_conversation(rule: str) -> Any:
    """A route dependency: at most the rule's limit per conversation (path ``conversation_id``)."""

    async def limited(request: Request) -> None:
        await check(request, rule, _conversation_key(request))

    return Depends(limited)


def too_many_requests(exc: RateLimited) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc)},
        status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


async def _rate_limited(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return too_many_requests(exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RateLimited, _rate_limited)


def start(settings: Settings) -> RateLimiter | None:
    """The app's limiter, made in the lifespan (a Redis client belongs to its event loop)."""
    return RateLimiter.from_settings(settings) if settings.rate_limits_enabled else None
