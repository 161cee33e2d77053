"""Training run rows: one at a time, progress, cancelling, recovering runs whose process died."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.base import utcnow
from chatbot.db.knowledge import get_knowledge_base
from chatbot.db.models import RunStatus, TrainingRun
from chatbot.db.training_runs import (
    STALE_AFTER,
    RunInProgress,
    create_run,
    finish_run,
    get_run,
    list_runs,
    mark_running,
    record_progress,
    recover_interrupted_runs,
    request_cancel,
)

CONFIG = {"training": {"epochs": 2}, "activate": False, "device": "cpu"}
PROGRESS = {
    "step": 3,
    "total_steps": 10,
    "epoch": 1,
    "loss": 0.812345678,
    "elapsed_seconds": 4.2,
    "eta_seconds": 9.8,
}


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def run_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(TrainingRun)) or 0


def test_a_run_is_queued_for_the_knowledge_base(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    assert run.id is not None
    assert run.status is RunStatus.QUEUED
    assert run.knowledge_base_id == get_knowledge_base(db_session).id
    assert (run.config, run.device) == (CONFIG, "cpu")
    assert (run.progress, run.losses, run.cancel_requested) == ({}, [], False)
    assert run.started_at is None and run.finished_at is None
    assert get_run(db_session, run.id) is run
    assert get_run(db_session, run.id + 1000) is None


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
def test_one_run_at_a_time(db_session: Session, status: RunStatus) -> None:
    first = create_run(db_session, config=CONFIG, device="cpu")
    if status is RunStatus.RUNNING:
        mark_running(db_session, first)
    with pytest.raises(RunInProgress) as refused:
        create_run(db_session, config=CONFIG, device="cpu")
    assert refused.value.run is first
    assert str(refused.value) == f"training run {first.id} is still {status.value}: one at a time"
    assert run_count(db_session) == 1


@pytest.mark.parametrize(
    "status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED], ids=str
)
def test_a_finished_run_makes_way_for_the_next(db_session: Session, status: RunStatus) -> None:
    first = create_run(db_session, config=CONFIG, device="cpu")
    finish_run(db_session, first, status)
    second = create_run(db_session, config=CONFIG, device="cpu")
    assert second.id != first.id
    assert [r.id for r in list_runs(db_session)] == [second.id, first.id]  # newest first


def test_list_runs_is_limited(db_session: Session) -> None:
    for _ in range(3):
        finish_run(
            db_session, create_run(db_session, config=CONFIG, device="cpu"), RunStatus.FAILED
        )
    assert len(list_runs(db_session, limit=2)) == 2


def test_mark_running_records_who_runs_it(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    assert run.status is RunStatus.RUNNING
    assert run.pid == os.getpid()
    assert run.host == socket.gethostname()
    assert run.started_at is not None and run.heartbeat_at == run.started_at


def test_progress_is_stored_with_the_loss_curve(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    started = run.heartbeat_at
    assert record_progress(db_session, run, PROGRESS) is False
    assert record_progress(db_session, run, {**PROGRESS, "step": 4, "loss": 0.5}) is False
    db_session.expire_all()
    stored = get_run(db_session, run.id)
    assert stored is not None
    assert stored.progress == {**PROGRESS, "step": 4, "loss": 0.5}
    assert stored.losses == [0.81235, 0.5]
    assert stored.heartbeat_at is not None and started is not None
    assert stored.heartbeat_at.replace(tzinfo=None) >= started.replace(tzinfo=None)


def test_progress_reports_a_cancel_request(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    request_cancel(db_session, run)
    assert run.status is RunStatus.RUNNING  # the run itself stops at its next step
    assert record_progress(db_session, run, PROGRESS) is True


def test_cancelling_a_queued_run_ends_it_at_once(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    request_cancel(db_session, run)
    assert run.status is RunStatus.CANCELLED
    assert run.error == "cancelled before it started"
    assert run.finished_at is not None
    create_run(db_session, config=CONFIG, device="cpu")  # no longer in the way


@pytest.mark.parametrize(
    "status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED], ids=str
)
def test_cancelling_a_finished_run_changes_nothing(db_session: Session, status: RunStatus) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    finish_run(db_session, run, status, error="as it was")
    request_cancel(db_session, run)
    assert (run.status, run.error, run.cancel_requested) == (status, "as it was", False)


def test_finishing_records_the_outcome(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    finish_run(db_session, run, RunStatus.SUCCEEDED, model_version="ft-1")
    assert (run.status, run.model_version, run.error) == (RunStatus.SUCCEEDED, "ft-1", None)
    assert run.finished_at is not None


def test_a_run_whose_process_died_is_marked_failed(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    run.pid = dead_pid()
    assert recover_interrupted_runs(db_session) == [run]
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.startswith("interrupted")
    assert run.finished_at is not None
    assert recover_interrupted_runs(db_session) == []  # once


def test_a_live_run_is_left_alone(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)  # this very process: alive
    assert recover_interrupted_runs(db_session) == []
    assert run.status is RunStatus.RUNNING


def test_a_run_on_another_host_is_trusted_until_its_heartbeat_goes_stale(
    db_session: Session,
) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    run.host, run.pid = "another-machine", dead_pid()  # its pid means nothing here
    assert recover_interrupted_runs(db_session) == []
    run.heartbeat_at = utcnow() - STALE_AFTER * 2
    assert recover_interrupted_runs(db_session) == [run]
    assert run.status is RunStatus.FAILED


def test_a_queued_run_that_never_started_goes_stale(db_session: Session) -> None:
    fresh = create_run(db_session, config=CONFIG, device="cpu")
    assert recover_interrupted_runs(db_session) == []
    fresh.created_at = utcnow() - STALE_AFTER * 2
    assert recover_interrupted_runs(db_session) == [fresh]
    assert fresh.status is RunStatus.FAILED


def test_creating_a_run_recovers_a_dead_one_first(db_session: Session) -> None:
    dead = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, dead)
    dead.pid = dead_pid()
    fresh = create_run(db_session, config=CONFIG, device="cpu")
    assert dead.status is RunStatus.FAILED
    assert fresh.status is RunStatus.QUEUED


def test_a_naive_heartbeat_from_sqlite_is_compared_as_utc(db_session: Session) -> None:
    run = create_run(db_session, config=CONFIG, device="cpu")
    mark_running(db_session, run)
    run.host = "another-machine"
    db_session.flush()
    db_session.expire_all()  # read back from SQLite: naive datetimes
    assert recover_interrupted_runs(db_session) == []
