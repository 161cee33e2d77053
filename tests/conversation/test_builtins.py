import pytest

from chatbot.conversation.builtins import GOODBYE, GREETING, HUMAN, THANKS, match_builtin


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hi", GREETING),
        ("Hello there!", GREETING),
        ("good morning", GREETING),
        ("你好", GREETING),
        ("thanks a lot", THANKS),
        ("Perfect, thank you", THANKS),
        ("谢谢！", THANKS),
        ("bye", GOODBYE),
        ("再见", GOODBYE),
        ("ok thanks bye", GOODBYE),  # a closing that starts with thanks is still a goodbye
        ("great, thank you, bye!", GOODBYE),
        ("that's all thanks", GOODBYE),
        ("好的谢谢再见", GOODBYE),
        ("can I talk to a real person?", HUMAN),
        ("I want to speak to an agent", HUMAN),
        ("human please", HUMAN),
        ("转人工", HUMAN),
        ("我要找人工客服", HUMAN),
    ],
)
def test_built_in_intents_in_english_and_chinese(text: str, intent: str) -> None:
    match = match_builtin(text)
    assert match is not None
    assert match.intent == intent


@pytest.mark.parametrize(
    "text",
    [
        "hi, where is my order?",
        "thanks but how do I return this",
        "is the sofa for people?",
        "ok thanks bye, where is my order",
        "",
    ],
)
def test_questions_are_not_small_talk(text: str) -> None:
    assert match_builtin(text) is None
