"""Chinese paraphrases of one-phrasing intents: what the word segmenter and synonyms add.

The knowledge base is bench/data/zh_paraphrase/intents.csv (310 shop and bank intents, one FAQ
question each, written for this bench; see the README beside it), read as a knowledge base file
through the same reader as `chatbot import-faq`, with the groups of synonyms.csv as synonym rows of
that file. The packaged base model's engine answers each intent's paraphrase; top-1 is reported
on the held-out split (210 intents), for four settings of the lexical side:

- characters: Chinese as character unigrams and bigrams (and the knowledge base's subword
  pieces): the lexical side before this change, and still the default,
- characters + synonyms: plus the knowledge base's synonym groups (what an admin gets now),
- segmented: characters plus jieba's words (CHATBOT_CHINESE_WORDS=true),
- segmented + synonyms: both.

The tune split (100 intents) is what any choice was made on; `--tune` prints its figures and
its misses instead. The held-out split's misses are never printed.

    .venv/bin/python bench/zh_paraphrase.py [--tune] [--json]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

from chatbot.config import Settings
from chatbot.knowledge.files import read_knowledge_bytes
from chatbot.nlu.engine import IntentEngine
from chatbot.runtime import load_encoder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "zh_paraphrase"


def knowledge_file(rows: list[dict[str, str]], with_synonyms: bool) -> bytes:
    """The bench knowledge base as a CSV knowledge base file, synonym rows at the end."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["intent", "question", "answer", "language", "category", "synonyms"])
    for row in rows:
        writer.writerow([row["intent"], row["question"], row["answer"], "zh", row["domain"], ""])
    if with_synonyms:
        with (DATA / "synonyms.csv").open(encoding="utf-8") as handle:
            for group in csv.DictReader(handle):
                writer.writerow(["", "", "", "", "", group["synonyms"]])
    return out.getvalue().encode()


def top1(engine: IntentEngine, rows: list[dict[str, str]]) -> tuple[float, list[str]]:
    predictions = engine.predict([row["paraphrase"] for row in rows], top_k=1)
    misses = [
        f"{row['paraphrase']} -> {p.intent} (want {row['intent']}: {row['question']})"
        for row, p in zip(rows, predictions, strict=True)
        if p.intent != row["intent"]
    ]
    return 1 - len(misses) / len(rows), misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", action="store_true", help="report the tune split, with misses")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with (DATA / "intents.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    split = "tune" if args.tune else "heldout"
    asked = [row for row in rows if row["split"] == split]
    encoder = load_encoder(Settings())

    results: dict[str, Any] = {"split": split, "intents": len(rows), "asked": len(asked)}
    settings = [  # (name, jieba's words, synonyms)
        ("characters", False, False),
        ("characters + synonyms", False, True),
        ("segmented", True, False),
        ("segmented + synonyms", True, True),
    ]
    for name, chinese_words, with_synonyms in settings:
        knowledge = read_knowledge_bytes(
            knowledge_file(rows, with_synonyms), "zh_paraphrase.csv", max_bytes=10**7
        )
        engine = IntentEngine(encoder, version="base", chinese_words=chinese_words)
        engine.load_knowledge(knowledge.intents, 1, knowledge.synonyms or ())
        accuracy, misses = top1(engine, asked)
        results[name] = round(accuracy, 3)
        if args.tune and not args.json:
            print(f"\n## {name}: {accuracy:.3f}")
            print("\n".join(misses))
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print(f"\ntop-1 on the {split} split ({len(asked)} paraphrases, {len(rows)} intents):")
        for name, *_ in settings:
            print(f"  {name:<22} {results[name]:.3f}")


if __name__ == "__main__":
    main()
