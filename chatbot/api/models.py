"""Model versions: list them, activate one, and the test pane's question: what a ready version
would do with a message, on the current knowledge base, keeping a couple of non-active engines
warm for repeated questions.

The model pages are chatbot/console/admin/models.py; the runs that make versions are
chatbot/api/training.py.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from chatbot.api.deps import BusDep, ManagerDep, SessionDep, SettingsDep, message_text
from chatbot.api.markdown import render_markdown
from chatbot.api.principals import AdminUser, admin_user
from chatbot.conversation.manager import ConversationManager, Preview
from chatbot.db import audit
from chatbot.db import model_versions as registry
from chatbot.db.base import as_utc
from chatbot.db.knowledge import knowledge_revision, load_intents, load_synonyms
from chatbot.db.models import ModelVersion
from chatbot.nlu.engine import IntentEngine
from chatbot.runtime import engine_for_version
from chatbot.upkeep import announce_activation

log = logging.getLogger(__name__)
# Every route needs an admin; the handlers that change something also take the AdminUser
# principal (the same dependency, evaluated once) to name them in the audit log.
router = APIRouter(
    prefix="/api/v1/admin/models", tags=["admin"], dependencies=[Depends(admin_user)]
)


def version_or_404(session: SessionDep, version: str) -> ModelVersion:
    row = registry.get_version(session, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model version '{version}' not found")
    return row


def ready_version(session: SessionDep, version: str) -> ModelVersion:
    """The version, if it can serve: 404 when unknown, 409 while it is not ready."""
    row = version_or_404(session, version)
    if row.status != "ready":
        raise HTTPException(status.HTTP_409_CONFLICT, f"model version '{version}' is {row.status}")
    return row


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
            activated_at=as_utc(row.activated_at) if row.activated_at else None,
        )


@router.get("")
def list_models(session: SessionDep) -> list[ModelVersionPublic]:
    """Every model version with its validation metrics."""
    return [ModelVersionPublic.of(v) for v in registry.list_versions(session)]


@router.post("/{version}/activate")
def activate_model(
    version: str, session: SessionDep, bus: BusDep, principal: AdminUser, force: bool = False
) -> ModelVersionPublic:
    """Serve this version; every replica switches to it within seconds.

    A version that catches far fewer out-of-scope questions than the active one is refused with
    409 and ``{"detail": why, "confirm": true}`` unless ``force`` is set.
    """
    row = ready_version(session, version)
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


# ---- the test pane

# Non-active versions kept loaded for the test pane: each holds its own encoder's weights.
CACHED_ENGINES = 2


class VersionEngines:
    """At most ``capacity`` ready engines of non-active versions, least recently used evicted."""

    def __init__(self, capacity: int = CACHED_ENGINES) -> None:
        self.capacity = capacity
        self._engines: OrderedDict[str, IntentEngine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str, build: Callable[[], IntentEngine]) -> IntentEngine:
        # Building under the lock: two admins asking a cold version load its weights once.
        with self._lock:
            engine = self._engines.get(version)
            if engine is None:
                engine = build()
                self._engines[version] = engine
                while len(self._engines) > self.capacity:
                    self._engines.popitem(last=False)
            self._engines.move_to_end(version)
            return engine

    def versions(self) -> list[str]:
        """Cached versions, least recently used first."""
        return list(self._engines)


_engines_created = threading.Lock()


def version_engines(request: Request) -> VersionEngines:
    state = request.app.state
    with _engines_created:
        if getattr(state, "model_engines", None) is None:
            state.model_engines = VersionEngines()
    engines: VersionEngines = state.model_engines
    return engines


class AskBody(BaseModel):
    text: str


@router.post("/{version}/ask")
def ask_version(
    version: str,
    body: AskBody,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    manager: ManagerDep,
) -> dict[str, Any]:
    """What this version would do with a message, on the current knowledge base."""
    text = message_text(body.text, settings)
    row = ready_version(session, version)
    engine = _engine(request, session, settings, manager, row)
    manager.settings.follow(session)  # the admin's texts and thresholds, as customers get them
    return _reply(manager.preview(text, engine))


def _engine(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    manager: ConversationManager,
    row: ModelVersion,
) -> IntentEngine:
    if row.version == manager.engine.version:
        manager.model.follow(session)  # the current knowledge base, as a customer's message would
        if manager.engine.version == row.version:
            return manager.engine

    def build() -> IntentEngine:
        # Only the base version is built on the base encoder; a fine-tuned one loads its own.
        base = request.app.state.load_base(settings.device) if row.kind == "base" else None
        return engine_for_version(settings, session, base or manager.engine.encoder, row.version)

    try:
        engine = version_engines(request).get(row.version, build)
    except Exception as exc:  # missing or damaged files: say so rather than fail the page
        log.exception("cannot load model %s for the test pane", row.version)
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"cannot load model version '{row.version}': {exc}"
        ) from exc
    revision = knowledge_revision(session)
    if engine.revision != revision:
        engine.load_knowledge(load_intents(session), revision, load_synonyms(session))
    return engine


def _reply(preview: Preview) -> dict[str, Any]:
    reply, prediction = preview.reply, preview.prediction
    return {
        "version": preview.version,
        "intent": reply.intent,
        "confidence": round(reply.confidence, 4),
        "decision": reply.action.value,
        "language": preview.language,
        "ranking": [
            {"intent": r.intent, "confidence": round(r.confidence, 4)}
            for r in (prediction.ranking if prediction else ())
        ],
        "suggestions": reply.suggestions or reply.follow_ups,
        "answer_html": render_markdown(reply.text),
    }
