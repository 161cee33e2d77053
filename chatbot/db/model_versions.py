"""The model registry's rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    for other in versions:
        if other.is_active and other is not row:
            other.is_active = False
    session.flush()  # one active row at any moment, also for the unique index
    row.is_active = True
    row.activated_at = utcnow()
    session.flush()
