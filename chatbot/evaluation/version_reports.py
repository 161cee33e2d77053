"""Reading a model version's stored evaluation report, and comparing two versions' reports.

A fine-tuned version keeps ``report/report.json`` and the charts ``write_report_images`` drew
beside its weights (see ``chatbot/training.py``); the base version has none. Pure file reading and
arithmetic: the console renders what these functions return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT_DIR = "report"
REPORT_FILE = "report.json"
# The summary metrics the console shows side by side, in this order; "higher is better" decides
# which way a difference counts as an improvement (ECE is a calibration error: lower is better).
METRICS: tuple[tuple[str, bool], ...] = (
    ("accuracy", True),
    ("macro_f1", True),
    ("oos_precision", True),
    ("oos_recall", True),
    ("ece", False),
    ("n", True),
    ("training_seconds", False),
)


def report_directory(model_path: str | None) -> Path | None:
    """Where a version's report lives (None for a version without files, such as the base)."""
    return Path(model_path) / REPORT_DIR if model_path else None


def load_report(model_path: str | None) -> dict[str, Any] | None:
    """The stored report of the version saved at ``model_path``, or None when it has none.

    Example:
        >>> version = tmp_path / "ft-20261128-230000-1a2b3c"
        >>> (version / REPORT_DIR).mkdir(parents=True)
        >>> _ = (version / REPORT_DIR / REPORT_FILE).write_text('{"accuracy": 0.93}')
        >>> load_report(str(version))["accuracy"]
        0.93
        >>> load_report(str(tmp_path / "base")) is None  # nothing saved there
        True
    """
    directory = report_directory(model_path)
    if directory is None:
        return None
    try:
        report = json.loads((directory / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable: the console says there is no report
    return report if isinstance(report, dict) else None


def report_image(model_path: str | None, report: dict[str, Any] | None, name: str) -> Path | None:
    """The chart file ``name`` if the report lists it and it exists; None otherwise.

    Only names the report itself lists are served, so no request can reach another file.
    """
    directory = report_directory(model_path)
    plain = Path(name).name == name and not name.startswith(".") and "\\" not in name
    if directory is None or report is None or not plain:
        return None  # a bare file name only, whatever a report.json might list
    listed = report.get("images") or {}
    if not isinstance(listed, dict) or name not in listed.values():
        return None
    path = directory / name
    return path if path.is_file() else None


# The files of a version that list the corrections training left out: versions trained before
# reports named corrections by id kept each one's text there.
FILES_LISTING_CORRECTIONS = (f"{REPORT_DIR}/{REPORT_FILE}", "chatbot_model.json")


def forget_texts(model_path: str | None, texts: set[str]) -> bool:
    """Remove every listed correction whose text is one of ``texts`` from a version's files.

    Returns whether any file changed. What a version needs (weights, metrics, intents) stays;
    an unreadable file is left as it is.

    Example:
        >>> version = tmp_path / "ft-20261128-230000-1a2b3c"
        >>> (version / REPORT_DIR).mkdir(parents=True)
        >>> listed = {"skipped_corrections": [{"text": "my card 4111", "intent": "gone"}]}
        >>> _ = (version / REPORT_DIR / REPORT_FILE).write_text(json.dumps(listed))
        >>> forget_texts(str(version), {"my card 4111"}), load_report(str(version))
        (True, {'skipped_corrections': []})
    """
    if not model_path or not texts:
        return False
    changed = False
    for name in FILES_LISTING_CORRECTIONS:
        path = Path(model_path) / name
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and forget_in(document, texts):
            path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
            changed = True
    return changed


def forget_in(document: dict[str, Any], texts: set[str]) -> bool:
    """The same on a document already read (a report, a card, a version's stored config): every
    ``skipped_corrections`` list in it, at the top or one level down, loses those texts."""
    changed = False
    for holder in (document, *(v for v in document.values() if isinstance(v, dict))):
        listed = holder.get("skipped_corrections")
        if not isinstance(listed, list):
            continue
        kept = [c for c in listed if not (isinstance(c, dict) and c.get("text") in texts)]
        if len(kept) != len(listed):
            holder["skipped_corrections"] = kept
            changed = True
    return changed


@dataclass(frozen=True)
class MetricChange:
    """One summary metric of two versions: ``b - a``, and whether that is an improvement."""

    key: str
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def better(self) -> bool | None:
        """True when b improves on a, False when it is worse, None when equal or unknown."""
        diff = self.difference
        if diff is None or abs(diff) < 1e-12:
            return None
        higher_is_better = dict(METRICS)[self.key]
        return (diff > 0) == higher_is_better


@dataclass(frozen=True)
class IntentChange:
    """An intent's F1 in two versions' reports (None where that report does not score it)."""

    intent: str
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def compare_metrics(a: dict[str, Any], b: dict[str, Any]) -> list[MetricChange]:
    """The summary metrics of two versions (their registry ``metrics``) side by side."""
    return [MetricChange(key, _number(a.get(key)), _number(b.get(key))) for key, _ in METRICS]


def compare_intents(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[IntentChange]:
    """Per-intent F1 of two reports: what got worse first (worst drop first), then what got
    better (biggest gain first), then the unchanged, then intents only one report scores.

    Example:
        >>> [c.intent for c in compare_intents(
        ...     {"per_intent": [{"intent": "x", "f1": 0.9}, {"intent": "y", "f1": 0.5}]},
        ...     {"per_intent": [{"intent": "x", "f1": 0.7}, {"intent": "y", "f1": 0.8}]})]
        ['x', 'y']
    """
    f1_a, f1_b = _f1_by_intent(a), _f1_by_intent(b)
    changes = [IntentChange(i, f1_a.get(i), f1_b.get(i)) for i in sorted(f1_a.keys() | f1_b.keys())]

    def order(change: IntentChange) -> tuple[int, float, str]:
        diff = change.difference
        if diff is None:
            return (3, 0.0, change.intent)
        if diff < -1e-12:
            return (0, diff, change.intent)
        if diff > 1e-12:
            return (1, -diff, change.intent)
        return (2, 0.0, change.intent)

    return sorted(changes, key=order)


def _f1_by_intent(report: dict[str, Any] | None) -> dict[str, float]:
    rows = (report or {}).get("per_intent") or []
    return {
        str(row["intent"]): float(row["f1"])
        for row in rows
        if isinstance(row, dict) and "intent" in row and _number(row.get("f1")) is not None
    }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# The strictness settings the report lays out, besides the one in force.
STRICTNESS_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class ScopePoint:
    strictness: float
    threshold: float
    answered: float  # right in-scope answers kept
    caught: float  # out-of-scope questions that fall back
    chosen: bool  # the strictness in force


def scope_points(report: dict[str, Any] | None, strictness: float) -> list[ScopePoint]:
    """Where each strictness lands on the version's measured curve (empty when it has none).

    Example:
        >>> curve = [[t / 100, 1.0 if t <= 60 else 0.5, 0.0 if t <= 20 else 1.0]
        ...          for t in range(101)]
        >>> [(p.strictness, p.threshold, p.chosen) for p in scope_points({"oos_curve": curve}, 0.5)]
        [(0.0, 0.3, False), (0.25, 0.4, False), (0.5, 0.4, True), (0.75, 0.4, False), \
(1.0, 0.6, False)]
    """
    from chatbot.nlu.scope import OutOfScopeCurve

    curve = OutOfScopeCurve.from_list((report or {}).get("oos_curve") or [])
    if curve is None:
        return []
    points = []
    for step in sorted({*STRICTNESS_STEPS, strictness}):
        threshold = curve.threshold(step)
        point = curve.at(threshold)
        points.append(ScopePoint(step, threshold, point.answered, point.caught, step == strictness))
    return points
