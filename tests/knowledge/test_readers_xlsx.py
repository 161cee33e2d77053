"""XLSX sheets are read as they are, whatever size they declare: every row of a sheet whose
dimension tag is stale, bounded memory for one that declares a million rows and columns, and a
clear refusal past the row and column caps."""

from __future__ import annotations

import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from chatbot.knowledge import readers
from chatbot.knowledge.files import read_faq_file
from chatbot.knowledge.spec import ImportRejected, Problem

LIMIT = 1_000_000
ROWS = [["question", "answer", "intent"]] + [
    [f"Question number {n}?", f"Answer {n}.", f"intent_{n}"] for n in range(1, 6)
]


def write_xlsx(
    path: Path, rows: list[list[Any]], cells: dict[tuple[int, int], str] | None = None
) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    for (row, column), value in (cells or {}).items():
        sheet.cell(row=row, column=column, value=value)
    workbook.save(path)
    return path


def declare_dimension(path: Path, ref: str) -> None:
    """Rewrite the sheet's dimension tag, as a buggy or hostile tool would."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet, count = re.subn(r'<dimension ref="[^"]*"', f'<dimension ref="{ref}"', sheet)
    assert count == 1
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def problems(path: Path) -> list[Problem]:
    with pytest.raises(ImportRejected) as caught:
        read_faq_file(path, max_bytes=LIMIT)
    return caught.value.problems


def test_a_stale_dimension_tag_does_not_hide_rows(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "stale.xlsx", ROWS)
    declare_dimension(path, "A1:C3")  # says two data rows; the sheet holds five
    intents = read_faq_file(path, max_bytes=LIMIT)
    assert [intent.key for intent in intents] == [f"intent_{n}" for n in range(1, 6)]


def test_a_sheet_declaring_a_million_rows_and_columns_reads_in_bounded_memory(
    tmp_path: Path,
) -> None:
    path = write_xlsx(tmp_path / "bomb.xlsx", ROWS)
    declare_dimension(path, "A1:XFD1048576")
    assert path.stat().st_size < 10_000
    tracemalloc.start()
    try:
        intents = read_faq_file(path, max_bytes=LIMIT)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(intents) == 5
    # Trusting the tag, openpyxl padded every row to 16,384 cells for a million rows (2.8 GB).
    assert peak < 20_000_000, f"peak {peak / 1e6:.1f} MB"


def test_a_value_past_the_last_column_read_is_refused_naming_it(tmp_path: Path) -> None:
    column = readers.MAX_XLSX_COLUMNS + 1
    path = write_xlsx(tmp_path / "wide.xlsx", ROWS, {(3, column): "stray"})
    [problem] = problems(path)
    assert (problem.row, problem.column) == (3, "BM")
    assert "64 columns at most" in problem.reason


def test_trailing_empty_cells_far_right_are_no_problem(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "styled.xlsx", ROWS, {(2, 200): ""})
    declare_dimension(path, "A1:GR6")
    assert len(read_faq_file(path, max_bytes=LIMIT)) == 5


def test_a_value_in_the_last_row_of_the_sheet_is_refused_at_the_row_cap(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "tall.xlsx", ROWS, {(1_048_576, 1): "far down"})
    tracemalloc.start()
    try:
        [problem] = problems(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.row == readers.MAX_XLSX_ROWS + 1
    assert problem.reason == f"too many rows: at most {readers.MAX_XLSX_ROWS} are read"
    assert peak < 20_000_000  # the empty rows in between are streamed, never held
