"""The in-process job runner: one job at a time, in order, and a failing job harms no other."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from chatbot.jobs import InProcessJobRunner


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

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
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

    futures = [runner.submit(name, job(name)) for name in ("a", "b", "c")]
    for future in futures:
        assert future.result(timeout=10) is None
    assert events == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert most_at_once == 1


def test_jobs_run_beside_the_caller(runner: InProcessJobRunner) -> None:
    caller = threading.current_thread()
    ran_on: list[threading.Thread] = []
    runner.submit("where", lambda: ran_on.append(threading.current_thread())).result(timeout=10)
    assert ran_on and ran_on[0] is not caller
    assert ran_on[0].name.startswith("chatbot-job")


def test_a_job_that_raises_is_logged_and_the_next_one_runs(
    runner: InProcessJobRunner, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("training exploded")

    done: list[str] = []
    failed = runner.submit("training-7", broken)
    after = runner.submit("training-8", lambda: done.append("training-8"))

    assert failed.result(timeout=10) is None  # the job records its own failure; nothing re-raised
    assert after.result(timeout=10) is None
    assert done == ["training-8"]
    (record,) = [r for r in caplog.records if r.name == "chatbot.jobs"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "job training-7 failed"
    assert record.exc_info is not None and "training exploded" in str(record.exc_info[1])


def test_shutdown_drops_the_jobs_still_waiting(runner: InProcessJobRunner) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(timeout=10)

    ran: list[str] = []
    first = runner.submit("first", blocking)
    waiting = runner.submit("waiting", lambda: ran.append("waiting"))
    assert started.wait(timeout=10)
    runner.shutdown()  # does not wait for the running job
    assert waiting.cancelled()
    assert not first.done()
    release.set()
    assert first.result(timeout=10) is None
    assert ran == []
