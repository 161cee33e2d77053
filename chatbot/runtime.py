"""Wiring shared by the web app and the CLI: load the encoder once, build the manager."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from chatbot.config import Settings
from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.manager import ConversationManager
from chatbot.conversation.policies import Thresholds
from chatbot.conversation.related import RelatedQuestions
from chatbot.db.knowledge import knowledge_revision, load_intents, load_synonyms
from chatbot.db.model_versions import (
    active_version_name,
    ensure_base_version,
    get_version,
    list_versions,
)
from chatbot.db.training_runs import recover_interrupted_runs
from chatbot.knowledge.spec import IntentSpec
from chatbot.knowledge.synonyms import SynonymGroup
from chatbot.nlu.encoder import SentenceEncoder, configure_threads
from chatbot.nlu.engine import Encoder, IntentEngine
from chatbot.nlu.precision import choose_for, with_precision

log = logging.getLogger(__name__)


class DatabaseNotReady(RuntimeError):
    """The database has no schema yet."""


def load_encoder(settings: Settings, device: str | None = None) -> SentenceEncoder:
    """The base encoder, from CHATBOT_BASE_MODEL or the packaged all-MiniLM-L6-v2; never a hub.

    ``device`` overrides the configured one (training may run elsewhere than serving).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    configure_threads(settings.torch_threads)
    return SentenceEncoder.from_pretrained(
        settings.base_model,
        device=device or settings.device,
        max_length=settings.max_sequence_length,
    )


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        answer=settings.answer_threshold,
        clarify=settings.clarify_threshold,
        margin=settings.clarify_margin,
        strictness=settings.strictness,
        max_suggestions=settings.max_suggestions,
    )


def bot_settings(settings: Settings) -> BotSettings:
    """The environment's settings for the bot; an admin's stored ones replace them."""
    return BotSettings(
        thresholds(settings),
        fallbacks_before_handoff=settings.fallbacks_before_handoff,
        offer_person_when_frustrated=settings.offer_person_when_frustrated,
    )


def build_manager(
    settings: Settings, encoder: Encoder, session_factory: sessionmaker[Session]
) -> ConversationManager:
    """Register the base model, load the active version, index the knowledge base."""
    sha256 = getattr(encoder, "weights_sha256", "unknown")
    base_version = f"base-{sha256[:12]}"
    base_model = str(getattr(encoder, "path", settings.base_model or "packaged"))
    try:
        for attempt in range(2):
            try:
                with session_factory() as session:
                    ensure_base_version(
                        session, version=base_version, base_model=base_model, weights_sha256=sha256
                    )
                    # A training run killed with its process (SIGKILL, power loss) is failed.
                    recover_interrupted_runs(session)
                    session.commit()
                    active = active_version_name(session) or base_version
                break
            except IntegrityError:
                # Another replica registered the base model at the same moment: it is there now.
                if attempt:
                    raise
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseNotReady(
            f"the database at {settings.resolved_database_url} has no schema: "
            "run `chatbot db upgrade` first"
        ) from exc

    def load_engine(version: str, session: Session | None = None) -> IntentEngine:
        if session is not None:
            return engine_for_version(settings, session, encoder, version)
        with session_factory() as own:
            recipe = _read_version(own, version)
        # The session is closed: loading weights holds no database lock.
        return _ready_engine(settings, encoder, version, *recipe)

    related = RelatedQuestions(
        settings.related_questions, min_count=settings.related_min_count, days=settings.related_days
    )
    with session_factory() as session:
        related.refresh(session)  # then every CHATBOT_RELATED_REFRESH_SECONDS (chatbot.upkeep)
    return ConversationManager(
        ActiveModel(load_engine(active), load_engine),
        bot_settings(settings),
        related=related,
        follow_up_context=settings.follow_up_context,
    )


def engine_for_version(
    settings: Settings, session: Session, base: Encoder, version: str
) -> IntentEngine:
    """A ready engine (knowledge indexed, warmed up) for a registered model version."""
    return _ready_engine(settings, base, version, *_read_version(session, version))


def _read_version(
    session: Session, version: str
) -> tuple[str | None, list[IntentSpec], int, list[SynonymGroup]]:
    """What building an engine for ``version`` needs from the database."""
    row = get_version(session, version)
    if row is None:
        raise UnknownModelVersion(version, [v.version for v in list_versions(session)])
    path = None if row.kind == "base" else row.path
    return path, load_intents(session), knowledge_revision(session), load_synonyms(session)


def _ready_engine(
    settings: Settings,
    base: Encoder,
    version: str,
    path: str | None,
    intents: list[IntentSpec],
    revision: int,
    synonyms: list[SynonymGroup],
) -> IntentEngine:
    if not path:
        engine = IntentEngine(
            _serving(settings, base, intents),
            version=version,
            chinese_words=settings.chinese_words,
        )
    else:
        engine = IntentEngine.from_pretrained(
            version_dir(settings, version, path),
            version=version,
            device=settings.device,
            max_length=settings.max_sequence_length,
            serving=lambda encoder, mode: _serving(settings, encoder, intents, mode),
            chinese_words=settings.chinese_words,
        )
    engine.load_knowledge(intents, revision, synonyms)
    # The first pass through a model is several times slower: take it before any customer does.
    engine.predict(["hello"])
    return engine


def version_dir(settings: Settings, version: str, recorded: str) -> Path:
    """Where a version's files are: in the model store under this process's CHATBOT_DATA_DIR
    (a volume every replica and worker mounts, wherever each mounts it), else at the path
    recorded when it was trained.

    >>> settings = Settings(data_dir=tmp_path)
    >>> shared = tmp_path / "models" / "ft-1"
    >>> shared.mkdir(parents=True)
    >>> version_dir(settings, "ft-1", "/mnt/worker-data/models/ft-1") == shared
    True
    >>> version_dir(settings, "ft-2", "/mnt/worker-data/models/ft-2")
    PosixPath('/mnt/worker-data/models/ft-2')
    """
    shared = settings.models_dir / version
    return shared if shared.is_dir() else Path(recorded)


def _serving(
    settings: Settings, encoder: Encoder, intents: list[IntentSpec], chosen: str | None = None
) -> Encoder:
    """The encoder in its serving precision: the configured one, else the one chosen when the
    version was built, else one measured now on the knowledge base (the base model)."""
    if not isinstance(encoder, SentenceEncoder):
        return encoder  # a test's stand-in
    mode: str = settings.inference_precision
    if mode == "auto":
        mode = chosen or choose_for(encoder, intents).mode
    return with_precision(encoder, mode)


class UnknownModelVersion(LookupError):
    def __init__(self, version: str, known: list[str]) -> None:
        super().__init__(f"unknown model version '{version}' (known: {', '.join(known) or 'none'})")
