"""What the bot says before it is stored, shared by the manager and the actions it runs: the
same for a customer, the test pane and `chatbot ask`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chatbot.conversation import builtins
from chatbot.conversation.policies import Action, decide
from chatbot.db.models import HandoffReason
from chatbot.nlu.engine import IntentEngine, Prediction

if TYPE_CHECKING:
    from chatbot.conversation.bot_settings import BotSettings
    from chatbot.conversation.related import RelatedQuestions


@dataclass(frozen=True)
class Reply:
    """What the bot says, before it is stored: the same for a customer, the test pane and
    `chatbot ask`."""

    text: str
    action: Action
    intent: str | None
    confidence: float
    suggestions: list[dict[str, str]] = field(default_factory=list)
    follow_ups: list[dict[str, str]] = field(default_factory=list)
    # Under an answer: the questions customers asked next, or the nearest (conversation.related).
    related: list[dict[str, str]] = field(default_factory=list)
    handoff_reason: HandoffReason | None = None  # on a handoff: why


def person_button(language: str) -> dict[str, str]:
    """The "talk to a person" button, labelled in ``language``."""
    return {
        "intent": builtins.HUMAN,
        "question": builtins.localized(builtins.HUMAN_BUTTON, language),
    }


class Replies:
    """The bot's words: its settings' texts and thresholds, the answers and buttons of the
    knowledge base an engine holds, and the related questions under an answer."""

    def __init__(self, settings: BotSettings, related: RelatedQuestions) -> None:
        self.settings = settings
        self.related = related

    def understood(
        self, engine: IntentEngine, prediction: Prediction, language: str | None = None
    ) -> Reply:
        """Answer, ask which was meant, or fall back, as the thresholds decide; the bot's own
        words in ``language`` (the conversation's; default: the message's)."""
        decision = decide(prediction, self.settings.thresholds_for(engine))
        language = language or prediction.language
        if decision.action is Action.ANSWER and decision.intent is not None:
            answer = self.answer(engine, decision.intent, prediction.confidence, language)
            assert answer is not None  # the engine just produced this key
            return answer
        if decision.action is Action.CLARIFY:
            return Reply(
                self.settings.texts.clarify(language),
                Action.CLARIFY,
                prediction.intent,
                prediction.confidence,
                suggestions=buttons(engine, decision.suggestions, language),
            )
        return Reply(
            self.settings.texts.fallback(language),
            Action.FALLBACK,
            prediction.intent,
            prediction.confidence,
            suggestions=[person_button(language)],
        )

    def answer(
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
        follow_ups = buttons(engine, spec.follow_ups, language)
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

    def chosen(self, engine: IntentEngine, key: str, language: str) -> Reply | None:
        """A clicked button: that intent's answer, or a person (None: no longer known)."""
        if key == builtins.HUMAN:
            return self.handoff(language)
        return self.answer(engine, key, 1.0, language)

    def builtin(self, text: str, language: str) -> Reply | None:
        """Greetings, thanks, goodbyes and "a person please", answered without the model."""
        builtin = builtins.match_builtin(text)
        if builtin is None:
            return None
        if builtin.intent == builtins.HUMAN:
            return self.handoff(language)
        return Reply(
            self.settings.texts.small_talk(builtin.intent, language),
            Action.SMALLTALK,
            builtin.intent,
            1.0,
        )

    def handoff(self, language: str, reason: HandoffReason = HandoffReason.ASKED) -> Reply:
        return Reply(
            self.settings.texts.handoff(language),
            Action.HANDOFF,
            builtins.HUMAN,
            1.0,
            handoff_reason=reason,
        )

    def offline(self, language: str) -> Reply:
        """Nobody can come: leave a message and an e-mail address instead."""
        return Reply(self.settings.texts.offline(language), Action.OFFLINE, builtins.HUMAN, 1.0)


def with_person_offered(reply: Reply, language: str) -> Reply:
    """An answer or "did you mean" with a person offered below it (a fallback offers one
    already; a handoff brings one)."""
    if reply.action not in (Action.ANSWER, Action.CLARIFY):
        return reply
    button = person_button(language)
    offer = builtins.localized(builtins.FRUSTRATED, language)
    return replace(reply, text=f"{reply.text}\n\n{offer}", suggestions=[*reply.suggestions, button])


def buttons(engine: IntentEngine, keys: Sequence[str], language: str) -> list[dict[str, str]]:
    """Suggestion or follow-up buttons for the intents the knowledge base still has, each
    labelled with a phrasing in the customer's language where the intent has one."""
    buttons = []
    for key in keys:
        spec = engine.intent(key)
        if spec is not None:
            buttons.append({"intent": key, "question": spec.question_in(language)})
    return buttons
