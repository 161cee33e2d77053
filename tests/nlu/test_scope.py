"""The trade-off curve between right answers kept and out-of-scope questions caught."""

from __future__ import annotations

import pytest

from chatbot.nlu.scope import CUTS, OutOfScopeCurve

RIGHT = [0.95, 0.9, 0.85, 0.8, 0.62, 0.4]
OUTSIDE = [0.05, 0.1, 0.2, 0.3, 0.45, 0.7]


def test_each_cut_counts_the_right_answers_kept_and_the_outsiders_caught() -> None:
    curve = OutOfScopeCurve.measure(RIGHT, OUTSIDE)
    assert [p.threshold for p in curve.points] == list(CUTS)
    point = curve.at(0.5)
    assert (point.answered, point.caught) == (5 / 6, 5 / 6)
    assert curve.at(0.0).answered == 1.0 and curve.at(0.0).caught == 0.0
    assert curve.at(1.0).answered == 0.0 and curve.at(1.0).caught == 1.0


def test_stricter_settings_never_lower_the_threshold() -> None:
    curve = OutOfScopeCurve.measure(RIGHT, OUTSIDE)
    thresholds = [curve.threshold(s / 10) for s in range(11)]
    assert thresholds == sorted(thresholds)
    assert thresholds[0] < thresholds[-1]
    # Refusing everything outside costs the right answer at 0.62: strictness 1 pays it.
    assert curve.at(thresholds[-1]).caught == 1.0
    assert curve.at(thresholds[0]).answered == 1.0


def test_a_clean_gap_puts_the_threshold_in_its_middle() -> None:
    curve = OutOfScopeCurve.measure([0.9, 0.8], [0.1, 0.2])
    assert curve.threshold(0.5) == pytest.approx(0.5, abs=0.01)


def test_the_curve_survives_the_model_card_round_trip() -> None:
    curve = OutOfScopeCurve.measure(RIGHT, OUTSIDE)
    restored = OutOfScopeCurve.from_list(curve.to_list())
    assert restored is not None
    assert restored.threshold(0.5) == curve.threshold(0.5)
    assert OutOfScopeCurve.from_list([]) is None


@pytest.mark.parametrize("strictness", [-0.1, 1.5])
def test_a_strictness_outside_zero_to_one_is_refused(strictness: float) -> None:
    with pytest.raises(ValueError, match=r"strictness must be in 0\.\.1"):
        OutOfScopeCurve.measure(RIGHT, OUTSIDE).threshold(strictness)


def test_the_curve_needs_both_kinds_of_message() -> None:
    with pytest.raises(ValueError, match="in-scope and out-of-scope"):
        OutOfScopeCurve.measure(RIGHT, [])
