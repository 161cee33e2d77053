"""The event buses: in-process fan-out across threads, separate channels, bounded queues; two
Redis buses (two replicas) hearing each other."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from chatbot.events import (
    BackendUnavailable,
    Event,
    InProcessEventBus,
    RedisEventBus,
    conversation_channel,
    make_event_bus,
)


async def next_event(events: AsyncIterator[Event]) -> Event:
    # A bounded wait: a missing event fails the test instead of hanging it.
    return await asyncio.wait_for(anext(events), timeout=5)


def publish_from_another_thread(
    bus: InProcessEventBus | RedisEventBus, channel: str, *events: Event
) -> None:
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


async def started(bus: RedisEventBus) -> RedisEventBus:
    await bus.start()
    return bus


def test_two_redis_buses_exchange_events_in_order(redis_url: str, redis_prefix: str) -> None:
    # Two replicas: a customer's socket on one, a staff member typing on the other.
    async def scenario() -> tuple[list[Event], list[Event]]:
        a = await started(RedisEventBus(redis_url, prefix=redis_prefix))
        b = await started(RedisEventBus(redis_url, prefix=redis_prefix))
        try:
            async with a.subscribe("room") as on_a, b.subscribe("other") as on_b:
                publish_from_another_thread(b, "room", *({"n": n} for n in range(5)))
                a.publish("other", {"from": "a"})
                heard_on_a = [await next_event(on_a) for _ in range(5)]
                heard_on_b = [await next_event(on_b)]
            return heard_on_a, heard_on_b
        finally:
            await a.close()
            await b.close()

    heard_on_a, heard_on_b = asyncio.run(scenario())
    assert heard_on_a == [{"n": n} for n in range(5)]
    assert heard_on_b == [{"from": "a"}]


def test_a_redis_bus_leaves_a_channel_with_its_last_subscriber(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> list[Event]:
        bus = await started(RedisEventBus(redis_url, prefix=redis_prefix))
        try:
            async with bus.subscribe("room") as first:
                async with bus.subscribe("room") as second:
                    bus.publish("room", {"n": 1})
                    assert await next_event(second) == {"n": 1}
                # One subscriber left: still joined, and it gets the next event.
                bus.publish("room", {"n": 2})
                received = [await next_event(first), await next_event(first)]
            async with bus.subscribe("room") as again:
                bus.publish("room", {"n": 3})  # rejoined: heard, and nothing old comes back
                received.append(await next_event(again))
            return received
        finally:
            await bus.close()

    assert asyncio.run(scenario()) == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_events_on_another_prefix_are_not_heard(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> Event:
        ours = await started(RedisEventBus(redis_url, prefix=redis_prefix))
        theirs = await started(RedisEventBus(redis_url, prefix=redis_prefix + "-other"))
        try:
            async with ours.subscribe("room") as events:
                theirs.publish("room", {"from": "another deployment"})
                ours.publish("room", {"from": "us"})
                return await next_event(events)
        finally:
            await ours.close()
            await theirs.close()

    assert asyncio.run(scenario()) == {"from": "us"}


def test_an_unreachable_redis_is_a_clear_error_not_a_hang() -> None:
    # Port 1 refuses at once; the password must not appear in the message.
    bus = RedisEventBus("redis://:hunter2@127.0.0.1:1/0", timeout=2)
    with pytest.raises(BackendUnavailable) as failure:
        asyncio.run(asyncio.wait_for(bus.start(), 10))
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in str(failure.value)
    assert "hunter2" not in str(failure.value)


def test_the_configuration_chooses_the_bus() -> None:
    assert isinstance(make_event_bus(None), InProcessEventBus)
    assert isinstance(make_event_bus("redis://127.0.0.1:6379/0"), RedisEventBus)
