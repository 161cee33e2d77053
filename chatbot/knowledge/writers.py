"""Writing a knowledge base to CSV, JSON, JSONL or XLSX, in the form the readers take back.

A file written here and read again with ``read_faq_bytes`` gives the same intents, field for
field: that is what lets an admin download the knowledge base, edit it in a spreadsheet and
upload it again, seeing only their own edits in the preview.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from chatbot.knowledge.readers import FIELDS
from chatbot.knowledge.spec import IntentSpec

# The order people read a row in: what is asked, what is answered, then the bookkeeping.
COLUMNS = (
    "intent",
    "question",
    "alternates",
    "answer",
    "language",
    "category",
    "follow_ups",
    "synonyms",
    "action",
)
assert set(COLUMNS) == set(FIELDS)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def write_faq_bytes(
    intents: Sequence[IntentSpec],
    file_format: str,
    synonyms: Sequence[Sequence[str]] = (),
) -> bytes:
    """The intents as a file of ``file_format`` (``csv``, ``json``, ``jsonl`` or ``xlsx``).

    Synonym groups follow the intents, one row each with only the ``synonyms`` column.

    >>> write_faq_bytes([IntentSpec("hours", "9 to 5.", ("Opening hours?",))], "jsonl")
    b'{"intent": "hours", "question": "Opening hours?", "answer": "9 to 5.", "language": "en"}\\n'
    """
    writers: dict[str, Callable[[Sequence[IntentSpec], Sequence[Sequence[str]]], bytes]] = {
        "csv": _write_csv,
        "json": _write_json,
        "jsonl": _write_jsonl,
        "xlsx": _write_xlsx,
    }
    if file_format not in writers:
        raise ValueError(f"unknown format '{file_format}': use one of {', '.join(writers)}")
    return writers[file_format](intents, synonyms)


def table_rows(intent: IntentSpec) -> list[dict[str, str]]:
    """The spreadsheet rows of one intent: usually one per language, the first phrasing in that
    language as its question.

    Readers split a text cell of alternates at ``|`` and line breaks. Phrasings hold no line
    breaks (whitespace is collapsed on the way in), so the alternates are one per line; a
    phrasing that contains ``|`` cannot be an alternate and starts a row of its own, which keeps
    the phrasings, and their order within a language, exactly as stored.

    >>> table_rows(IntentSpec("sizes", "S, M, L.", ("Sizes?", "S|M|L?", "Do you do XL?")))[1]
    {'intent': 'sizes', 'question': 'S|M|L?', 'alternates': 'Do you do XL?'}
    """
    rows: list[dict[str, str]] = []
    languages = _languages_with_phrasings(intent)
    for language in languages:
        runs: list[list[str]] = []
        for phrasing in intent.phrasings_in(language):
            if not runs or "|" in phrasing:
                runs.append([phrasing])
            else:
                runs[-1].append(phrasing)
        for position, (question, *alternates) in enumerate(runs):
            row = {"intent": intent.key, "question": question}
            if alternates:
                row["alternates"] = "\n".join(alternates)
            if len(languages) > 1:
                # A row naming no language is in the intent's first one.
                row["language"] = language
            if position == 0:
                # The language's own values once: later rows of it may leave them empty.
                row.update(_language_values(intent, language, first=not rows))
            rows.append(row)
    return rows


def _languages_with_phrasings(intent: IntentSpec) -> list[str]:
    # The first language first, even when its phrasings come later in the stored order.
    return list(dict.fromkeys([intent.language, *map(intent.language_of, intent.phrasings)]))


def _language_values(intent: IntentSpec, language: str, *, first: bool) -> dict[str, str]:
    answer = (
        dict(intent.answers).get(language, "") if language != intent.language else intent.answer
    )
    values = {"answer": answer, "language": language} if answer else {"language": language}
    if first and intent.category:
        values["category"] = intent.category
    if first and intent.follow_ups:
        values["follow_ups"] = "|".join(intent.follow_ups)
    if first and intent.action is not None:
        # A spreadsheet cell holds the action as the JSON text the readers parse back.
        values["action"] = json.dumps(intent.action.to_json(), ensure_ascii=False)
    return values


def _json_objects(intent: IntentSpec) -> list[dict[str, Any]]:
    # JSON keeps lists as lists: alternates are taken as written, `|` and all.
    objects: list[dict[str, Any]] = []
    for language in _languages_with_phrasings(intent):
        phrasings = intent.phrasings_in(language)
        if not phrasings:
            continue
        item: dict[str, Any] = {"intent": intent.key, "question": phrasings[0]}
        if len(phrasings) > 1:
            item["alternates"] = list(phrasings[1:])
        values: dict[str, Any] = _language_values(intent, language, first=not objects)
        if intent.follow_ups and not objects:
            values["follow_ups"] = list(intent.follow_ups)
        if intent.action is not None and not objects:
            values["action"] = intent.action.to_json()
        item.update(values)
        objects.append(item)
    return objects


def _write_json(intents: Sequence[IntentSpec], synonyms: Sequence[Sequence[str]]) -> bytes:
    document = [item for intent in intents for item in _json_objects(intent)]
    document += [{"synonyms": list(group)} for group in synonyms]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def _write_jsonl(intents: Sequence[IntentSpec], synonyms: Sequence[Sequence[str]]) -> bytes:
    objects = [item for intent in intents for item in _json_objects(intent)]
    objects += [{"synonyms": list(group)} for group in synonyms]
    lines = [json.dumps(item, ensure_ascii=False) + "\n" for item in objects]
    return "".join(lines).encode()


def _synonym_rows(synonyms: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    # `|` separates terms when read back; a term never holds one (the readers split on it).
    return [{"synonyms": " | ".join(group)} for group in synonyms]


def _write_csv(intents: Sequence[IntentSpec], synonyms: Sequence[Sequence[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=_columns(intents))
    writer.writeheader()
    for intent in intents:
        writer.writerows(table_rows(intent))
    writer.writerows(_synonym_rows(synonyms))
    # With a byte order mark, spreadsheet programs open the UTF-8 (and so Chinese) correctly.
    return text.getvalue().encode("utf-8-sig")


def _write_xlsx(intents: Sequence[IntentSpec], synonyms: Sequence[Sequence[str]]) -> bytes:
    rows = [row for intent in intents for row in table_rows(intent)] + _synonym_rows(synonyms)
    # Checked before the workbook exists: openpyxl fails half-way through writing otherwise.
    for row in rows:
        if any(ILLEGAL_CHARACTERS_RE.search(value) for value in row.values()):
            raise ValueError(
                f"{_owner(row)} holds control characters that XLSX cannot store: "
                "download CSV or JSON instead"
            )
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("knowledge base")
    columns = _columns(intents)
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_text_cell(sheet, row.get(column, "")) for column in columns])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _columns(intents: Sequence[IntentSpec]) -> tuple[str, ...]:
    # The action column only when some intent has one: most knowledge bases never see it.
    if any(intent.action is not None for intent in intents):
        return COLUMNS
    return tuple(column for column in COLUMNS if column != "action")


def _owner(row: dict[str, str]) -> str:
    return f"intent '{row['intent']}'" if "intent" in row else f"synonyms '{row['synonyms']}'"


def _text_cell(sheet: Any, value: str) -> Any:
    if not value:
        return None
    cell = openpyxl.cell.WriteOnlyCell(sheet, value=value)
    # openpyxl takes a string starting with "=" for a formula, which reads back empty.
    cell.data_type = "s"
    return cell
