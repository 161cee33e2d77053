"""Admin API: training runs and model versions (the admin pages build on it)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from chatbot.api.deps import BusDep, RowId, SessionDep, SettingsDep
from chatbot.api.principals import AdminUser, admin_user
from chatbot.db import audit
from chatbot.db import model_versions as registry
from chatbot.db import training_runs as runs
from chatbot.db.base import as_utc
from chatbot.db.knowledge import load_intents
from chatbot.db.models import ModelVersion, TrainingRun
from chatbot.nlu.encoder import ModelLoadError
from chatbot.training import start_run
from chatbot.upkeep import announce_activation
from chatbot.worker import training

# Every route needs an admin; the handlers that change something also take the AdminUser
# principal (the same dependency, evaluated once) to name them in the audit log.
router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(admin_user)])


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


class ModelVersionPublic(BaseModel):
    version: str
    kind: str
    status: str
    active: bool
    metrics: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None

    @classmethod
    def of(cls, row: ModelVersion) -> ModelVersionPublic:
        return cls(
            version=row.version,
            kind=row.kind,
            status=row.status,
            active=row.is_active,
            metrics=row.metrics,
            created_at=as_utc(row.created_at),
            activated_at=_utc(row.activated_at),
        )


@router.post("/training", status_code=status.HTTP_202_ACCEPTED)
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


@router.get("/training")
def list_training_runs(session: SessionDep) -> list[TrainingRunPublic]:
    """The latest training runs, newest first."""
    return [TrainingRunPublic.of(r) for r in runs.list_runs(session)]


def _run(session: SessionDep, run_id: int) -> TrainingRun:
    run = runs.get_run(session, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"training run {run_id} not found")
    return run


@router.get("/training/{run_id}")
def get_training_run(run_id: RowId, session: SessionDep) -> TrainingRunPublic:
    """A run's status and progress (step, epoch, loss, ETA)."""
    return TrainingRunPublic.of(_run(session, run_id))


@router.post("/training/{run_id}/cancel")
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


@router.get("/models")
def list_models(session: SessionDep) -> list[ModelVersionPublic]:
    """Every model version with its validation metrics."""
    return [ModelVersionPublic.of(v) for v in registry.list_versions(session)]


@router.post("/models/{version}/activate")
def activate_model(
    version: str, session: SessionDep, bus: BusDep, principal: AdminUser, force: bool = False
) -> ModelVersionPublic:
    """Serve this version; every replica switches to it within seconds.

    A version that catches far fewer out-of-scope questions than the active one is refused with
    409 and ``{"detail": why, "confirm": true}`` unless ``force`` is set.
    """
    row = registry.get_version(session, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model version '{version}' not found")
    if row.status != "ready":
        raise HTTPException(status.HTTP_409_CONFLICT, f"model version '{version}' is {row.status}")
    regression = registry.scope_regression(session, row)
    if regression is not None and not force:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "message": f"{regression}; activate with force=true to confirm",
                "confirm": True,
                **asdict(regression),
            },
        )
    previous = registry.active_version_name(session)
    registry.activate(session, row)
    audit.record(
        session,
        principal.actor,
        "model.activate",
        version,
        before={"active": previous},
        after={"active": version},
    )
    session.commit()
    announce_activation(bus, version)
    return ModelVersionPublic.of(row)
