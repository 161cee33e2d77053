"""A turn of conversation: store the customer's message, understand it, answer, ask or hand off."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from chatbot.conversation import actions
from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.availability import person_available
from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.calls import ActionCall, CallOutcome, call
from chatbot.conversation.policies import Action
from chatbot.conversation.related import RelatedQuestions
from chatbot.conversation.replies import Replies, Reply, with_person_offered
from chatbot.db import conversations as store
from chatbot.db import related as related_store
from chatbot.db import revisions
from chatbot.db.models import Conversation, ConversationStatus, HandoffReason, Message, Role
from chatbot.db.revisions import Revisions
from chatbot.nlu import sentiment
from chatbot.nlu.context import PreviousTurn, Utterance
from chatbot.nlu.engine import IntentEngine, Prediction
from chatbot.nlu.language import clear_language, detect_language

_WITH_PEOPLE = (ConversationStatus.WAITING, ConversationStatus.WITH_STAFF)


class NotOffered(ValueError):
    """A message claims to be a click on a related question its answer did not offer."""


@dataclass(frozen=True)
class Preview:
    """What the bot would say to a message in a new conversation, and what the model made of it
    (None when a built-in answered without the model)."""

    reply: Reply
    prediction: Prediction | None
    version: str
    language: str


@dataclass(frozen=True)
class Pending:
    """A stored customer message that the model must understand before the bot replies."""

    customer: Message
    text: str
    language: str
    started: float  # when the turn began, for the reply's latency
    # A message stored by an earlier try: another try may be answering it at this moment.
    retried: bool = False
    # It gave the last slot an action needs: the call to make (outside any transaction) before
    # :meth:`ConversationManager.respond`, instead of asking the model.
    call: ActionCall | None = None
    # The question the bot answered last, when the model may read this message as its follow-up.
    previous: PreviousTurn | None = None
    # The message's own language (the conversation's may differ): it routes it to the intents
    # in its script. None: the engine detects it.
    detected: str | None = None

    @property
    def utterance(self) -> Utterance:
        """The message as the model reads it, with the turn it may follow up on."""
        return Utterance(self.text, self.previous, self.detected)


@dataclass(frozen=True)
class Turn:
    """The customer's stored message and the bot's stored reply (None while people hold it)."""

    customer: Message
    reply: Message | None
    repeated: bool = False  # a retried send of a message stored before: nothing new happened
    language: str | None = None  # the conversation's after this turn (set by the service)


class ConversationManager:
    """Runs turns: receive a customer's message, then respond with what the model made of it.

    ``model`` holds the engine and follows the active version and the knowledge base;
    ``settings`` holds the admin's thresholds and texts. Callers keep both in step
    (:func:`catch_up`) before a turn; the manager only reads them.
    """

    def __init__(
        self,
        model: ActiveModel,
        settings: BotSettings | None = None,
        *,
        related: RelatedQuestions | None = None,
        follow_up_context: bool = True,
    ) -> None:
        self.model = model
        self.settings = settings or BotSettings()
        # Read a short follow-up with the question answered before it (CHATBOT_FOLLOW_UP_CONTEXT).
        self.follow_up_context = follow_up_context
        self.related = related or RelatedQuestions()
        self.replies = Replies(self.settings, self.related)
        sentiment.load()  # not in the first customer's turn, which holds the writer

    @property
    def engine(self) -> IntentEngine:
        """The engine turns use now (the active model's)."""
        return self.model.engine

    def handle_message(
        self,
        session: Session,
        conversation: Conversation,
        text: str,
        *,
        chosen_intent: str | None = None,
        related_to: int | None = None,
    ) -> Turn:
        """Store a customer message and the bot's reply, in this session (the CLI, tests).

        The web app runs the same two steps with the model between two transactions: see
        :mod:`chatbot.conversation.service`.
        """
        catch_up(self, session, revisions.current(session))
        received = self.receive(
            session, conversation, text, chosen_intent=chosen_intent, related_to=related_to
        )
        if isinstance(received, Turn):
            return received
        engine, prediction = (
            (self.engine, None) if received.call else self.model.predict([received.utterance])[0]
        )
        action_call = self.action_call(engine, prediction, received)
        # Inline, inside the caller's transaction: fine for one CLI process, never for the app.
        outcome = call(action_call) if action_call is not None else None
        return self.respond(session, conversation, received, engine, prediction, outcome)

    def receive(
        self,
        session: Session,
        conversation: Conversation,
        text: str,
        *,
        chosen_intent: str | None = None,
        client_id: str | None = None,
        resent: bool = True,
        related_to: int | None = None,
    ) -> Turn | Pending:
        """Store a customer message; answer it now when that needs no model.

        ``chosen_intent`` is set when the customer clicked a suggestion or follow-up button: the
        bot answers that intent rather than guessing again. ``client_id`` makes a retried send
        idempotent: the message is stored once, and its reply, if any, is returned again.
        ``resent=False`` skips looking for an earlier copy: the caller lets the unique index
        refuse one (IntegrityError) and then calls again with ``resent=True``.
        ``related_to``: the bot answer under which the customer clicked ``chosen_intent`` as a
        related question (stored with the message, counted as a click); NotOffered when that
        answer offered no such question.

        Returns the finished turn, or what the model must understand before :meth:`respond`.
        """
        started = time.perf_counter()
        if client_id is not None and resent:
            earlier = store.find_sent(session, conversation.id, client_id)
            if earlier is not None:
                reply = store.reply_to(session, earlier.id)
                if reply is not None or conversation.status in _WITH_PEOPLE:
                    return Turn(earlier, reply, repeated=True)
                # Stored, but the turn failed before the bot answered: answer it now.
                language = conversation.language or "en"
                previous = self._previous_turn(session, conversation, earlier)
                return Pending(
                    earlier, earlier.text, language, started, retried=True, previous=previous
                )
        feeling = sentiment.analyse(text)  # a few lexicon look-ups: cheap enough for the turn
        if related_to is not None and not (
            chosen_intent is not None
            and related_store.offered_question(session, conversation.id, related_to, chosen_intent)
        ):
            raise NotOffered(
                f"related_to: message {related_to} of this conversation offered no related "
                f"question {chosen_intent!r}"
            )
        customer = store.add_message(
            session,
            conversation,
            Role.CUSTOMER,
            text,
            client_id=client_id,
            sentiment=feeling.polarity.value,
            sentiment_score=feeling.score,
            related_from_id=related_to,
        )
        # The conversation starts in the widget's language and follows the customer's clear
        # messages; the widget follows it in turn (the reply carries it).
        detected = detect_language(text)  # once: the model reads the message in it too
        language = clear_language(text, detected) or conversation.language or detected
        if conversation.language != language:
            conversation.language = language
        if conversation.status in _WITH_PEOPLE:
            return Turn(customer, None)  # a person holds the conversation: the bot stays silent
        if conversation.status is ConversationStatus.CLOSED:
            store.set_status(session, conversation, ConversationStatus.BOT)

        engine = self.engine
        filled = actions.fill_slot(engine, conversation, text, language, chosen_intent)
        if isinstance(filled, ActionCall):
            return Pending(customer, text, language, started, call=filled)
        if filled is not None:
            return Turn(
                customer, self._say(engine, session, conversation, customer, filled, started)
            )
        if chosen_intent is not None:
            answered = self.replies.chosen(engine, chosen_intent, language)
        else:
            answered = self.replies.builtin(text, language)
        if answered is not None:
            if answered.action is Action.HANDOFF:
                answered = replace(answered, handoff_reason=self._why_asked(session, conversation))
                answered = self._unless_nobody_can_come(session, answered, language)
            # A clicked intent with an action asks for its slots (its question gives none).
            started_action = actions.start(engine, conversation, answered, "", language)
            if isinstance(started_action, ActionCall):
                return Pending(customer, text, language, started, call=started_action)
            return Turn(
                customer,
                self._say(engine, session, conversation, customer, started_action, started),
            )
        # Only now, for the model: context never overrides an answer given above (or an active
        # slot-filling form), it only helps classify a message nothing else answered.
        previous = self._previous_turn(session, conversation, customer)
        return Pending(customer, text, language, started, previous=previous, detected=detected)

    def _previous_turn(
        self, session: Session, conversation: Conversation, customer: Message
    ) -> PreviousTurn | None:
        """The question the bot answered just before ``customer``'s message, for reading it as
        a follow-up; None after anything but an answer (a "did you mean", a fallback, people).

        Context only ever weighs in classifying the message: whatever answers a message before
        the model (a button, a built-in, an active slot-filling form) wins over it.
        """
        if not self.follow_up_context:
            return None
        found = store.last_reply_before(session, conversation.id, customer.id)
        return None if found is None else _answered(*found)

    def followed_by(self, turn: Turn) -> PreviousTurn | None:
        """What the conversation's next message may follow up on after ``turn``, as
        :meth:`receive` will read it from the database unless another message comes between."""
        if not self.follow_up_context or turn.reply is None:
            return None
        return _answered(turn.reply, turn.customer.text)

    def action_call(
        self, engine: IntentEngine, prediction: Prediction | None, pending: Pending
    ) -> ActionCall | None:
        """The HTTP call to make before :meth:`respond`: the one the last slot completed, or
        the one a message names with every slot it needs ("where is order AB1234?"). Reads
        nothing stored: callers make the call outside any transaction."""
        if pending.call is not None or prediction is None:
            return pending.call
        reply = self.replies.understood(engine, prediction, pending.language)
        return actions.ready_call(engine, reply, pending.text, pending.language)

    def preview(self, text: str, engine: IntentEngine | None = None) -> Preview:
        """What the bot would say to ``text`` as the first message of a conversation; stores
        nothing. ``engine``: another model version than the serving one (the test pane)."""
        engine = engine or self.engine
        language = detect_language(text)
        builtin = self.replies.builtin(text, language)
        if builtin is not None:
            return Preview(builtin, None, engine.version, language)
        prediction = engine.predict([Utterance(text, language=language)])[0]
        understood = self.replies.understood(engine, prediction)
        return Preview(understood, prediction, engine.version, prediction.language)

    def respond(
        self,
        session: Session,
        conversation: Conversation,
        pending: Pending,
        engine: IntentEngine,
        prediction: Prediction | None,
        outcome: CallOutcome | None = None,
    ) -> Turn:
        """Store the bot's reply to a received message, given what the model made of it (None
        when the message completed an action's slots) and what the :meth:`action_call` gave.

        Nothing is said when a person took the conversation meanwhile, or when another try of
        the same message was answered first.
        """
        customer = pending.customer
        if conversation.status in _WITH_PEOPLE:
            return Turn(customer, None)
        # Only a retried message can have been answered meanwhile (and the unique index on
        # reply_to_id refuses a second reply even then).
        earlier = store.reply_to(session, customer.id) if pending.retried else None
        if earlier is not None:
            return Turn(customer, earlier)
        if pending.call is not None or prediction is None:
            assert pending.call is not None, "a message without a call needs the model"
            reply = actions.called_reply(engine, pending.call, outcome, 1.0)
        else:
            reply = self.replies.understood(engine, prediction, pending.language)
            begun = actions.start(engine, conversation, reply, pending.text, pending.language)
            if isinstance(begun, ActionCall):
                # Made by the caller (action_call); without that step the call counts as failed.
                made = outcome if outcome is not None and outcome.intent == begun.intent else None
                reply = actions.called_reply(engine, begun, made, reply.confidence)
            else:
                reply = begun
        if reply.action is Action.FALLBACK and self._one_fallback_too_many(session, conversation):
            reply = self.replies.handoff(pending.language, HandoffReason.REPEATED_FALLBACK)
            reply = self._unless_nobody_can_come(session, reply, pending.language)
        elif self._frustrated(conversation, customer):
            reply = with_person_offered(reply, pending.language)
        return Turn(
            customer, self._say(engine, session, conversation, customer, reply, pending.started)
        )

    def request_handoff(self, session: Session, conversation: Conversation) -> Message | None:
        """The customer asked for a person (button): hand off unless people already hold it."""
        if conversation.status in _WITH_PEOPLE:
            return None
        language = conversation.language or "en"
        self.settings.follow(session)
        reply = self.replies.handoff(language, self._why_asked(session, conversation))
        reply = self._unless_nobody_can_come(session, reply, language)
        return self._say(self.engine, session, conversation, None, reply, time.perf_counter())

    def _unless_nobody_can_come(self, session: Session, reply: Reply, language: str) -> Reply:
        """A handoff, or, outside the language's opening hours or with nobody on duty, the offer
        to leave a message and an e-mail address (the conversation stays with the bot)."""
        if self.can_come_now(session, language):
            return reply
        return self.replies.offline(language)

    def can_come_now(self, session: Session, language: str) -> bool:
        """Whether a person can come now for a customer speaking ``language``."""
        self.settings.follow(session)
        return person_available(session, self.settings.schedule(language))

    @staticmethod
    def _why_asked(session: Session, conversation: Conversation) -> HandoffReason:
        """The customer asked for a person: after an unsure reply (a fallback or "did you
        mean"), the bot's low confidence is the reason more than the wish itself."""
        last = store.recent_bot_actions(session, conversation.id, 1)
        unsure = bool(last) and last[0] in (Action.FALLBACK.value, Action.CLARIFY.value)
        return HandoffReason.LOW_CONFIDENCE if unsure else HandoffReason.ASKED

    def _one_fallback_too_many(self, session: Session, conversation: Conversation) -> bool:
        """Whether this fallback would be one too many in a row: a person takes over instead."""
        allowed = self.settings.fallbacks_before_handoff
        if allowed <= 0:
            return False
        earlier = allowed - 1
        recent = store.recent_bot_actions(session, conversation.id, allowed)
        return recent[:earlier] == [Action.FALLBACK.value] * earlier

    def _frustrated(self, conversation: Conversation, customer: Message) -> bool:
        """The frustration signal: the customer is negative again (two negative messages in the
        conversation, this one among them). Repeated fallbacks hand over on their own."""
        return (
            self.settings.offer_person_when_frustrated
            and customer.sentiment == sentiment.Polarity.NEGATIVE
            and conversation.negative_messages >= 2
        )

    @staticmethod
    def _say(
        engine: IntentEngine,
        session: Session,
        conversation: Conversation,
        customer: Message | None,
        reply: Reply,
        started: float,
    ) -> Message:
        """Store what the bot says, as the reply to a customer's message or unprompted; a
        handoff puts the conversation in the queue."""
        if reply.action is Action.HANDOFF:
            store.set_status(session, conversation, ConversationStatus.WAITING)
        return store.add_message(
            session,
            conversation,
            Role.BOT,
            reply.text,
            reply_to_id=customer.id if customer is not None else None,
            model_version=engine.version,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            intent=reply.intent,
            confidence=reply.confidence,
            action=reply.action,
            suggestions=reply.suggestions,
            follow_ups=reply.follow_ups,
            related=reply.related or None,
            handoff_reason=reply.handoff_reason,
        )


def _answered(reply: Message, question: str | None) -> PreviousTurn | None:
    """The turn a message may follow up on: the bot's last message when it answered a question."""
    if reply.action != Action.ANSWER.value or reply.intent is None or question is None:
        return None
    return PreviousTurn(reply.intent, question)


def catch_up(manager: ConversationManager, session: Session, current: Revisions) -> None:
    """Take up the stored settings, knowledge base and active version where ``current`` (the
    revisions this transaction read) shows they moved on; nothing to read when they did not."""
    if manager.settings.behind(current):
        manager.settings.follow(session)
    if manager.model.behind(current):
        manager.model.follow(session)
