"""From the bytes of a CSV, JSON, JSONL or XLSX file to numbered records of raw field values.

Readers know rows, columns and encodings, not intents: they report what is wrong with a file's
structure (encoding, syntax, header, value types) and leave the meaning of the values to
``chatbot.knowledge.files``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter

from chatbot.knowledge.spec import Problem

FIELDS = (
    "question",
    "answer",
    "intent",
    "alternates",
    "language",
    "category",
    "follow_ups",
    "synonyms",
    "action",
)
# Only these may hold a JSON list of strings instead of one string with separators.
LIST_FIELDS = frozenset({"alternates", "follow_ups", "synonyms"})
# And this one an object (an intent's action), kept as JSON text like a spreadsheet cell holds it.
OBJECT_FIELDS = frozenset({"action"})
EXTENSIONS = (".csv", ".json", ".jsonl", ".xlsx")
EMPTY_FILE = "empty file: no rows"

# An XLSX is a zip: a small upload can expand to gigabytes of XML. Ordinary workbooks expand
# less than this many times their size.
_MAX_XLSX_EXPANSION = 30
# A sheet's declared size (its dimension tag) is not believed: a 5 KB file may declare a million
# rows of 16,384 columns, or a stale tag fewer rows than it holds. Rows are read as they are in
# the file, one at a time, up to these.
MAX_XLSX_ROWS = 100_000
MAX_XLSX_COLUMNS = 64
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

Value = str | list[str]


@dataclass
class Record:
    """One row of a file: its number as a person counts rows, and its non-empty known fields."""

    row: int
    values: dict[str, Value]


@dataclass
class RawRows:
    """What a reader found: the records, the problems, and whether the header has `question`."""

    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # False when a header lacks the column: then every row missing a question says nothing new.
    has_question_column: bool = True


def read_records(data: bytes, filename: str, *, max_bytes: int) -> RawRows:
    """Parse ``data`` by the extension of ``filename`` (which must be one of ``EXTENSIONS``)."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(data, filename, max_bytes=max_bytes)
    text = decode_text(data, filename)
    if isinstance(text, Problem):
        return RawRows(problems=[text])
    if not text.strip():
        return RawRows(problems=[Problem(filename, EMPTY_FILE)])
    readers: dict[str, Callable[[str, str], RawRows]] = {
        ".csv": _read_csv,
        ".json": _read_json,
        ".jsonl": _read_jsonl,
    }
    return readers[suffix](text, filename)


def decode_text(data: bytes, file: str) -> str | Problem:
    """UTF-8 (BOM or not) or UTF-16 with a BOM; anything else is refused with the first bad byte.

    >>> decode_text(b"\\xef\\xbb\\xbfquestion", "faq.csv")
    'question'
    """
    advice = "save the file as UTF-8"
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            reason = f"not UTF-16 (invalid bytes at byte offset {error.start})"
            return Problem(file, f"unreadable encoding: {reason}; {advice}")
    offset = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as error:
        position = offset + error.start
        reason = f"not UTF-8 (invalid byte 0x{data[position]:02X} at byte offset {position})"
        return Problem(file, f"unreadable encoding: {reason}; {advice}")
    if "\x00" in text:
        # UTF-16 without a byte order mark decodes as "valid" UTF-8 full of NUL characters.
        position = data.index(b"\x00")
        reason = f"not UTF-8 (NUL byte at byte offset {position}: UTF-16 without a BOM?)"
        return Problem(file, f"unreadable encoding: {reason}; {advice}")
    return text


def _read_csv(text: str, file: str) -> RawRows:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_guess_delimiter(text))
    table: list[tuple[int, list[Any]]] = []
    try:
        # Counting records, blank ones included, gives the row a spreadsheet shows even when a
        # quoted cell spans several lines.
        for row, cells in enumerate(reader, start=1):
            table.append((row, cells))
    except csv.Error as error:
        return RawRows(problems=[Problem(file, f"invalid CSV: {error}", row=len(table) + 1)])
    return _records_from_table(table, file)


def _guess_delimiter(text: str) -> str:
    # Spreadsheets in many locales save "CSV" with semicolons; the header line tells which.
    header = text.split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > counts[","] else ","


def _read_xlsx(data: bytes, file: str, *, max_bytes: int) -> RawRows:
    if not data:
        return RawRows(problems=[Problem(file, EMPTY_FILE)])
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
        if expanded > _MAX_XLSX_EXPANSION * max_bytes:
            reason = f"file too large: the workbook expands to {expanded} bytes"
            return RawRows(problems=[Problem(file, reason)])
        with warnings.catch_warnings():
            # Workbooks from other tools often lack parts openpyxl warns about; they read fine.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not workbook.worksheets:
                    return RawRows(problems=[Problem(file, "the workbook has no worksheet")])
                return _records_from_table(_xlsx_rows(workbook.worksheets[0], file), file)
            finally:
                workbook.close()
    except _SheetTooLarge as refused:
        return RawRows(problems=[refused.problem])
    except Exception as error:
        # A corrupt workbook surfaces as any of zipfile, XML, KeyError or ValueError errors,
        # and openpyxl documents none of them: whatever it is, the file is what is wrong.
        reason = f"not a valid XLSX workbook ({type(error).__name__}: {error})"
        return RawRows(problems=[Problem(file, reason)])


class _SheetTooLarge(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _xlsx_rows(sheet: Any, file: str) -> Iterator[tuple[int, list[Any]]]:
    """The sheet's rows as they are in the file, trailing empty cells dropped, one at a time."""
    sheet.reset_dimensions()  # read-only openpyxl would otherwise trust the dimension tag
    for row, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
        if row > MAX_XLSX_ROWS:
            reason = f"too many rows: at most {MAX_XLSX_ROWS} are read"
            raise _SheetTooLarge(Problem(file, reason, row=row))
        width = len(cells)
        while width and cells[width - 1] is None:
            width -= 1
        if width > MAX_XLSX_COLUMNS:
            reason = f"a value past the last column read ({MAX_XLSX_COLUMNS} columns at most)"
            column = get_column_letter(width)
            raise _SheetTooLarge(Problem(file, reason, row=row, column=column))
        yield row, list(cells[:width])


def _records_from_table(table: Iterable[tuple[int, list[Any]]], file: str) -> RawRows:
    """CSV and XLSX alike: the first non-empty row is the header; blank rows are skipped."""
    result = RawRows()
    rows = iter(table)
    # Taking the header from the shared iterator leaves exactly the data rows in it.
    non_blank = ((row, cells) for row, cells in rows if any(_cell_text(c).strip() for c in cells))
    header_row, header = next(non_blank, (0, []))
    if not header:
        result.problems.append(Problem(file, EMPTY_FILE))
        return result

    columns: dict[int, str] = {}
    unknown: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(header):
        name = column_name(cell)
        if not name:
            continue
        if name in seen:
            result.problems.append(
                Problem(file, f"duplicate column '{name}'", row=header_row, column=name)
            )
        elif name in FIELDS:
            columns[position] = name
        else:
            unknown.append(name)
        seen.add(name)
    if unknown:
        result.problems.append(unknown_columns_problem(file, unknown, header_row))
    if "question" not in columns.values():
        result.has_question_column = False
        result.problems.append(
            Problem(file, "missing column 'question'", row=header_row, column="question")
        )

    named = {position for position, cell in enumerate(header) if column_name(cell)}
    nameless_reported = False
    for row, cells in rows:
        texts = [_cell_text(cell) for cell in cells]
        if not any(text.strip() for text in texts):
            continue
        values: dict[str, Value] = {}
        for position, text in enumerate(texts):
            if not text.strip():
                continue
            if position in columns:
                values[columns[position]] = text
            elif position not in named and not nameless_reported:
                # Reported once: a stray notes column would otherwise repeat on every row.
                nameless_reported = True
                reason = f"column {position + 1} has values but no name in the header row"
                result.problems.append(Problem(file, reason, row=row))
        result.records.append(Record(row, values))
    if not result.records:
        result.problems.append(Problem(file, EMPTY_FILE))
    return result


def _cell_text(cell: Any) -> str:
    return "" if cell is None else cell if isinstance(cell, str) else str(cell)


def column_name(cell: Any) -> str:
    """Header cells and JSON keys compare without case, spaces or dashes: `Follow ups` works."""
    return re.sub(r"[\s-]+", "_", _cell_text(cell).strip().lower())


def unknown_columns_problem(file: str, names: list[str], row: int) -> Problem:
    listed = ", ".join(f"'{name}'" for name in names)
    noun = "column" if len(names) == 1 else "columns"
    reason = f"unknown {noun} {listed}; the allowed columns are {', '.join(FIELDS)}"
    return Problem(file, reason, row=row, column=names[0] if len(names) == 1 else None)


def _read_json(text: str, file: str) -> RawRows:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        reason = f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        return RawRows(problems=[Problem(file, reason)])
    except (ValueError, RecursionError) as error:  # huge integers, absurd nesting
        return RawRows(problems=[Problem(file, f"invalid JSON: {error}")])
    if not isinstance(document, list):
        reason = f"the top level must be a list of objects, not {_json_type(document)}"
        return RawRows(problems=[Problem(file, reason)])
    result = RawRows()
    if not document:
        result.problems.append(Problem(file, EMPTY_FILE))
    unknown_seen: set[str] = set()
    for row, item in enumerate(document, start=1):
        if isinstance(item, dict):
            _add_object(result, item, row, file, unknown_seen)
        else:
            reason = f"each item must be an object, not {_json_type(item)}"
            result.problems.append(Problem(file, reason, row=row))
    return result


def _read_jsonl(text: str, file: str) -> RawRows:
    result = RawRows()
    unknown_seen: set[str] = set()
    # Not splitlines(): it also splits on U+2028 and friends, which JSON strings may hold raw.
    for row, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            reason = f"invalid JSON at column {error.colno}: {error.msg}"
            result.problems.append(Problem(file, reason, row=row))
            continue
        except (ValueError, RecursionError) as error:
            result.problems.append(Problem(file, f"invalid JSON: {error}", row=row))
            continue
        if isinstance(item, dict):
            _add_object(result, item, row, file, unknown_seen)
        else:
            reason = f"each line must be a JSON object, not {_json_type(item)}"
            result.problems.append(Problem(file, reason, row=row))
    if not result.records and not result.problems:
        result.problems.append(Problem(file, EMPTY_FILE))
    return result


def _add_object(
    result: RawRows, item: dict[str, Any], row: int, file: str, unknown_seen: set[str]
) -> None:
    values: dict[str, Value] = {}
    unknown: list[str] = []
    for key, value in item.items():
        name = column_name(key)
        if name not in FIELDS:
            # Each unknown key is reported where it first appears, not on every object.
            if name not in unknown_seen:
                unknown_seen.add(name)
                unknown.append(name)
            continue
        if value is None or value == "" or value == []:
            continue
        if name in OBJECT_FIELDS and isinstance(value, dict):
            values[name] = json.dumps(value, ensure_ascii=False)
            continue
        is_list = name in LIST_FIELDS and isinstance(value, list)
        if isinstance(value, str) or (is_list and all(isinstance(p, str) for p in value)):
            values[name] = value
            continue
        if is_list:
            reason = f"'{name}' must be a list of strings"
        else:
            allowed = "a string or a list of strings" if name in LIST_FIELDS else "a string"
            allowed = "an object" if name in OBJECT_FIELDS else allowed
            reason = f"'{name}' must be {allowed}, not {_json_type(value)}"
        result.problems.append(Problem(file, reason, row=row, column=name))
        if name in OBJECT_FIELDS:
            continue  # nothing would be missing without it, and parsing it would say this again
        # Kept as text, so the row is not also called "missing" what it has in the wrong type.
        values[name] = json.dumps(value, ensure_ascii=False)
    if unknown:
        result.problems.append(unknown_columns_problem(file, unknown, row))
    result.records.append(Record(row, values))


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)
