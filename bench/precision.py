"""The accuracy cost and speed of each serving precision on BANKING77 (base model).

For fp32, int8 (per-channel dynamic quantisation) and bf16 (only where the CPU has native bf16),
each as the traced serving copy the app uses (`chatbot.nlu.precision.with_precision`):

- indexes BANKING77's train.csv as the knowledge base (every text a phrasing of its intent) and
  answers test.csv, one message at a time, with the engine the app serves with: top-1 accuracy;
- single-message latency (p50 / p95 over the first 500 test messages) and batched sentences/s
  (all test messages, length-sorted batches of 64);
- what `chatbot.nlu.precision.choose` would pick on the training texts alone (the same check a
  model version gets when it is built), which never looks at test.csv.

    .venv/bin/python bench/precision.py [--dataset ../shared/datasets/banking77]

Run it alone. Writes bench/out/precision.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from banking77_base import cpu_model, read_dataset

from chatbot.config import Settings
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import configure_threads
from chatbot.nlu.engine import IntentEngine
from chatbot.nlu.precision import candidates, choose_for, with_precision
from chatbot.runtime import load_encoder

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/banking77")
    args = parser.parse_args()
    train = read_dataset(args.dataset / "train.csv")
    test = read_dataset(args.dataset / "test.csv")
    phrasings: dict[str, list[str]] = {}
    for text, intent in train:
        if text not in phrasings.setdefault(intent, []):
            phrasings[intent].append(text)
    intents = [IntentSpec(k, f"Answer for {k}.", tuple(v)) for k, v in phrasings.items()]

    base = load_encoder(Settings(device="cpu"))
    configure_threads(serving=False)
    rows = []
    for mode in candidates(base.device):
        encoder = with_precision(base, mode)
        engine = IntentEngine(encoder, version=mode)
        engine.load_knowledge(intents, revision=1)
        texts = [t for t, _ in test]
        for text in texts[:20]:
            engine.predict([text])
        latencies, right = [], 0
        for text, intent in test:
            started = time.perf_counter()
            prediction = engine.predict([text])[0]
            latencies.append((time.perf_counter() - started) * 1000)
            right += prediction.intent == intent
        started = time.perf_counter()
        encoder.encode(texts)
        rate = len(texts) / (time.perf_counter() - started)
        rows.append(
            {
                "mode": mode,
                "accuracy": round(right / len(test), 4),
                "single_p50_ms": round(statistics.median(latencies[:500]), 2),
                "single_p95_ms": round(statistics.quantiles(latencies[:500], n=100)[94], 2),
                "batched_sentences_per_s": round(rate, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    chosen = choose_for(base, intents)
    reference = rows[0]["accuracy"]
    print(
        "\n| mode | BANKING77 test accuracy | cost (points) | engine p50 / p95 ms | sentences/s |"
    )
    print("| --- | ---: | ---: | --- | ---: |")
    for row in rows:
        cost = round((reference - row["accuracy"]) * 100, 2)
        print(
            f"| {row['mode']} | {row['accuracy']:.4f} | {cost} | {row['single_p50_ms']} / "
            f"{row['single_p95_ms']} | {row['batched_sentences_per_s']} |"
        )
    print(f"\nchosen on the training texts alone: {chosen.mode}")
    (OUT / "precision.json").write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "cpu": cpu_model(),
                "rows": rows,
                "chosen": chosen.as_dict(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
