"""A turn of conversation: store the customer's message, understand it, answer, ask or hand off."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from chatbot.conversation import builtins
from chatbot.conversation.policies import Action, Decision, Thresholds, decide
from chatbot.db import conversations as store
from chatbot.db.knowledge import knowledge_revision, load_intents
from chatbot.db.models import Conversation, ConversationStatus, Message, Role
from chatbot.nlu.engine import IntentEngine, Prediction
from chatbot.nlu.language import detect_language

_WITH_PEOPLE = (ConversationStatus.WAITING, ConversationStatus.WITH_STAFF)


@dataclass(frozen=True)
class Turn:
    """The customer's stored message and the bot's stored reply (None while people hold it)."""

    customer: Message
    reply: Message | None


class ConversationManager:
    """Runs turns against one intent engine, keeping its index in step with the knowledge base."""

    def __init__(
        self,
        engine: IntentEngine,
        thresholds: Thresholds | None = None,
        *,
        fallbacks_before_handoff: int = 2,
    ) -> None:
        self.engine = engine
        self.thresholds = thresholds or Thresholds()
        self.fallbacks_before_handoff = fallbacks_before_handoff
        self._refresh_lock = threading.Lock()

    def refresh(self, session: Session) -> None:
        """Rebuild the index if the knowledge base changed since it was built (a cheap check)."""
        revision = knowledge_revision(session)
        if revision == self.engine.revision:
            return
        with self._refresh_lock:
            if revision != self.engine.revision:
                self.engine.load_knowledge(load_intents(session), revision)

    def understand(self, session: Session, text: str) -> Prediction:
        self.refresh(session)
        return self.engine.predict([text])[0]

    def handle_message(
        self,
        session: Session,
        conversation: Conversation,
        text: str,
        *,
        chosen_intent: str | None = None,
    ) -> Turn:
        """Store a customer message and the bot's reply.

        ``chosen_intent`` is set when the customer clicked a suggestion or follow-up button: the
        bot answers that intent rather than guessing again.
        """
        started = time.perf_counter()
        customer = store.add_message(session, conversation, Role.CUSTOMER, text)
        language = conversation.language or detect_language(text)
        if conversation.language is None:
            conversation.language = language
        if conversation.status in _WITH_PEOPLE:
            return Turn(customer, None)  # a person holds the conversation: the bot stays silent
        if conversation.status is ConversationStatus.CLOSED:
            store.set_status(session, conversation, ConversationStatus.BOT)

        builtin = builtins.match_builtin(text) if chosen_intent is None else None
        if chosen_intent == builtins.HUMAN or (builtin and builtin.intent == builtins.HUMAN):
            return Turn(customer, self._handoff(session, conversation, language, started))
        self.refresh(session)
        if chosen_intent is not None and self.engine.intent(chosen_intent) is not None:
            reply = self._answer(session, conversation, chosen_intent, 1.0, started)
            return Turn(customer, reply)
        if builtin is not None:
            reply = self._bot_says(
                session,
                conversation,
                builtins.localized(builtins.REPLIES[builtin.intent], language),
                started,
                intent=builtin.intent,
                confidence=1.0,
                action=Action.SMALLTALK,
            )
            return Turn(customer, reply)

        prediction = self.engine.predict([text])[0]
        decision = decide(prediction, self.thresholds)
        return Turn(customer, self._act(session, conversation, prediction, decision, started))

    def request_handoff(self, session: Session, conversation: Conversation) -> Message | None:
        """The customer asked for a person (button): hand off unless people already hold it."""
        if conversation.status in _WITH_PEOPLE:
            return None
        language = conversation.language or "en"
        return self._handoff(session, conversation, language, time.perf_counter())

    def _act(
        self,
        session: Session,
        conversation: Conversation,
        prediction: Prediction,
        decision: Decision,
        started: float,
    ) -> Message:
        language = prediction.language
        if decision.action is Action.ANSWER and decision.intent is not None:
            return self._answer(
                session, conversation, decision.intent, prediction.confidence, started
            )
        if decision.action is Action.CLARIFY:
            suggestions = [self._button(key) for key in decision.suggestions]
            return self._bot_says(
                session,
                conversation,
                builtins.localized(builtins.CLARIFY, language),
                started,
                intent=prediction.intent,
                confidence=prediction.confidence,
                action=Action.CLARIFY,
                suggestions=[s for s in suggestions if s],
            )
        recent = store.recent_bot_actions(session, conversation.id, self.fallbacks_before_handoff)
        # This fallback would be one too many in a row: a person takes over instead.
        if self.fallbacks_before_handoff > 0 and recent[: self.fallbacks_before_handoff - 1] == [
            Action.FALLBACK.value
        ] * (self.fallbacks_before_handoff - 1):
            return self._handoff(session, conversation, language, started)
        return self._bot_says(
            session,
            conversation,
            builtins.localized(builtins.FALLBACK, language),
            started,
            intent=prediction.intent,
            confidence=prediction.confidence,
            action=Action.FALLBACK,
            suggestions=[
                {
                    "intent": builtins.HUMAN,
                    "question": builtins.localized(builtins.HUMAN_BUTTON, language),
                }
            ],
        )

    def _answer(
        self,
        session: Session,
        conversation: Conversation,
        key: str,
        confidence: float,
        started: float,
    ) -> Message:
        spec = self.engine.intent(key)
        assert spec is not None  # callers pass keys the engine just produced or confirmed
        follow_ups = [self._button(k) for k in spec.follow_ups]
        return self._bot_says(
            session,
            conversation,
            spec.answer,
            started,
            intent=key,
            confidence=confidence,
            action=Action.ANSWER,
            follow_ups=[f for f in follow_ups if f],
        )

    def _handoff(
        self, session: Session, conversation: Conversation, language: str, started: float
    ) -> Message:
        store.set_status(session, conversation, ConversationStatus.WAITING)
        return self._bot_says(
            session,
            conversation,
            builtins.localized(builtins.REPLIES[builtins.HUMAN], language),
            started,
            intent=builtins.HUMAN,
            confidence=1.0,
            action=Action.HANDOFF,
        )

    def _button(self, key: str) -> dict[str, str] | None:
        spec = self.engine.intent(key)
        return {"intent": key, "question": spec.question} if spec else None

    def _bot_says(
        self,
        session: Session,
        conversation: Conversation,
        text: str,
        started: float,
        **fields: Any,
    ) -> Message:
        return store.add_message(
            session,
            conversation,
            Role.BOT,
            text,
            model_version=self.engine.version,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            **fields,
        )
