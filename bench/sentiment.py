"""Sentiment of customer messages: accuracy on labelled samples in English and Chinese.

The samples are bench/data/sentiment/en.csv and zh.csv (``text,label``, label negative, neutral or
positive), written for this bench as customers of a home-goods shop write, the Chinese ones in
Chinese rather than translated; bench/data/sentiment/README.md says how they were labelled. They
are a test set only: no word or weight of chatbot/nlu/sentiment.py was chosen on them, and the
misses are printed only with ``--misses``, for a reader, not for tuning.

    .venv/bin/python bench/sentiment.py [--json] [--misses]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

from chatbot.nlu.sentiment import Polarity, analyse

DATA = Path(__file__).resolve().parent / "data" / "sentiment"
LANGUAGES = ("en", "zh")


def read_sample(language: str) -> list[tuple[str, Polarity]]:
    with (DATA / f"{language}.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], Polarity(row["label"])) for row in csv.DictReader(handle)]


def measure(sample: list[tuple[str, Polarity]]) -> dict[str, Any]:
    """Accuracy, per-class precision and recall, and the misses of one labelled sample."""
    started = time.perf_counter()
    predicted = [analyse(text).polarity for text, _label in sample]
    elapsed = time.perf_counter() - started
    pairs = list(zip((label for _text, label in sample), predicted, strict=True))
    classes = {}
    for polarity in Polarity:
        said = sum(1 for _gold, guess in pairs if guess is polarity)
        truly = sum(1 for gold, _guess in pairs if gold is polarity)
        right = sum(1 for gold, guess in pairs if gold is polarity and guess is polarity)
        classes[polarity.value] = {
            "messages": truly,
            "precision": right / said if said else 0.0,
            "recall": right / truly if truly else 0.0,
        }
    return {
        "messages": len(sample),
        "accuracy": sum(1 for gold, guess in pairs if gold is guess) / len(sample),
        "classes": classes,
        "microseconds_per_message": elapsed / len(sample) * 1e6,
        "misses": [
            f"{text} -> {guess.value} (labelled {gold.value})"
            for (text, gold), guess in zip(sample, predicted, strict=True)
            if gold is not guess
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--misses", action="store_true", help="also list the misclassified")
    args = parser.parse_args()
    analyse("warm up")  # VADER's lexicon loads on first use: not part of the timing
    results = {language: measure(read_sample(language)) for language in LANGUAGES}
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print(
        "| language | messages | accuracy | "
        + " | ".join(f"{p.value} P / R" for p in Polarity)
        + " | µs a message |"
    )
    print("| --- | ---: | ---: | " + " | ".join("---" for _ in Polarity) + " | ---: |")
    for language, result in results.items():
        figures = [result["classes"][p.value] for p in Polarity]
        cells = [f"{f['precision']:.2f} / {f['recall']:.2f}" for f in figures]
        print(
            f"| {language} | {result['messages']} | {result['accuracy']:.3f} | "
            + " | ".join(cells)
            + f" | {result['microseconds_per_message']:.0f} |"
        )
    if args.misses:
        for language, result in results.items():
            print(f"\n{language} misses:")
            print("\n".join(result["misses"]))


if __name__ == "__main__":
    main()
