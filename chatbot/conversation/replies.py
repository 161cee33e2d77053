"""What the bot says before it is stored, shared by the manager and the actions it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatbot.conversation import builtins
from chatbot.conversation.policies import Action
from chatbot.db.models import HandoffReason


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
