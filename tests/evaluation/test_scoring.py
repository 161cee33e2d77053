"""Labelled files and the metrics computed from what the bot did with each message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.evaluation.scoring import LabelledMessage, Outcome, macro_f1, read_labelled_file, score
from chatbot.knowledge.spec import ImportRejected, Problem


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def rejected(path: Path) -> list[Problem]:
    with pytest.raises(ImportRejected) as caught:
        read_labelled_file(path)
    return caught.value.problems


def test_csv_with_out_of_scope_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "test.csv",
        "\ufefftext,intent\n"  # a BOM, as spreadsheet programs write it
        "Where is my parcel?,delivery\n"
        "What is the weather?,\n"
        "Tell me a joke,oos\n"
        "Who won the match?, OUT_OF_SCOPE \n"
        "  Refund please  ,  refunds  \n",
    )
    assert read_labelled_file(path) == [
        LabelledMessage("Where is my parcel?", "delivery"),
        LabelledMessage("What is the weather?", None),
        LabelledMessage("Tell me a joke", None),
        LabelledMessage("Who won the match?", None),
        LabelledMessage("Refund please", "refunds"),
    ]


def test_jsonl_with_out_of_scope_labels(tmp_path: Path) -> None:
    rows = [
        {"text": "Where is my parcel?", "intent": "delivery"},
        {"text": "Tell me a joke", "intent": "oos"},
        {"text": "Weather?", "intent": ""},
        {"text": "Who won?", "intent": "out_of_scope"},
        {"text": "Hmm", "intent": None},
    ]
    path = write(tmp_path, "test.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert read_labelled_file(path) == [
        LabelledMessage("Where is my parcel?", "delivery"),
        LabelledMessage("Tell me a joke", None),
        LabelledMessage("Weather?", None),
        LabelledMessage("Who won?", None),
        LabelledMessage("Hmm", None),
    ]


def test_rows_without_text_are_each_named(tmp_path: Path) -> None:
    path = write(tmp_path, "test.csv", "text,intent\nHello,greet\n,delivery\n   ,refunds\n")
    assert rejected(path) == [
        Problem("test.csv", "missing text", row=3, column="text"),
        Problem("test.csv", "missing text", row=4, column="text"),
    ]
    jsonl = write(tmp_path, "test.jsonl", '{"text": "Hi", "intent": "a"}\n{"intent": "b"}\n')
    assert rejected(jsonl) == [Problem("test.jsonl", "missing text", row=2, column="text")]


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "test.csv", "message,label\nHello,greet\n")
    assert rejected(path) == [
        Problem("test.csv", "missing column 'text'", row=1, column="text"),
        Problem("test.csv", "missing column 'intent'", row=1, column="intent"),
    ]
    only_text = write(tmp_path, "only_text.csv", "text\nHello\n")
    assert [(p.column, p.row) for p in rejected(only_text)] == [("intent", 1)]


def test_jsonl_without_an_intent_key_is_rejected_like_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "test.jsonl", '{"text": "Hi", "label": "greet"}\n')
    assert [p.column for p in rejected(path)] == ["intent"]


def test_bad_encoding_invalid_json_and_unknown_format(tmp_path: Path) -> None:
    [problem] = rejected(
        write(tmp_path, "latin1.csv", "text,intent\nCafé?,menu\n".encode("cp1252"))
    )
    assert problem.file == "latin1.csv"
    assert problem.reason.startswith("unreadable encoding: not UTF-8")

    [problem] = rejected(write(tmp_path, "bad.jsonl", '{"text": "a", "intent": "b"}\n{oops\n'))
    assert (problem.file, problem.row) == ("bad.jsonl", 2)
    assert problem.reason.startswith("invalid JSON")

    [problem] = rejected(write(tmp_path, "list.jsonl", '["text", "intent"]\n'))
    assert (problem.row, problem.reason) == (1, "a line must be a JSON object")

    [problem] = rejected(write(tmp_path, "test.xlsx", b"PK"))
    assert problem.reason == "unsupported format: use .csv or .jsonl"

    [problem] = rejected(tmp_path / "absent.csv")
    assert problem.file == "absent.csv"
    assert problem.reason.startswith("cannot read the file")


def test_an_empty_file_is_rejected(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.jsonl", "header_only.csv"):
        content = "text,intent\n" if name == "header_only.csv" else ""
        assert rejected(write(tmp_path, name, content)) == [Problem(name, "empty file: no rows")]


def test_macro_f1_by_hand() -> None:
    truth = ["a", "a", "a", "b"]
    predicted = ["a", "a", "b", "b"]
    # a: precision 2/2, recall 2/3 -> F1 0.8; b: precision 1/2, recall 1/1 -> F1 2/3.
    assert macro_f1(truth, predicted) == pytest.approx((0.8 + 2 / 3) / 2)
    # A label predicted but absent from the truth lowers precision, not the number of classes:
    # a: precision 1/1, recall 1/2 -> 2/3; b: precision 0/0 -> 0.
    assert macro_f1(["a", "a", "b"], ["a", "c", "c"]) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0
    assert macro_f1([], []) is None


def test_score_by_hand() -> None:
    examples = [
        LabelledMessage("parcel?", "delivery"),
        LabelledMessage("refund?", "refunds"),
        LabelledMessage("refund now", "refunds"),
        LabelledMessage("joke", None),
        LabelledMessage("weather", None),
    ]
    outcomes = [
        Outcome("delivery", answered=True, latency_ms=10),
        Outcome("delivery", answered=True, latency_ms=30),  # wrong intent, answered
        Outcome("refunds", answered=False, latency_ms=20),  # right intent, but fell back
        Outcome("delivery", answered=False, latency_ms=50),  # out of scope, fell back: right
        Outcome("refunds", answered=True, latency_ms=40),  # out of scope, answered: wrong
    ]
    report = score(examples, outcomes)
    assert report["n"] == 5
    assert report["n_in_scope"] == 3
    assert report["accuracy"] == pytest.approx(2 / 3)
    # delivery: P 1/2, R 1/1 -> 2/3; refunds: P 1/1, R 1/2 -> 2/3.
    assert report["macro_f1"] == pytest.approx(2 / 3)
    # Two messages fell back, one of them out of scope; two out-of-scope messages in all.
    assert report["oos_precision"] == pytest.approx(1 / 2)
    assert report["oos_recall"] == pytest.approx(1 / 2)
    assert report["in_scope_answered"] == pytest.approx(2 / 3)
    assert report["latency_ms_p50"] == 30


def test_score_without_out_of_scope_rows() -> None:
    examples = [LabelledMessage("parcel?", "delivery"), LabelledMessage("refund?", "refunds")]
    outcomes = [Outcome("delivery", True, 4.0), Outcome(None, False, 6.0)]
    report = score(examples, outcomes)
    assert (report["oos_precision"], report["oos_recall"]) == (None, None)
    assert report["accuracy"] == 0.5
    assert report["latency_ms_p50"] == 5.0


def test_score_with_only_out_of_scope_rows() -> None:
    examples = [LabelledMessage("joke", None), LabelledMessage("weather", None)]
    outcomes = [Outcome("delivery", False, 1.0), Outcome("delivery", True, 1.0)]
    report = score(examples, outcomes)
    assert (report["accuracy"], report["macro_f1"]) == (None, None)
    assert (report["oos_precision"], report["oos_recall"]) == (1.0, 0.5)
