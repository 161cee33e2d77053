import asyncio
import os

import torch

from chatbot.nlu.batching import MicroBatcher
from chatbot.nlu.context import PreviousTurn, Utterance, joined
from chatbot.nlu.encoder import serving_threads


def test_follow_ups_with_their_previous_turn_share_one_batch() -> None:
    calls: list[list[Utterance]] = []

    def read(batch: list[Utterance]) -> list[str]:
        calls.append(batch)
        return [joined(utterance) for utterance in batch]

    async def two_customers() -> list[str]:
        batcher = MicroBatcher(read)
        try:
            return list(
                await asyncio.gather(
                    batcher.predict(
                        Utterance("and express?", PreviousTurn("delivery_times", "How long?"))
                    ),
                    batcher.predict(Utterance("where is my order?")),
                )
            )
        finally:
            await batcher.close()

    assert asyncio.run(two_customers()) == ["How long? and express?", "where is my order?"]
    assert len(calls) == 1


def test_a_lone_text_is_told_it_is_alone_and_a_crowd_is_not() -> None:
    """The model thread hears, before each batch, whether one text has the machine to itself
    (torch may then use every core) or others are queued or on their way."""
    heard: list[bool] = []
    sizes: list[int] = []

    def lengths(texts: list[str]) -> list[int]:
        sizes.append(len(texts))
        return [len(t) for t in texts]

    async def scenario() -> None:
        batcher = MicroBatcher(lengths, max_wait_s=0.05, before_batch=heard.append)
        try:
            assert await batcher.predict("alone") == 5
            with batcher.coming():  # a second message is being stored: not alone any more
                assert await batcher.predict("first") == 5
            assert await asyncio.gather(batcher.predict("a"), batcher.predict("bb")) == [1, 2]
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert list(zip(heard, sizes, strict=True)) == [(True, 1), (False, 1), (False, 2)]


def test_serving_threads_take_every_core_only_for_a_lone_message() -> None:
    before = torch.get_num_threads()
    try:
        serving_threads(3)(True)
        assert torch.get_num_threads() == 3  # the admin's number, whatever the load
        serving_threads(3)(False)
        assert torch.get_num_threads() == 3
        cores = len(os.sched_getaffinity(0))
        use = serving_threads(0)
        use(True)
        assert torch.get_num_threads() == cores
        use(False)
        assert torch.get_num_threads() == max(1, cores - 1)
    finally:
        torch.set_num_threads(before)
