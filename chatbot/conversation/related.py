"""Related questions under an answer: what customers most often asked next, else the nearest
intents by the active model's embeddings.

What customers asked next is counted from the stored conversations by one query
(:func:`chatbot.db.related.asked_next`) that runs when a server starts and then every
``CHATBOT_RELATED_REFRESH_SECONDS`` in the background (:mod:`chatbot.upkeep`); a turn only
reads the table kept here, so answering costs no query more.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy.orm import Session

from chatbot.db import related as store
from chatbot.db.base import utcnow
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine

log = logging.getLogger(__name__)


class RelatedQuestions:
    """The related questions to offer under an intent's answer.

    Args:
        count: questions offered under an answer (0: none).
        min_count: conversations in which customers asked B right after A before B is
            offered under A as asked next.
        days: how much history the counts learn from.
    """

    def __init__(self, count: int = 3, *, min_count: int = 5, days: int = 90) -> None:
        self.count = count
        self.min_count = min_count
        self.days = days
        self.asked_next: dict[str, tuple[str, ...]] = {}
        self.refreshed_at: float | None = None  # time.monotonic() of the last count
        self._lock = threading.Lock()

    def refresh(self, session: Session) -> None:
        """Count again what customers asked next (one query); the table is swapped in whole."""
        if not self.count:
            return
        with self._lock:
            counted = store.asked_next(
                session, since=utcnow() - timedelta(days=self.days), min_count=self.min_count
            )
            self.asked_next = {
                intent: tuple(following for following, _ in pairs)
                for intent, pairs in counted.items()
            }
            self.refreshed_at = time.monotonic()
        log.debug("asked next: %d intents with a next question", len(self.asked_next))

    def due(self, every_s: float) -> bool:
        """Whether the counts are older than ``every_s`` seconds (or were never made)."""
        return self.refreshed_at is None or time.monotonic() - self.refreshed_at >= every_s

    def buttons(
        self, engine: IntentEngine, intent: str, language: str, *, besides: tuple[str, ...] = ()
    ) -> list[dict[str, str]]:
        """The buttons to show under ``intent``'s answer to a customer writing ``language``:
        the intents asked next after it, then its nearest, never itself nor one of ``besides``
        (the follow-ups already shown), only intents with an answer in ``language``; each
        labelled with a phrasing in that language."""
        if not self.count:
            return []
        chosen: list[IntentSpec] = []
        candidates = (*self.asked_next.get(intent, ()), *engine.nearest_intents(intent, language))
        for key in candidates:
            if len(chosen) == self.count:
                break
            spec = engine.intent(key)
            if (
                spec is not None
                and key != intent
                and key not in besides
                and spec not in chosen
                and answers_in(spec, language)
            ):
                chosen.append(spec)
        return [{"intent": spec.key, "question": spec.question_in(language)} for spec in chosen]


def answers_in(intent: IntentSpec, language: str) -> bool:
    """Whether the intent has an answer of its own in ``language`` (by its primary subtag), not
    only its first language's under a note.

    >>> spec = IntentSpec("hours", "9 to 5.", ("Open when?",), answers=(("zh", "九点到五点。"),))
    >>> answers_in(spec, "zh-CN"), answers_in(spec, "de")
    (True, False)
    """
    _, answered_in = intent.answer_in(language)
    return answered_in.split("-")[0].lower() == language.split("-")[0].lower()
