"""The model registry's rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db import webhooks
from chatbot.db.base import utcnow
from chatbot.db.models import ModelVersion


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.is_active))


def ensure_base_version(
    session: Session, *, version: str, base_model: str, weights_sha256: str
) -> ModelVersion:
    """Register the untuned base encoder as a version; it is active if nothing else is."""
    row = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if row is None:
        row = ModelVersion(
            version=version,
            kind="base",
            base_model=base_model,
            weights_sha256=weights_sha256,
            status="ready",
        )
        session.add(row)
    if active_version(session) is None:
        row.is_active = True
        row.activated_at = utcnow()
    session.flush()
    return row


def active_version_name(session: Session) -> str | None:
    return session.scalar(select(ModelVersion.version).where(ModelVersion.is_active))


def get_version(session: Session, version: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.version == version))


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


def register_version(session: Session, **fields: object) -> ModelVersion:
    row = ModelVersion(**fields)
    session.add(row)
    session.flush()
    return row


# Activating a version that catches this much less out of scope than the one serving asks first.
OOS_RECALL_DROP_LIMIT = 0.10


@dataclass(frozen=True)
class ScopeRegression:
    """A version that would catch far fewer out-of-scope questions than the active one."""

    version: str
    oos_recall: float
    active: str
    active_oos_recall: float

    def __str__(self) -> str:
        drop = (self.active_oos_recall - self.oos_recall) * 100
        return (
            f"{self.version} catches {self.oos_recall:.0%} of out-of-scope questions, "
            f"{drop:.0f} points less than the active {self.active} "
            f"({self.active_oos_recall:.0%}): it would answer more questions it cannot help with"
        )


def scope_regression(session: Session, row: ModelVersion) -> ScopeRegression | None:
    """Why activating ``row`` needs confirmation, or None.

    When both versions were measured on out-of-scope messages (the background set's held-out
    part) and ``row`` catches more than ``OOS_RECALL_DROP_LIMIT`` less of them, it would answer
    questions the active version refuses.
    """
    active = session.scalar(select(ModelVersion).where(ModelVersion.is_active.is_(True)))
    if active is None or active.id == row.id:
        return None
    new, current = row.metrics.get("oos_recall"), active.metrics.get("oos_recall")
    if new is None or current is None or current - new <= OOS_RECALL_DROP_LIMIT:
        return None
    return ScopeRegression(row.version, new, active.version, current)


def activate(session: Session, row: ModelVersion) -> None:
    """Make one version the one every serving process answers with.

    Concurrent activations take turns (PostgreSQL: the registry's rows are locked; SQLite: the
    write lock): the last one wins, and the partial unique index guarantees one active row.
    """
    # In id order: two activations lock the rows in the same order and cannot deadlock; and
    # read afresh once locked (populate_existing): rows loaded before may be stale by then.
    versions = session.scalars(
        select(ModelVersion)
        .order_by(ModelVersion.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    previous = None
    for other in versions:
        if other.is_active and other is not row:
            other.is_active = False
            previous = other.version
    session.flush()  # one active row at any moment, also for the unique index
    row.is_active = True
    row.activated_at = utcnow()
    session.flush()
    data = {"version": row.version, "kind": row.kind, "previous": previous}
    webhooks.emit(session, "model.activated", data)
