"""Scoring a model on a labelled file: accuracy, macro-F1, out-of-scope precision and recall."""

from __future__ import annotations

import csv
import io
import json
import statistics
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.knowledge.spec import ImportRejected, Problem
from chatbot.nlu.language import detect_language

OUT_OF_SCOPE_LABELS = {"", "oos", "out_of_scope"}


@dataclass(frozen=True)
class LabelledMessage:
    text: str
    intent: str | None  # None: out of scope, the bot should not answer from the knowledge base


@dataclass(frozen=True)
class Outcome:
    """What the bot did with one labelled message."""

    predicted: str | None  # best intent
    answered: bool  # False when it fell back instead of answering or asking
    latency_ms: float
    confidence: float | None = None  # in ``predicted``; scores the calibration when given


def read_labelled_file(path: Path) -> list[LabelledMessage]:
    """Read a CSV or JSONL file with ``text`` and ``intent`` columns.

    Example:
        >>> path = tmp_path / "test.csv"
        >>> _ = path.write_text("text,intent\\nHow do I locate my card?,card_arrival\\n")
        >>> read_labelled_file(path)[0]
        LabelledMessage(text='How do I locate my card?', intent='card_arrival')
    """
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRejected([Problem(name, f"cannot read the file: {exc.strerror}")]) from exc
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            [Problem(name, f"unreadable encoding: not UTF-8 (byte offset {exc.start})")]
        ) from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(name, content)
    elif suffix in {".jsonl", ".ndjson"}:
        records = _jsonl_records(name, content)
    else:
        raise ImportRejected([Problem(name, "unsupported format: use .csv or .jsonl")])
    problems: list[Problem] = []
    messages: list[LabelledMessage] = []
    for row, record in records:
        text = str(record.get("text") or "").strip()
        label = str(record.get("intent") or "").strip()
        if not text:
            problems.append(Problem(name, "missing text", row=row, column="text"))
            continue
        intent = None if label.lower() in OUT_OF_SCOPE_LABELS else label
        messages.append(LabelledMessage(text, intent))
    if not messages and not problems:
        problems.append(Problem(name, "empty file: no rows"))
    if problems:
        raise ImportRejected(problems)
    return messages


def _csv_records(name: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if reader.fieldnames is None:
        return []
    if "text" not in reader.fieldnames or "intent" not in reader.fieldnames:
        missing = [c for c in ("text", "intent") if c not in (reader.fieldnames or [])]
        raise ImportRejected(
            [Problem(name, f"missing column '{c}'", row=1, column=c) for c in missing]
        )
    return [(index + 2, record) for index, record in enumerate(reader)]


def _jsonl_records(name: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportRejected([Problem(name, f"invalid JSON: {exc.msg}", row=number)]) from exc
        if not isinstance(record, dict):
            raise ImportRejected([Problem(name, "a line must be a JSON object", row=number)])
        records.append((number, record))
    if records and not any("intent" in record for _, record in records):
        raise ImportRejected([Problem(name, "missing column 'intent'", column="intent")])
    return records


def score(examples: Sequence[LabelledMessage], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Accuracy and macro-F1 over in-scope rows; out-of-scope precision/recall over all rows.

    A message counts as judged out of scope when the bot fell back instead of answering.
    """
    in_scope = [(e, o) for e, o in zip(examples, outcomes, strict=True) if e.intent is not None]
    correct = sum(e.intent == o.predicted for e, o in in_scope)
    has_oos = any(e.intent is None for e in examples)
    true_oos = sum(
        e.intent is None and not o.answered for e, o in zip(examples, outcomes, strict=True)
    )
    flagged = sum(not o.answered for o in outcomes)
    latencies = [o.latency_ms for o in outcomes]
    return {
        "n": len(examples),
        "n_in_scope": len(in_scope),
        "accuracy": correct / len(in_scope) if in_scope else None,
        "macro_f1": macro_f1(
            [e.intent or "" for e, _ in in_scope], [o.predicted or "" for _, o in in_scope]
        ),
        "oos_precision": (true_oos / flagged if flagged else 0.0) if has_oos else None,
        "oos_recall": true_oos / sum(e.intent is None for e in examples) if has_oos else None,
        # Right and not fallen back: what accuracy is worth with out-of-scope rejection on.
        "answered_accuracy": (
            sum(e.intent == o.predicted and o.answered for e, o in in_scope) / len(in_scope)
            if in_scope
            else None
        ),
        "in_scope_answered": (
            sum(o.answered for _, o in in_scope) / len(in_scope) if in_scope else None
        ),
        "ece": (
            calibration_curve(
                [e.intent for e in examples],
                [o.predicted for o in outcomes],
                [o.confidence or 0.0 for o in outcomes],
                [i / 10 for i in range(11)],
            )["ece"]
            if outcomes and all(o.confidence is not None for o in outcomes)
            else None
        ),
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p95": (
            statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else None
        ),
        "by_language": by_language(examples, outcomes),
    }


def by_language(
    examples: Sequence[LabelledMessage], outcomes: Sequence[Outcome]
) -> dict[str, dict[str, Any]]:
    """:func:`language_figures` of labelled messages, each in the language
    :func:`chatbot.nlu.language.detect_language` finds (Chinese or English).

    >>> examples = [LabelledMessage("where is my order", "track"),
    ...             LabelledMessage("我的订单呢", "track"), LabelledMessage("明天天气", None)]
    >>> outcomes = [Outcome("track", True, 1.0), Outcome("refund", True, 1.0),
    ...             Outcome(None, False, 1.0)]
    >>> by_language(examples, outcomes)["zh"]
    {'n': 2, 'n_in_scope': 1, 'n_out_of_scope': 1, 'accuracy': 0.0, 'oos_recall': 1.0, \
'in_scope_answered': 1.0}
    """
    return language_figures(
        [detect_language(e.text) for e in examples],
        [e.intent for e in examples],
        [o.predicted for o in outcomes],
        [o.answered for o in outcomes],
    )


def language_figures(
    languages: Sequence[str],
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    answered: Sequence[bool],
) -> dict[str, dict[str, Any]]:
    """Per language of the messages, so one language's misses do not hide in another's figures:
    how many messages (``n``), in scope and out of scope; in-scope ``accuracy``; ``oos_recall``,
    the share of out-of-scope messages the bot fell back on (None without any); and
    ``in_scope_answered``, the share of in-scope messages it answered or asked about instead.

    Args:
        languages: each message's language tag; the figures are keyed by these, sorted.
        truth: its labelled intent; None marks an out-of-scope message.
        predicted: the best intent the model found (None when it found none).
        answered: False when the bot fell back.

    >>> language_figures(["en", "zh", "zh"], ["a", "a", None], ["a", "b", "a"],
    ...                  [True, False, True])["zh"]
    {'n': 2, 'n_in_scope': 1, 'n_out_of_scope': 1, 'accuracy': 0.0, 'oos_recall': 0.0, \
'in_scope_answered': 0.0}
    """
    groups: dict[str, list[tuple[str | None, str | None, bool]]] = {}
    for language, row in zip(languages, zip(truth, predicted, answered, strict=True), strict=True):
        groups.setdefault(language, []).append(row)
    figures = {}
    for language, rows in sorted(groups.items()):
        in_scope = [(t, p, a) for t, p, a in rows if t is not None]
        oos = [a for t, _, a in rows if t is None]
        figures[language] = {
            "n": len(rows),
            "n_in_scope": len(in_scope),
            "n_out_of_scope": len(oos),
            "accuracy": (sum(t == p for t, p, _ in in_scope) / len(in_scope) if in_scope else None),
            "oos_recall": sum(not a for a in oos) / len(oos) if oos else None,
            "in_scope_answered": (
                sum(a for _, _, a in in_scope) / len(in_scope) if in_scope else None
            ),
        }
    return figures


def bin_of(value: float, edges: list[float]) -> int:
    # Bins are [lower, upper) except the last, which also holds 1.0. Bisecting the very floats
    # stored as edges keeps a value such as 0.57 in the bin whose bin_lower is 0.57, which
    # int(value * bins) would not (0.57 * 100 == 56.99999999999999).
    return min(bisect_right(edges, value) - 1, len(edges) - 2)


def calibration_curve(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    confidence: Sequence[float],
    edges: list[float],
) -> dict[str, Any]:
    """Per confidence bin, mean confidence vs how often the answer was right and in scope; and
    the expected calibration error (ECE), the count-weighted mean gap.

    Confidence means P(the answer is right and the question is in scope): out-of-scope messages
    count as wrong answers.

    Example:
        >>> round(calibration_curve(["card", None], ["card", "card"], [0.9, 0.2], [0, 0.5, 1])
        ...       ["ece"], 3)
        0.15
    """
    scored = list(zip(truth, predicted, confidence, strict=True))
    members: list[list[tuple[float, bool]]] = [[] for _ in edges[:-1]]
    for t, p, c in scored:
        members[bin_of(c, edges)].append((c, t is not None and t == p))
    curve = []
    gap = 0.0
    for index, rows in enumerate(members):
        mean_confidence = sum(c for c, _ in rows) / len(rows) if rows else None
        accuracy = sum(ok for _, ok in rows) / len(rows) if rows else None
        if mean_confidence is not None and accuracy is not None:
            gap += len(rows) * abs(accuracy - mean_confidence)
        curve.append(
            {
                "bin_lower": edges[index],
                "bin_upper": edges[index + 1],
                "mean_confidence": mean_confidence,
                "accuracy": accuracy,
                "count": len(rows),
            }
        )
    return {"calibration": curve, "ece": gap / len(scored) if scored else None}


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Unweighted mean F1 over the labels that occur in ``truth``."""
    labels = set(truth)
    if not labels:
        return None
    true_positive: Counter[str] = Counter()
    predicted_count = Counter(predicted)
    truth_count = Counter(truth)
    for t, p in zip(truth, predicted, strict=True):
        if t == p:
            true_positive[t] += 1
    f1s = []
    for label in labels:
        tp = true_positive[label]
        precision = tp / predicted_count[label] if predicted_count[label] else 0.0
        recall = tp / truth_count[label]
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(f1s) / len(f1s)
