"""A development split for choosing training settings at 10 phrasings per intent, apart from test.

Draws 10 phrasings per intent from BANKING77's *training* set (the knowledge base; ``--full``:
every training row but the development ones) and 15 other training rows per intent (the
development messages), trains through ``train_model`` with the shipped background, and prints
development accuracy and, at each strictness asked for (the fallback threshold it picks on the
model's curve), the right answers kept, the rejection cost (right answers lost to a fallback)
and out-of-scope recall on the background's ``evaluate`` part (all of it, and its other
companies' support questions alone). test.csv is never read: confirm a choice made here with
``bench/compare.py`` once, afterwards.

    .venv/bin/python bench/few_dev.py ['{"learning_rate": 1e-4}'] [--seed 0] [--strictness 0.5 0.4]
        [--full]

The JSON object overrides fields of ``TrainingConfig`` (or of ``PipelineConfig``). Run it alone
on the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from banking77_base import read_dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatbot.knowledge.spec import IntentSpec  # noqa: E402
from chatbot.nlu.background import background_for  # noqa: E402
from chatbot.nlu.encoder import SentenceEncoder  # noqa: E402
from chatbot.nlu.engine import IntentEngine  # noqa: E402
from chatbot.nlu.pipeline import PipelineConfig, train_model  # noqa: E402
from chatbot.nlu.scope import DEFAULT_STRICTNESS  # noqa: E402
from chatbot.nlu.trainer import TrainingConfig  # noqa: E402

PER_INTENT = 10
DEV_PER_INTENT = 15


def split(
    dataset: Path, seed: int, full: bool = False
) -> tuple[list[IntentSpec], list[tuple[str, str]]]:
    """10 phrasings of each intent as the knowledge base (``full``: every row but the
    development ones, the full-set regime), 15 others as development messages: the same 15
    either way."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in read_dataset(dataset / "train.csv"):
        by_intent[intent].append(text)
    rng = random.Random(seed)
    intents, dev = [], []
    for key in sorted(by_intent):
        texts = rng.sample(by_intent[key], PER_INTENT + DEV_PER_INTENT)
        held = set(texts[PER_INTENT:])
        known = [t for t in by_intent[key] if t not in held] if full else texts[:PER_INTENT]
        intents.append(IntentSpec(key, f"Answer for {key}.", tuple(known)))
        dev += [(text, key) for text in texts[PER_INTENT:]]
    return intents, dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="?", default="{}", help="TrainingConfig fields, JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--full",
        action="store_true",
        help="the full-set regime: every training row but the development ones (about 8,850) "
        "as the knowledge base; 13 minutes or more",
    )
    parser.add_argument(
        "--strictness",
        type=float,
        nargs="+",
        default=[DEFAULT_STRICTNESS],
        help="settings to read the model at (default: the product's)",
    )
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/banking77")
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    intents, dev = split(args.dataset, args.seed, args.full)
    started = time.perf_counter()
    pipeline = {k: v for k, v in overrides.items() if hasattr(PipelineConfig, k)}
    training = {k: v for k, v in overrides.items() if k not in pipeline}
    config = PipelineConfig(training=TrainingConfig(**training), **pipeline)
    trained = train_model(SentenceEncoder.from_pretrained(), intents, config=config)
    seconds = time.perf_counter() - started
    engine = IntentEngine(
        trained.encoder, version="dev", scoring=trained.scoring, prototypes=trained.prototypes
    )
    engine.load_knowledge(intents, revision=1)
    predictions = engine.predict([text for text, _ in dev])
    right = [p.intent == key for p, (_, key) in zip(predictions, dev, strict=True)]
    background = background_for(["en"], "evaluate")
    outside = engine.predict([m.text for m in background])
    near_domain = [m.near_domain for m in background]

    def right_kept(floor: float) -> int:
        return sum(r and p.confidence >= floor for r, p in zip(right, predictions, strict=True))

    # One training run, read at several strictness settings: the model does not change with it.
    at_strictness = {}
    for strictness in args.strictness:
        floor = trained.scoring.fallback_for(strictness) or 0.0
        kept = right_kept(floor)
        caught = [p.confidence < floor for p in outside]
        near = [c for c, n in zip(caught, near_domain, strict=True) if n]
        at_strictness[str(strictness)] = {
            "fallback": floor,
            "right_kept": round(kept / len(dev), 4),
            "rejection_cost": round((sum(right) - kept) / len(dev), 4),
            "background_recall": round(sum(caught) / len(caught), 4),
            "support_questions_recall": round(sum(near) / max(1, len(near)), 4),
        }
    # Strictness picks different points on different models' curves; compare them also at the
    # same out-of-scope recall (the share of right answers kept where 95 / 97 % are caught).
    outside_confidences = sorted(p.confidence for p in outside)
    at_recall = {}
    for recall in (0.95, 0.97):
        floor = outside_confidences[min(len(outside) - 1, int(recall * len(outside)))]
        at_recall[str(recall)] = round(right_kept(floor) / len(dev), 4)
    # Every message's confidence and the version's curve, to try other threshold rules on
    # without training again.
    raw = ROOT / "bench" / "out" / f"few_dev_seed{args.seed}{'_full' if args.full else ''}.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    curve = trained.scoring.oos_curve
    raw.write_text(
        json.dumps(
            {
                "overrides": overrides,
                "dev": [[r, p.confidence] for r, p in zip(right, predictions, strict=True)],
                "outside": [[n, p.confidence] for n, p in zip(near_domain, outside, strict=True)],
                "curve": curve.to_list() if curve is not None else None,
            }
        )
    )
    print(
        json.dumps(
            {
                "right_kept_at_recall": at_recall,
                "overrides": overrides,
                "seed": args.seed,
                "full": args.full,
                "dev_accuracy": round(sum(right) / len(dev), 4),
                "at_strictness": at_strictness,
                "train_seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
