import asyncio

from chatbot.nlu.batching import MicroBatcher
from chatbot.nlu.context import PreviousTurn, Utterance, joined


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
