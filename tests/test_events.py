"""The in-process event bus: fan-out across threads, separate channels, bounded queues."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from chatbot.events import Event, InProcessEventBus, conversation_channel


async def next_event(events: AsyncIterator[Event]) -> Event:
    # A bounded wait: a missing event fails the test instead of hanging it.
    return await asyncio.wait_for(anext(events), timeout=5)


def publish_from_another_thread(bus: InProcessEventBus, channel: str, *events: Event) -> None:
    """Publish from a thread of its own and wait for it; fails if publishing blocks that thread."""

    def publish_all() -> None:
        for event in events:
            bus.publish(channel, event)

    # A daemon: should publishing block for good, the test fails instead of hanging pytest's exit.
    thread = threading.Thread(target=publish_all, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), "publishing blocked the publisher's thread"


async def delivered_so_far() -> None:
    """Return once the loop has run every delivery scheduled from other threads before this call.

    ``publish`` hands each event to the subscriber's loop with ``call_soon_threadsafe``, and the
    loop runs those callbacks in order: a callback scheduled the same way after them runs after
    all of them.
    """
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon_threadsafe(done.set_result, None)
    await done


def test_a_subscriber_receives_events_published_from_another_thread() -> None:
    bus = InProcessEventBus()

    async def scenario() -> list[Event]:
        async with bus.subscribe("room") as events:
            publish_from_another_thread(bus, "room", {"n": 1}, {"n": 2})
            return [await next_event(events), await next_event(events)]

    assert asyncio.run(scenario()) == [{"n": 1}, {"n": 2}]


def test_every_subscriber_of_a_channel_gets_each_event() -> None:
    bus = InProcessEventBus()

    async def scenario() -> tuple[Event, Event]:
        async with bus.subscribe("room") as first, bus.subscribe("room") as second:
            assert bus.subscriber_count("room") == 2
            publish_from_another_thread(bus, "room", {"type": "typing"})
            return await next_event(first), await next_event(second)

    assert asyncio.run(scenario()) == ({"type": "typing"}, {"type": "typing"})


def test_two_channels_do_not_mix() -> None:
    bus = InProcessEventBus()
    a, b = conversation_channel("a"), conversation_channel("b")
    assert a != b

    async def scenario() -> tuple[Event, Event]:
        async with bus.subscribe(a) as events_a, bus.subscribe(b) as events_b:
            # b's event is published first: were channels mixed, it would reach a's queue first.
            publish_from_another_thread(bus, b, {"for": "b"})
            publish_from_another_thread(bus, a, {"for": "a"})
            return await next_event(events_a), await next_event(events_b)

    assert asyncio.run(scenario()) == ({"for": "a"}, {"for": "b"})


def test_leaving_the_block_unsubscribes_even_after_an_error() -> None:
    bus = InProcessEventBus()
    counts: list[int] = []

    async def scenario() -> None:
        async with bus.subscribe("room"):
            counts.append(bus.subscriber_count("room"))
        counts.append(bus.subscriber_count("room"))
        try:
            async with bus.subscribe("room"):
                counts.append(bus.subscriber_count("room"))
                raise RuntimeError("the WebSocket went away")
        except RuntimeError:
            pass
        counts.append(bus.subscriber_count("room"))

    asyncio.run(scenario())
    assert counts == [1, 0, 1, 0]
    bus.publish("room", {"n": 1})  # nobody listens: a no-op, not an error


def test_a_slow_subscriber_loses_its_oldest_events_instead_of_blocking_publishers() -> None:
    bus = InProcessEventBus(max_queued=2)

    async def scenario() -> list[Event]:
        async with bus.subscribe("room") as events:
            # The loop is busy in this coroutine and reads nothing meanwhile: the publisher must
            # return anyway (publish_from_another_thread fails if its thread is still blocked).
            publish_from_another_thread(bus, "room", *({"n": n} for n in range(1, 6)))
            await delivered_so_far()
            received = [await next_event(events), await next_event(events)]
            # Nothing else is queued: the three oldest were dropped, so an event published now is
            # the next one out.
            publish_from_another_thread(bus, "room", {"n": "after"})
            received.append(await next_event(events))
            return received

    assert asyncio.run(scenario()) == [{"n": 4}, {"n": 5}, {"n": "after"}]
