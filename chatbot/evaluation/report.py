"""The evaluation report of a model version: per-intent scores, confusions, calibration, charts.

``build_report`` is pure Python and returns a JSON-serialisable dict, so the report can be stored
beside a model version and rendered by the console. ``write_report_images`` draws the charts;
matplotlib is imported inside it so that importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.evaluation.scoring import bin_of, calibration_curve, language_figures, macro_f1

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONFUSION_INTENT_LIMIT = 40
NO_INTENT = "(no intent)"
_DPI = 110


def build_report(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    confidence: Sequence[float],
    answered: Sequence[bool],
    *,
    languages: Sequence[str] | None = None,
    top_confusions: int = 20,
    bins: int = 10,
) -> dict[str, Any]:
    """Score one model version on labelled messages.

    Args:
        truth: the labelled intent of each message; None marks an out-of-scope message.
        predicted: the best intent the model found (None when it found none).
        confidence: the model's confidence in ``predicted``, in 0..1.
        answered: whether the bot answered or asked; False when it fell back.
        languages: each message's language; given, ``by_language`` holds the counts, accuracy,
            out-of-scope recall and in-scope answered share of each language
            (``chatbot.evaluation.language_figures``).
        top_confusions: how many (truth, predicted) error pairs to keep.
        bins: the number of equal-width confidence bins over 0..1.

    Accuracy, macro-F1, per-intent scores and confusions use the in-scope rows only; calibration
    uses every row, since confidence means P(the answer is right and the question is in scope);
    a message counts as judged out of scope when the bot fell back (as in
    ``chatbot.evaluation.score``). ``per_intent`` lists the intents present in ``truth``, worst F1
    first, and the mean of their F1 is ``macro_f1``.

    Example:
        >>> report = build_report(["card", "card", None], ["card", "fees", "card"],
        ...                       [0.9, 0.4, 0.3], [True, True, False], bins=2)
        >>> report["accuracy"], report["confused_pairs"], report["oos_recall"]
        (0.5, [{'truth': 'card', 'predicted': 'fees', 'count': 1}], 1.0)
        >>> report["confidence_histogram"]["wrong"]
        [1, 0]
    """
    _check_rows(truth, predicted, confidence, answered)
    if languages is not None and len(languages) != len(truth):
        raise ValueError(f"languages has {len(languages)} entries for {len(truth)} messages")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if top_confusions < 0:
        raise ValueError(f"top_confusions must be 0 or more, got {top_confusions}")

    in_scope = [
        (t, p, c) for t, p, c in zip(truth, predicted, confidence, strict=True) if t is not None
    ]
    correct = sum(t == p for t, p, _ in in_scope)
    edges = [index / bins for index in range(bins + 1)]
    return {
        "n": len(truth),
        "n_in_scope": len(in_scope),
        "accuracy": correct / len(in_scope) if in_scope else None,
        # "" stands for "no intent" exactly as chatbot.evaluation.score passes it.
        "macro_f1": macro_f1([t for t, _, _ in in_scope], [p or "" for _, p, _ in in_scope]),
        "per_intent": _per_intent(in_scope),
        "confused_pairs": _confused_pairs(in_scope, top_confusions),
        **_out_of_scope(truth, answered),
        **calibration_curve(truth, predicted, confidence, edges),
        "confidence_histogram": _histogram(truth, predicted, confidence, edges),
        **(
            {"by_language": language_figures(languages, truth, predicted, answered)}
            if languages is not None
            else {}
        ),
    }


def write_report_images(
    report: dict[str, Any],
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    directory: Path,
) -> dict[str, str]:
    """Draw the confusion heat map, the reliability diagram and the confidence histogram as PNGs.

    Args:
        report: what ``build_report`` returned for these rows.
        truth: the labelled intents (None: out of scope), as given to ``build_report``.
        predicted: the predicted intents, as given to ``build_report``.
        directory: where to write; created if missing. Existing charts are overwritten.

    Returns the file names relative to ``directory``. With more than 40 intents the heat map shows
    the 40 with the most errors, so that its labels stay readable.

    Example:
        >>> truth, predicted = ["card", "card", None], ["card", "fees", "card"]
        >>> report = build_report(truth, predicted, [0.9, 0.4, 0.3], [True, True, False])
        >>> write_report_images(report, truth, predicted, tmp_path / "report")
        {'confusion': 'confusion.png', 'calibration': 'calibration.png', \
'confidence': 'confidence.png'}
        >>> sorted(path.name for path in (tmp_path / "report").iterdir())
        ['calibration.png', 'confidence.png', 'confusion.png']
    """
    # Figure objects without pyplot: nothing global (backend, figure registry) is touched, so a
    # web worker or a notebook that calls this keeps its own backend and leaks no open figures.
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    charts = {
        "confusion": _draw_confusion,
        "calibration": _draw_calibration,
        "confidence": _draw_confidence,
    }
    names: dict[str, str] = {}
    for chart, draw in charts.items():
        figure = Figure(dpi=_DPI, layout="constrained")
        draw(figure, report, truth, predicted)
        name = f"{chart}.png"
        figure.savefig(directory / name, dpi=_DPI)
        names[chart] = name
    return names


def _check_rows(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    confidence: Sequence[float],
    answered: Sequence[bool],
) -> None:
    lengths = {
        "truth": len(truth),
        "predicted": len(predicted),
        "confidence": len(confidence),
        "answered": len(answered),
    }
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"all sequences must have one entry per message, got {found}")
    for index, value in enumerate(confidence):
        # `not 0 <= value <= 1` also rejects NaN, which would silently fall out of every bin.
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"confidence[{index}] = {value!r} is outside 0..1")


def _per_intent(in_scope: list[tuple[str, str | None, float]]) -> list[dict[str, Any]]:
    support = Counter(t for t, _, _ in in_scope)
    predicted_count = Counter(p for _, p, _ in in_scope)
    true_positive = Counter(t for t, p, _ in in_scope if t == p)
    rows = []
    for intent, count in support.items():
        tp = true_positive[intent]
        precision = tp / predicted_count[intent] if predicted_count[intent] else 0.0
        recall = tp / count
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {"intent": intent, "precision": precision, "recall": recall, "f1": f1, "support": count}
        )
    # Worst first so the console shows what to fix; the name breaks ties so reports diff cleanly.
    return sorted(rows, key=lambda row: (row["f1"], row["intent"]))


def _confused_pairs(
    in_scope: list[tuple[str, str | None, float]], limit: int
) -> list[dict[str, Any]]:
    errors = Counter((t, p) for t, p, _ in in_scope if t != p)
    ordered = sorted(errors.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or ""))
    return [{"truth": t, "predicted": p, "count": count} for (t, p), count in ordered[:limit]]


def _out_of_scope(truth: Sequence[str | None], answered: Sequence[bool]) -> dict[str, Any]:
    n_oos = sum(t is None for t in truth)
    if not n_oos:
        return {"n_out_of_scope": 0, "oos_precision": None, "oos_recall": None}
    flagged = sum(not a for a in answered)
    true_oos = sum(t is None and not a for t, a in zip(truth, answered, strict=True))
    return {
        "n_out_of_scope": n_oos,
        # 0.0 when nothing was flagged, as chatbot.evaluation.score reports it.
        "oos_precision": true_oos / flagged if flagged else 0.0,
        "oos_recall": true_oos / n_oos,
    }


def _histogram(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    confidence: Sequence[float],
    edges: list[float],
) -> dict[str, list[Any]]:
    counts = {kind: [0] * (len(edges) - 1) for kind in ("correct", "wrong", "oos")}
    for t, p, c in zip(truth, predicted, confidence, strict=True):
        kind = "oos" if t is None else "correct" if t == p else "wrong"
        counts[kind][bin_of(c, edges)] += 1
    return {**counts, "edges": edges}


def _confusion_counts(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    limit: int = CONFUSION_INTENT_LIMIT,
) -> tuple[list[str], list[list[int]], list[int], int]:
    """Labels shown, their counts (rows: truth), full row totals, and how many labels exist."""
    pairs = [(t, p or NO_INTENT) for t, p in zip(truth, predicted, strict=True) if t is not None]
    labels = {t for t, _ in pairs} | {p for _, p in pairs}
    errors: Counter[str] = Counter()
    for t, p in pairs:
        if t != p:
            errors[t] += 1
            errors[p] += 1
    # The intents with the most errors are the ones a reader needs to see when not all fit.
    shown = sorted(sorted(labels, key=lambda label: (-errors[label], label))[:limit])
    position = {label: index for index, label in enumerate(shown)}
    matrix = [[0] * len(shown) for _ in shown]
    row_totals = [0] * len(shown)
    for t, p in pairs:
        if t in position:
            row_totals[position[t]] += 1
            if p in position:
                matrix[position[t]][position[p]] += 1
    return shown, matrix, row_totals, len(labels)


def _draw_confusion(
    figure: Figure,
    report: dict[str, Any],
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
) -> None:
    import numpy as np
    from matplotlib.colors import PowerNorm

    labels, matrix, row_totals, n_labels = _confusion_counts(truth, predicted)
    k = len(labels)
    side = min(14.0, max(6.0, 3.0 + 0.28 * k))
    figure.set_size_inches(side, side)
    ax = figure.add_subplot()
    if not k:
        ax.text(0.5, 0.5, "No in-scope examples", ha="center", va="center")
        ax.set_axis_off()
        return
    counts = np.array(matrix, dtype=float)
    totals = np.array(row_totals, dtype=float)[:, None]
    # Rows as shares of each intent's examples, so rare and common intents read alike; the square
    # root scale makes a 2% confusion visible next to a 95% diagonal.
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0))
    figure.colorbar(image, ax=ax, shrink=0.8, label="Share of the true intent's examples")
    font = 8.0 if k <= 20 else max(6.0, 8.0 - (k - 20) * 0.1)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(k), labels, fontsize=font)
    ax.set_xlabel("Predicted intent")
    ax.set_ylabel("True intent")
    title = "Confusion matrix (rows normalised)"
    if n_labels > k:
        title += f": the {k} of {n_labels} intents with the most errors"
    ax.set_title(title)
    if k <= 20:
        for row in range(k):
            for column in range(k):
                if matrix[row][column]:
                    dark = shares[row, column] > 0.5
                    ax.text(
                        column,
                        row,
                        str(matrix[row][column]),
                        ha="center",
                        va="center",
                        fontsize=font,
                        color="white" if dark else "black",
                    )


def _draw_calibration(
    figure: Figure,
    report: dict[str, Any],
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
) -> None:
    figure.set_size_inches(6.5, 6.0)
    ax = figure.add_subplot()
    curve = report["calibration"]
    filled = [row for row in curve if row["count"]]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Perfect calibration")
    bars = ax.bar(
        [(row["bin_lower"] + row["bin_upper"]) / 2 for row in filled],
        [row["accuracy"] for row in filled],
        width=[row["bin_upper"] - row["bin_lower"] for row in filled],
        edgecolor="black",
        alpha=0.75,
        label="Accuracy in bin",
    )
    ax.bar_label(bars, labels=[f"n={row['count']}" for row in filled], fontsize=7, padding=2)
    ax.plot(
        [row["mean_confidence"] for row in filled],
        [row["accuracy"] for row in filled],
        marker="o",
        color="tab:red",
        label="Mean confidence vs accuracy",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Accuracy")
    ece = report["ece"]
    suffix = f" (ECE {ece:.3f})" if ece is not None else " (no examples)"
    ax.set_title("Reliability diagram" + suffix)
    ax.legend(loc="upper left", fontsize=8)


def _draw_confidence(
    figure: Figure,
    report: dict[str, Any],
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
) -> None:
    figure.set_size_inches(7.0, 4.5)
    ax = figure.add_subplot()
    histogram = report["confidence_histogram"]
    series = [("correct", "Correct", "tab:green"), ("wrong", "Wrong", "tab:red")]
    series.append(("oos", "Out of scope", "tab:grey"))
    for key, label, colour in series:
        counts = histogram[key]
        ax.stairs(counts, histogram["edges"], fill=True, alpha=0.35, color=colour)
        ax.stairs(counts, histogram["edges"], color=colour, label=f"{label} ({sum(counts)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1, math.ceil(max(max(histogram[k]) for k, _, _ in series) * 1.1)))
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Messages")
    ax.set_title("Confidence of correct, wrong and out-of-scope predictions")
    ax.legend(fontsize=8)
