"""Background jobs behind one small interface; in-process first, a task queue later."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger(__name__)


class JobRunner(Protocol):
    def submit(self, name: str, job: Callable[[], None]) -> Future[None]:
        """Run ``job`` in the background; its own code records its outcome."""

    def shutdown(self) -> None: ...


class InProcessJobRunner:
    """One worker thread: jobs run one after another beside the web app (the embedded default)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatbot-job")

    def submit(self, name: str, job: Callable[[], None]) -> Future[None]:
        def run() -> None:
            try:
                job()
            except Exception:  # the job has recorded its failure; keep the worker alive
                log.exception("job %s failed", name)

        return self._pool.submit(run)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
