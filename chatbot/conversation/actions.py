"""Intents with an action, within a turn: ask for its slots, say when the call is ready, answer
from what the call gave.

:mod:`chatbot.conversation.slots` decides what a message does to the asking; this module keeps
the asking on the conversation and turns each step into a reply. The call itself
(:mod:`chatbot.conversation.calls`) is made by the caller between transactions.
"""

from __future__ import annotations

from chatbot.conversation import builtins, slots
from chatbot.conversation.calls import ActionCall, CallOutcome
from chatbot.conversation.policies import Action
from chatbot.conversation.replies import Reply, person_button
from chatbot.db.base import utcnow
from chatbot.db.models import Conversation
from chatbot.knowledge.actions import IntentAction, text_in
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine


def fill_slot(
    engine: IntentEngine,
    conversation: Conversation,
    text: str,
    language: str,
    chosen_intent: str | None,
) -> Reply | ActionCall | None:
    """While an action's slot is asked, the message is its value first (before any intent):
    the next question, the call to make, or "called off". None: read the message as usual
    (nothing asked, a button clicked, a person asked for, or the intent lost its action)."""
    if conversation.slot_filling is None:
        return None
    filling = slots.active(conversation.slot_filling, utcnow())
    spec = engine.intent(filling.intent) if filling is not None else None
    if (
        filling is None
        or spec is None
        or spec.action is None
        or chosen_intent is not None
        or builtins.match_builtin(text) == builtins.BuiltinMatch(builtins.HUMAN)
    ):
        conversation.slot_filling = None
        return None
    step = slots.advance(filling, spec.action, text, utcnow())
    return _said(conversation, spec.key, spec.action, step, language, 1.0)


def start(
    engine: IntentEngine, conversation: Conversation, reply: Reply, text: str, language: str
) -> Reply | ActionCall:
    """An answer of an intent with an action: ask for the first slot ``text`` does not give, or
    the call to make; any other reply as it is."""
    spec = _with_action(engine, reply)
    if spec is None or spec.action is None:
        return reply
    step = slots.begin(spec.key, spec.action, text, utcnow())
    return _said(conversation, spec.key, spec.action, step, language, reply.confidence)


def ready_call(engine: IntentEngine, reply: Reply, text: str, language: str) -> ActionCall | None:
    """The call ``reply`` leads to when ``text`` gives every slot its intent's action needs
    (what :func:`start` would return; it stores nothing, so it runs outside a transaction)."""
    spec = _with_action(engine, reply)
    if spec is None or spec.action is None:
        return None
    step = slots.begin(spec.key, spec.action, text, utcnow())
    if step.kind != "call":
        return None
    return ActionCall(spec.key, spec.action, dict(step.values), language)


def called_reply(
    engine: IntentEngine, action_call: ActionCall, outcome: CallOutcome | None, confidence: float
) -> Reply:
    """The answer the call gave, or the intent's apology (else the built-in one) with a person
    offered; None for ``outcome``: the call was not made."""
    key, language = action_call.intent, action_call.language
    if outcome is not None and outcome.answer is not None:
        return Reply(outcome.answer, Action.ANSWER, key, confidence)
    spec = engine.intent(key)
    apologies = spec.action.apologies if spec is not None and spec.action else ()
    apology = text_in(apologies, language) or builtins.localized(builtins.ACTION_FAILED, language)
    return Reply(
        apology, Action.ACTION_FAILED, key, confidence, suggestions=[person_button(language)]
    )


def _with_action(engine: IntentEngine, reply: Reply) -> IntentSpec | None:
    if reply.action is not Action.ANSWER or reply.intent is None:
        return None
    return engine.intent(reply.intent)


def _said(
    conversation: Conversation,
    key: str,
    action: IntentAction,
    step: slots.Step,
    language: str,
    confidence: float,
) -> Reply | ActionCall:
    """Keep the asking the step leaves (or none) on the conversation, and say what it means."""
    conversation.slot_filling = step.filling.to_json() if step.filling is not None else None
    if step.kind == "call":
        return ActionCall(key, action, dict(step.values), language)
    if step.kind == "ask":
        assert step.slot is not None
        text = step.slot.prompt_in(language)
        if step.retry:
            text = f"{slots.invalid_message(step.slot, language)} {text}"
        return Reply(text, Action.SLOT, key, confidence)
    if step.kind == "cancelled":
        return Reply(builtins.localized(builtins.SLOT_CANCELLED, language), Action.SLOT, key, 1.0)
    return Reply(
        builtins.localized(builtins.SLOT_GAVE_UP, language),
        Action.ACTION_FAILED,
        key,
        confidence,
        suggestions=[person_button(language)],
    )
