"""`chatbot worker` as a real process on Redis and a shared database: it runs a queued training run
once, a cancel reaches it, and a run whose worker was killed ends failed, never running for good.

The job is tests.fakes.slow_training (no model): it claims, beats and reports like the real one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from chatbot.config import Settings
from chatbot.db import training_runs as runs
from chatbot.db.models import RunStatus, TrainingRun
from chatbot.db.session import make_engine, make_session_factory
from chatbot.jobs import RedisJobRunner
from chatbot.worker import heartbeat, reap
from tests.fakes import slow_training

REPO = Path(__file__).resolve().parent.parent
HEARTBEAT = 0.5


@pytest.fixture
def settings(db_url: str, tmp_path: Path, redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        job_heartbeat_seconds=HEARTBEAT,
    )


@pytest.fixture
def runner(settings: Settings) -> Iterator[RedisJobRunner]:
    runner = RedisJobRunner(settings.redis_url, prefix=settings.redis_prefix)
    yield runner
    runner.shutdown()


class Workers:
    """`chatbot worker` processes, each in a process group of its own (so a kill takes its job's
    child process too, as stopping a container does); all stopped after the test."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.env = {
            **os.environ,
            "CHATBOT_DATABASE_URL": settings.resolved_database_url,
            "CHATBOT_DATA_DIR": str(settings.data_dir),
            "CHATBOT_REDIS_URL": settings.redis_url,
            "CHATBOT_REDIS_PREFIX": settings.redis_prefix,
            "CHATBOT_JOB_HEARTBEAT_SECONDS": str(settings.job_heartbeat_seconds),
            "PYTHONPATH": str(REPO),  # the fake job lives in tests/
        }
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.started)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "chatbot.cli", "worker"],
                cwd=self.logs,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], job_pid: int | None = None) -> None:
        """SIGKILL a worker and the child process running its job (RQ puts that child in a
        process group of its own), as stopping the container would."""
        os.killpg(process.pid, signal.SIGKILL)
        if job_pid is not None:
            os.killpg(job_pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    workers = Workers(settings, tmp_path)
    yield workers
    workers.stop_all()


def queued_run(settings: Settings) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            run = runs.create_run(session, config={}, device="cpu")
            session.commit()
            return run.id
    finally:
        engine.dispose()


def wait_for_run(
    settings: Settings, run_id: int, done: Callable[[TrainingRun], bool], timeout: float = 60
) -> TrainingRun:
    engine = make_engine(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with make_session_factory(engine)() as session:
                run = runs.get_run(session, run_id)
                assert run is not None
                if done(run) or time.monotonic() > deadline:
                    return run
            time.sleep(0.1)
    finally:
        engine.dispose()


def ran(settings: Settings, run_id: int) -> list[str]:
    path = settings.data_dir / f"ran-{run_id}"
    return path.read_text().split() if path.exists() else []


def test_a_queued_run_is_run_once_though_two_workers_are_handed_it(
    settings: Settings, runner: RedisJobRunner, workers: Workers
) -> None:
    first, second = workers.start(), workers.start()
    run_id = queued_run(settings)
    # The same run queued twice (a double click, a retried request): each worker may take one.
    jobs = [runner.submit(slow_training, run_id=run_id, steps=5) for _ in range(2)]

    run = wait_for_run(settings, run_id, lambda r: r.status is RunStatus.SUCCEEDED)
    assert (run.status, run.model_version, run.progress["step"]) == (
        RunStatus.SUCCEEDED,
        "ft-fake",
        5,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = [Job.fetch(j, connection=runner.connection).get_status() for j in jobs]
        if statuses == [JobStatus.FINISHED] * 2:
            break
        time.sleep(0.1)
    assert statuses == [JobStatus.FINISHED] * 2  # both jobs ran ...
    assert len(ran(settings, run_id)) == 1  # ... and one of them trained
    assert first.poll() is None and second.poll() is None

    # The container health check: a worker of this host takes jobs from this queue.
    check = [sys.executable, "-m", "chatbot.cli", "worker", "--check"]
    assert subprocess.run(check, env=workers.env, timeout=60).returncode == 0
    elsewhere = {**workers.env, "CHATBOT_REDIS_PREFIX": f"{settings.redis_prefix}-none"}
    nobody = subprocess.run(check, env=elsewhere, capture_output=True, text=True, timeout=60)
    assert nobody.returncode == 1
    assert nobody.stderr == "chatbot: no worker of this host is taking jobs\n"


def test_cancel_reaches_the_worker(
    settings: Settings, runner: RedisJobRunner, workers: Workers
) -> None:
    workers.start()
    run_id = queued_run(settings)
    runner.submit(slow_training, run_id=run_id, steps=10_000)
    wait_for_run(settings, run_id, lambda r: bool(r.progress))

    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:  # what the admin's cancel does
        run = runs.get_run(session, run_id)
        assert run is not None
        runs.request_cancel(session, run)
        session.commit()
    engine.dispose()

    run = wait_for_run(settings, run_id, lambda r: r.status is RunStatus.CANCELLED, timeout=15)
    assert run.status is RunStatus.CANCELLED
    assert run.progress["step"] < 10_000


def test_a_killed_worker_leaves_its_run_failed_not_running(
    settings: Settings, runner: RedisJobRunner, workers: Workers
) -> None:
    doomed = workers.start()
    run_id = queued_run(settings)
    runner.submit(slow_training, run_id=run_id, steps=10_000)
    running = wait_for_run(settings, run_id, lambda r: bool(r.progress))

    assert running.pid is not None and running.pid != doomed.pid  # RQ's child ran the job
    workers.kill(doomed, running.pid)  # SIGKILL: nothing of that worker runs any more
    workers.start()  # another worker (a replica would do the same) finds the run dead
    run = wait_for_run(settings, run_id, lambda r: r.status is not RunStatus.RUNNING, timeout=30)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.startswith("interrupted")
    assert len(ran(settings, run_id)) == 1  # failed, not run again behind anyone's back


def test_a_run_whose_heartbeat_stops_is_failed_by_any_reaper(settings: Settings) -> None:
    # A worker on another machine: its pid means nothing here, only its silence does.
    run_id = queued_run(settings)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            run = runs.get_run(session, run_id)
            assert run is not None and runs.claim(session, run)
            run.host = "another-machine"
            session.commit()
        with heartbeat(sessions, run_id, HEARTBEAT):
            time.sleep(HEARTBEAT * 8)  # longer than six beats, but it kept beating
            assert reap(sessions, HEARTBEAT) == []
        time.sleep(HEARTBEAT * 7)  # now silent for more than six beats
        assert reap(sessions, HEARTBEAT) == [run_id]
    finally:
        engine.dispose()


def test_the_worker_needs_redis(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CHATBOT_DATABASE_URL": db_url, "CHATBOT_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "chatbot.cli", "worker"]
    unset = subprocess.run(
        command, env={**env, "CHATBOT_REDIS_URL": ""}, capture_output=True, text=True, timeout=60
    )
    assert unset.returncode == 2
    assert "set CHATBOT_REDIS_URL" in unset.stderr
    assert "Traceback" not in unset.stderr

    started = time.monotonic()
    unreachable = subprocess.run(
        command,
        env={**env, "CHATBOT_REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 1
    assert "chatbot: cannot reach Redis at redis://127.0.0.1:1/0" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    assert time.monotonic() - started < 30
