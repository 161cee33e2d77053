"""Wiring shared by the web app and the CLI: load the encoder once, build the manager."""

from __future__ import annotations

import logging
import os

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from chatbot.config import Settings
from chatbot.conversation.manager import ConversationManager
from chatbot.conversation.policies import Thresholds
from chatbot.db.model_versions import ensure_base_version
from chatbot.nlu.encoder import SentenceEncoder, configure_threads
from chatbot.nlu.engine import Encoder, IntentEngine

log = logging.getLogger(__name__)


class DatabaseNotReady(RuntimeError):
    """The database has no schema yet."""


def load_encoder(settings: Settings) -> SentenceEncoder:
    """The base encoder, from CHATBOT_BASE_MODEL or the packaged all-MiniLM-L6-v2; never a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    configure_threads(settings.torch_threads)
    return SentenceEncoder.from_pretrained(
        settings.base_model, device=settings.device, max_length=settings.max_sequence_length
    )


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        answer=settings.answer_threshold,
        clarify=settings.clarify_threshold,
        margin=settings.clarify_margin,
        max_suggestions=settings.max_suggestions,
    )


def build_manager(
    settings: Settings, encoder: Encoder, session_factory: sessionmaker[Session]
) -> ConversationManager:
    """Register the model version, index the knowledge base and return a ready manager."""
    sha256 = getattr(encoder, "weights_sha256", "unknown")
    version = f"base-{sha256[:12]}"
    base_model = str(getattr(encoder, "path", settings.base_model or "packaged"))
    manager = ConversationManager(
        IntentEngine(encoder, version=version),
        thresholds(settings),
        fallbacks_before_handoff=settings.fallbacks_before_handoff,
    )
    try:
        with session_factory() as session:
            ensure_base_version(
                session, version=version, base_model=base_model, weights_sha256=sha256
            )
            session.commit()
            manager.refresh(session)
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseNotReady(
            f"the database at {settings.resolved_database_url} has no schema: "
            "run `chatbot db upgrade` first"
        ) from exc
    # The first pass through a model is several times slower: take it before any customer does.
    manager.engine.predict(["hello"])
    return manager
