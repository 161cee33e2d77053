"""`chatbot worker`: runs queued jobs; the training job, its heartbeat and the reaper of dead runs.

RQ hands each job to one worker and runs it in a child process of its own (so a training run's
memory, on the GPU too, is returned when it ends). The run's row says what happened: a job beats
every CHATBOT_JOB_HEARTBEAT_SECONDS, and a run whose beats stop (its worker was killed, the
machine went away) is marked failed by the reaper that every worker and replica runs. Cancelling
sets a flag on the row that the running job reads at its next progress report.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from chatbot.config import Settings
from chatbot.db import training_runs as runs
from chatbot.jobs import JobContext

log = logging.getLogger(__name__)


def training(context: JobContext, run_id: int) -> None:
    """The training job: one queued run, trained, saved and registered (see chatbot.training)."""
    from chatbot.training import execute_run
    from chatbot.upkeep import announce_activation_once

    settings = context.settings
    with heartbeat(context.sessions, run_id, settings.job_heartbeat_seconds):
        version = execute_run(settings, context.sessions, run_id, load_base=context.load_base)
    if version is not None and version.is_active:
        announce_activation_once(settings, version.version)


@contextmanager
def heartbeat(sessions: sessionmaker[Session], run_id: int, every: float) -> Iterator[None]:
    """Record every ``every`` seconds, from a thread of its own, that the run's process lives
    (training may go minutes between progress reports: loading, measuring, saving)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with sessions() as session:
                    runs.beat(session, run_id)
                    session.commit()
            except Exception:
                log.warning("training run %s: heartbeat not recorded", run_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)


def reap(sessions: sessionmaker[Session], heartbeat_seconds: float) -> list[int]:
    """Mark failed the runs whose process died; returns their ids."""
    with sessions() as session:
        lost = runs.recover_interrupted_runs(session, heartbeat_seconds)
        session.commit()
        ids = [run.id for run in lost]
    for run_id in ids:
        log.warning("training run %s: its process died; marked failed", run_id)
    return ids


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Take jobs from the Redis queue until stopped (SIGTERM: after the current job)."""
    from rq import Worker

    from chatbot.db.session import make_engine, make_session_factory
    from chatbot.jobs import RedisJobRunner, set_worker_context
    from chatbot.logs import configure
    from chatbot.runtime import DatabaseNotReady

    configure(settings.log_format)
    runner = RedisJobRunner(settings.redis_url, prefix=settings.redis_prefix)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    try:
        reap(sessions, settings.job_heartbeat_seconds)
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseNotReady(
            f"the database at {settings.resolved_database_url} has no schema: "
            "run `chatbot db upgrade` first"
        ) from exc
    set_worker_context(lambda: job_context(settings))
    # Imported once here, not in every job's child process (torch takes seconds to import).
    import chatbot.training  # noqa: F401

    stop = threading.Event()
    reaper = threading.Thread(
        target=_reap_every,
        args=(sessions, settings.job_heartbeat_seconds, stop),
        name="reaper",
        daemon=True,
    )
    reaper.start()

    def horse_killed(job: Any, pid: int, status: int, rusage: Any) -> None:
        # The job's child process died (killed, out of memory): its run failed now, not later.
        run_id = (job.args[1] if len(job.args) > 1 else {}).get("run_id")
        if run_id is None:
            return
        with sessions() as session:
            if runs.fail_if_running(
                session, run_id, f"the worker's job process died (status {status})"
            ):
                log.warning("training run %s: the job process died; marked failed", run_id)
            session.commit()

    worker = Worker(
        [runner.queue],
        name=f"{socket.gethostname()}.{os.getpid()}",  # what `chatbot worker --check` looks for
        connection=runner.connection,
        work_horse_killed_handler=horse_killed,
    )
    log.info("worker %s takes jobs from %s", worker.name, runner.queue.name)
    try:
        worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
    finally:
        stop.set()
        engine.dispose()


def worker_alive(settings: Settings) -> bool:
    """Whether a worker of this host is registered on the queue (a container's health check)."""
    from rq import Worker

    from chatbot.jobs import RedisJobRunner

    runner = RedisJobRunner(settings.redis_url, prefix=settings.redis_prefix)
    try:
        host = socket.gethostname()
        workers = Worker.all(connection=runner.connection, queue=runner.queue)
        return any(worker.name.startswith(f"{host}.") for worker in workers)
    finally:
        runner.shutdown()


def _reap_every(sessions: sessionmaker[Session], every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            reap(sessions, every)
        except Exception:
            log.warning("could not check for dead training runs", exc_info=True)


def job_context(settings: Settings) -> JobContext:
    """A worker process's context: its own database connections; the base encoder on demand."""
    from chatbot.db.session import make_engine, make_session_factory
    from chatbot.runtime import load_encoder

    @cache
    def load_base(device: str) -> Any:
        return load_encoder(settings, device)

    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    return JobContext(settings=settings, sessions=sessions, load_base=load_base)
