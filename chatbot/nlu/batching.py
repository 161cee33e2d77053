"""Micro-batching: concurrent requests for one prediction each share one forward pass.

Callers await one future each; a worker gathers what is queued while the model is busy (and, for
a bounded wait, messages known to be on their way), runs one batched call on the inference
thread, and routes each result back. The shape of Ray Serve's ``@serve.batch``, without Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic

from typing_extensions import TypeVar  # a default for Q (PEP 696, in typing from 3.13)

R = TypeVar("R")
T = TypeVar("T")
# What one caller hands the model: a text, or a text with its context (nlu.context.Utterance).
Q = TypeVar("Q", default=str)


def model_thread() -> ThreadPoolExecutor:
    """The one thread that loads and runs a model."""
    return ThreadPoolExecutor(1, thread_name_prefix="inference")


@dataclass(frozen=True)
class BatchStats:
    """One batched call: how many, the longest time one of them waited, how long the call took."""

    size: int
    waited_s: float
    ran_s: float


class MicroBatcher(Generic[R, Q]):
    """Turns many ``await predict(text)`` into few ``predict_batch(texts)`` calls.

    Args:
        predict_batch: the model, called on one dedicated thread (torch uses every core inside
            it); returns one result per text (or other query ``Q``), in order.
        max_batch_size: most texts in one call.
        max_wait_s: longest the first text of a batch waits for others. The wait happens only
            while callers announced with :meth:`coming` are still on their way: a lone request
            never waits.
        on_batch: called with each batch's :class:`BatchStats` (metrics).
        thread: the single-thread executor that owns the model. Load the model on it too: torch
            runs several times slower on a thread other than the one that set it up.
        before_batch: called on that thread before each batch, with whether it is one text
            with nothing else queued or announced (torch may then take every core for it).

    Example:
        >>> async def demo() -> list[int]:
        ...     batcher = MicroBatcher(lambda texts: [len(t) for t in texts])
        ...     try:
        ...         return list(await asyncio.gather(*(batcher.predict(t) for t in ["a", "bb"])))
        ...     finally:
        ...         await batcher.close()
        >>> asyncio.run(demo())
        [1, 2]
    """

    def __init__(
        self,
        predict_batch: Callable[[list[Q]], list[R]],
        *,
        max_batch_size: int = 32,
        max_wait_s: float = 0.002,
        on_batch: Callable[[BatchStats], None] | None = None,
        thread: ThreadPoolExecutor | None = None,
        before_batch: Callable[[bool], object] | None = None,
    ) -> None:
        self._predict_batch = predict_batch
        self._before_batch = before_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: list[tuple[Q, float, asyncio.Future[R]]] = []
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._thread = thread or model_thread()
        self._coming = 0

    @contextlib.contextmanager
    def coming(self) -> Iterator[None]:
        """Announce a text that will be submitted soon (while its message is being stored)."""
        self._coming += 1
        try:
            yield
        finally:
            self._coming -= 1

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def predict(self, text: Q) -> R:
        """The model's result for one text, computed in a batch with whatever else is queued."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._arrived = asyncio.Event()
            self._worker = loop.create_task(self._run())
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((text, time.perf_counter(), future))
        assert self._arrived is not None
        self._arrived.set()
        return await future

    async def run(self, work: Callable[[], T]) -> T:
        """Run other work with the model (reloading its index, say) on the model's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def close(self) -> None:
        """Stop the worker; queued callers get CancelledError."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for _text, _at, future in self._queue:
            future.cancel()
        self._queue.clear()
        self._thread.shutdown(wait=False)

    def _call(self, texts: list[Q], alone: bool) -> list[R]:
        if self._before_batch is not None:
            self._before_batch(alone)
        return self._predict_batch(texts)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        arrived = self._arrived
        assert arrived is not None
        while True:
            while not self._queue:
                arrived.clear()
                await arrived.wait()
            deadline = loop.time() + self.max_wait_s
            while len(self._queue) < self.max_batch_size and self._coming > 0:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), remaining)
                except TimeoutError:
                    break
            batch = [item for item in self._queue[: self.max_batch_size] if not item[2].done()]
            del self._queue[: self.max_batch_size]
            if not batch:
                continue
            # Nothing else queued or on its way: the whole machine may serve this one message.
            alone = len(batch) == 1 and not self._queue and self._coming == 0
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._thread, self._call, [text for text, _, _ in batch], alone
                )
            except Exception as exc:  # every caller of this batch hears of it
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(
                    BatchStats(
                        len(batch),
                        started - min(at for _, at, _ in batch),
                        time.perf_counter() - started,
                    )
                )
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
