"""Property-based fuzzing of the knowledge base readers (hypothesis): whatever the bytes, a file
is read or refused with problems that name it; nothing else ever escapes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.knowledge.files import KnowledgeFile, read_knowledge_bytes
from chatbot.knowledge.readers import EXTENSIONS, FIELDS
from chatbot.knowledge.spec import ImportRejected

LIMIT = 100_000
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=30,
)
cells = st.text(max_size=30) | st.sampled_from(FIELDS)


def read_or_refuse(data: bytes, name: str) -> KnowledgeFile | None:
    try:
        return read_knowledge_bytes(data, name, max_bytes=LIMIT)
    except ImportRejected as refused:
        assert refused.problems, "refused without saying why"
        assert all(problem.file == name for problem in refused.problems)
        assert all(str(problem) for problem in refused.problems)
        return None


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(EXTENSIONS))
def test_any_bytes_in_any_format(data: bytes, suffix: str) -> None:
    read_or_refuse(data, f"upload{suffix}")


@FUZZ
@given(document=json_values)
def test_any_json_document(document: Any) -> None:
    read_or_refuse(json.dumps(document).encode(), "faq.json")
    items = document if isinstance(document, list) else [document]
    lines = "\n".join(json.dumps(item) for item in items)
    read_or_refuse(lines.encode(), "faq.jsonl")


@FUZZ
@given(rows=st.lists(st.lists(cells, max_size=8), max_size=12), delimiter=st.sampled_from(",;\t"))
def test_any_csv_table(rows: list[list[str]], delimiter: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    for encoding in ("utf-8", "utf-8-sig", "utf-16"):
        read_or_refuse(buffer.getvalue().encode(encoding, "surrogatepass"), "faq.csv")


def _workbook(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append([cell.replace("=", "'=") for cell in row])  # no formulas
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


VALID_XLSX = _workbook([["question", "answer"], ["Opening hours?", "9 to 5."]])


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, len(VALID_XLSX) - 1), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, len(VALID_XLSX)),
)
def test_damaged_workbooks(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID_XLSX)
    for position, value in flips:
        data[position] = value
    read_or_refuse(bytes(data[:cut] if cut else data), "faq.xlsx")


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.lists(cells.filter(lambda c: c.isprintable()), max_size=6), max_size=6))
def test_any_workbook_table(rows: list[list[str]]) -> None:
    read_or_refuse(_workbook(rows), "faq.xlsx")
