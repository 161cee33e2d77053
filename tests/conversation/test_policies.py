from chatbot.conversation.policies import Action, Thresholds, decide
from chatbot.nlu.engine import Prediction, RankedIntent


def prediction(*ranked: tuple[str, float, float]) -> Prediction:
    ranking = tuple(RankedIntent(key, score, confidence) for key, score, confidence in ranked)
    return Prediction(
        ranking[0].intent if ranking else None,
        ranking[0].confidence if ranking else 0.0,
        ranking,
        "en",
    )


THRESHOLDS = Thresholds(answer=0.6, clarify=0.3, margin=0.05, max_suggestions=2)


def test_confident_with_a_clear_lead_answers() -> None:
    decision = decide(prediction(("a", 0.8, 0.9), ("b", 0.6, 0.4)), THRESHOLDS)
    assert (decision.action, decision.intent) == (Action.ANSWER, "a")


def test_confident_but_close_rival_asks_which() -> None:
    decision = decide(prediction(("a", 0.80, 0.9), ("b", 0.78, 0.85), ("c", 0.7, 0.8)), THRESHOLDS)
    assert decision.action is Action.CLARIFY
    assert decision.suggestions == ("a", "b")


def test_middling_confidence_asks_with_only_plausible_rivals() -> None:
    decision = decide(prediction(("a", 0.5, 0.45), ("b", 0.3, 0.2)), THRESHOLDS)
    assert decision.action is Action.CLARIFY
    assert decision.suggestions == ("a",)


def test_low_confidence_or_nothing_falls_back() -> None:
    assert decide(prediction(("a", 0.2, 0.1)), THRESHOLDS).action is Action.FALLBACK
    assert decide(prediction(), THRESHOLDS).action is Action.FALLBACK
