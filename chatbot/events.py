"""Live events (new messages, typing, handoff state) delivered to whoever watches a conversation.

One small interface, two implementations chosen by configuration (:func:`make_event_bus`): in
one process (the embedded default), or through Redis pub/sub, so that a customer connected to
one replica hears what a staff member typed on another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    import redis.asyncio

Event = dict[str, Any]
log = logging.getLogger(__name__)
# Replicas announce an activated model version here (see chatbot.main's follower).
MODELS_CHANNEL = "models"


class EventBus(Protocol):
    def publish(self, channel: str, event: Event) -> None:
        """Deliver an event to every current subscriber of a channel; callable from any thread."""

    def subscribe(self, channel: str) -> Any:
        """An async context manager yielding an async iterator of the channel's events."""

    def listened(self, channel: str) -> bool:
        """Whether anyone may hear an event on this channel (else it need not be built)."""

    def subscriber_count(self, channel: str) -> int:
        """This process's subscribers of a channel that hear what is published from now on."""


class StartableBus(EventBus, Protocol):
    async def start(self) -> None:
        """Connect (a clear error, not a hang, when the backend cannot be reached)."""

    async def close(self) -> None: ...


class InProcessEventBus:
    """Fan-out through asyncio queues, for one process (the embedded default)."""

    def __init__(self, max_queued: int = 100) -> None:
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]]]
        self._subscribers = defaultdict(set)
        self._lock = threading.Lock()
        self._max_queued = max_queued

    def publish(self, channel: str, event: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.get(channel, ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(_offer, queue, event)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._max_queued)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subscribers[channel].add(entry)
        try:
            yield _drain(queue)
        finally:
            with self._lock:
                self._subscribers[channel].discard(entry)
                if not self._subscribers[channel]:
                    del self._subscribers[channel]

    def listened(self, channel: str) -> bool:
        return channel in self._subscribers

    def subscriber_count(self, channel: str) -> int:
        with self._lock:
            return len(self._subscribers.get(channel, ()))

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class BackendUnavailable(RuntimeError):
    """The configured Redis cannot be reached; the message names it (without its password)."""


class RedisEventBus:
    """Events through Redis pub/sub: every replica's subscribers hear every replica's events.

    One connection subscribes to the channels this process's WebSockets watch (a channel joins
    with its first local subscriber and leaves with its last) and fans each event out locally;
    ``publish`` may be called from any thread and never waits on Redis: one sender task writes
    what was published, in order, pipelining whatever queued up meanwhile.
    """

    def __init__(
        self, url: str, *, prefix: str = "chatbot", max_queued: int = 100, timeout: float = 5.0
    ) -> None:
        self._url = url
        self._prefix = f"{prefix}:events:"
        self._timeout = timeout
        self._local = InProcessEventBus(max_queued)
        self._joined: dict[str, asyncio.Event] = {}
        self._client: redis.asyncio.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        import redis.asyncio

        client = redis.asyncio.from_url(
            self._url, socket_connect_timeout=self._timeout, health_check_interval=30
        )
        await ping(client, self._url, self._timeout)
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._pubsub = client.pubsub()
        # Always subscribed to one channel, so the reader waits on the socket rather than idling.
        await self._join(f"{self._prefix}.bus")
        self._tasks = [
            asyncio.create_task(self._read(), name="events-reader"),
            asyncio.create_task(self._send(), name="events-sender"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._pubsub.aclose()
            await self._client.aclose()
            self._client = self._loop = None

    def publish(self, channel: str, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            log.debug("event bus closed: dropped an event for %s", channel)
            return
        loop.call_soon_threadsafe(self._outbox.put_nowait, (channel, event))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Event]]:
        async with self._local.subscribe(channel) as events:
            await self._join(self._prefix + channel)
            try:
                yield events
            finally:
                if self._local.subscriber_count(channel) == 1 and self._client is not None:
                    self._joined.pop(self._prefix + channel, None)
                    await self._pubsub.unsubscribe(self._prefix + channel)

    def listened(self, channel: str) -> bool:
        return True  # a subscriber on another replica cannot be seen from here without asking

    def subscriber_count(self, channel: str) -> int:
        """Subscribers in this process, once Redis has confirmed the channel's subscription
        (from then on they hear every replica's events)."""
        joined = self._joined.get(self._prefix + channel)
        if joined is None or not joined.is_set():
            return 0
        return self._local.subscriber_count(channel)

    async def _join(self, name: str) -> None:
        joined = self._joined.get(name)
        if joined is None:
            joined = self._joined[name] = asyncio.Event()
            await self._pubsub.subscribe(name)
            if not self._tasks:  # start(): no reader yet, read the confirmation here
                while await self._pubsub.get_message(timeout=self._timeout) is None:
                    pass
                joined.set()
        # Events published before Redis confirmed the subscription would not reach us.
        await asyncio.wait_for(joined.wait(), self._timeout)

    async def _read(self) -> None:
        import redis

        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (redis.RedisError, OSError) as exc:
                log.warning("live events: lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(1)
                continue
            if message is None:
                continue
            name = message["channel"].decode()
            if message["type"] == "subscribe" and name in self._joined:
                self._joined[name].set()
            elif message["type"] == "message" and name.startswith(self._prefix):
                self._local.publish(name[len(self._prefix) :], json.loads(message["data"]))

    async def _send(self) -> None:
        import redis

        assert self._client is not None
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, event in batch:
                        pipe.publish(self._prefix + channel, json.dumps(event, default=str))
                    await pipe.execute()
            except (redis.RedisError, OSError) as exc:
                log.warning("live events: %d not delivered, Redis failed: %s", len(batch), exc)


async def ping(client: redis.asyncio.Redis, url: str, timeout: float) -> None:
    """Fail fast and clearly when Redis does not answer."""
    import redis

    try:
        await asyncio.wait_for(cast(Awaitable[bool], client.ping()), timeout)
    except (redis.RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        raise BackendUnavailable(
            f"cannot reach Redis at {redacted(url)} (CHATBOT_REDIS_URL): {exc or 'timed out'}"
        ) from exc


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def publish_once(redis_url: str, prefix: str, channel: str, event: Event) -> None:
    """Publish one event from a process without a running bus (the CLI, a worker's job)."""
    import redis

    with redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5) as client:
        client.publish(f"{prefix}:events:{channel}", json.dumps(event, default=str))


def make_event_bus(redis_url: str | None, *, prefix: str = "chatbot") -> StartableBus:
    """The configured bus: in-process without a Redis URL, else Redis pub/sub (start it)."""
    if redis_url:
        return RedisEventBus(redis_url, prefix=prefix)
    return InProcessEventBus()


def _offer(queue: asyncio.Queue[Event], event: Event) -> None:
    # A subscriber that stopped reading loses its oldest events rather than stalling publishers.
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)


async def _drain(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    while True:
        yield await queue.get()


def conversation_channel(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"
