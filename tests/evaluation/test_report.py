import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.evaluation.report import _confusion_counts, build_report, write_report_images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Seven messages worked through by hand below; bins=4 puts edges at 0, .25, .5, .75, 1.
TRUTH = ["a", "a", "a", "b", "c", None, None]
PREDICTED = ["a", "b", "b", "b", "a", "c", "a"]
CONFIDENCE = [0.95, 0.55, 0.45, 0.85, 0.35, 0.25, 0.65]
ANSWERED = [True, True, False, True, False, False, True]


@pytest.fixture
def report() -> dict:
    return build_report(TRUTH, PREDICTED, CONFIDENCE, ANSWERED, bins=4)


def test_accuracy_and_macro_f1_use_in_scope_rows(report: dict) -> None:
    assert report["n"] == 7
    assert report["n_in_scope"] == 5
    assert report["accuracy"] == pytest.approx(2 / 5)
    # F1: a = 2(1/2)(1/3)/(1/2+1/3) = 0.4, b = 2(1/3)(1)/(4/3) = 0.5, c = 0.
    assert report["macro_f1"] == pytest.approx(0.3)


def test_per_intent_scores_worst_first(report: dict) -> None:
    rows = [
        (r["intent"], r["precision"], r["recall"], r["f1"], r["support"])
        for r in report["per_intent"]
    ]
    assert rows == [
        ("c", 0.0, 0.0, 0.0, 1),
        ("a", pytest.approx(1 / 2), pytest.approx(1 / 3), pytest.approx(0.4), 3),
        ("b", pytest.approx(1 / 3), 1.0, pytest.approx(0.5), 1),
    ]
    mean_f1 = sum(r["f1"] for r in report["per_intent"]) / 3
    assert mean_f1 == pytest.approx(report["macro_f1"])


def test_confused_pairs_most_frequent_first_and_capped() -> None:
    full = build_report(TRUTH, PREDICTED, CONFIDENCE, ANSWERED)
    assert full["confused_pairs"] == [
        {"truth": "a", "predicted": "b", "count": 2},
        {"truth": "c", "predicted": "a", "count": 1},
    ]
    top = build_report(TRUTH, PREDICTED, CONFIDENCE, ANSWERED, top_confusions=1)
    assert top["confused_pairs"] == [{"truth": "a", "predicted": "b", "count": 2}]


def test_out_of_scope_precision_and_recall(report: dict) -> None:
    # Fell back on rows 3, 5 and 6; only row 6 is out of scope; row 7 (out of scope) was answered.
    assert report["n_out_of_scope"] == 2
    assert report["oos_precision"] == pytest.approx(1 / 3)
    assert report["oos_recall"] == pytest.approx(1 / 2)


def test_out_of_scope_metrics_are_none_without_out_of_scope_rows() -> None:
    report = build_report(["a", "b"], ["a", "a"], [0.9, 0.6], [True, False])
    assert report["oos_precision"] is None
    assert report["oos_recall"] is None


def test_calibration_bins_and_ece_count_out_of_scope_answers_as_wrong(report: dict) -> None:
    # Confidence means P(right and in scope): the two out-of-scope rows (0.25, 0.65) count as
    # wrong answers in their bins.
    curve = [
        (r["bin_lower"], r["bin_upper"], r["mean_confidence"], r["accuracy"], r["count"])
        for r in report["calibration"]
    ]
    assert curve == [
        (0.0, 0.25, None, None, 0),
        (0.25, 0.5, pytest.approx(0.35), 0.0, 3),
        (0.5, 0.75, pytest.approx(0.6), 0.0, 2),
        (0.75, 1.0, pytest.approx(0.9), 1.0, 2),
    ]
    # (3 * 0.35 + 2 * 0.6 + 2 * 0.1) / 7
    assert report["ece"] == pytest.approx(0.35)


def test_confidence_histogram_counts(report: dict) -> None:
    histogram = report["confidence_histogram"]
    assert histogram["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert histogram["correct"] == [0, 0, 0, 2]
    assert histogram["wrong"] == [0, 2, 1, 0]
    # 0.25 sits on an edge and belongs to the bin that starts there.
    assert histogram["oos"] == [0, 1, 1, 0]


def test_edge_values_fall_in_the_bin_they_start_and_one_in_the_last() -> None:
    report = build_report(["a", "a", "a"], ["a", "a", "a"], [0.0, 0.57, 1.0], [True] * 3, bins=100)
    counts = report["confidence_histogram"]["correct"]
    assert (counts[0], counts[57], counts[99], sum(counts)) == (1, 1, 1, 3)
    assert report["ece"] == pytest.approx((1.0 + 0.43 + 0.0) / 3)


def test_report_is_json_serialisable(report: dict) -> None:
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_empty_input_gives_an_empty_report() -> None:
    report = build_report([], [], [], [], bins=2)
    assert report["accuracy"] is None and report["macro_f1"] is None and report["ece"] is None
    assert report["per_intent"] == [] and report["confused_pairs"] == []
    assert [r["count"] for r in report["calibration"]] == [0, 0]


@pytest.mark.parametrize(
    ("confidence", "answered", "message"),
    [
        ([0.5, 1.2], [True, True], r"confidence\[1\] = 1.2 is outside 0..1"),
        ([0.5, float("nan")], [True, True], r"confidence\[1\] = nan"),
        ([0.5, 0.5], [True], r"truth=2, predicted=2, confidence=2, answered=1"),
    ],
)
def test_bad_input_names_the_problem(
    confidence: list[float], answered: list[bool], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_report(["a", "b"], ["a", "b"], confidence, answered)


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = "import sys, chatbot.evaluation.report; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _assert_png(path: Path) -> None:
    content = path.read_bytes()
    assert content[:8] == PNG_SIGNATURE
    assert len(content) > 5_000


def test_images_are_written_for_three_intents(report: dict, tmp_path: Path) -> None:
    names = write_report_images(report, TRUTH, PREDICTED, tmp_path / "report")
    assert names == {
        "confusion": "confusion.png",
        "calibration": "calibration.png",
        "confidence": "confidence.png",
    }
    for name in names.values():
        _assert_png(tmp_path / "report" / name)


def _synthetic(n_intents: int, per_intent: int) -> tuple[list, list, list, list]:
    truth: list[str | None] = []
    predicted: list[str | None] = []
    confidence: list[float] = []
    for i in range(n_intents):
        for j in range(per_intent):
            truth.append(f"intent_{i:02d}")
            # Intent i is confused with i + 1 on i % 4 of its examples, so errors vary by intent.
            wrong = j < i % 4
            predicted.append(f"intent_{(i + 1) % n_intents:02d}" if wrong else f"intent_{i:02d}")
            confidence.append(0.3 + 0.05 * j if wrong else 0.9 - 0.01 * j)
    truth += [None] * 20
    predicted += ["intent_00"] * 20
    confidence += [0.1 + 0.02 * k for k in range(20)]
    answered = [c >= 0.4 for c in confidence]
    return truth, predicted, confidence, answered


def test_images_are_written_for_77_intents(tmp_path: Path) -> None:
    truth, predicted, confidence, answered = _synthetic(77, 6)
    report = build_report(truth, predicted, confidence, answered)
    names = write_report_images(report, truth, predicted, tmp_path)
    for name in names.values():
        _assert_png(tmp_path / name)


def test_confusion_heat_map_keeps_the_intents_with_most_errors() -> None:
    truth, predicted, _, _ = _synthetic(77, 6)
    labels, matrix, row_totals, n_labels = _confusion_counts(truth, predicted, limit=40)
    assert n_labels == 77
    assert len(labels) == 40 and len(matrix) == 40 and all(len(row) == 40 for row in matrix)
    assert labels == sorted(labels)
    # Intents with i % 4 == 3 make 3 errors and receive 2 from i - 1: the most of all.
    assert {f"intent_{i:02d}" for i in range(3, 77, 4)} <= set(labels)
    assert "intent_00" not in labels  # no errors of its own; receives none (intent_76 % 4 == 0)
    assert row_totals == [6] * 40


# The same seven messages, four of them Chinese.
LANGUAGES = ["en", "zh", "en", "zh", "zh", "en", "zh"]


def test_per_language_figures_count_each_language_apart() -> None:
    report = build_report(TRUTH, PREDICTED, CONFIDENCE, ANSWERED, languages=LANGUAGES, bins=4)
    # en: rows 1 (a->a, answered), 3 (a->b, fell back), 6 (out of scope, fell back).
    # zh: rows 2 (a->b), 4 (b->b), 5 (c->a, fell back), 7 (out of scope, answered).
    assert report["by_language"] == {
        "en": {
            "n": 3,
            "n_in_scope": 2,
            "n_out_of_scope": 1,
            "accuracy": 1 / 2,
            "oos_recall": 1.0,
            "in_scope_answered": 1 / 2,
        },
        "zh": {
            "n": 4,
            "n_in_scope": 3,
            "n_out_of_scope": 1,
            "accuracy": pytest.approx(1 / 3),
            "oos_recall": 0.0,
            "in_scope_answered": pytest.approx(2 / 3),
        },
    }
    # The languages' figures add up to the whole report's.
    figures = report["by_language"].values()
    for count in ("n", "n_in_scope", "n_out_of_scope"):
        assert sum(f[count] for f in figures) == report[count]
    right = sum(f["accuracy"] * f["n_in_scope"] for f in figures)
    assert right / report["n_in_scope"] == pytest.approx(report["accuracy"])
    caught = sum(f["oos_recall"] * f["n_out_of_scope"] for f in figures)
    assert caught / report["n_out_of_scope"] == pytest.approx(report["oos_recall"])


def test_a_language_without_in_scope_messages_has_no_accuracy() -> None:
    report = build_report(
        ["a", None, None],
        ["a", "a", "a"],
        [0.9, 0.2, 0.8],
        [True, False, True],
        languages=["en", "fr", "fr"],
    )
    assert report["by_language"]["fr"] == {
        "n": 2,
        "n_in_scope": 0,
        "n_out_of_scope": 2,
        "accuracy": None,
        "oos_recall": 0.5,
        "in_scope_answered": None,
    }
    assert report["by_language"]["en"]["oos_recall"] is None  # nothing out of scope to catch


def test_without_languages_the_report_has_no_per_language_figures() -> None:
    assert "by_language" not in build_report(TRUTH, PREDICTED, CONFIDENCE, ANSWERED)
    with pytest.raises(ValueError, match="languages has 2 entries for 7 messages"):
        build_report(TRUTH, PREDICTED, CONFIDENCE, ANSWERED, languages=["en", "zh"])
