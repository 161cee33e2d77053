"""The model customers are answered with, kept in step with the registry and the knowledge base."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from chatbot.db.knowledge import knowledge_revision, load_intents, load_synonyms
from chatbot.db.model_versions import active_version_name
from chatbot.db.revisions import Revisions
from chatbot.nlu.context import Utterance
from chatbot.nlu.engine import IntentEngine, Prediction

log = logging.getLogger(__name__)
# Builds a ready engine for a version, reading through the given session or its own.
EngineLoader = Callable[[str, Session | None], IntentEngine]


class ActiveModel:
    """Holds the engine that turns use, following the knowledge base's revision and the active
    model version.

    Whether it moved on is read from a :class:`~chatbot.db.revisions.Revisions` snapshot the
    caller already has (:meth:`behind`), so a turn adds no query of its own; only then does
    :meth:`follow` read. ``load_engine`` builds a ready engine for a version: when another
    version is activated, it loads in the background while turns go on with the current one,
    then takes over, unless another version was activated meanwhile (an admin rolling back
    while the new one loaded): a loaded version that is no longer the active one is dropped.
    Without it (a fixed engine) only the knowledge base is followed.
    """

    def __init__(self, engine: IntentEngine, load_engine: EngineLoader | None = None) -> None:
        self.engine = engine
        self._load_engine = load_engine
        self._refresh_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._loading: str | None = None
        self._wanted: str | None = engine.version  # the active version, as last read
        self._unloadable: str | None = None  # a version that failed to load is not retried

    def behind(self, revisions: Revisions) -> bool:
        """Whether the knowledge base or the active version moved on (then :meth:`follow`)."""
        active = revisions.active_version
        if revisions.knowledge != self.engine.revision:
            return True
        if self._load_engine is None or active is None or active == self._unloadable:
            return False
        # Activated since last read, or a load ended without installing it (it was not wanted
        # then): either way, read the active version again.
        return active != self._wanted or (active != self.engine.version and self._loading is None)

    def follow(self, session: Session, *, wait: bool = False) -> None:
        """Take up the knowledge base's revision and the active model version (cheap checks).

        Args:
            wait: load a newly activated version before returning, rather than in the background.
        """
        active = active_version_name(session) if self._load_engine else None
        if active is not None:
            self._wanted = active
            if active not in (self.engine.version, self._unloadable):
                self._switch_to(active, session if wait else None)
        engine = self.engine
        revision = knowledge_revision(session)
        if revision == engine.revision:
            return
        with self._refresh_lock:
            if revision != engine.revision:
                engine.load_knowledge(load_intents(session), revision, load_synonyms(session))

    def predict(self, texts: Sequence[str | Utterance]) -> list[tuple[IntentEngine, Prediction]]:
        """Understand a batch of messages with the current model; each answer names its model."""
        engine = self.engine  # one model for the whole batch, even if another is activated now
        return [(engine, prediction) for prediction in engine.predict(texts)]

    def embed(self, texts: list[str]) -> list[tuple[str, list[float]]]:
        """Vectors of a batch of texts from the current model's encoder; each names its model."""
        engine = self.engine
        return [(engine.version, row.tolist()) for row in engine.encoder.encode(texts)]

    def _switch_to(self, version: str, session: Session | None) -> None:
        """Load ``version``: in this thread through ``session``, or in the background."""
        with self._swap_lock:
            if self._loading is not None:
                return
            self._loading = version
        if session is not None:
            self._load(version, session)
        else:
            threading.Thread(target=self._load, args=(version, None), daemon=True).start()

    def _load(self, version: str, session: Session | None) -> None:
        assert self._load_engine is not None
        try:
            engine = self._load_engine(version, session)
            if version == self._wanted:
                # One assignment: a turn sees the old engine or the new one, never half of each.
                self.engine = engine
                log.info("now answering with model %s", version)
            else:
                log.info("model %s loaded, but %s is active now: not used", version, self._wanted)
        except Exception:
            self._unloadable = version
            log.exception(
                "cannot load model %s; still answering with %s", version, self.engine.version
            )
        finally:
            with self._swap_lock:
                self._loading = None
