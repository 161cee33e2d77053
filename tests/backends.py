"""The suite on the production backends: PostgreSQL, Redis events and the RQ job queue.

``CHATBOT_TEST_BACKEND=postgres`` (``.ci/run`` runs the suite once this way, once on the embedded
default) makes every test database a migrated schema of ``CHATBOT_TEST_POSTGRES_URL``, and every
app publish live events through ``CHATBOT_TEST_REDIS_URL`` and queue its jobs there. The jobs of
an app are taken by an RQ worker on a thread of the test process (``chatbot worker`` forks a
process per job, which a test process cannot afford), with that app's own database sessions.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty
from sqlalchemy import text
from sqlalchemy.engine import make_url

from chatbot import jobs
from chatbot.config import Settings
from chatbot.db.migrate import upgrade
from chatbot.db.session import make_engine

BACKEND = os.environ.get("CHATBOT_TEST_BACKEND", "sqlite")
ON_POSTGRES = BACKEND == "postgres"
if BACKEND not in ("sqlite", "postgres"):
    raise SystemExit(f"CHATBOT_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")

# Jobs of every app in this process take turns: `chatbot.jobs.perform` finds its context in
# one module-level slot, as it does in a worker's child process.
_ONE_JOB_AT_A_TIME = threading.Lock()
POLL_S = 0.05


@contextmanager
def migrated_schema(postgres_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, migrated schema of the database at
    ``postgres_url``; the schema is dropped when the block ends."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        upgrade(rendered)
        yield rendered
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class _ThreadWorker(SimpleWorker):
    """An RQ worker that runs on a thread: no signal handlers, timeouts by timer."""

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args: Any, context: jobs.JobContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def _install_signal_handlers(self) -> None:
        pass

    # RQ's command channel (a pub/sub connection and thread per work() call) is not needed:
    # cancelling a run goes through its database row.
    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass

    def execute_job(self, job: Any, queue: Any) -> None:
        context = self.context
        with _ONE_JOB_AT_A_TIME:
            jobs.set_worker_context(lambda: context)
            super().execute_job(job, queue)


class ThreadWorkerJobRunner(jobs.RedisJobRunner):
    """The Redis queue of one app (a prefix of its own) and a worker thread that empties it."""

    def __init__(self, settings: Settings, context: jobs.JobContext) -> None:
        assert settings.redis_url
        super().__init__(
            settings.redis_url, prefix=f"{settings.redis_prefix}:{uuid.uuid4().hex[:8]}"
        )
        self._stop = threading.Event()
        self._context = context
        self._thread = threading.Thread(target=self._work, name="rq-test-worker", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            worker = _ThreadWorker(
                [self.queue],
                name=f"test-{uuid.uuid4().hex[:8]}",
                connection=self.connection,
                context=self._context,
            )
            worker.work(burst=True, logging_level="WARNING")
            self._stop.wait(POLL_S)

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        super().shutdown()


def make_job_runner(settings: Settings, context: jobs.JobContext) -> jobs.JobRunner:
    """`chatbot.jobs.make_job_runner` for the suite: Redis-queued jobs get a worker thread."""
    if settings.redis_url:
        return ThreadWorkerJobRunner(settings, context)
    return jobs.InProcessJobRunner(context)
