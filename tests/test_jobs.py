"""The job runners: in-process, one job at a time, in order, and a failing job harms no other;
the Redis runner queues a named function for `chatbot worker` (tests/test_worker.py runs one)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import sessionmaker

from chatbot.config import Settings
from chatbot.events import BackendUnavailable
from chatbot.jobs import (
    InProcessJobRunner,
    JobContext,
    RedisJobRunner,
    job_path,
    make_job_runner,
    perform,
    queue_name,
    set_worker_context,
)


@pytest.fixture
def runner() -> Iterator[InProcessJobRunner]:
    runner = InProcessJobRunner()
    yield runner
    runner.shutdown()


def test_jobs_run_one_at_a_time_in_the_order_given(runner: InProcessJobRunner) -> None:
    events: list[str] = []
    running = 0
    most_at_once = 0
    lock = threading.Lock()

    def job(name: str) -> Callable[[JobContext | None], None]:
        def run(context: JobContext | None) -> None:
            nonlocal running, most_at_once
            with lock:
                running += 1
                most_at_once = max(most_at_once, running)
                events.append(f"start {name}")
            time.sleep(0.02)
            with lock:
                events.append(f"end {name}")
                running -= 1

        return run

    futures = [runner.submit(job(name)) for name in ("a", "b", "c")]
    for future in futures:
        assert future.result(timeout=10) is None
    assert events == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert most_at_once == 1


def test_jobs_run_beside_the_caller(runner: InProcessJobRunner) -> None:
    caller = threading.current_thread()
    ran_on: list[threading.Thread] = []
    runner.submit(lambda _context: ran_on.append(threading.current_thread())).result(timeout=10)
    assert ran_on and ran_on[0] is not caller
    assert ran_on[0].name.startswith("chatbot-job")


def test_a_job_that_raises_is_logged_and_the_next_one_runs(
    runner: InProcessJobRunner, caplog: pytest.LogCaptureFixture
) -> None:
    def training(context: JobContext | None, run_id: int) -> None:
        if run_id == 7:
            raise RuntimeError("training exploded")
        done.append(f"training-{run_id}")

    done: list[str] = []
    failed = runner.submit(training, run_id=7)
    after = runner.submit(training, run_id=8)

    assert failed.result(timeout=10) is None  # the job records its own failure; nothing re-raised
    assert after.result(timeout=10) is None
    assert done == ["training-8"]
    (record,) = [r for r in caplog.records if r.name == "chatbot.jobs"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "job training(run_id=7) failed"
    assert record.exc_info is not None and "training exploded" in str(record.exc_info[1])


def test_shutdown_drops_the_jobs_still_waiting(runner: InProcessJobRunner) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking(_context: JobContext | None) -> None:
        started.set()
        release.wait(timeout=10)

    ran: list[str] = []
    first = runner.submit(blocking)
    waiting = runner.submit(lambda _context: ran.append("waiting"))
    assert started.wait(timeout=10)
    runner.shutdown()  # does not wait for the running job
    assert waiting.cancelled()
    assert not first.done()
    release.set()
    assert first.result(timeout=10) is None
    assert ran == []


def test_the_context_given_is_the_one_every_job_gets() -> None:
    context = JobContext(Settings(), sessionmaker(), lambda device: None)
    runner = InProcessJobRunner(context)
    seen: list[JobContext | None] = []
    try:
        runner.submit(lambda given, **kwargs: seen.append(given)).result(timeout=10)
    finally:
        runner.shutdown()
    assert seen == [context]


def record_call(context: JobContext, **kwargs: object) -> None:
    CALLS.append((context, kwargs))


CALLS: list[tuple[JobContext, dict[str, object]]] = []


def test_a_queued_job_is_a_module_level_function_named_by_its_path() -> None:
    assert job_path(record_call) == "tests.test_jobs:record_call"
    with pytest.raises(ValueError, match="module-level function"):
        job_path(lambda context: None)


def test_perform_runs_the_named_job_with_the_worker_context() -> None:
    context = JobContext(Settings(), sessionmaker(), lambda device: None)
    built: list[int] = []

    def factory() -> JobContext:
        built.append(1)
        return context

    CALLS.clear()
    set_worker_context(factory)
    try:
        perform("tests.test_jobs:record_call", {"run_id": 3})
        perform("tests.test_jobs:record_call", {"run_id": 4})
    finally:
        set_worker_context(lambda: context)
    assert [(context, {"run_id": 3}), (context, {"run_id": 4})] == CALLS
    assert built == [1]  # once per process


def test_the_redis_runner_queues_the_job_for_a_worker(redis_url: str, redis_prefix: str) -> None:
    runner = RedisJobRunner(redis_url, prefix=redis_prefix)
    try:
        job_id = runner.submit(record_call, run_id=5)
        (queued,) = runner.queue.get_jobs()
        assert queued.id == job_id
        assert queued.func_name == "chatbot.jobs.perform"
        assert queued.args == ("tests.test_jobs:record_call", {"run_id": 5})
        assert queued.timeout == -1  # a dead job is found by its heartbeat, not a time limit
        assert runner.queue.name == queue_name(redis_prefix)
    finally:
        runner.queue.empty()
        runner.shutdown()


def test_an_unreachable_redis_is_refused_at_once() -> None:
    with pytest.raises(BackendUnavailable, match=r"cannot reach Redis at redis://127.0.0.1:1/0"):
        RedisJobRunner("redis://127.0.0.1:1/0", timeout=2)


def test_the_configuration_chooses_the_runner(redis_url: str, redis_prefix: str) -> None:
    context = JobContext(Settings(), sessionmaker(), lambda device: None)
    in_process = make_job_runner(Settings(redis_url=""), context)
    assert isinstance(in_process, InProcessJobRunner)
    in_process.shutdown()
    queued = make_job_runner(Settings(redis_url=redis_url, redis_prefix=redis_prefix), context)
    assert isinstance(queued, RedisJobRunner)
    queued.shutdown()


def test_job_durations_are_recorded_by_job_and_outcome(runner: InProcessJobRunner) -> None:
    def succeeds(context: JobContext | None) -> None:
        pass

    def fails(context: JobContext | None) -> None:
        raise RuntimeError("no")

    def count(job: str, outcome: str) -> float:
        return (
            REGISTRY.get_sample_value("chatbot_job_seconds_count", {"job": job, "outcome": outcome})
            or 0.0
        )

    before = count("succeeds", "done"), count("fails", "failed")
    assert runner.queued() == 0
    runner.submit(succeeds).result(timeout=10)
    runner.submit(fails).result(timeout=10)
    assert (count("succeeds", "done"), count("fails", "failed")) == (before[0] + 1, before[1] + 1)
    assert runner.queued() == 0
