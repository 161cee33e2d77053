"""One intent as an admin types it into a form: normalised and checked like a file's row.

The rules are the readers' (``chatbot.knowledge.files``), so an intent saved from the console
always survives a download and an upload unchanged. Checks that need the rest of the knowledge
base (a unique key, follow-ups that exist, phrasings no other intent owns) are in
``chatbot.db.knowledge.save_intent``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as default

from chatbot.knowledge.actions import ActionRejected, action_from_text
from chatbot.knowledge.files import (
    LANGUAGE_TAG,
    MAX_ANSWER_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_PHRASING_CHARS,
    is_intent_key,
    normalise_phrasing,
)
from chatbot.knowledge.spec import IntentSpec

# Console addresses under /admin/knowledge/ that an intent key would shadow.
RESERVED_KEYS = frozenset(
    {"new", "upload", "export.csv", "export.json", "export.jsonl", "export.xlsx"}
)
# Every control character except tab and line breaks: invisible, and XLSX cannot store them.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of the form; ``message`` is English with ``{name}`` fields."""

    field: str
    message: str
    values: dict[str, object] = default(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.field}: {self.message.format(**self.values)}"


class IntentRejected(Exception):
    """An intent was not saved; ``problems`` lists every reason, by field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


def intent_from_form(
    *,
    key: str,
    answer: str,
    phrasings: str,
    language: str = "",
    category: str = "",
    follow_ups: list[str] | tuple[str, ...] = (),
    action: str = "",
) -> IntentSpec:
    """The intent an edit form describes, or ``IntentRejected`` naming each bad field.

    ``phrasings`` holds one phrasing per line; blank lines and repeats (ignoring case) go.
    ``action`` is the intent's action as JSON text, as a file holds it (empty: none).

    >>> intent_from_form(key="hours", answer="9 to 5.\\r\\n", phrasings="Open?\\n\\nopen?\\nWhen?")
    IntentSpec(key='hours', answer='9 to 5.', phrasings=('Open?', 'When?'), category=None, \
language='en', follow_ups=())
    """
    problems: list[FieldProblem] = []
    key = key.strip()
    if not key:
        problems.append(FieldProblem("key", "Give the intent a key."))
    elif not is_intent_key(key):
        problems.append(
            FieldProblem("key", "Use 1-200 printable characters without spaces, ',', '|' or '/'.")
        )
    elif key in RESERVED_KEYS:
        problems.append(
            FieldProblem("key", "'{key}' is reserved: choose another key.", {"key": key})
        )

    texts = _phrasings(phrasings, problems)
    cleaned_answer = re.sub(r"\r\n?", "\n", answer).strip()
    if not cleaned_answer:
        problems.append(FieldProblem("answer", "Write the answer."))
    elif len(cleaned_answer) > MAX_ANSWER_CHARS:
        problems.append(_too_long("answer", len(cleaned_answer), MAX_ANSWER_CHARS))
    elif _CONTROL_CHARACTERS.search(cleaned_answer):
        problems.append(FieldProblem("answer", "Remove the invisible control characters."))

    tag = language.strip() or "en"
    primary, *subtags = tag.split("-")
    tag = "-".join([primary.lower(), *subtags])
    if len(tag) > MAX_LANGUAGE_CHARS or not LANGUAGE_TAG.fullmatch(tag):
        problems.append(FieldProblem("language", "Use a language tag such as 'en' or 'zh-Hant'."))

    group = " ".join(category.split())
    if len(group) > MAX_CATEGORY_CHARS:
        problems.append(_too_long("category", len(group), MAX_CATEGORY_CHARS))

    targets = list(dict.fromkeys(target.strip() for target in follow_ups if target.strip()))
    for target in targets:
        if not is_intent_key(target):
            problems.append(
                FieldProblem("follow_ups", "'{key}' is not an intent key.", {"key": target[:60]})
            )
    parsed_action = None
    if action.strip():
        try:
            parsed_action = action_from_text(action)
        except ActionRejected as rejected:
            problems.extend(
                FieldProblem("action", "{reason}", {"reason": reason})
                for reason in rejected.problems
            )
    if problems:
        raise IntentRejected(problems)
    return IntentSpec(
        key, cleaned_answer, tuple(texts), group or None, tag, tuple(targets), action=parsed_action
    )


def _phrasings(text: str, problems: list[FieldProblem]) -> list[str]:
    phrasings: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        phrasing = normalise_phrasing(line)
        if not phrasing or phrasing.casefold() in seen:
            continue
        if len(phrasing) > MAX_PHRASING_CHARS:
            problems.append(_too_long("phrasings", len(phrasing), MAX_PHRASING_CHARS))
        elif _CONTROL_CHARACTERS.search(phrasing):
            problems.append(FieldProblem("phrasings", "Remove the invisible control characters."))
        seen.add(phrasing.casefold())
        phrasings.append(phrasing)
    if not phrasings:
        problems.append(FieldProblem("phrasings", "Add at least one phrasing."))
    return phrasings


def _too_long(name: str, length: int, limit: int) -> FieldProblem:
    return FieldProblem(
        name,
        "Too long: {length} characters, the limit is {limit}.",
        {"length": length, "limit": limit},
    )
