"""Sentiment of customer messages in English and Chinese: the rules, not the benchmark's sample
(bench/data/sentiment is for measuring only, never for tests or tuning)."""

from __future__ import annotations

import pytest

from chatbot.nlu.sentiment import Polarity, analyse

NEGATIVE, NEUTRAL, POSITIVE = Polarity.NEGATIVE, Polarity.NEUTRAL, Polarity.POSITIVE


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("Thank you, that fixed it!", POSITIVE),
        ("The delivery was quick and the bed is lovely", POSITIVE),
        ("This is unacceptable, I'm furious", NEGATIVE),
        ("Useless answer again", NEGATIVE),
        ("My parcel is late", NEGATIVE),
        # Requests and politeness are not praise in a support chat.
        ("Can you help me change my address please?", NEUTRAL),
        ("I would like to cancel my order", NEUTRAL),
        ("Is shipping free to Leeds?", NEUTRAL),
    ],
)
def test_english(text: str, polarity: Polarity) -> None:
    assert analyse(text).polarity is polarity


def test_english_negation_flips_the_feeling() -> None:
    assert analyse("I am happy with the sofa").polarity is POSITIVE
    assert analyse("I am not happy with the sofa").polarity is NEGATIVE
    assert analyse("The sofa is not bad at all").polarity is POSITIVE


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("谢谢，问题解决了", POSITIVE),
        ("发货很快，非常满意", POSITIVE),
        ("东西不错", POSITIVE),  # 不错: one word of praise, not 不 + 错
        ("你们的服务太差了", NEGATIVE),
        ("快递好慢啊", NEGATIVE),  # 好 before a feeling means "so"
        ("我要投诉你们", NEGATIVE),
        ("请问怎么申请退货", NEUTRAL),
        ("不好意思，我想改一下地址", NEUTRAL),  # politeness, not 不 + 好
        ("麻烦帮我查一下订单", NEUTRAL),  # 麻烦 as "please"
        ("你好", NEUTRAL),
    ],
)
def test_chinese(text: str, polarity: Polarity) -> None:
    assert analyse(text).polarity is polarity


def test_chinese_negators_flip_the_feeling() -> None:
    assert analyse("我很满意").polarity is POSITIVE
    assert analyse("我不满意").polarity is NEGATIVE
    assert analyse("质量不好").polarity is NEGATIVE
    assert analyse("质量不太好").polarity is NEGATIVE  # negator and degree word together
    assert analyse("质量不差").polarity is POSITIVE


def test_degree_words_and_emphasis_make_a_feeling_stronger() -> None:
    plain, strong = analyse("服务差"), analyse("服务太差了！")
    assert strong.score < plain.score < 0
    assert analyse("good").score < analyse("very good!").score


def test_what_follows_a_contrast_counts_more() -> None:
    assert analyse("东西还行，但是物流太慢了").polarity is NEGATIVE
    assert analyse("物流慢了点，但是东西很好，非常满意").polarity is POSITIVE
    assert analyse("The lamp is nice but the delivery was awful").polarity is NEGATIVE


def test_scores_stay_between_minus_one_and_one() -> None:
    for text in ("垃圾垃圾垃圾！！！骗子！", "thanks thanks great amazing perfect!!!", "", "？？"):
        score = analyse(text).score
        assert -1 <= score <= 1
    assert analyse("").polarity is NEUTRAL
