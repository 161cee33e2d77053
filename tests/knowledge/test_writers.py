"""Writers: whatever the console downloads, the readers take back field for field."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from chatbot.knowledge.files import read_faq_bytes
from chatbot.knowledge.spec import IntentSpec
from chatbot.knowledge.writers import table_rows, write_faq_bytes

FORMATS = ("csv", "json", "jsonl", "xlsx")

# Everything that a naive writer loses: `|` inside phrasings (the alternates separator),
# Markdown tables full of `|`, multi-line answers, Chinese, a value that looks like a
# spreadsheet formula or a number, follow-ups, categories and language subtags.
KNOWLEDGE = [
    IntentSpec(
        "sizes",
        "| size | chest |\n|---|---|\n| S | 90 cm |\n| M | 100 cm |\n\nAsk us about **XL**.",
        ("Which sizes do you have?", "S|M|L or XL?", "Is there a size chart?", "a | b", "c?"),
        category="Products",
        language="en",
        follow_ups=("退货", "formula"),
    ),
    IntentSpec(
        "退货",
        "**可以**退货：\n\n- 30 天内\n- 保持包装完好",
        ("我想退货", "怎么退货？", "退货|换货"),
        category="售后服务",
        language="zh",
        follow_ups=("sizes",),
    ),
    IntentSpec("formula", "=SUM(A1:A3)", ("=1+1", "42"), language="en-GB"),
    IntentSpec("plain", "Plain answer.", ("One phrasing only",)),
    # One intent in two languages: an answer and phrasings each; a third without its own answer.
    IntentSpec(
        "hours",
        "9 to 5.",
        ("Opening hours?", "When are you open?", "几点开门？", "营业时间|周末", "Öffnungszeiten?"),
        category="Shop",
        follow_ups=("plain",),
        answers=(("zh", "每天9点到5点。"),),
        phrasing_languages=(
            ("几点开门？", "zh"),
            ("营业时间|周末", "zh"),
            ("Öffnungszeiten?", "de"),
        ),
    ),
]


@pytest.mark.parametrize("file_format", FORMATS)
def test_a_written_file_reads_back_identically(file_format: str) -> None:
    data = write_faq_bytes(KNOWLEDGE, file_format)

    assert read_faq_bytes(data, f"kb.{file_format}", max_bytes=10**7) == KNOWLEDGE


def test_a_phrasing_holding_a_bar_starts_a_row_of_its_own() -> None:
    rows = table_rows(KNOWLEDGE[0])

    assert [row["question"] for row in rows] == [
        "Which sizes do you have?",
        "S|M|L or XL?",
        "a | b",
    ]
    assert [row.get("alternates") for row in rows] == [None, "Is there a size chart?", "c?"]
    # The intent's own values appear once: the readers take them from the first row.
    assert rows[0]["answer"] == KNOWLEDGE[0].answer
    assert rows[0]["follow_ups"] == "退货|formula"
    assert "answer" not in rows[1] and "answer" not in rows[2]


def test_an_ordinary_intent_is_one_spreadsheet_row_with_alternates_one_per_line() -> None:
    intent = IntentSpec("hours", "9 to 5.", ("Opening hours?", "When are you open?", "Hours?"))

    data = write_faq_bytes([intent], "csv").decode("utf-8-sig")

    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == 1
    assert rows[0]["alternates"] == "When are you open?\nHours?"


def test_csv_starts_with_a_byte_order_mark_for_spreadsheet_programs() -> None:
    assert write_faq_bytes(KNOWLEDGE, "csv").startswith(b"\xef\xbb\xbf")


def test_xlsx_stores_formula_look_alikes_as_text() -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(write_faq_bytes(KNOWLEDGE, "xlsx")))
    cells = {cell.value: cell.data_type for row in workbook.active.iter_rows() for cell in row}

    assert cells["=SUM(A1:A3)"] == "s"
    assert cells["42"] == "s"


def test_xlsx_refuses_control_characters_naming_the_intent() -> None:
    broken = IntentSpec("bell", "Ding\x07", ("Ring?",))

    with pytest.raises(ValueError, match=r"intent 'bell'.*CSV or JSON"):
        write_faq_bytes([broken], "xlsx")
    # The text formats carry them unharmed.
    assert read_faq_bytes(write_faq_bytes([broken], "json"), "kb.json", max_bytes=10**6) == [broken]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'txt'"):
        write_faq_bytes(KNOWLEDGE, "txt")


def test_a_bilingual_intent_writes_rows_per_language_its_values_once() -> None:
    rows = table_rows(KNOWLEDGE[-1])

    assert [(row["question"], row.get("language"), row.get("answer")) for row in rows] == [
        ("Opening hours?", "en", "9 to 5."),
        ("几点开门？", "zh", "每天9点到5点。"),
        ("营业时间|周末", "zh", None),
        ("Öffnungszeiten?", "de", None),
    ]
    assert [row.get("follow_ups") for row in rows] == ["plain", None, None, None]
