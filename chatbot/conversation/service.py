"""A customer's turn as the web app runs it: store, understand, reply, in that order.

1. One short transaction stores the customer's message (locking the conversation row), and
   answers at once when no model is needed (buttons, greetings, "a person please", a person
   holding the conversation).
2. Outside any transaction, the micro-batcher encodes the message together with whatever else
   arrived meanwhile; an intent's action makes its HTTP call (awaited, with its timeout).
   For a lone customer (no other turn in progress) the encoding starts as the message arrives,
   beside step 1, on the model's own thread, after the turn this process last answered in the
   conversation; it is read again only when step 1 finds another turn before it that the model
   would read it with. It is awaited only after step 1 has committed, so a model error still
   finds the message stored. Under load, messages are read after step 1, batched.
3. A second short transaction stores the bot's reply, unless a person took over meanwhile.
   Replies keep the order of the customer's messages: while an earlier message of the
   conversation still waits for its reply (its turn running here or on another replica), this
   step waits too, holding nothing, for at most ``ORDER_WAIT_MAX_S``.

No step holds a connection or SQLite's write lock while it waits for the model, a thread or
another request. If step 2 or 3 fails, the customer's message is already stored: the caller
says "please try again", and a retry with the same client id answers that message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chatbot.conversation import assignment, calls, offline, takeover
from chatbot.conversation.calls import CallOutcome
from chatbot.conversation.manager import ConversationManager, Pending, Turn
from chatbot.db import conversations as store
from chatbot.db import revisions
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation, ConversationStatus, Message
from chatbot.db.session import Database
from chatbot.events import Event, EventBus, conversation_channel
from chatbot.nlu.batching import MicroBatcher
from chatbot.nlu.context import PreviousTurn, Utterance
from chatbot.nlu.engine import IntentEngine, Prediction

# A turn that failed leaves its message unanswered for good: later ones wait for it this long at
# most, and only for messages sent in the last ORDER_WINDOW_S.
ORDER_WAIT_MAX_S = 2.0
ORDER_POLL_S = 0.02
ORDER_WINDOW_S = 30
FOLLOWED_BY_KEPT = 10_000  # conversations whose last answered turn is kept for a guess


class ConversationNotFound(LookupError):
    """No such conversation, or the token is not the one issued for it (callers cannot tell)."""


class Overloaded(RuntimeError):
    """More turns are in progress than the configured bound: try again shortly."""

    retry_after_s = 1


class TurnFailed(RuntimeError):
    """The customer's message is stored but the bot could not answer it now."""

    retry_after_s = 1


@dataclass
class _Step:
    result: Turn | Pending
    events: list[tuple[str, Event]] = field(default_factory=list)
    behind: bool = False  # the knowledge base or the active model moved on


class ChatService:
    """Runs customers' turns for the web app; publishes what they did on the event bus.

    Args:
        view: how a message looks in a live event (the API's JSON of it).
        max_pending: turns in progress at once before :class:`Overloaded`.
        auto_assign_max: with automatic assignment, the most conversations it gives one
            person (CHATBOT_MAX_OPEN_CONVERSATIONS); None: it is off.
    """

    def __init__(
        self,
        db: Database,
        manager: ConversationManager,
        batcher: MicroBatcher[tuple[IntentEngine, Prediction], str | Utterance],
        bus: EventBus,
        view: takeover.MessageView,
        *,
        max_pending: int = 1000,
        auto_assign_max: int | None = None,
    ) -> None:
        self.db = db
        self.manager = manager
        self.batcher = batcher
        self.bus = bus
        self.view = view
        self.max_pending = max_pending
        self.auto_assign_max = auto_assign_max
        self.pending = 0
        self._followed_by: dict[str, PreviousTurn | None] = {}  # by conversation, newest last

    async def take_turn(
        self,
        conversation_id: str,
        token: str,
        text: str,
        *,
        chosen_intent: str | None = None,
        client_id: str | None = None,
        related_to: int | None = None,
    ) -> Turn:
        """Store the customer's message and the bot's reply (None while people hold it).

        ``related_to``: the bot answer whose related question the customer clicked (NotOffered
        when it offered no ``chosen_intent``; nothing is stored then)."""
        if self.pending >= self.max_pending:
            raise Overloaded(f"{self.pending} messages are being answered; try again shortly")
        self.pending += 1
        guess: _Guess | None = None
        try:

            def receive(resent: bool) -> Awaitable[_Step]:
                return self.db.write(
                    lambda session: self._receive(
                        session,
                        conversation_id,
                        token,
                        text,
                        chosen_intent,
                        client_id,
                        resent,
                        related_to,
                    )
                )

            # A lone customer's message is read by the model while it is being stored (the
            # guess stands when the stored turn reads alike). Under load the message is only
            # announced: the batcher then waits for it to be stored, and the model reads it
            # once, in a batch with the others.
            if self.pending == 1 and chosen_intent is None:
                guess = self._guess(conversation_id, text)
            with self.batcher.coming() if guess is None else contextlib.nullcontext():
                try:  # most messages are sent once: no query looks for an earlier copy
                    step = await receive(False)
                except IntegrityError:  # the same client_id again: a retry
                    step = await receive(True)
            self._publish(step.events)
            if isinstance(step.result, Turn):
                return self._remember(conversation_id, step.result)
            pending = step.result
            try:
                if step.behind:  # encodes new phrasings: on the model's thread
                    _drop(guess)  # read by the model it replaces
                    guess = None
                    await self.batcher.run(lambda: self.db.read_now(self.manager.model.follow))
                engine: IntentEngine = self.manager.engine
                prediction: Prediction | None = None
                if pending.call is None:  # a message giving an asked slot needs no model
                    engine, prediction = await self._understand(pending, guess)
                # An action's HTTP call, awaited here: no transaction, connection or thread held.
                action_call = self.manager.action_call(engine, prediction, pending)
                outcome = await calls.call_async(action_call) if action_call else None
                step = await self._respond_in_order(
                    conversation_id, pending, engine, prediction, outcome
                )
            except Exception as exc:
                raise TurnFailed(
                    "the bot could not answer just now; your message is saved: "
                    "send it again to get an answer"
                ) from exc
            self._publish(step.events)
            assert isinstance(step.result, Turn)
            return self._remember(conversation_id, step.result)
        finally:
            _drop(guess)  # unless used: a turn answered without the model, or a failed one
            self.pending -= 1

    def _guess(self, conversation_id: str, text: str) -> _Guess:
        """The model's reading of ``text``, started now and awaited after the message is stored
        (step 1 and the model run at once: a lone reply waits for the longer of the two, not
        their sum). It reads the text after the turn this process last stored for the
        conversation; :meth:`_understand` checks that against the stored one."""
        utterance = Utterance(text, self._followed_by.get(conversation_id))
        return utterance, asyncio.ensure_future(self.batcher.predict(utterance))

    async def _understand(
        self, pending: Pending, guess: _Guess | None
    ) -> tuple[IntentEngine, Prediction]:
        """The model's reading of the stored message: the guess when the model reads it alike
        (nearly always), else a second prediction."""
        if guess is not None:
            guessed, task = guess
            engine, prediction = await task
            if engine.reads_alike(guessed, pending.utterance):
                return engine, prediction
        return await self.batcher.predict(pending.utterance)

    def _remember(self, conversation_id: str, turn: Turn) -> Turn:
        """Keep what the conversation's next message may follow up on, for its guess."""
        self._followed_by.pop(conversation_id, None)  # re-inserted last: the newest
        self._followed_by[conversation_id] = self.manager.followed_by(turn)
        if len(self._followed_by) > FOLLOWED_BY_KEPT:
            del self._followed_by[next(iter(self._followed_by))]  # the oldest
        return turn

    async def request_handoff(self, conversation_id: str, token: str) -> tuple[str, Message | None]:
        """The customer asked for a person: the conversation's status and the bot's message
        (None when people already hold it)."""

        def handoff(session: Session) -> tuple[str, Message | None, list[tuple[str, Event]]]:
            conversation = customer_conversation(session, conversation_id, token, lock=True)
            message = self.manager.request_handoff(session, conversation)
            assigned = self._auto_assign(session, conversation) if message is not None else []
            channel = conversation_channel(conversation.id)
            events = [] if message is None else [self._message_event(channel, message)]
            events.append((channel, takeover.customer_status_event(conversation)))
            if message is not None and conversation.status in takeover.LIVE:  # queued just now
                events.append(takeover.queue_update(session, conversation))
            events += assigned
            return conversation.status.value, message, events

        status, message, events = await self.db.write(handoff)
        self._publish(events)
        return status, message

    async def leave_offline_message(
        self, conversation_id: str, token: str, email: str, text: str
    ) -> tuple[str, Message, Message]:
        """Nobody could come: the customer's message and address join the queue, to be
        answered by e-mail. Returns the status, their message and the bot's confirmation."""

        def leave(session: Session) -> tuple[str, Message, Message, list[tuple[str, Event]]]:
            conversation = customer_conversation(session, conversation_id, token, lock=True)
            customer, reply = offline.leave_message(session, conversation, email, text)
            channel = conversation_channel(conversation.id)
            events = [self._message_event(channel, m) for m in (customer, reply)]
            events += [(channel, takeover.customer_status_event(conversation))]
            events.append(takeover.queue_update(session, conversation))
            return conversation.status.value, customer, reply, events

        status, customer, reply, events = await self.db.write(leave)
        self._publish(events)
        return status, customer, reply

    def _receive(
        self,
        session: Session,
        conversation_id: str,
        token: str,
        text: str,
        chosen_intent: str | None,
        client_id: str | None,
        resent: bool,
        related_to: int | None = None,
    ) -> _Step:
        conversation = customer_conversation(session, conversation_id, token, lock=True)
        current = revisions.current(session)
        if self.manager.settings.behind(current):
            # Settings are a few rows: take them up now, so this turn already speaks them. The
            # knowledge base and model may need encoding: that waits until after the commit.
            self.manager.settings.follow(session)
        behind = self.manager.model.behind(current)
        before = conversation.status
        result = self.manager.receive(
            session,
            conversation,
            text,
            chosen_intent=chosen_intent,
            client_id=client_id,
            resent=resent,
            related_to=related_to,
        )
        if isinstance(result, Turn):
            result = replace(result, language=conversation.language)
        step = _Step(result, behind=behind)
        if isinstance(result, Turn) and not result.repeated:
            assigned = self._auto_assign(session, conversation)
            step.events = self._turn_events(session, conversation, before, result) + assigned
        return step

    async def _respond_in_order(
        self,
        conversation_id: str,
        pending: Pending,
        engine: IntentEngine,
        prediction: Prediction | None,
        outcome: CallOutcome | None,
    ) -> _Step:
        deadline = time.monotonic() + ORDER_WAIT_MAX_S
        while True:
            in_order = time.monotonic() < deadline
            respond = partial(
                self._respond,
                conversation_id=conversation_id,
                pending=pending,
                engine=engine,
                prediction=prediction,
                outcome=outcome,
                in_order=in_order,
            )
            step = await self.db.write(respond)
            if step is not None:
                return step
            await asyncio.sleep(ORDER_POLL_S)

    def _respond(
        self,
        session: Session,
        conversation_id: str,
        pending: Pending,
        engine: IntentEngine,
        prediction: Prediction | None,
        outcome: CallOutcome | None,
        in_order: bool,
    ) -> _Step | None:
        """The bot's reply stored; None (nothing written) while ``in_order`` and an earlier
        message of the conversation waits for its reply."""
        conversation = store.lock_conversation(session, conversation_id)
        assert conversation is not None  # it held the customer's message a moment ago
        if (
            in_order
            and conversation.status is ConversationStatus.BOT
            and store.unanswered_before(
                session,
                conversation.id,
                pending.customer.id,
                utcnow() - timedelta(seconds=ORDER_WINDOW_S),
            )
        ):
            return None
        before = conversation.status
        turn = self.manager.respond(session, conversation, pending, engine, prediction, outcome)
        turn = replace(turn, language=conversation.language)
        assigned = self._auto_assign(session, conversation)
        return _Step(turn, self._turn_events(session, conversation, before, turn) + assigned)

    def _auto_assign(self, session: Session, conversation: Conversation) -> list[tuple[str, Event]]:
        """With automatic assignment, a conversation that just entered the queue goes to the
        staff member whose turn it is, in the same transaction; what to announce."""
        if self.auto_assign_max is None or conversation.status is not ConversationStatus.WAITING:
            return []
        assigned = assignment.auto_assign(session, conversation, self.auto_assign_max)
        if assigned is None:
            return []
        return assignment.announcements(session, assigned, self.view)

    def _turn_events(
        self, session: Session, conversation: Conversation, before: ConversationStatus, turn: Turn
    ) -> list[tuple[str, Event]]:
        channel = conversation_channel(conversation.id)
        # Most conversations have no live watcher: their events are not even built.
        listened = self.bus.listened(channel)
        events = [
            self._message_event(channel, message)
            for message in (turn.customer, turn.reply)
            if message is not None and listened
        ]
        if conversation.status != before and listened:
            events.append((channel, takeover.customer_status_event(conversation)))
        if takeover.concerns_queue(before, conversation.status):
            # It just asked for a person, or a person is (about to be) reading along.
            events.append(takeover.queue_update(session, conversation))
        return events

    def _message_event(self, channel: str, message: Message) -> tuple[str, Event]:
        return channel, takeover.message_event(self.view, message)

    def _publish(self, events: list[tuple[str, Event]]) -> None:
        for channel, event in events:
            self.bus.publish(channel, event)


# What the model was asked to read while the message was stored, and its reading.
_Guess = tuple[Utterance, "asyncio.Task[tuple[IntentEngine, Prediction]]"]


def _drop(guess: _Guess | None) -> None:
    """Give up a guess the turn did not need (nothing happens to one it awaited); a failure
    of it is nobody's to hear."""
    if guess is not None:
        task = guess[1]
        task.cancel()
        task.add_done_callback(lambda done: done.cancelled() or done.exception())


def customer_conversation(
    session: Session, conversation_id: str, token: str, *, lock: bool = False
) -> Conversation:
    """The conversation, if ``token`` is the one issued for it; else ConversationNotFound, the
    same for a wrong token and an unknown id, so ids cannot be probed.

    Args:
        lock: lock its row until commit (PostgreSQL): a staff claim and a turn take turns.
    """
    find = store.lock_conversation if lock else store.get_conversation
    conversation = find(session, conversation_id)
    if conversation is None or not store.token_matches(conversation, token):
        raise ConversationNotFound(conversation_id)
    return conversation


__all__ = [
    "ChatService",
    "ConversationNotFound",
    "Overloaded",
    "TurnFailed",
    "customer_conversation",
]
