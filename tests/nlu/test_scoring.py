"""A version's scoring: the confidence curve, the mix of the score's parts, the fallback."""

from __future__ import annotations

import pytest

from chatbot.nlu.scoring import Calibration, Mix


def test_calibration_is_monotonic_and_bounded() -> None:
    calibration = Calibration(center=0.5, scale=0.1)
    values = [calibration.confidence(s) for s in (-1.0, 0.2, 0.5, 0.8, 1.0)]
    assert values == sorted(values)
    assert values[2] == pytest.approx(0.5)
    assert calibration.confidence(float("-inf")) == 0.0


def test_chinese_messages_take_the_chinese_lexical_share() -> None:
    mix = Mix(lexical=0.1, lexical_zh=0.9)
    assert (mix.lexical_for("en"), mix.lexical_for("zh")) == (0.1, 0.9)
    assert mix.distance(Mix(lexical=0.2, lexical_zh=0.9)) == pytest.approx(0.1)
