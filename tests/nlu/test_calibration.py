"""Fitting the confidence curve on held-out scores (the mix search runs in test_pipeline.py)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from chatbot.nlu.calibration import fit_calibration
from chatbot.nlu.scoring import Calibration


def test_fit_calibration_separates_right_from_wrong_scores() -> None:
    scores = [0.2, 0.3, 0.35, 0.45, 0.55, 0.6, 0.7, 0.8]
    right = [False, False, False, True, False, True, True, True]
    calibration = fit_calibration(scores, right)
    assert 0.35 < calibration.center < 0.6
    assert calibration.scale > 0
    assert calibration.confidence(0.8) > 0.8
    assert calibration.confidence(0.2) < 0.2
    confidences = [calibration.confidence(s) for s in scores]
    assert confidences == sorted(confidences)


def test_fit_calibration_keeps_the_default_when_it_cannot_learn() -> None:
    assert fit_calibration([0.5, 0.7, 0.9], [True, True, True]) == Calibration()
    assert fit_calibration([0.5, 0.7], [False, False]) == Calibration()
    assert fit_calibration([], []) == Calibration()
    # Higher scores more often wrong: a falling curve would be nonsense.
    assert fit_calibration([0.2, 0.4, 0.6, 0.8], [True, True, False, False]) == Calibration()


def test_fit_calibration_stays_finite_when_the_groups_separate_perfectly() -> None:
    calibration = fit_calibration([0.1, 0.2, 0.8, 0.9], [False, False, True, True])
    assert math.isfinite(calibration.center) and math.isfinite(calibration.scale)
    assert calibration.center == pytest.approx(0.5, abs=0.05)


def test_fit_calibration_emits_no_warning() -> None:
    # In a fresh interpreter: torch gives this warning only once per process.
    script = (
        "from chatbot.nlu.calibration import fit_calibration\n"
        "fit_calibration([0.2, 0.4, 0.6, 0.8], [False, True, False, True])\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-500:]
