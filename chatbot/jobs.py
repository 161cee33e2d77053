"""Background jobs behind one small interface, two backends chosen by configuration.

A job is a module-level function ``job(context, **kwargs)`` with JSON-ready arguments, so that it
can run in this process (the embedded default: one thread beside the web app) or in a
`chatbot worker` process fed by a Redis queue (RQ). The job keeps its own record of how it ended
(a training run's row): the runner only runs it. A web process only enqueues.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Histogram
from sqlalchemy.orm import Session, sessionmaker

from chatbot.config import Settings

log = logging.getLogger(__name__)
QUEUE = "jobs"  # the RQ queue's name, after the configured prefix
# RQ's own limit on a job's duration: none; a dead job is found by its missing heartbeat instead.
NO_TIMEOUT = -1
JOB_SECONDS = Histogram(
    "chatbot_job_seconds",
    "Duration of background jobs in this process, by job and outcome",
    ["job", "outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600, 7200),
)


@dataclass
class JobContext:
    """What a job may use: the settings, database sessions and the base encoder for training."""

    settings: Settings
    sessions: sessionmaker[Session]
    load_base: Callable[[str], Any]


Job = Callable[..., None]


class JobRunner(Protocol):
    def submit(self, job: Job, /, **kwargs: Any) -> Any:
        """Run ``job(context, **kwargs)`` in the background, once; its own code records its
        outcome. ``job`` must be a module-level function and ``kwargs`` JSON-ready."""

    def queued(self) -> int:
        """Jobs waiting to start."""

    def shutdown(self) -> None: ...


@contextmanager
def timed(job: Job) -> Iterator[None]:
    started, outcome = time.monotonic(), "failed"
    try:
        yield
        outcome = "done"
    finally:
        JOB_SECONDS.labels(job.__name__, outcome).observe(time.monotonic() - started)


class InProcessJobRunner:
    """One worker thread: jobs run one after another beside the web app (the embedded default)."""

    def __init__(self, context: JobContext | None = None) -> None:
        self._context = context
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatbot-job")
        self._waiting = 0
        self._lock = threading.Lock()

    def submit(self, job: Job, /, **kwargs: Any) -> Future[None]:
        name = job_name(job, kwargs)

        def run() -> None:
            with self._lock:
                self._waiting -= 1
            try:
                with timed(job):
                    job(self._context, **kwargs)
            except Exception:  # the job has recorded its failure; keep the worker alive
                log.exception("job %s failed", name)

        with self._lock:
            self._waiting += 1
        return self._pool.submit(run)

    def queued(self) -> int:
        return self._waiting

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class RedisJobRunner:
    """Jobs queued in Redis (RQ) for `chatbot worker` processes: one worker takes each job."""

    def __init__(self, redis_url: str, *, prefix: str = "chatbot", timeout: float = 5.0) -> None:
        import redis
        from rq import Queue

        from chatbot.events import BackendUnavailable, redacted

        self.connection = redis.Redis.from_url(
            redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            self.connection.ping()
        except (redis.RedisError, OSError) as exc:
            self.connection.close()
            raise BackendUnavailable(
                f"cannot reach Redis at {redacted(redis_url)} (CHATBOT_REDIS_URL): {exc}"
            ) from exc
        self.queue = Queue(queue_name(prefix), connection=self.connection)

    def submit(self, job: Job, /, **kwargs: Any) -> str:
        queued = self.queue.enqueue(
            perform,
            job_path(job),
            kwargs,
            job_timeout=NO_TIMEOUT,
            description=job_name(job, kwargs),
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
        log.info("queued job %s as %s", job_name(job, kwargs), queued.id)
        return str(queued.id)

    def queued(self) -> int:
        import redis

        try:
            return int(self.queue.count)
        except redis.RedisError:  # a scrape must not fail for it
            return -1

    def shutdown(self) -> None:
        self.connection.close()


def make_job_runner(settings: Settings, context: JobContext) -> JobRunner:
    """The configured runner: in this process without CHATBOT_REDIS_URL, else the Redis queue."""
    if settings.redis_url:
        return RedisJobRunner(settings.redis_url, prefix=settings.redis_prefix)
    return InProcessJobRunner(context)


def queue_name(prefix: str) -> str:
    return f"{prefix}:{QUEUE}"


def job_path(job: Job) -> str:
    path = f"{job.__module__}:{job.__qualname__}"
    if "<" in path:
        raise ValueError(f"a queued job must be a module-level function, not {path}")
    return path


def job_name(job: Job, kwargs: dict[str, Any]) -> str:
    arguments = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{job.__name__}({arguments})"


_worker_context: tuple[int, JobContext] | None = None
_context_factory: Callable[[], JobContext] | None = None


def set_worker_context(factory: Callable[[], JobContext]) -> None:
    """How a worker process builds its job context (once per process that runs jobs)."""
    global _context_factory, _worker_context
    _context_factory, _worker_context = factory, None


def perform(path: str, kwargs: dict[str, Any]) -> None:
    """What RQ runs in a worker: the job named by ``path``, with this process's context."""
    global _worker_context
    if _worker_context is None or _worker_context[0] != os.getpid():
        # Built in the process that runs the job (RQ forks one per job): no connection crosses
        # a fork.
        if _context_factory is None:
            raise RuntimeError("no job context: jobs run under `chatbot worker`")
        _worker_context = (os.getpid(), _context_factory())
    module, _, name = path.partition(":")
    job: Job = getattr(importlib.import_module(module), name)
    with timed(job):
        job(_worker_context[1], **kwargs)
