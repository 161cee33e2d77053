"""The bot's settings as turns use them: the environment's defaults, replaced by an admin's
stored settings (thresholds, the bot's own texts, opening hours, offering a person) from the next
message after a change."""

from __future__ import annotations

import threading
from dataclasses import replace

from sqlalchemy.orm import Session

from chatbot.conversation import builtins
from chatbot.conversation.policies import Thresholds
from chatbot.db import app_settings
from chatbot.db.revisions import Revisions
from chatbot.hours import Schedule
from chatbot.nlu.engine import IntentEngine
from chatbot.nlu.scope import DEFAULT_STRICTNESS


class BotSettings:
    """The settings a turn reads, following the settings' revision.

    Whether they changed is read from a :class:`~chatbot.db.revisions.Revisions` snapshot the
    caller already has (:meth:`behind`); :meth:`follow` reads the stored settings only when
    their revision moved on (one primary-key read when it did not).

    Args:
        thresholds: the defaults (CHATBOT_ANSWER_THRESHOLD, ...).
        fallbacks_before_handoff: fallbacks in a row after which a person takes over (0: never).
        offer_person_when_frustrated: the environment's default for offering a person to a
            customer who is negative again.
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        *,
        fallbacks_before_handoff: int = 2,
        offer_person_when_frustrated: bool = True,
    ) -> None:
        self.thresholds = self._default_thresholds = thresholds or Thresholds()
        self.fallbacks_before_handoff = fallbacks_before_handoff
        self._default_offer = self.offer_person_when_frustrated = offer_person_when_frustrated
        self.texts = builtins.BotTexts()
        self.schedules: dict[str, Schedule | None] = {}  # each language team's opening hours
        # An admin's clarify threshold wins over the one a fine-tuned model was validated with.
        self._clarify_overridden = False
        self._revision: int | None = None
        self._lock = threading.Lock()

    def behind(self, revisions: Revisions) -> bool:
        """Whether the stored settings changed since they were last taken up."""
        return revisions.settings != self._revision

    def follow(self, session: Session) -> None:
        """Take up the admin's stored settings when they changed (one primary-key read if not)."""
        revision = app_settings.settings_revision(session)
        if revision == self._revision:
            return
        with self._lock:
            if revision == self._revision:
                return
            default = self._default_thresholds
            current = app_settings.merge(
                app_settings.RuntimeSettings(
                    answer_threshold=default.answer,
                    clarify_threshold=default.clarify,
                    clarify_margin=default.margin,
                    strictness=(
                        DEFAULT_STRICTNESS if default.strictness is None else default.strictness
                    ),
                    offer_person_when_frustrated=self._default_offer,
                ),
                app_settings.stored(session),
            )
            self.texts = builtins.BotTexts(
                {
                    kind: {lang: current.text(kind, lang) for lang in app_settings.LANGUAGES}
                    for kind in app_settings.TEXT_KINDS
                }
            )
            self.schedules = {lang: current.schedule(lang) for lang in app_settings.LANGUAGES}
            self._clarify_overridden = current.clarify_threshold != default.clarify
            self.offer_person_when_frustrated = current.offer_person_when_frustrated
            self.thresholds = replace(
                default,
                answer=current.answer_threshold,
                clarify=current.clarify_threshold,
                margin=current.clarify_margin,
                strictness=current.strictness,
            )
            self._revision = revision

    def thresholds_for(self, engine: IntentEngine) -> Thresholds:
        """The settings' thresholds, with the fallback threshold the model's measured curve gives
        at the chosen strictness (unless an admin chose a clarify threshold)."""
        fitted = engine.fallback_for(self.thresholds.strictness)
        if fitted is None or self._clarify_overridden:
            return self.thresholds
        return replace(self.thresholds, clarify=min(fitted, self.thresholds.answer))

    def schedule(self, language: str) -> Schedule | None:
        """The opening hours of the team speaking ``language`` (English's when it has none)."""
        return self.schedules.get(language.split("-")[0].lower(), self.schedules.get("en"))
