"""A turn of conversation: store the customer's message, understand it, answer, ask or hand off."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from chatbot.conversation import actions, builtins
from chatbot.conversation.availability import person_available
from chatbot.conversation.calls import ActionCall, CallOutcome, call
from chatbot.conversation.policies import Action, Thresholds, decide
from chatbot.conversation.related import RelatedQuestions
from chatbot.conversation.replies import Reply, person_button
from chatbot.db import app_settings, revisions
from chatbot.db import conversations as store
from chatbot.db import related as related_store
from chatbot.db.knowledge import knowledge_revision, load_intents, load_synonyms
from chatbot.db.model_versions import active_version_name
from chatbot.db.models import Conversation, ConversationStatus, HandoffReason, Message, Role
from chatbot.db.revisions import Revisions
from chatbot.hours import Schedule
from chatbot.nlu import sentiment
from chatbot.nlu.context import PreviousTurn, Utterance
from chatbot.nlu.engine import IntentEngine, Prediction
from chatbot.nlu.language import clear_language, detect_language

log = logging.getLogger(__name__)
# Builds a ready engine for a version, reading through the given session or its own.
EngineLoader = Callable[[str, Session | None], IntentEngine]
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

    @property
    def utterance(self) -> Utterance:
        """The message as the model reads it, with the turn it may follow up on."""
        return Utterance(self.text, self.previous)


@dataclass(frozen=True)
class Turn:
    """The customer's stored message and the bot's stored reply (None while people hold it)."""

    customer: Message
    reply: Message | None
    repeated: bool = False  # a retried send of a message stored before: nothing new happened
    language: str | None = None  # the conversation's after this turn (set by the service)


class ConversationManager:
    """Runs turns against the active model, keeping it in step with the knowledge base and registry.

    ``load_engine`` builds a ready engine for a model version; when another version is activated,
    it loads in the background while turns go on with the current one, then takes over.
    ``thresholds`` are the defaults: an admin's stored settings (thresholds, the bot's own texts)
    replace them from the next message on.
    """

    def __init__(
        self,
        engine: IntentEngine,
        thresholds: Thresholds | None = None,
        *,
        fallbacks_before_handoff: int = 2,
        offer_person_when_frustrated: bool = True,
        load_engine: EngineLoader | None = None,
        related: RelatedQuestions | None = None,
        follow_up_context: bool = True,
    ) -> None:
        self.engine = engine
        # Read a short follow-up with the question answered before it (CHATBOT_FOLLOW_UP_CONTEXT).
        self.follow_up_context = follow_up_context
        self.related = related or RelatedQuestions()
        self.thresholds = self._default_thresholds = thresholds or Thresholds()
        self.texts = builtins.BotTexts()
        self.schedules: dict[str, Schedule | None] = {}  # each language team's opening hours
        # An admin's clarify threshold wins over the one a fine-tuned model was validated with.
        self._clarify_overridden = False
        self._settings_revision: int | None = None
        self._settings_lock = threading.Lock()
        self.fallbacks_before_handoff = fallbacks_before_handoff
        # The environment's default; an admin's stored setting replaces it (follow_settings).
        self._default_offer = self.offer_person_when_frustrated = offer_person_when_frustrated
        self._load_engine = load_engine
        self._refresh_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._loading: str | None = None
        self._unloadable: str | None = None  # a version that failed to load is not retried
        sentiment.load()  # not in the first customer's turn, which holds the writer

    def refresh(self, session: Session, *, wait: bool = False) -> None:
        """Follow the knowledge base's revision and the active model version (cheap checks).

        Args:
            wait: load a newly activated version before returning, rather than in the background.
        """
        active = active_version_name(session) if self._load_engine else None
        if active is not None and active not in (self.engine.version, self._unloadable):
            self._switch_to(active, session if wait else None)
        engine = self.engine
        revision = knowledge_revision(session)
        if revision == engine.revision:
            return
        with self._refresh_lock:
            if revision != engine.revision:
                engine.load_knowledge(load_intents(session), revision, load_synonyms(session))

    def follow_settings(self, session: Session) -> None:
        """Take up the admin's stored settings when they changed (one primary-key read if not)."""
        revision = app_settings.settings_revision(session)
        if revision == self._settings_revision:
            return
        with self._settings_lock:
            if revision == self._settings_revision:
                return
            default = self._default_thresholds
            current = app_settings.merge(
                app_settings.RuntimeSettings(
                    answer_threshold=default.answer,
                    clarify_threshold=default.clarify,
                    clarify_margin=default.margin,
                    strictness=0.5 if default.strictness is None else default.strictness,
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
            self._settings_revision = revision

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
            # One assignment: a turn sees the old engine or the new one, never half of each.
            self.engine = self._load_engine(version, session)
            log.info("now answering with model %s", version)
        except Exception:
            self._unloadable = version
            log.exception(
                "cannot load model %s; still answering with %s", version, self.engine.version
            )
        finally:
            with self._swap_lock:
                self._loading = None

    def behind(self, revisions: Revisions) -> bool:
        """Whether the stored settings, knowledge base or active version moved on since the
        last turn (then :meth:`catch_up` before understanding)."""
        active = revisions.active_version
        return (
            revisions.settings != self._settings_revision
            or revisions.knowledge != self.engine.revision
            or (
                self._load_engine is not None
                and active is not None
                and active not in (self.engine.version, self._unloadable, self._loading)
            )
        )

    def catch_up(self, session: Session) -> None:
        """Take up the stored settings, knowledge base and active version (reads only)."""
        self.follow_settings(session)
        self.refresh(session)

    def understand(self, session: Session, text: str) -> Prediction:
        self.refresh(session)
        return self.engine.predict([text])[0]

    def predict(self, texts: Sequence[str | Utterance]) -> list[tuple[IntentEngine, Prediction]]:
        """Understand a batch of messages with the current model; each answer names its model."""
        engine = self.engine  # one model for the whole batch, even if another is activated now
        return [(engine, prediction) for prediction in engine.predict(texts)]

    def embed(self, texts: list[str]) -> list[tuple[str, list[float]]]:
        """Vectors of a batch of texts from the current model's encoder; each names its model."""
        engine = self.engine
        return [(engine.version, row.tolist()) for row in engine.encoder.encode(texts)]

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
        if self.behind(revisions.current(session)):
            self.catch_up(session)
        received = self.receive(
            session, conversation, text, chosen_intent=chosen_intent, related_to=related_to
        )
        if isinstance(received, Turn):
            return received
        engine, prediction = (
            (self.engine, None) if received.call else self.predict([received.utterance])[0]
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
        language = clear_language(text) or conversation.language or detect_language(text)
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
            answered = self._chosen(engine, chosen_intent, language)
        else:
            answered = self._builtin(text, language)
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
        return Pending(customer, text, language, started, previous=previous)

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
        if found is None:
            return None
        reply, question = found
        if reply.action != Action.ANSWER.value or reply.intent is None or question is None:
            return None
        return PreviousTurn(reply.intent, question)

    def action_call(
        self, engine: IntentEngine, prediction: Prediction | None, pending: Pending
    ) -> ActionCall | None:
        """The HTTP call to make before :meth:`respond`: the one the last slot completed, or
        the one a message names with every slot it needs ("where is order AB1234?"). Reads
        nothing stored: callers make the call outside any transaction."""
        if pending.call is not None or prediction is None:
            return pending.call
        reply = self._understood(engine, prediction, pending.language)
        return actions.ready_call(engine, reply, pending.text, pending.language)

    def preview(self, text: str, engine: IntentEngine | None = None) -> Preview:
        """What the bot would say to ``text`` as the first message of a conversation; stores
        nothing. ``engine``: another model version than the serving one (the test pane)."""
        engine = engine or self.engine
        language = detect_language(text)
        builtin = self._builtin(text, language)
        if builtin is not None:
            return Preview(builtin, None, engine.version, language)
        prediction = engine.predict([text])[0]
        understood = self._understood(engine, prediction)
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
            reply = self._understood(engine, prediction, pending.language)
            begun = actions.start(engine, conversation, reply, pending.text, pending.language)
            if isinstance(begun, ActionCall):
                # Made by the caller (action_call); without that step the call counts as failed.
                made = outcome if outcome is not None and outcome.intent == begun.intent else None
                reply = actions.called_reply(engine, begun, made, reply.confidence)
            else:
                reply = begun
        if reply.action is Action.FALLBACK and self._one_fallback_too_many(session, conversation):
            reply = self._handoff_reply(pending.language, HandoffReason.REPEATED_FALLBACK)
            reply = self._unless_nobody_can_come(session, reply, pending.language)
        elif self._frustrated(conversation, customer):
            reply = _with_person_offered(reply, pending.language)
        return Turn(
            customer, self._say(engine, session, conversation, customer, reply, pending.started)
        )

    def thresholds_for(self, engine: IntentEngine) -> Thresholds:
        """The settings' thresholds, with the fallback threshold the model's measured curve gives
        at the chosen strictness (unless an admin chose a clarify threshold)."""
        fitted = engine.fallback_for(self.thresholds.strictness)
        if fitted is None or self._clarify_overridden:
            return self.thresholds
        return replace(self.thresholds, clarify=min(fitted, self.thresholds.answer))

    def request_handoff(self, session: Session, conversation: Conversation) -> Message | None:
        """The customer asked for a person (button): hand off unless people already hold it."""
        if conversation.status in _WITH_PEOPLE:
            return None
        language = conversation.language or "en"
        self.follow_settings(session)
        reply = self._handoff_reply(language, self._why_asked(session, conversation))
        reply = self._unless_nobody_can_come(session, reply, language)
        return self._say(self.engine, session, conversation, None, reply, time.perf_counter())

    def _understood(
        self, engine: IntentEngine, prediction: Prediction, language: str | None = None
    ) -> Reply:
        """Answer, ask which was meant, or fall back, as the thresholds decide; the bot's own
        words in ``language`` (the conversation's; default: the message's)."""
        decision = decide(prediction, self.thresholds_for(engine))
        language = language or prediction.language
        if decision.action is Action.ANSWER and decision.intent is not None:
            answer = self._answer(engine, decision.intent, prediction.confidence, language)
            assert answer is not None  # the engine just produced this key
            return answer
        if decision.action is Action.CLARIFY:
            return Reply(
                self.texts.clarify(language),
                Action.CLARIFY,
                prediction.intent,
                prediction.confidence,
                suggestions=_buttons(engine, decision.suggestions, language),
            )
        return Reply(
            self.texts.fallback(language),
            Action.FALLBACK,
            prediction.intent,
            prediction.confidence,
            suggestions=[person_button(language)],
        )

    def _answer(
        self, engine: IntentEngine, key: str, confidence: float, language: str
    ) -> Reply | None:
        """The intent's answer in ``language`` (the customer's); when it has none in that
        language, its first language's under a short note in the customer's."""
        spec = engine.intent(key)
        if spec is None:
            return None
        text, answered_in = spec.answer_in(language)
        if answered_in.split("-")[0].lower() != language.split("-")[0].lower():
            text = f"{builtins.other_language_note(answered_in, language)}\n\n{text}"
        follow_ups = _buttons(engine, spec.follow_ups, language)
        return Reply(
            text,
            Action.ANSWER,
            key,
            confidence,
            follow_ups=follow_ups,
            related=self.related.buttons(
                engine, key, language, besides=tuple(b["intent"] for b in follow_ups)
            ),
        )

    def _chosen(self, engine: IntentEngine, key: str, language: str) -> Reply | None:
        """A clicked button: that intent's answer, or a person (None: no longer known)."""
        if key == builtins.HUMAN:
            return self._handoff_reply(language)
        return self._answer(engine, key, 1.0, language)

    def _builtin(self, text: str, language: str) -> Reply | None:
        """Greetings, thanks, goodbyes and "a person please", answered without the model."""
        builtin = builtins.match_builtin(text)
        if builtin is None:
            return None
        if builtin.intent == builtins.HUMAN:
            return self._handoff_reply(language)
        return Reply(
            self.texts.small_talk(builtin.intent, language), Action.SMALLTALK, builtin.intent, 1.0
        )

    def _handoff_reply(self, language: str, reason: HandoffReason = HandoffReason.ASKED) -> Reply:
        return Reply(
            self.texts.handoff(language),
            Action.HANDOFF,
            builtins.HUMAN,
            1.0,
            handoff_reason=reason,
        )

    def _unless_nobody_can_come(self, session: Session, reply: Reply, language: str) -> Reply:
        """A handoff, or, outside the language's opening hours or with nobody on duty, the offer
        to leave a message and an e-mail address (the conversation stays with the bot)."""
        if self.can_come_now(session, language):
            return reply
        return Reply(self.texts.offline(language), Action.OFFLINE, builtins.HUMAN, 1.0)

    def can_come_now(self, session: Session, language: str) -> bool:
        """Whether a person can come now for a customer speaking ``language``."""
        self.follow_settings(session)
        schedule = self.schedules.get(language.split("-")[0].lower(), self.schedules.get("en"))
        return person_available(session, schedule)

    @staticmethod
    def _why_asked(session: Session, conversation: Conversation) -> HandoffReason:
        """The customer asked for a person: after an unsure reply (a fallback or "did you
        mean"), the bot's low confidence is the reason more than the wish itself."""
        last = store.recent_bot_actions(session, conversation.id, 1)
        unsure = bool(last) and last[0] in (Action.FALLBACK.value, Action.CLARIFY.value)
        return HandoffReason.LOW_CONFIDENCE if unsure else HandoffReason.ASKED

    def _one_fallback_too_many(self, session: Session, conversation: Conversation) -> bool:
        """Whether this fallback would be one too many in a row: a person takes over instead."""
        if self.fallbacks_before_handoff <= 0:
            return False
        earlier = self.fallbacks_before_handoff - 1
        recent = store.recent_bot_actions(session, conversation.id, self.fallbacks_before_handoff)
        return recent[:earlier] == [Action.FALLBACK.value] * earlier

    def _frustrated(self, conversation: Conversation, customer: Message) -> bool:
        """The frustration signal: the customer is negative again (two negative messages in the
        conversation, this one among them). Repeated fallbacks hand over on their own."""
        return (
            self.offer_person_when_frustrated
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


def _with_person_offered(reply: Reply, language: str) -> Reply:
    """An answer or "did you mean" with a person offered below it (a fallback offers one
    already; a handoff brings one)."""
    if reply.action not in (Action.ANSWER, Action.CLARIFY):
        return reply
    button = person_button(language)
    offer = builtins.localized(builtins.FRUSTRATED, language)
    return replace(reply, text=f"{reply.text}\n\n{offer}", suggestions=[*reply.suggestions, button])


def _buttons(engine: IntentEngine, keys: Sequence[str], language: str) -> list[dict[str, str]]:
    """Suggestion or follow-up buttons for the intents the knowledge base still has, each
    labelled with a phrasing in the customer's language where the intent has one."""
    buttons = []
    for key in keys:
        spec = engine.intent(key)
        if spec is not None:
            buttons.append({"intent": key, "question": spec.question_in(language)})
    return buttons
