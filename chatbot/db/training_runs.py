"""Training runs: the only module that writes their table."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from chatbot.db.base import as_utc, utcnow
from chatbot.db.knowledge import get_knowledge_base
from chatbot.db.models import RunStatus, TrainingRun

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
# A queued run that no worker took for this long is presumed lost (its queue entry went away).
STALE_AFTER = timedelta(minutes=10)
# A running run beats every CHATBOT_JOB_HEARTBEAT_SECONDS; silent for this many beats, it is dead.
MISSED_BEATS = 6


class RunInProgress(Exception):
    """Another training run of this knowledge base has not finished."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        super().__init__(f"training run {run.id} is still {run.status.value}: one at a time")


def create_run(session: Session, *, config: dict[str, Any], device: str) -> TrainingRun:
    """Queue a run, refusing while another one of the knowledge base is queued or running."""
    knowledge_base = get_knowledge_base(session)
    # Row lock (PostgreSQL): two requests cannot both see 'no run' and both start one.
    session.execute(
        select(knowledge_base.__class__.id)
        .where(knowledge_base.__class__.id == knowledge_base.id)
        .with_for_update()
    )
    recover_interrupted_runs(session)
    current = session.scalar(
        select(TrainingRun).where(
            TrainingRun.knowledge_base_id == knowledge_base.id, TrainingRun.status.in_(ACTIVE)
        )
    )
    if current is not None:
        raise RunInProgress(current)
    run = TrainingRun(knowledge_base_id=knowledge_base.id, config=config, device=device)
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> TrainingRun | None:
    return session.get(TrainingRun, run_id)


def list_runs(session: Session, limit: int = 20) -> Sequence[TrainingRun]:
    return session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)).all()


def claim(session: Session, run: TrainingRun) -> bool:
    """Mark a queued run running in this process; False if another process took it first (or it
    was cancelled): one conditional UPDATE, so two workers can never both run it."""
    now = utcnow()
    claimed = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run.id, TrainingRun.status == RunStatus.QUEUED)
        .values(
            status=RunStatus.RUNNING,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=now,
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(run)
    return bool(cast(CursorResult[Any], claimed).rowcount)


def mark_running(session: Session, run: TrainingRun) -> None:
    run.status = RunStatus.RUNNING
    run.pid = os.getpid()
    run.host = socket.gethostname()
    run.started_at = run.heartbeat_at = utcnow()
    session.flush()


def beat(session: Session, run_id: int) -> bool:
    """Record that a running run's process is alive; False once the run is no longer running."""
    beaten = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.status == RunStatus.RUNNING)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], beaten).rowcount)


def record_progress(session: Session, run: TrainingRun, progress: dict[str, Any]) -> bool:
    """Store progress; returns whether someone asked the run to stop."""
    session.refresh(run, ["cancel_requested"])
    run.progress = progress
    run.losses = [*run.losses, round(float(progress["loss"]), 5)]
    run.heartbeat_at = utcnow()
    session.flush()
    return run.cancel_requested


def finish_run(
    session: Session,
    run: TrainingRun,
    status: RunStatus,
    *,
    error: str | None = None,
    model_version: str | None = None,
) -> None:
    run.status = status
    run.error = error
    run.model_version = model_version
    run.finished_at = utcnow()
    session.flush()


def request_cancel(session: Session, run: TrainingRun) -> None:
    if run.status in ACTIVE:
        run.cancel_requested = True
        if run.status is RunStatus.QUEUED:
            finish_run(session, run, RunStatus.CANCELLED, error="cancelled before it started")
        session.flush()


def recover_interrupted_runs(
    session: Session, heartbeat_seconds: float = 10.0
) -> list[TrainingRun]:
    """Mark failed the runs whose process died (killed, crashed, machine restarted): on this
    host, a running run whose process is gone; anywhere, one whose heartbeat stopped for
    MISSED_BEATS beats, or a queued one that no worker took within STALE_AFTER."""
    host = socket.gethostname()
    now = utcnow()
    silent_for = timedelta(seconds=heartbeat_seconds * MISSED_BEATS)
    lost = []
    for run in session.scalars(
        select(TrainingRun).where(TrainingRun.status.in_(ACTIVE)).with_for_update()
    ):
        heartbeat = as_utc(run.heartbeat_at or run.created_at)
        if run.status is RunStatus.RUNNING:
            gone = run.host == host and not _alive(run.pid)
            dead = gone or now - heartbeat > silent_for
        else:
            dead = now - heartbeat > STALE_AFTER
        if dead:
            finish_run(
                session,
                run,
                RunStatus.FAILED,
                error="interrupted: the training process ended before finishing",
            )
            lost.append(run)
    return lost


def fail_if_running(session: Session, run_id: int, error: str) -> bool:
    """Mark a run failed now if it is still running (its process is known to have died)."""
    run = session.get(TrainingRun, run_id, with_for_update=True)
    if run is None or run.status is not RunStatus.RUNNING:
        return False
    finish_run(session, run, RunStatus.FAILED, error=error)
    return True


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
