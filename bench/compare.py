"""BANKING77, side by side on this machine: base 1-NN, TF-IDF + logistic regression, SetFit, ours.

Each method trains on the same data (the full training set, or 10 examples per intent drawn with
fixed seeds) and is scored on test.csv, which no choice here looks at: ours picks its mixing
weights and calibration on its own held-out split of the training data.

"Ours" runs end to end through the product: `chatbot import-faq`, `chatbot train`, `chatbot
evaluate --model`, each in a fresh process against its own SQLite database; its training time is
the wall time of `chatbot train`. SetFit gets the same base model and a training budget no larger
than ours.

    .venv/bin/python bench/compare.py --setting few --seeds 0 1 2 3 4
    .venv/bin/python bench/compare.py --setting full --seeds 0

Needs the bench extras (`pip install -c constraints.txt -e '.[bench]'`). Run it alone: a second
busy process slows 2-thread torch several times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from banking77_base import read_dataset, run_step, write_evaluation_file, write_knowledge_base

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CHATBOT = Path(sys.executable).parent / "chatbot"

Rows = list[tuple[str, str]]
SETFIT_BATCH = 16  # pairs a contrastive step
SETFIT_PROBE_STEPS = 12  # measured to set SetFit's budget; the first is warm-up


def sample(train: Rows, per_intent: int | None, seed: int) -> Rows:
    if per_intent is None:
        return train
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        by_intent[intent].append(text)
    rng = random.Random(seed)
    return [(t, k) for k in sorted(by_intent) for t in rng.sample(by_intent[k], per_intent)]


def timed(fn: Callable[[], list[str]]) -> tuple[list[str], float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def base_1nn(train: Rows, test: Rows, seed: int) -> tuple[float, float]:
    import torch

    from chatbot.config import Settings
    from chatbot.runtime import load_encoder

    encoder = load_encoder(Settings())
    started = time.perf_counter()
    vectors = encoder.encode([t for t, _ in train], batch_size=128)
    seconds = time.perf_counter() - started
    queries = encoder.encode([t for t, _ in test], batch_size=128)
    nearest = (queries @ vectors.T).argmax(dim=1)
    predicted = [train[int(i)][1] for i in nearest]
    del torch
    return accuracy(predicted, test), seconds


def tfidf_logreg(train: Rows, test: Rows, seed: int) -> tuple[float, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(C=20, max_iter=2000, random_state=seed),
    )
    started = time.perf_counter()
    model.fit([t for t, _ in train], [k for _, k in train])
    seconds = time.perf_counter() - started
    return accuracy(list(model.predict([t for t, _ in test])), test), seconds


def _setfit_trainer(train: Rows, seed: int, max_steps: int, callbacks: list | None = None) -> Any:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from chatbot.nlu.encoder import packaged_model_dir

    arguments = TrainingArguments(
        batch_size=SETFIT_BATCH,
        num_epochs=1,
        num_iterations=20,
        max_steps=max_steps,
        seed=seed,
        output_dir=str(ROOT / "bench" / "var" / "setfit-checkpoints"),
    )
    return Trainer(
        model=SetFitModel.from_pretrained(str(packaged_model_dir())),
        args=arguments,
        train_dataset=Dataset.from_dict(
            {"text": [t for t, _ in train], "label": [k for _, k in train]}
        ),
        callbacks=callbacks,
    )


def setfit_steps_per_second(train: Rows, seed: int) -> float:
    """SetFit's contrastive steps a second, measured now on a throwaway copy of the model.

    The clock runs from the end of the first step (warm-up: allocation, first batches) to the end
    of the last, so loading the model and fitting its classifier head are not counted.
    """
    from transformers import TrainerCallback

    ends: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ends.append(time.perf_counter())

    _setfit_trainer(train, seed, SETFIT_PROBE_STEPS, [StepClock()]).train()
    if len(ends) < 2 or ends[-1] <= ends[0]:
        raise RuntimeError(f"SetFit's probe recorded {len(ends)} steps: cannot measure its speed")
    return (len(ends) - 1) / (ends[-1] - ends[0])


def setfit_steps_for(budget_s: float, steps_per_second: float) -> int:
    """The contrastive steps that fit in ``budget_s`` at the measured speed (at least 10)."""
    return max(10, int(budget_s * steps_per_second))


def setfit(train: Rows, test: Rows, seed: int, budget_s: float | None) -> tuple[float, float, dict]:
    # SetFit's default of 20 pairs per example takes far longer than ours on the full set: cap its
    # contrastive steps so that its training takes as long as ours did, at the speed SetFit shows
    # on this machine in this run.
    extra: dict = {}
    max_steps = -1
    if budget_s is not None:
        steps_per_second = setfit_steps_per_second(train, seed)
        max_steps = setfit_steps_for(budget_s, steps_per_second)
        extra = {
            "budget_seconds": round(budget_s, 1),
            "measured_steps_per_second": round(steps_per_second, 3),
            "max_steps": max_steps,
        }
        print(f"setfit: {json.dumps(extra)}", flush=True)
    trainer = _setfit_trainer(train, seed, max_steps)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    predicted = [str(p) for p in trainer.model.predict([t for t, _ in test])]
    return accuracy(predicted, test), seconds, extra


def ours(train: Rows, test: Rows, seed: int, epochs: int | None) -> tuple[float, float, dict]:
    work = ROOT / "bench" / "var" / f"compare-{seed}-{len(train)}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    faq, labelled = work / "faq.csv", work / "test.csv"
    write_knowledge_base(train, faq)  # drops the few texts BANKING77 files under two intents
    write_evaluation_file(test, labelled)
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": f"sqlite:///{work / 'chatbot.db'}",
        "CHATBOT_DATA_DIR": str(work),
    }

    def chatbot(*args: str) -> str:
        return run_step(CHATBOT, *args, env=env)[0]

    chatbot("db", "upgrade")
    chatbot("import-faq", str(faq))
    train_args = ["train", "--json", "--activate"] + (["--epochs", str(epochs)] if epochs else [])
    started = time.perf_counter()
    trained = json.loads(chatbot(*train_args))
    seconds = time.perf_counter() - started
    report = json.loads(chatbot("evaluate", str(labelled), "--json"))
    return report["accuracy"], seconds, {"train": trained, "evaluate": report}


def accuracy(predicted: list[str], test: Rows) -> float:
    return sum(p == k for p, (_, k) in zip(predicted, test, strict=True)) / len(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/banking77")
    parser.add_argument("--setting", choices=["full", "few"], required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--methods", nargs="+", default=["base_1nn", "tfidf_logreg", "ours", "setfit"]
    )
    parser.add_argument("--epochs", type=int, default=None, help="ours: --epochs for train")
    parser.add_argument(
        "--budget", type=float, default=None, help="SetFit's training seconds when ours is not run"
    )
    args = parser.parse_args()

    train_all = read_dataset(args.dataset / "train.csv")
    test = read_dataset(args.dataset / "test.csv")
    per_intent = None if args.setting == "full" else 10
    results: dict[str, list[dict]] = defaultdict(list)
    for seed in args.seeds:
        train = sample(train_all, per_intent, seed)
        budget = args.budget
        for method in args.methods:
            extra: dict = {}
            if method == "ours":
                acc, seconds, extra = ours(train, test, seed, args.epochs)
                budget = seconds
            elif method == "setfit":
                acc, seconds, extra = setfit(train, test, seed, budget)
            else:
                acc, seconds = globals()[method](train, test, seed)
            row = {"seed": seed, "accuracy": round(acc, 4), "train_seconds": round(seconds, 1)}
            results[method].append({**row, **extra})
            print(json.dumps({"method": method, **row}), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    saved = OUT / f"compare_{args.setting}.json"
    # Methods are often run separately (each needs the machine alone): the file keeps the others'
    # latest rows, but the table below shows this run's rows only.
    merged = json.loads(saved.read_text()) if saved.exists() else {}
    merged.update(results)
    saved.write_text(json.dumps(merged, indent=2))
    print(table(results, args.setting, len(args.seeds)))


def table(results: dict[str, list[dict]], setting: str, seeds: int) -> str:
    """This run's results as a Markdown table: mean accuracy (± stdev over seeds), train time."""
    lines = [
        f"\n| method | accuracy ({setting}, {seeds} seed(s)) | train s |",
        "| --- | --- | --- |",
    ]
    for method, rows in results.items():
        accs = [r["accuracy"] for r in rows]
        spread = f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""
        secs = statistics.mean(r["train_seconds"] for r in rows)
        lines.append(f"| {method} | {statistics.mean(accs):.4f}{spread} | {secs:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
