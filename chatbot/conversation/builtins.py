"""Built-in intents every company needs: greeting, thanks, goodbye and asking for a person.

They are matched by patterns, not by the model: they must work in every language we ship before any
knowledge base is loaded, and a request for a person must never be mistaken for an FAQ topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

GREETING = "greeting"
THANKS = "thanks"
GOODBYE = "goodbye"
HUMAN = "human"

# Short messages that are nothing but small talk; "hi, where is my order?" is a question instead.
_SMALL_TALK = {
    GREETING: re.compile(
        r"^(hi+|hello+|hey+|hiya|howdy|good (morning|afternoon|evening)|greetings|yo)"
        r"( there| team| all)?[\s!.,]*$"
        r"|^(你好|您好|嗨|哈喽|早上好|下午好|晚上好)[\s!！。,，啊呀]*$",
        re.IGNORECASE,
    ),
    THANKS: re.compile(
        r"^((thanks?|thank you|thx|ty|cheers)( (so|very) much| a lot| a bunch)?( for (the|your) "
        r"help)?|(great|perfect|awesome|ok(ay)?|brilliant)[,!.]? thanks?( you)?)[\s!.,]*$"
        r"|^(谢谢|多谢|感谢|谢了|谢谢你|谢谢您)[\s!！。,，啊呀]*$",
        re.IGNORECASE,
    ),
    GOODBYE: re.compile(
        # A closing may start with thanks or an ok: "ok thanks bye", "great, thank you, bye!".
        r"^((ok(ay)?|great|cool|perfect|thanks?|thank you|thx|ty|cheers)[\s!.,]*)*"
        r"(bye+|goodbye|good bye|see (you|ya)( later)?|cya|that'?s all( thanks?)?"
        r"|have a (nice|good|great) day)[\s!.,]*$"
        r"|^(好的|好|谢谢|多谢|感谢|[\s,，])*(再见|拜拜|没有了|就这样)[\s!！。,，啊呀吧]*$",
        re.IGNORECASE,
    ),
}

_HUMAN = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,30}\b(human|person|people|agent|someone|"
    r"somebody|representative|rep|operator|staff|advisor|adviser|customer service)\b"
    r"|\b(real|live|actual)\s+(human|person|agent|people)\b"
    r"|^\s*(human|agent|operator|representative|a person|person)( please)?[\s!.]*$"
    r"|人工|真人|转客服|找客服|客服人员",
    re.IGNORECASE,
)

REPLIES: dict[str, dict[str, str]] = {
    GREETING: {
        "en": "Hello! How can I help you today?",
        "zh": "您好！请问有什么可以帮您？",
    },
    THANKS: {
        "en": "You're welcome! Is there anything else I can help with?",
        "zh": "不客气！还有什么可以帮您的吗？",
    },
    GOODBYE: {
        "en": "Thanks for chatting with us. Have a great day!",
        "zh": "感谢您的咨询，祝您生活愉快！",
    },
    HUMAN: {
        "en": "I'm connecting you with a member of our team. Someone will reply here shortly.",
        "zh": "正在为您转接人工客服，请稍候，工作人员会尽快在这里回复您。",
    },
}

# What the bot says when it cannot help, and the button it offers.
FALLBACK = {
    "en": "Sorry, I'm not sure I can help with that. Could you rephrase it, or would you like to "
    "talk to a person?",
    "zh": "抱歉，我不太确定能否帮到您。您可以换个说法，或者转接人工客服。",
}
CLARIFY = {"en": "Did you mean one of these?", "zh": "您是想问以下哪个问题？"}
# The question the widget asks once staff closed a conversation (1 to 5).
RATING = {
    "en": "How satisfied are you with this conversation?",
    "zh": "您对本次对话满意吗？",
}
HUMAN_BUTTON = {"en": "Talk to a person", "zh": "转人工客服"}
# Below the answer to a customer negative for the second time (the frustration signal).
FRUSTRATED = {
    "en": "I'm sorry this is frustrating. Would you like to talk to a person?",
    "zh": "抱歉给您带来不便。需要为您转接人工客服吗？",
}
# An intent's action failed (timeout, error status, bad response) and the intent has no apology
# of its own; a button offers a person below it.
ACTION_FAILED = {
    "en": "Sorry, I couldn't look that up just now. Please try again later, or talk to a person.",
    "zh": "抱歉，暂时无法为您查询。请稍后再试，或转接人工客服。",
}
# The customer called off an action whose details the bot was asking for ("never mind").
SLOT_CANCELLED = {
    "en": "OK, never mind. Is there anything else I can help with?",
    "zh": "好的，已取消。还有什么可以帮您的吗？",
}
# Too many values that fail the check in a row: the bot stops asking.
SLOT_GAVE_UP = {
    "en": "Sorry, I still can't make that out. Would you like to talk to a person?",
    "zh": "抱歉，我还是没能识别。需要为您转接人工客服吗？",
}
# When a person is asked for outside the opening hours or while nobody is on duty.
OFFLINE = {
    "en": "Sorry, nobody from our team is available right now. Leave your e-mail address and a "
    "message below, and we will reply by e-mail.",
    "zh": "抱歉，目前没有客服人员在线。请在下方留下您的邮箱地址和留言，我们会通过邮件回复您。",
}
# Once the customer left a message and an address: {email} is theirs.
OFFLINE_SENT = {
    "en": "Thank you. Our team will reply to {email} as soon as possible; the reply will also "
    "be here when you come back.",
    "zh": "谢谢！客服人员会尽快回复到 {email}，您再次打开对话时也能在这里看到回复。",
}
# Above an answer given in another language than the customer's, because the intent has none in
# theirs: {language} is the answer's language, named in the customer's.
OTHER_LANGUAGE_NOTE = {
    "en": "_We have this answer in {language} only:_",
    "zh": "_这个问题暂时只有{language}的回答：_",
}
LANGUAGE_NAMES = {
    "en": {"en": "English", "zh": "Chinese"},
    "zh": {"en": "英文", "zh": "中文"},
}


def other_language_note(answer_language: str, customer_language: str) -> str:
    """The note above an answer in ``answer_language`` for a customer in ``customer_language``.

    Example:
        >>> other_language_note("en", "zh-CN")
        '_这个问题暂时只有英文的回答：_'
    """
    primary = answer_language.split("-")[0]
    names = LANGUAGE_NAMES.get(customer_language.split("-")[0], LANGUAGE_NAMES["en"])
    note = localized(OTHER_LANGUAGE_NOTE, customer_language)
    return note.format(language=names.get(primary, answer_language))


@dataclass(frozen=True)
class BuiltinMatch:
    intent: str


def match_builtin(text: str) -> BuiltinMatch | None:
    """The built-in intent a message is, if any.

    Example:
        >>> match_builtin("can I talk to a real person?").intent
        'human'
        >>> match_builtin("hi, where is my order?") is None
        True
    """
    stripped = text.strip()
    if _HUMAN.search(stripped):
        return BuiltinMatch(HUMAN)
    for intent, pattern in _SMALL_TALK.items():
        if pattern.match(stripped):
            return BuiltinMatch(intent)
    return None


def localized(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language.split("-")[0], texts["en"])


@dataclass(frozen=True)
class BotTexts:
    """What the bot says by itself (greeting, fallback, handoff, clarification, the rating
    question and the offer to leave a message when nobody can come), with an admin's
    replacements.

    Each manager holds its own: apps sharing a process (tests, workers) never share overrides.
    ``custom`` maps a kind to {language: text}; an empty or missing text keeps the built-in one.

    Example:
        >>> texts = BotTexts({"fallback": {"en": "No idea, sorry."}})
        >>> texts.fallback("en"), texts.fallback("zh")[:2]
        ('No idea, sorry.', '抱歉')
    """

    custom: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def _say(self, kind: str, built_in: Mapping[str, str], language: str) -> str:
        base = language.split("-")[0]
        chosen = base if base in built_in else "en"
        return self.custom.get(kind, {}).get(chosen, "").strip() or built_in[chosen]

    def greeting(self, language: str) -> str:
        return self._say("greeting", REPLIES[GREETING], language)

    def fallback(self, language: str) -> str:
        return self._say("fallback", FALLBACK, language)

    def handoff(self, language: str) -> str:
        return self._say("handoff", REPLIES[HUMAN], language)

    def clarify(self, language: str) -> str:
        return self._say("clarify", CLARIFY, language)

    def rating(self, language: str) -> str:
        return self._say("rating", RATING, language)

    def offline(self, language: str) -> str:
        """Nobody can come now: the offer to leave a message and an e-mail address."""
        return self._say("offline", OFFLINE, language)

    def small_talk(self, intent: str, language: str) -> str:
        """The reply to a greeting, thanks or goodbye."""
        if intent == GREETING:
            return self.greeting(language)
        return localized(REPLIES[intent], language)
