"""BANKING77 with the base model alone: test accuracy, macro-F1 and latency through the real CLI.

Converts the dataset's train.csv (text,category) into a knowledge base file (question,intent,answer;
one placeholder answer per intent; the label `reverted_card_payment?` becomes the valid key
`reverted_card_payment`) and test.csv into an evaluation file (text,intent) under
bench/out/, then runs, each as a subprocess on a fresh SQLite database under bench/var/:

    chatbot db upgrade
    chatbot import-faq bench/out/banking77_faq.csv --replace
    chatbot evaluate bench/out/banking77_test.csv --json

and times each step. The evaluation's JSON plus the step timings go to
bench/out/banking77_base.json; a Markdown table row is printed.

    .venv/bin/python bench/banking77_base.py [--dataset ../shared/datasets/banking77]

No model is trained: every training text becomes a stored phrasing of its intent, and the frozen
all-MiniLM-L6-v2 answers by similarity. Use test.csv only to report, never to tune.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VAR = ROOT / "bench" / "var"
DATABASE = VAR / "banking77.db"
FAQ_FILE = OUT / "banking77_faq.csv"
TEST_FILE = OUT / "banking77_test.csv"
RESULT_FILE = OUT / "banking77_base.json"


def intent_key(category: str) -> str:
    """A valid intent key for a BANKING77 label (one, `reverted_card_payment?`, ends in `?`)."""
    return re.sub(r"[^\w.-]+", "_", category).strip("_")


def read_dataset(path: Path) -> list[tuple[str, str]]:
    """(text, intent) rows of a BANKING77 CSV; a real CSV parser, as texts hold quoted newlines."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    labels = {row["category"] for row in rows}
    if len({intent_key(label) for label in labels}) != len(labels):
        raise SystemExit(f"{path}: two labels map to one intent key")
    return [(row["text"], intent_key(row["category"])) for row in rows]


def write_knowledge_base(rows: list[tuple[str, str]], path: Path) -> int:
    """Write question,intent,answer; returns how many texts were dropped as duplicates.

    The importer refuses a phrasing that belongs to two intents, and folds repeats of one: the
    same normalisation (collapsed whitespace, casefold) is applied here so the counts agree.
    """
    owners: dict[str, str] = {}
    conflicting: set[str] = set()
    for text, intent in rows:
        folded = " ".join(text.split()).casefold()
        if owners.setdefault(folded, intent) != intent:
            conflicting.add(folded)
    written: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "intent", "answer"])
        for text, intent in rows:
            folded = " ".join(text.split()).casefold()
            if folded in conflicting or folded in written:
                continue
            written.add(folded)
            writer.writerow([text, intent, f"Answer for {intent}."])
    return len(rows) - len(written)


def write_evaluation_file(rows: list[tuple[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        writer.writerows(rows)


def run_step(chatbot: Path, *args: str, env: dict[str, str]) -> tuple[str, float]:
    """Run one `chatbot` command; returns its stdout and wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run(
        [str(chatbot), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).splitlines()
        sys.stderr.write("\n".join(lines[-20:]) + "\n")  # a rejected import lists every row
        raise SystemExit(f"`chatbot {' '.join(args)}` failed with exit status {result.returncode}")
    return result.stdout, elapsed


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        type=Path,
        default=ROOT.parent / "shared" / "datasets" / "banking77",
        help="folder holding train.csv and test.csv (default: ../shared/datasets/banking77)",
    )
    args = parser.parse_args()
    dataset: Path = args.dataset
    for name in ("train.csv", "test.csv"):
        if not (dataset / name).is_file():
            parser.error(f"--dataset: {dataset / name} not found")

    OUT.mkdir(parents=True, exist_ok=True)
    VAR.mkdir(parents=True, exist_ok=True)
    train = read_dataset(dataset / "train.csv")
    test = read_dataset(dataset / "test.csv")
    dropped = write_knowledge_base(train, FAQ_FILE)
    write_evaluation_file(test, TEST_FILE)

    # A dedicated database, emptied first, so the figures never depend on an earlier run.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": f"sqlite:///{DATABASE.relative_to(ROOT)}",
        "CHATBOT_DATA_DIR": str(VAR.relative_to(ROOT)),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    chatbot = Path(sys.executable).parent / "chatbot"
    if not chatbot.is_file():
        raise SystemExit(f"{chatbot}: not found; run from the project's venv (`make install`)")

    _, upgrade_s = run_step(chatbot, "db", "upgrade", env=env)
    _, import_s = run_step(
        chatbot, "import-faq", str(FAQ_FILE.relative_to(ROOT)), "--replace", env=env
    )
    output, evaluate_s = run_step(
        chatbot, "evaluate", str(TEST_FILE.relative_to(ROOT)), "--json", env=env
    )
    evaluation: dict[str, Any] = json.loads(output)

    result = {
        **evaluation,
        "dataset": str(dataset),
        "train_rows": len(train),
        "knowledge_base_phrasings": len(train) - dropped,
        "test_rows": len(test),
        "timings_s": {
            "db_upgrade": round(upgrade_s, 2),
            "import_faq": round(import_s, 2),
            "evaluate": round(evaluate_s, 2),
        },
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    RESULT_FILE.write_text(json.dumps(result, indent=2) + "\n")

    print("| model | n | accuracy | macro-F1 | p50 ms/msg | p95 ms/msg | import s | evaluate s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {evaluation['model']} | {evaluation['n']} | {evaluation['accuracy']:.4f} "
        f"| {evaluation['macro_f1']:.4f} | {evaluation['latency_ms_p50']:.1f} "
        f"| {evaluation['latency_ms_p95']:.1f} | {import_s:.1f} | {evaluate_s:.1f} |"
    )
    print(f"written {RESULT_FILE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
