"""The shipped background set: everyday messages no company FAQ answers (see README.md here).

Training pushes them away from every intent, calibration learns from them that a high score is
not yet a right answer, and the report measures on them how often the bot refuses what it should.
Each message falls in one fixed part by a hash of its text, so every version of every knowledge
base trains, calibrates and is judged on the same messages:

- ``train`` (60 %): negatives in fine-tuning;
- ``calibrate`` (20 %): fits the confidence curve and the fallback threshold;
- ``evaluate`` (20 %): only ever reported (out-of-scope precision and recall of each version).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

Part = Literal["train", "calibrate", "evaluate"]
LANGUAGES = ("en", "zh")
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class BackgroundMessage:
    domain: str
    text: str
    language: str

    @property
    def part(self) -> Part:
        return part_of(self.text)

    @property
    def near_domain(self) -> bool:
        """Another company's support question: out of scope, but near any FAQ's own domain."""
        return self.domain.startswith("support_")


def part_of(text: str) -> Part:
    """The fixed part a message belongs to (stable across runs, machines and versions).

    Example:
        >>> part_of("will it rain in Paris tomorrow") in ("train", "calibrate", "evaluate")
        True
    """
    bucket = hashlib.sha256(text.encode()).digest()[0] % 10
    return "train" if bucket < 6 else "calibrate" if bucket < 8 else "evaluate"


@cache
def load_background(language: str) -> tuple[BackgroundMessage, ...]:
    """The shipped messages of one language (``en`` or ``zh``).

    Example:
        >>> messages = load_background("en")
        >>> len(messages) >= 2000, len({m.domain for m in messages}) >= 40
        (True, True)
    """
    if language not in LANGUAGES:
        raise ValueError(f"no background set for language {language!r}: have {LANGUAGES}")
    path = _HERE / f"{language}.tsv"
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return tuple(BackgroundMessage(r["domain"], r["text"], language) for r in rows)


def background_for(languages: Sequence[str], part: Part) -> list[BackgroundMessage]:
    """One part of the background in the knowledge base's languages (Chinese or not)."""
    wanted = {"zh" if lang.lower().startswith("zh") else "en" for lang in languages}
    return [
        m for lang in LANGUAGES if lang in wanted for m in load_background(lang) if m.part == part
    ]
