"""What the lexical side adds to the base model: BANKING77 test and the Chinese sample.

Scores every test message once and compares the dense score alone with the dense score mixed with
the lexical one at the weights the base model serves with (0.2 for English, 0.8 for Chinese).

    .venv/bin/python bench/lexical_gain.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from banking77_base import read_dataset

from chatbot.config import Settings
from chatbot.knowledge.files import read_faq_file
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine
from chatbot.nlu.scoring import Mix
from chatbot.runtime import load_encoder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def accuracy(engine: IntentEngine, texts: list[str], truth: list[str], weights: dict) -> float:
    parts = engine.score_parts(texts)
    assert parts is not None
    mix = Mix(nearest=engine.scoring.mix.nearest, lexical=weights["en"], lexical_zh=weights["zh"])
    best = parts.combine(mix).argmax(dim=1)
    return sum(parts.keys[int(i)] == t for i, t in zip(best, truth, strict=True)) / len(truth)


def main() -> None:
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/datasets/banking77"
    encoder = load_encoder(Settings())
    results = {}

    train = read_dataset(dataset / "train.csv")
    phrasings: dict[str, list[str]] = {}
    for text, intent in train:
        phrasings.setdefault(intent, []).append(text)
    engine = IntentEngine(encoder, version="base")
    engine.load_knowledge(
        [IntentSpec(k, "-", tuple(dict.fromkeys(v))) for k, v in phrasings.items()], 1
    )
    test = read_dataset(dataset / "test.csv")
    texts, truth = [t for t, _ in test], [k for _, k in test]
    results["banking77"] = {
        "dense only": accuracy(engine, texts, truth, {"en": 0.0, "zh": 0.0}),
        "dense + lexical 0.2": accuracy(engine, texts, truth, {"en": 0.2, "zh": 0.8}),
    }

    sample = read_faq_file(ROOT / "chatbot/sample/knowledge_base.jsonl", max_bytes=10**7)
    engine = IntentEngine(encoder, version="base")
    engine.load_knowledge(sample, 1)
    with (ROOT / "bench/data/sample_zh_test.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["intent"] != "oos"]
    texts, truth = [r["text"] for r in rows], [r["intent"] for r in rows]
    results["chinese sample"] = {
        "dense only": accuracy(engine, texts, truth, {"en": 0.0, "zh": 0.0}),
        "dense + lexical 0.8": accuracy(engine, texts, truth, {"en": 0.2, "zh": 0.8}),
        "n": len(rows),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lexical_gain.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
