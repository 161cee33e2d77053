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
