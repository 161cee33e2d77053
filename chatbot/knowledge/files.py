"""Reading FAQ files into intents: every problem in a file is found before anything is accepted.

``readers`` turns bytes into numbered records; this module checks each value, groups rows into
intents and checks the intents as a whole. Either the whole file is good and becomes a list of
``IntentSpec``, or ``ImportRejected`` lists every problem, each naming its file, row and column.
"""

# One module though past 400 lines: its checks (values, rows, intents, synonym groups) are one
# pass that fills one list of problems, and a reader follows a row through all of them.

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from chatbot.knowledge.actions import ActionRejected, IntentAction, action_from_text
from chatbot.knowledge.readers import EXTENSIONS, Record, Value, read_records
from chatbot.knowledge.spec import ImportRejected, IntentSpec, Problem
from chatbot.knowledge.synonyms import MAX_GROUPS, SEPARATORS, SynonymClashes, check_group

MAX_PHRASING_CHARS = 1000
MAX_ANSWER_CHARS = 20000
MAX_CATEGORY_CHARS = 200
MAX_LANGUAGE_CHARS = 16
MAX_SLUG_CHARS = 60

MAX_KEY_CHARS = 200
# The labels real datasets carry (BANKING77's `reverted_card_payment?`, ATIS's `flight#airfare`):
# any printable character but whitespace, which with `,` and `|` separates keys in a file's
# follow_ups column, and `/`, which separates URL path segments (proxies refuse or decode an
# encoded one, so it could not stand in one segment). Keys are quoted wherever they enter a URL.
_KEY_SEPARATORS = frozenset(",|/")
# `.` and `..` would be read as "this folder" and "the folder above" in a URL path.
_DOT_SEGMENTS = frozenset({".", ".."})
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


SYNONYM_SEPARATORS = SEPARATORS[:-2] + r"\r\n]+"


@dataclass(frozen=True)
class KnowledgeFile:
    """A knowledge base file's intents, and its synonym groups (None: the file has no such rows).

    A group lists interchangeable terms, its first term canonical: ``("退款", "退钱", "refund")``.
    """

    intents: list[IntentSpec]
    synonyms: list[tuple[str, ...]] | None = None


def read_faq_file(path: Path, *, max_bytes: int) -> list[IntentSpec]:
    """The intents of a knowledge base file (see :func:`read_knowledge_file`)."""
    return read_knowledge_file(path, max_bytes=max_bytes).intents


def read_knowledge_file(path: Path, *, max_bytes: int) -> KnowledgeFile:
    """Read a knowledge base file; the format comes from the extension.

    Problems name the file as ``path.name``. Raises ``ImportRejected`` for a bad file, and also
    when the file cannot be read at all.

    >>> path = tmp_path / "faq.csv"
    >>> _ = path.write_text("question,answer\\nOpening hours?,9 to 5.\\n", encoding="utf-8")
    >>> read_knowledge_file(path, max_bytes=10_000_000).intents
    [IntentSpec(key='opening_hours', answer='9 to 5.', phrasings=('Opening hours?',), ...)]
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            # Refused before reading: the limit also protects this process's memory.
            raise ImportRejected([_too_large(path.name, size, max_bytes)])
        data = path.read_bytes()
    except OSError as error:
        problem = Problem(path.name, f"cannot read the file: {error.strerror}")
        raise ImportRejected([problem]) from error
    return read_knowledge_bytes(data, path.name, max_bytes=max_bytes)


def read_faq_bytes(data: bytes, filename: str, *, max_bytes: int) -> list[IntentSpec]:
    """Read a knowledge base file held in memory (an upload); ``filename`` gives the format.

    >>> read_faq_bytes(b"question,answer\\nOpening hours?,9 to 5.\\n", "faq.csv", max_bytes=1000)
    [IntentSpec(key='opening_hours', answer='9 to 5.', phrasings=('Opening hours?',), \
category=None, language='en', follow_ups=())]
    """
    return read_knowledge_bytes(data, filename, max_bytes=max_bytes).intents


def read_knowledge_bytes(data: bytes, filename: str, *, max_bytes: int) -> KnowledgeFile:
    """Intents and synonym groups of a file held in memory; ``filename`` gives the format.

    A row whose only value is in the ``synonyms`` column is a synonym group, its terms separated
    by ``|``, ``/``, ``、``, commas or line breaks (JSON: a list of strings).

    >>> faq = "question,answer,synonyms\\n怎么退款？,7天内可退。,\\n,,退款 / 退钱 / money back\\n"
    >>> read_knowledge_bytes(faq.encode(), "faq.csv", max_bytes=1000).synonyms
    [('退款', '退钱', 'money back')]
    """
    suffix = Path(filename).suffix.lower()
    problems: list[Problem] = []
    if suffix not in EXTENSIONS:
        named = f"'{suffix}'" if suffix else "without an extension"
        reason = f"unsupported file type {named}: use {', '.join(EXTENSIONS)}"
        problems.append(Problem(filename, reason))
    if len(data) > max_bytes:
        problems.append(_too_large(filename, len(data), max_bytes))
    if problems:
        raise ImportRejected(problems)

    raw = read_records(data, filename, max_bytes=max_bytes)
    problems = list(raw.problems)
    synonym_records = [record for record in raw.records if "synonyms" in record.values]
    rows = [
        _check_record(record, filename, problems, raw.has_question_column)
        for record in raw.records
        if "synonyms" not in record.values
    ]
    intents = _build_intents(rows, filename, problems)
    synonyms = _synonym_groups(synonym_records, filename, problems)
    if problems:
        # File-wide problems first, then by row; within a row, in the order they were found.
        raise ImportRejected(sorted(problems, key=lambda p: (p.row is not None, p.row or 0)))
    return KnowledgeFile(intents, synonyms if synonym_records else None)


def _synonym_groups(
    records: list[Record], file: str, problems: list[Problem]
) -> list[tuple[str, ...]]:
    groups: list[tuple[str, ...]] = []
    clashes = SynonymClashes()
    if len(records) > MAX_GROUPS:
        reason = f"too many synonym groups: {len(records)}, the limit is {MAX_GROUPS}"
        problems.append(Problem(file, reason))
    for record in records:
        others = [name for name in record.values if name != "synonyms"]
        if others:
            listed = ", ".join(f"'{name}'" for name in others)
            reason = f"a synonym row holds only the synonyms column; this row also has {listed}"
            problems.append(Problem(file, reason, row=record.row, column="synonyms"))
        # Line breaks separate terms too: a spreadsheet cell may list them one per line.
        checked = check_group(_split(record.values["synonyms"], SYNONYM_SEPARATORS))
        found = checked.problems or clashes.check(checked.group, record.row, "row")
        problems.extend(
            Problem(file, reason, row=record.row, column="synonyms") for reason in found
        )
        groups.append(checked.group)
    return groups


def _too_large(file: str, size: int, max_bytes: int) -> Problem:
    return Problem(file, f"file too large: {size} bytes, the limit is {max_bytes} bytes")


@dataclass
class _Row:
    """One record's values, checked and normalised."""

    row: int
    question: str
    alternates: list[str]
    answer: str
    intent: str
    language: str
    category: str
    follow_ups: list[str]
    # The action as canonical JSON text (rows of one intent compare by it), and parsed.
    action: str = ""
    parsed_action: IntentAction | None = None


def _check_record(
    record: Record, file: str, problems: list[Problem], question_column: bool
) -> _Row:
    values = record.values
    row = record.row

    def problem(reason: str, column: str) -> None:
        problems.append(Problem(file, reason, row=row, column=column))

    question = normalise_phrasing(_text(values.get("question")))
    if not question and question_column:
        problem("missing question", "question")
    if len(question) > MAX_PHRASING_CHARS:
        problem(_too_long("question", len(question), MAX_PHRASING_CHARS), "question")

    alternates = []
    for alternate in _split(values.get("alternates"), r"[|\r\n]+"):
        alternate = normalise_phrasing(alternate)
        if len(alternate) > MAX_PHRASING_CHARS:
            problem(_too_long("alternate", len(alternate), MAX_PHRASING_CHARS), "alternates")
        elif alternate:
            alternates.append(alternate)

    # Spreadsheets save line breaks as \r\n; normalised, one answer compares equal in any format.
    answer = re.sub(r"\r\n?", "\n", _text(values.get("answer"))).strip()
    if len(answer) > MAX_ANSWER_CHARS:
        problem(_too_long("answer", len(answer), MAX_ANSWER_CHARS), "answer")

    intent = _text(values.get("intent")).strip()
    if intent and not is_intent_key(intent):
        problem(_bad_key(intent), "intent")
    if not intent and not answer:
        problem("missing answer (needed when no intent is given)", "answer")

    language = _text(values.get("language")).strip()
    if language:
        primary, *subtags = language.split("-")
        language = "-".join([primary.lower(), *subtags])
        # The column holds 16 characters: enough for any tag a customer service would use.
        if len(language) > MAX_LANGUAGE_CHARS or not LANGUAGE_TAG.fullmatch(language):
            reason = f"invalid language '{language}': use a language tag such as 'en' or 'zh-Hant'"
            problem(reason, "language")

    category = " ".join(_text(values.get("category")).split())
    if len(category) > MAX_CATEGORY_CHARS:
        problem(_too_long("category", len(category), MAX_CATEGORY_CHARS), "category")

    follow_ups: list[str] = []
    for key in _split(values.get("follow_ups"), r"[|,\s]+"):
        if not is_intent_key(key):
            problem(_bad_key(key), "follow_ups")
        elif key not in follow_ups:
            follow_ups.append(key)

    checked = _Row(row, question, alternates, answer, intent, language, category, follow_ups)
    if values.get("action"):
        try:
            checked.parsed_action = action_from_text(_text(values["action"]))
        except ActionRejected as rejected:
            for reason in rejected.problems:
                problem(reason, "action")
        else:
            canonical = checked.parsed_action.to_json()
            checked.action = json.dumps(canonical, ensure_ascii=False, sort_keys=True)
        if not intent:
            problem("an action needs the row's intent", "intent")
    return checked


def is_intent_key(text: str) -> bool:
    """Whether ``text`` may be an intent's key: 1-200 printable characters without whitespace,
    ``,``, ``|`` or ``/``.

    >>> [is_intent_key(k) for k in ("reverted_card_payment?", "退款", "a b", "a/b", "\\x07")]
    [True, True, False, False, False]
    """
    return (
        0 < len(text) <= MAX_KEY_CHARS
        and text.isprintable()
        and not any(c.isspace() or c in _KEY_SEPARATORS for c in text)
        and text not in _DOT_SEGMENTS
    )


KEY_RULE = "use 1-200 printable characters without spaces, ',', '|' or '/'"


def normalise_phrasing(text: str) -> str:
    """Strip and collapse runs of whitespace.

    >>> normalise_phrasing("  where   is\\nmy order ")
    'where is my order'
    """
    return " ".join(text.split())


def _text(value: Value | None) -> str:
    # Readers allow lists only in list fields; joining keeps this total for any other.
    return " ".join(value) if isinstance(value, list) else value or ""


def _split(value: Value | None, separators: str) -> list[str]:
    # A JSON list is already split: its items are taken as written.
    parts = value if isinstance(value, list) else re.split(separators, value or "")
    return [part.strip() for part in parts if part.strip()]


def _too_long(what: str, length: int, limit: int) -> str:
    return f"{what} too long: {length} characters, the limit is {limit}"


def _bad_key(key: str) -> str:
    shown = key if len(key) <= 60 else key[:57] + "..."
    return f"invalid intent key '{shown}': {KEY_RULE}"


@dataclass
class _Group:
    """The rows of one intent, in file order."""

    rows: list[_Row] = field(default_factory=list)
    explicit_key: str = ""


def _build_intents(rows: list[_Row], file: str, problems: list[Problem]) -> list[IntentSpec]:
    # Rows name their intent, or share one with the other unnamed rows that give the same answer.
    groups: dict[tuple[str, str], _Group] = {}
    for row in rows:
        if row.intent:
            group = groups.setdefault(("intent", row.intent), _Group(explicit_key=row.intent))
        elif row.answer:
            group = groups.setdefault(("answer", row.answer), _Group())
        else:
            continue  # already reported: no intent and no answer
        group.rows.append(row)

    keys = _assign_keys(list(groups.values()))
    phrasing_owners: dict[str, tuple[str, int]] = {}
    intents = []
    for group, key in zip(groups.values(), keys, strict=True):
        if not group.explicit_key:
            # Rows grouped by their answer are one language: a second one is a mistake.
            _single_value(group, key, "language", file, problems)
        # The first language named is the intent's own; rows naming none are in it. Rows of one
        # intent key in other languages hold that language's phrasings and answer.
        language = next((row.language for row in group.rows if row.language), "") or "en"
        for row in group.rows:
            row.language = row.language or language
        by_language: dict[str, _Group] = {}
        for row in group.rows:
            by_language.setdefault(row.language, _Group()).rows.append(row)
        answers = {
            tag: _single_value(rows, key, "answer", file, problems, tag if tag != language else "")
            for tag, rows in by_language.items()
        }
        if not answers[language]:
            first_row = by_language[language].rows[0].row
            reason = f"intent '{key}' has no answer"
            if len(by_language) > 1:
                reason += f" in '{language}', its first language"
            problems.append(Problem(file, reason, row=first_row, column="answer"))
        category = _single_value(group, key, "category", file, problems) or None
        follow_ups = list(dict.fromkeys(k for row in group.rows for k in row.follow_ups))
        action_text = _single_value(group, key, "action", file, problems)
        action = (
            next(row.parsed_action for row in group.rows if row.action == action_text)
            if action_text
            else None
        )
        phrasings = _phrasings(group, key, file, problems, phrasing_owners)
        intents.append(
            IntentSpec(
                key,
                answers[language],
                tuple(text for text, _ in phrasings),
                category,
                language,
                tuple(follow_ups),
                answers=tuple(
                    (tag, text) for tag, text in answers.items() if tag != language and text
                ),
                phrasing_languages=tuple((text, tag) for text, tag in phrasings if tag != language),
                action=action,
            )
        )
    return intents


def _assign_keys(groups: list[_Group]) -> list[str]:
    taken = {group.explicit_key for group in groups if group.explicit_key}
    keys = []
    for group in groups:
        key = group.explicit_key
        if not key:
            first_question = next((row.question for row in group.rows if row.question), "")
            key = slugify(first_question)
            if not key or key in taken:
                # Stable across imports of one answer, where a slug would be empty or ambiguous.
                digest = hashlib.sha1(group.rows[0].answer.encode(), usedforsecurity=False)
                key = base = f"faq_{digest.hexdigest()[:8]}"
                suffix = 2
                while key in taken:
                    key, suffix = f"{base}_{suffix}", suffix + 1
            taken.add(key)
        keys.append(key)
    return keys


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by `_`, at most 60 characters; empty for e.g. Chinese.

    >>> slugify("Where's my order?")
    'where_s_my_order'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    slug = ""
    for word in words:
        longer = f"{slug}_{word}" if slug else word
        if len(longer) > MAX_SLUG_CHARS:
            break
        slug = longer
    return slug or (words[0][:MAX_SLUG_CHARS] if words else "")


def _single_value(
    group: _Group, key: str, column: str, file: str, problems: list[Problem], language: str = ""
) -> str:
    """The first non-empty value of a column; a later, different one is a problem on its row."""
    first: _Row | None = None
    for row in group.rows:
        value = getattr(row, column)
        if not value:
            continue
        if first is None:
            first = row
        elif value != getattr(first, column):
            if column == "answer":
                where = f" in '{language}'" if language else ""
                reason = (
                    f"intent '{key}' has two different answers{where} "
                    f"(row {first.row} and row {row.row})"
                )
            else:
                reason = (
                    f"intent '{key}' has two different {column} values: "
                    f"'{getattr(first, column)}' (row {first.row}) and '{value}' (row {row.row})"
                )
            problems.append(Problem(file, reason, row=row.row, column=column))
    return getattr(first, column) if first else ""


def _phrasings(
    group: _Group,
    key: str,
    file: str,
    problems: list[Problem],
    owners: dict[str, tuple[str, int]],
) -> list[tuple[str, str]]:
    """The group's ``(phrasing, language)`` pairs in file order, each phrasing once."""
    phrasings: list[tuple[str, str]] = []
    seen: set[str] = set()
    for row in group.rows:
        candidates = [(row.question, "question")] + [(a, "alternates") for a in row.alternates]
        for text, column in candidates:
            if not text:
                continue
            folded = text.casefold()
            owner_key, owner_row = owners.setdefault(folded, (key, row.row))
            if owner_key != key:
                reason = (
                    f"phrasing '{text}' belongs to two intents: '{owner_key}' (row {owner_row}) "
                    f"and '{key}' (row {row.row})"
                )
                problems.append(Problem(file, reason, row=row.row, column=column))
            elif folded not in seen:
                seen.add(folded)
                phrasings.append((text, row.language))
    return phrasings
