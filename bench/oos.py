"""Out-of-scope questions before and after fine-tuning, through the real command line.

For each data set, on a fresh SQLite database under bench/var/:

    chatbot db upgrade
    chatbot import-faq FAQ --replace
    chatbot evaluate TEST --json            # the base model
    chatbot train --activate --json         # timed
    chatbot evaluate TEST --json            # the fine-tuned model

TEST holds in-scope messages (with their intent) and out-of-scope ones (intent ``oos``). Data sets:

- ``telecom``: bench/data/oos_bench, a telecom FAQ written for this bench (30 intents x 10
  phrasings), 120 in-scope paraphrases and 240 out-of-scope messages (everyday and other
  companies' support questions), written apart from the shipped background set and never used to
  tune or choose anything;
- ``banking77``: BANKING77's full training set as the FAQ, its test set as in-scope messages, and
  the 170 everyday messages of the same out-of-scope file (its 70 other-company support questions
  include bank ones, which a bank should answer);
- ``banking77-10``: 10 training phrasings per intent (seed 0), the same test messages.

    .venv/bin/python bench/oos.py [--sets telecom banking77] [--src PATH]

``--src`` runs the command line of another checkout (e.g. a `git worktree` of an earlier commit)
with this environment: the "before" rows of bench/README.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from banking77_base import read_dataset, write_knowledge_base

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "oos_bench"
OUT = ROOT / "bench" / "out"
EVERYDAY_ROWS = 170  # the first rows of test_out_of_scope.csv: everyday messages (its README)
KEYS = ("accuracy", "answered_accuracy", "in_scope_answered", "oos_precision", "oos_recall", "ece")


def telecom() -> tuple[Path, list[tuple[str, str]]]:
    with (DATA / "test_in_scope.csv").open(newline="", encoding="utf-8") as handle:
        in_scope = [(r["text"], r["intent"]) for r in csv.DictReader(handle)]
    return DATA / "faq.csv", in_scope + [(t, "oos") for t in out_of_scope()]


def out_of_scope(limit: int | None = None) -> list[str]:
    with (DATA / "test_out_of_scope.csv").open(newline="", encoding="utf-8") as handle:
        texts = [r["text"] for r in csv.DictReader(handle)]
    return texts[:limit]


def banking77(per_intent: int | None, work: Path) -> tuple[Path, list[tuple[str, str]]]:
    dataset = ROOT.parent / "shared" / "datasets" / "banking77"
    train = read_dataset(dataset / "train.csv")
    if per_intent is not None:
        by_intent: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for row in train:
            by_intent[row[1]].append(row)
        rng = random.Random(0)
        train = [r for rows in by_intent.values() for r in rng.sample(rows, per_intent)]
    faq = work / "faq.csv"
    write_knowledge_base(train, faq)
    test = read_dataset(dataset / "test.csv")
    return faq, test + [(t, "oos") for t in out_of_scope(EVERYDAY_ROWS)]


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[str, float]:
    started = time.perf_counter()
    # Run from the work directory: `python -c` puts the current directory first on sys.path,
    # which from the repository would shadow --src.
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-4000:])
        raise SystemExit(f"{' '.join(command[-4:])} failed with exit status {result.returncode}")
    return result.stdout, time.perf_counter() - started


def measure(name: str, src: Path | None) -> dict[str, Any]:
    work = ROOT / "bench" / "var" / f"oos-{name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if name == "telecom":
        faq, test = telecom()
    else:
        faq, test = banking77(10 if name == "banking77-10" else None, work)
    test_file = work / "test.csv"
    with test_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        writer.writerows(test)
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": f"sqlite:///{work / 'chatbot.db'}",
        "CHATBOT_DATA_DIR": str(work),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)
    chatbot = [sys.executable, "-c", "import sys; from chatbot.cli import main; sys.exit(main())"]
    run([*chatbot, "db", "upgrade"], env, work)
    run([*chatbot, "import-faq", str(faq), "--replace"], env, work)
    base, _ = run([*chatbot, "evaluate", str(test_file), "--json"], env, work)
    trained, seconds = run([*chatbot, "train", "--activate", "--json"], env, work)
    tuned, _ = run([*chatbot, "evaluate", str(test_file), "--json"], env, work)
    return {
        "set": name,
        "src": str(src or ROOT),
        "in_scope": sum(intent != "oos" for _, intent in test),
        "out_of_scope": sum(intent == "oos" for _, intent in test),
        "base": json.loads(base),
        "fine_tuned": json.loads(tuned),
        "train": json.loads(trained),
        "train_seconds": round(seconds, 1),
    }


def row(result: dict[str, Any], model: str) -> str:
    figures = result[model]
    cells = ["-" if figures.get(key) is None else f"{figures[key]:.3f}" for key in KEYS]
    seconds = f"{result['train_seconds']:.0f}" if model == "fine_tuned" else ""
    return (
        f"| {result['set']} | {model.replace('_', '-')} | " + " | ".join(cells) + f" | {seconds} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets", nargs="+", default=["telecom"], choices=["telecom", "banking77", "banking77-10"]
    )
    parser.add_argument("--src", type=Path, help="another checkout's source tree to run")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(
        "| set | model | in-scope accuracy | answered and right | in-scope answered "
        "| out-of-scope precision | out-of-scope recall | ECE | train s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.sets:
        result = measure(name, args.src)
        tag = "before" if args.src else "after"
        (OUT / f"oos-{name}-{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(row(result, "base"))
        print(row(result, "fine_tuned"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
