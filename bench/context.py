"""Short follow-ups read with the previous turn, against the message alone (issue 16, point 3).

bench/data/context/exchanges.csv holds two-turn exchanges on the sample knowledge base: the
customer's first question and the intent the bot answered it with, then a follow-up and what it
should get (an intent, or ``oos`` for a fall-back). The ``dev`` half chooses the context mixing
(chatbot.nlu.context.ContextMixing) by a grid search; the ``test`` half is only reported.

A follow-up is handled right when the bot answers or asks about the expected intent first
(not a fall-back), or, out of scope, when it falls back. Thresholds are the defaults a fresh
install serves with.

    .venv/bin/python bench/context.py
"""

from __future__ import annotations

import csv
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from chatbot.config import Settings
from chatbot.conversation.policies import Action, Thresholds, decide
from chatbot.knowledge.files import read_faq_file
from chatbot.nlu.context import (
    ContextMixing,
    PreviousTurn,
    Utterance,
    joined,
    may_need_context,
    mix,
)
from chatbot.nlu.engine import IntentEngine, Prediction, RankedIntent
from chatbot.nlu.retrieval import top_intents
from chatbot.runtime import load_encoder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
EXCHANGES = ROOT / "bench" / "data" / "context" / "exchanges.csv"
SAMPLE = ROOT / "chatbot" / "sample" / "knowledge_base.jsonl"
OFF = ContextMixing(weight=0.0)
GRID = {
    "weight": (0.3, 0.4, 0.5, 0.6, 0.7),
    "max_words": (4.0, 5.0, 6.0, 8.0, 100.0),
    "below_confidence": (0.7, 0.8, 0.9, 1.01),
    "above_confidence": (0.0, 0.05, 0.1, 0.2, 0.3),
}


def read_exchanges() -> list[dict[str, str]]:
    with EXCHANGES.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def utterance(row: dict[str, str]) -> Utterance:
    return Utterance(row["text"], PreviousTurn(row["previous_intent"], row["previous"]))


def build_engine() -> IntentEngine:
    """The packaged base model on the sample knowledge base."""
    engine = IntentEngine(load_encoder(Settings()), version="base")
    engine.load_knowledge(read_faq_file(SAMPLE, max_bytes=10**7), 1)
    return engine


def handled(row: dict[str, str], prediction: Prediction, thresholds: Thresholds) -> bool:
    fell_back = decide(prediction, thresholds).action is Action.FALLBACK
    if row["intent"] == "oos":
        return fell_back
    return not fell_back and prediction.intent == row["intent"]


def figures(rows: Sequence[dict[str, str]], right: Sequence[bool]) -> dict[str, object]:
    """Share handled right, overall and per language and kind of follow-up."""
    groups: dict[str, list[bool]] = {"all": list(right)}
    for row, ok in zip(rows, right, strict=True):
        groups.setdefault(row["language"], []).append(ok)
        groups.setdefault(row["kind"], []).append(ok)
        groups.setdefault(f"{row['language']} {row['kind']}", []).append(ok)
    return {name: [sum(oks), len(oks)] for name, oks in sorted(groups.items())}


class Scored:
    """Every exchange's scores alone and read with its previous question, computed once."""

    def __init__(self, engine: IntentEngine, rows: list[dict[str, str]]) -> None:
        self.engine = engine
        self.rows = rows
        self.utterances = [utterance(row) for row in rows]
        alone = engine.score_parts([u.text for u in self.utterances])
        together = engine.score_parts([joined(u) for u in self.utterances])
        assert alone is not None and together is not None
        self.keys = alone.keys
        self.languages = alone.languages
        self.alone = alone.combine(engine.scoring.mix)
        self.together = together.combine(engine.scoring.mix)
        # As BotSettings.thresholds_for: a fine-tuned model's fitted fall-back threshold.
        fitted = engine.fallback_for(None)
        default = Thresholds()
        self.thresholds = (
            default if fitted is None else Thresholds(clarify=min(fitted, default.answer))
        )

    def right(self, mixing: ContextMixing) -> list[bool]:
        """The engine's own rule (IntentEngine.predict), on the cached scores."""
        scores = self.alone.clone()
        for row, (u, language) in enumerate(zip(self.utterances, self.languages, strict=True)):
            if may_need_context(u, language, mixing):
                confidence = self.engine.calibration.confidence(float(scores[row].max()))
                scores[row] = mix(scores[row], self.together[row], confidence, mixing)
        return [
            handled(row, self._prediction(ranked, language), self.thresholds)
            for row, ranked, language in zip(
                self.rows, top_intents(scores, self.keys, 5), self.languages, strict=True
            )
        ]

    def _prediction(self, ranked: list[tuple[str, float]], language: str) -> Prediction:
        ranking = tuple(
            RankedIntent(k, s, self.engine.calibration.confidence(s)) for k, s in ranked
        )
        return Prediction(ranking[0].intent, ranking[0].confidence, ranking, language)


def choose(scored: Scored, dev: list[int]) -> tuple[ContextMixing, int]:
    """The setting that handles most dev exchanges right; ties go to the lighter touch (less
    weight, fewer follow-ups read with context)."""
    best: tuple[tuple[int, float, float, float, float], ContextMixing] | None = None
    for weight, max_words, below, above in itertools.product(*GRID.values()):
        mixing = ContextMixing(weight, max_words, below, above)
        right = scored.right(mixing)
        count = sum(right[i] for i in dev)
        key = (count, -weight, -max_words, -below, above)
        if best is None or key > best[0]:
            best = (key, mixing)
    assert best is not None
    return best[1], best[0][0]


def main() -> None:
    torch.set_num_threads(2)
    engine = build_engine()
    rows = read_exchanges()
    scored = Scored(engine, rows)
    dev = [i for i, row in enumerate(rows) if row["split"] == "dev"]
    test = [i for i, row in enumerate(rows) if row["split"] == "test"]
    chosen, dev_right = choose(scored, dev)
    alone, together = scored.right(OFF), scored.right(chosen)

    # The engine end to end with the chosen setting gives the same answers as the grid.
    engine.context = chosen
    served = engine.predict(scored.utterances)
    assert [handled(r, p, scored.thresholds) for r, p in zip(rows, served, strict=True)] == together

    results: dict[str, object] = {"model": engine.version, "chosen": asdict(chosen)}
    for name, split in (("dev", dev), ("test", test)):
        part = [rows[i] for i in split]
        results[name] = {
            "message alone": figures(part, [alone[i] for i in split]),
            "with context": figures(part, [together[i] for i in split]),
        }
    results["changed"] = [
        {**rows[i], "alone_right": alone[i], "context_right": together[i]}
        for i in range(len(rows))
        if alone[i] != together[i] and rows[i]["split"] == "dev"
    ]
    results["ms_a_message"] = latencies(engine, scored.utterances)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "context.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"model {engine.version}; chosen on dev ({dev_right}/{len(dev)}): {asdict(chosen)}")
    print(f"ms a message (p50 / p95): {results['ms_a_message']}")
    print("| half | reading | all | en | zh | follow-ups | standalone | out of scope |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    columns = ("all", "en", "zh", "follow_up", "standalone", "out_of_scope")
    for name in ("dev", "test"):
        half = results[name]
        assert isinstance(half, dict)
        for reading, counts in half.items():
            cells = [
                f"{counts[c][0]}/{counts[c][1]} ({counts[c][0] / counts[c][1]:.3f})"
                for c in columns
            ]
            print(f"| {name} | {reading} | " + " | ".join(cells) + " |")


def latencies(engine: IntentEngine, utterances: list[Utterance]) -> dict[str, list[float]]:
    """p50 / p95 ms of one message, alone and with its previous turn (one engine call each)."""
    timings: dict[str, list[float]] = {"message alone": [], "with context": []}
    for u in utterances:
        for reading, query in (("message alone", u.text), ("with context", u)):
            started = time.perf_counter()
            engine.predict([query])
            timings[reading].append((time.perf_counter() - started) * 1000)
    return {
        reading: [
            round(statistics.median(ms), 1),
            round(statistics.quantiles(ms, n=20)[-1], 1),
        ]
        for reading, ms in timings.items()
    }


if __name__ == "__main__":
    main()
