"""Fine-tuning a company-sized FAQ: training time, and what it changes on held-out questions.

1. A 300-phrasing FAQ (the first English intents of the sample knowledge base, whole): wall time
   of `chatbot train`.
2. The whole sample knowledge base (47 intents, each in English and Chinese): `chatbot evaluate`
   of the base model and of the fine-tuned one on bench/data/sample_en_test.csv (with
   out-of-scope questions), sample_zh_test.csv and sample_zh_scenarios_test.csv (94 Chinese
   customer situations, two per intent, and 10 out of scope, written before the Chinese
   phrasings). These questions were written apart from the knowledge base's phrasings.

    .venv/bin/python bench/sample_kb.py [--sample-only]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from banking77_base import run_step

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CHATBOT = Path(sys.executable).parent / "chatbot"
SAMPLE = ROOT / "chatbot" / "sample" / "knowledge_base.jsonl"
TESTS = ("en", "zh", "zh_scenarios")


def workspace(name: str) -> dict[str, str]:
    work = ROOT / "bench" / "var" / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return {
        **os.environ,
        "CHATBOT_DATABASE_URL": f"sqlite:///{work / 'chatbot.db'}",
        "CHATBOT_DATA_DIR": str(work),
    }


def chatbot(env: dict[str, str], *args: str) -> tuple[str, float]:
    return run_step(CHATBOT, *args, env=env)


def first_phrasings(limit: int, path: Path) -> int:
    """Write whole English intents of the sample until ``limit`` phrasings; returns the count."""
    kept, total = [], 0
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        intent = json.loads(line)
        if intent.get("language", "en") != "en":
            continue
        count = 1 + len([a for a in intent.get("alternates", "").split("|") if a.strip()])
        if total + count > limit:
            break
        intent["follow_ups"] = ""  # a subset may lack the intents they point to
        kept.append(json.dumps(intent, ensure_ascii=False))
        total += count
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return total


def main() -> None:
    results: dict[str, object] = {}
    if "--sample-only" in sys.argv[1:]:  # the second part alone
        sample(results)
        return

    env = workspace("faq300")
    faq = Path(env["CHATBOT_DATA_DIR"]) / "faq300.jsonl"
    phrasings = first_phrasings(300, faq)
    chatbot(env, "db", "upgrade")
    chatbot(env, "import-faq", str(faq))
    trained, seconds = chatbot(env, "train", "--json")
    results["faq_300"] = {
        "phrasings": phrasings,
        "train_seconds": round(seconds, 1),
        "train": json.loads(trained),
    }
    print(f"300-phrasing FAQ ({phrasings} phrasings): chatbot train {seconds:.1f} s", flush=True)

    sample(results)


def sample(results: dict[str, object]) -> None:
    env = workspace("sample")
    chatbot(env, "db", "upgrade")
    chatbot(env, "import-faq", str(SAMPLE))
    for name in TESTS:
        report, _ = chatbot(env, "evaluate", f"bench/data/sample_{name}_test.csv", "--json")
        results[f"base_{name}"] = json.loads(report)
    trained, seconds = chatbot(env, "train", "--json", "--activate")
    results["sample_train"] = {"train_seconds": round(seconds, 1), "train": json.loads(trained)}
    for name in TESTS:
        report, _ = chatbot(env, "evaluate", f"bench/data/sample_{name}_test.csv", "--json")
        results[f"tuned_{name}"] = json.loads(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sample_kb.json").write_text(json.dumps(results, indent=2))
    keys = ("accuracy", "macro_f1", "oos_precision", "oos_recall", "in_scope_answered")
    print("| model | test | " + " | ".join(keys) + " |")
    print("| --- | --- |" + " --- |" * len(keys))
    for model in ("base", "tuned"):
        for name in TESTS:
            row = results[f"{model}_{name}"]
            assert isinstance(row, dict)
            cells = ["" if row.get(k) is None else f"{row[k]:.3f}" for k in keys]
            print(f"| {model} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
