"""Live events (new messages, typing, handoff state) delivered to whoever watches a conversation.

One small interface with an in-process implementation; a Redis one slots in for several replicas.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

Event = dict[str, Any]


class EventBus(Protocol):
    def publish(self, channel: str, event: Event) -> None:
        """Deliver an event to every current subscriber of a channel; callable from any thread."""

    def subscribe(self, channel: str) -> Any:
        """An async context manager yielding an async iterator of the channel's events."""

    def listened(self, channel: str) -> bool:
        """Whether anyone may hear an event on this channel (else it need not be built)."""


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
