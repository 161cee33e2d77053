"""Training runs: start fine-tuning, watch it, cancel it (the training page polls these).

The versions a run leaves are listed and activated in chatbot/api/models.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from chatbot.api.deps import RowId, SessionDep, SettingsDep
from chatbot.api.principals import AdminUser, admin_user
from chatbot.db import audit
from chatbot.db import training_runs as runs
from chatbot.db.base import as_utc
from chatbot.db.knowledge import load_intents
from chatbot.db.models import TrainingRun
from chatbot.nlu.encoder import ModelLoadError
from chatbot.training import start_run
from chatbot.worker import training

# Every route needs an admin; the handlers that change something also take the AdminUser
# principal (the same dependency, evaluated once) to name them in the audit log.
router = APIRouter(
    prefix="/api/v1/admin/training", tags=["admin"], dependencies=[Depends(admin_user)]
)


class TrainingStart(BaseModel):
    epochs: int | None = Field(None, ge=1, le=50)
    device: Literal["auto", "cpu", "cuda"] | None = None
    activate: bool = False


class TrainingRunPublic(BaseModel):
    id: int
    status: str
    device: str | None
    progress: dict[str, Any]
    losses: list[float]
    error: str | None
    model_version: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: TrainingRun) -> TrainingRunPublic:
        return cls(
            id=run.id,
            status=run.status.value,
            device=run.device,
            progress=run.progress,
            losses=run.losses,
            error=run.error,
            model_version=run.model_version,
            created_at=as_utc(run.created_at),
            started_at=_utc(run.started_at),
            finished_at=_utc(run.finished_at),
        )


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def start_training(
    body: TrainingStart,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminUser,
) -> TrainingRunPublic:
    """Start fine-tuning in the background; poll the run for progress."""
    if not load_intents(session):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "the knowledge base is empty: import a FAQ file before training",
        )
    try:
        run = start_run(
            session,
            settings,
            epochs=body.epochs,
            device=body.device or settings.device,
            activate=body.activate,
        )
    except runs.RunInProgress as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ModelLoadError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"device: {exc}") from exc
    audit.record(
        session,
        principal.actor,
        "training.start",
        f"training run {run.id}",
        after={"epochs": body.epochs, "device": run.device, "activate": body.activate},
    )
    session.commit()
    # On a `chatbot worker` when Redis is configured, else on this process's job thread.
    request.app.state.jobs.submit(training, run_id=run.id)
    return TrainingRunPublic.of(run)


@router.get("")
def list_training_runs(session: SessionDep) -> list[TrainingRunPublic]:
    """The latest training runs, newest first."""
    return [TrainingRunPublic.of(r) for r in runs.list_runs(session)]


def _run(session: SessionDep, run_id: int) -> TrainingRun:
    run = runs.get_run(session, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"training run {run_id} not found")
    return run


@router.get("/{run_id}")
def get_training_run(run_id: RowId, session: SessionDep) -> TrainingRunPublic:
    """A run's status and progress (step, epoch, loss, ETA)."""
    return TrainingRunPublic.of(_run(session, run_id))


@router.post("/{run_id}/cancel")
def cancel_training_run(
    run_id: RowId, session: SessionDep, principal: AdminUser
) -> TrainingRunPublic:
    """Ask a run to stop; it ends as cancelled and the active model stays."""
    run = _run(session, run_id)
    before = {"status": run.status.value}
    runs.request_cancel(session, run)
    audit.record(
        session,
        principal.actor,
        "training.cancel",
        f"training run {run.id}",
        before=before,
        after={"status": run.status.value, "cancel_requested": run.cancel_requested},
    )
    session.commit()
    return TrainingRunPublic.of(run)
