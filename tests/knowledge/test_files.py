"""Reading FAQ files: every format gives the same intents; every bad input is named precisely."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from chatbot.knowledge.files import read_faq_bytes, read_faq_file, read_knowledge_bytes, slugify
from chatbot.knowledge.spec import ImportRejected, IntentSpec, Problem
from chatbot.knowledge.writers import write_faq_bytes

LIMIT = 1_000_000
COLUMNS = ["question", "answer", "intent", "alternates", "language", "category", "follow_ups"]
RESET_ANSWER = "Click *Forgot password* on the [login page](https://example.com/login)."
HOURS_ANSWER = "我们每天9点到5点营业。"
# One row per customer phrasing, as a person would fill in the spreadsheet.
ROWS: list[dict[str, Any]] = [
    {
        "question": "How do I reset my password?",
        "answer": RESET_ANSWER,
        "alternates": "I forgot my password\nPassword reset",
        "category": "Account",
        "follow_ups": "refund_policy",
    },
    {
        "question": "Can I get a refund?",
        "answer": "Refunds within **30 days**.",
        "intent": "refund_policy",
        "alternates": "Money back?",
        "language": "en",
        "category": "Billing",
    },
    {"question": "I want my money back", "intent": "refund_policy"},
    {"question": "营业时间是什么？", "answer": HOURS_ANSWER, "language": "zh"},
]
EXPECTED = [
    IntentSpec(
        key="how_do_i_reset_my_password",
        answer=RESET_ANSWER,
        phrasings=("How do I reset my password?", "I forgot my password", "Password reset"),
        category="Account",
        follow_ups=("refund_policy",),
    ),
    IntentSpec(
        key="refund_policy",
        answer="Refunds within **30 days**.",
        phrasings=("Can I get a refund?", "Money back?", "I want my money back"),
        category="Billing",
    ),
    IntentSpec(
        key="faq_" + hashlib.sha1(HOURS_ANSWER.encode()).hexdigest()[:8],
        answer=HOURS_ANSWER,
        phrasings=("营业时间是什么？",),
        language="zh",
    ),
]


def csv_text(rows: list[dict[str, Any]], columns: list[str] = COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(tmp_path: Path, text: str, name: str = "faq.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def write_xlsx(tmp_path: Path, rows: list[list[Any]], name: str = "faq.xlsx") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return path


def problems_of(path: Path, max_bytes: int = LIMIT) -> list[Problem]:
    with pytest.raises(ImportRejected) as caught:
        read_faq_file(path, max_bytes=max_bytes)
    return caught.value.problems


def only_problem(path: Path, max_bytes: int = LIMIT) -> Problem:
    problems = problems_of(path, max_bytes)
    assert len(problems) == 1, problems
    return problems[0]


def csv_problems(tmp_path: Path, text: str) -> list[Problem]:
    return problems_of(write_csv(tmp_path, text))


# --- every format reads to the same intents ---------------------------------------------------


def test_csv_reads_to_intents(tmp_path: Path) -> None:
    assert read_faq_file(write_csv(tmp_path, csv_text(ROWS)), max_bytes=LIMIT) == EXPECTED


def test_csv_with_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(ROWS).encode())
    assert read_faq_file(path, max_bytes=LIMIT) == EXPECTED


def test_csv_in_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes(csv_text(ROWS).encode("utf-16"))
    assert read_faq_file(path, max_bytes=LIMIT) == EXPECTED


def test_csv_with_semicolons_as_excel_saves_it_in_many_locales(tmp_path: Path) -> None:
    text = "question;answer\r\nOpening hours?;9 to 5, every day.\r\n"
    [intent] = read_faq_file(write_csv(tmp_path, text), max_bytes=LIMIT)
    assert intent.answer == "9 to 5, every day."


def test_json_reads_to_intents(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    assert read_faq_file(path, max_bytes=LIMIT) == EXPECTED


def test_json_accepts_lists_for_alternates_and_follow_ups(tmp_path: Path) -> None:
    rows = [dict(row) for row in ROWS]
    rows[0]["alternates"] = ["I forgot my password", "Password reset"]
    rows[0]["follow_ups"] = ["refund_policy"]
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    assert read_faq_file(path, max_bytes=LIMIT) == EXPECTED


def test_jsonl_reads_to_intents(tmp_path: Path) -> None:
    path = tmp_path / "faq.jsonl"
    # A blank line between objects is tolerated.
    lines = [json.dumps(row, ensure_ascii=False) for row in ROWS]
    path.write_text("\n".join([*lines[:2], "", *lines[2:]]) + "\n", encoding="utf-8")
    assert read_faq_file(path, max_bytes=LIMIT) == EXPECTED


def test_xlsx_reads_to_intents(tmp_path: Path) -> None:
    rows = [COLUMNS] + [[row.get(column) for column in COLUMNS] for row in ROWS]
    assert read_faq_file(write_xlsx(tmp_path, rows), max_bytes=LIMIT) == EXPECTED


def test_xlsx_numbers_become_text(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [["question", "answer", "intent"], ["Opening hours?", 9, 42]])
    [intent] = read_faq_file(path, max_bytes=LIMIT)
    assert (intent.key, intent.answer) == ("42", "9")


def test_read_faq_bytes_reads_an_upload() -> None:
    data = csv_text(ROWS).encode()
    assert read_faq_bytes(data, "upload.CSV", max_bytes=LIMIT) == EXPECTED


def test_headers_ignore_case_spaces_and_dashes(tmp_path: Path) -> None:
    text = "Question , ANSWER,Follow-ups\r\nOpening hours?,9 to 5.,refund_policy\r\n"
    [intent] = read_faq_file(write_csv(tmp_path, text), max_bytes=LIMIT)
    assert intent.follow_ups == ("refund_policy",)


# --- values: splitting, normalising, grouping ---------------------------------------------------


def test_phrasings_are_normalised_and_duplicates_in_one_intent_dropped(tmp_path: Path) -> None:
    rows = [
        {"question": "  Where   is my\torder? ", "intent": "order", "answer": "Here."},
        {"question": "where is my ORDER?", "intent": "order", "alternates": "Track | | parcel"},
        {"question": "Track", "intent": "order", "alternates": "WHERE IS MY ORDER?"},
    ]
    [intent] = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.phrasings == ("Where is my order?", "Track", "parcel")


def test_answers_keep_markdown_line_breaks(tmp_path: Path) -> None:
    rows = [{"question": "Steps?", "answer": "  1. Log in\r\n2. Click *Reset*  "}]
    [intent] = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.answer == "1. Log in\n2. Click *Reset*"


def test_follow_ups_split_on_bars_commas_and_spaces(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "follow_ups": "a|b, c\nd  a"}]
    [intent] = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.follow_ups == ("a", "b", "c", "d")


def test_language_primary_subtag_is_lowercased(tmp_path: Path) -> None:
    rows = [{"question": "Hours?", "answer": "9-5", "language": "ZH-Hant"}]
    [intent] = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.language == "zh-Hant"


def test_rows_without_intent_group_by_answer(tmp_path: Path) -> None:
    rows = [
        {"question": "Opening hours?", "answer": "9 to 5."},
        {"question": "Refunds?", "answer": "30 days."},
        {"question": "When are you open?", "answer": "9 to 5."},
    ]
    intents = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert [(i.key, i.phrasings) for i in intents] == [
        ("opening_hours", ("Opening hours?", "When are you open?")),
        ("refunds", ("Refunds?",)),
    ]


def test_generated_key_that_collides_uses_the_answer_hash(tmp_path: Path) -> None:
    rows = [
        {"question": "Opening hours?", "answer": "9 to 5."},
        {"question": "opening hours", "answer": "Closed on Sundays."},  # same slug
        {"question": "Refunds?", "answer": "30 days."},
        {"question": "Money back?", "answer": "Ask us.", "intent": "refunds"},  # explicit key
    ]
    keys = [i.key for i in read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)]
    sunday = "faq_" + hashlib.sha1(b"Closed on Sundays.").hexdigest()[:8]
    refunds = "faq_" + hashlib.sha1(b"30 days.").hexdigest()[:8]
    assert keys == ["opening_hours", sunday, refunds, "refunds"]


def test_slug_is_ascii_words_at_most_60_characters() -> None:
    assert slugify("Où est ma commande ?") == "ou_est_ma_commande"
    assert slugify("如何重置密码") == ""
    slug = slugify("word " * 30)
    assert len(slug) <= 60 and slug.startswith("word_word") and not slug.endswith("_")


# --- file-wide problems -------------------------------------------------------------------------


def test_file_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_bytes(b"{" * 100)  # not even valid JSON: size is checked first
    problem = only_problem(path, max_bytes=99)
    assert problem.reason == "file too large: 100 bytes, the limit is 99 bytes"
    assert (problem.file, problem.row, problem.column) == ("faq.json", None, None)


def test_upload_too_large() -> None:
    with pytest.raises(ImportRejected) as caught:
        read_faq_bytes(b"question,answer\n", "up.csv", max_bytes=10)
    assert [p.reason for p in caught.value.problems] == [
        "file too large: 16 bytes, the limit is 10 bytes"
    ]


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "faq.txt"
    path.write_text("question,answer\n")
    problem = only_problem(path)
    assert "unsupported file type '.txt'" in problem.reason and ".xlsx" in problem.reason
    assert (problem.row, problem.column) == (None, None)


def test_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "gone.csv")
    assert problem.file == "gone.csv" and "cannot read the file" in problem.reason


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("faq.csv", b""),
        ("faq.csv", b"question,answer,intent\r\n"),
        ("faq.csv", b"question,answer\r\n,\r\n\r\n"),
        ("faq.json", b"[]"),
        ("faq.json", b"  \n"),
        ("faq.jsonl", b"\n\n"),
        ("faq.xlsx", b""),
    ],
)
def test_empty_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    problem = only_problem(path)
    assert (problem.reason, problem.row, problem.column) == ("empty file: no rows", None, None)


@pytest.mark.parametrize("rows", [[], [["question", "answer"]], [[], [None, "  "]]])
def test_empty_xlsx(tmp_path: Path, rows: list[list[Any]]) -> None:
    problem = only_problem(write_xlsx(tmp_path, rows))
    assert (problem.reason, problem.row) == ("empty file: no rows", None)


def test_xlsx_that_expands_enormously_is_refused_before_parsing(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 2_000_000)
    data = buffer.getvalue()
    with pytest.raises(ImportRejected) as caught:
        read_faq_bytes(data, "bomb.xlsx", max_bytes=len(data))
    [problem] = caught.value.problems
    assert problem.reason == "file too large: the workbook expands to 2000000 bytes"


def test_invalid_utf16(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes(b"\xff\xfe" + "question".encode("utf-16-le") + b"\x00\xdc")  # lone surrogate
    problem = only_problem(path)
    assert problem.reason.startswith("unreadable encoding: not UTF-16 (invalid bytes at byte")
    assert (problem.row, problem.column) == (None, None)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes("question,answer\nCafé?,Yes\n".encode("latin-1"))
    problem = only_problem(path)
    assert problem.reason == (
        "unreadable encoding: not UTF-8 (invalid byte 0xE9 at byte offset 19); "
        "save the file as UTF-8"
    )
    assert (problem.row, problem.column) == (None, None)


def test_utf16_without_bom_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes("question,answer\nHi,Hello\n".encode("utf-16-le"))
    problem = only_problem(path)
    assert problem.reason.startswith("unreadable encoding: not UTF-8 (NUL byte at byte offset 1")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_text('[\n  {"question": "Hi", "answer": "Hello"},\n  {"question": }\n]')
    problem = only_problem(path)
    assert "invalid JSON at line 3, column 16" in problem.reason
    assert (problem.row, problem.column) == (None, None)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"question": "Hi"}', "the top level must be a list of objects, not an object"),
        ('"faq"', "the top level must be a list of objects, not a string"),
    ],
)
def test_json_top_level_must_be_a_list(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "faq.json"
    path.write_text(content)
    assert only_problem(path).reason == expected


def test_json_items_must_be_objects(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_text('[{"question": "Hi", "answer": "Hello"}, ["Hi", "Hello"]]')
    problem = only_problem(path)
    assert (problem.reason, problem.row) == ("each item must be an object, not a list", 2)


def test_jsonl_bad_lines_are_named_by_line_number(tmp_path: Path) -> None:
    path = tmp_path / "faq.jsonl"
    path.write_text(
        '{"question": "Hi", "answer": "Hello"}\n\n{"question": "Bye",}\n[1]\n'
        '{"question": "Thanks", "answer": "Welcome"}\n'
    )
    first, second = problems_of(path)
    assert "invalid JSON at column 20" in first.reason
    assert (first.row, first.column) == (3, None)
    assert (second.reason, second.row) == ("each line must be a JSON object, not a list", 4)


def test_json_values_must_be_strings(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    rows = [
        {"question": "Hi", "answer": 42},
        {"question": ["Hi", "Hello"], "answer": "Hello"},
        {"question": "Bye", "answer": "Bye", "alternates": ["Ciao", 7]},
        {"question": "Thanks", "answer": "Welcome", "follow_ups": True},
    ]
    path.write_text(json.dumps(rows))
    problems = problems_of(path)
    assert [(p.reason, p.row, p.column) for p in problems] == [
        ("'answer' must be a string, not a number", 1, "answer"),
        ("'question' must be a string, not a list", 2, "question"),
        ("'alternates' must be a list of strings", 3, "alternates"),
        ("'follow_ups' must be a string or a list of strings, not a boolean", 4, "follow_ups"),
    ]


def test_json_unknown_keys_are_reported_where_they_first_appear(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    rows = [
        {"question": "Hi", "answer": "Hello"},
        {"question": "Bye", "anwser": "Bye"},
        {"question": "Ciao", "anwser": "Ciao", "answer": "Ciao"},
    ]
    path.write_text(json.dumps(rows))
    problems = problems_of(path)
    unknown = next(p for p in problems if "unknown" in p.reason)
    assert unknown.reason.startswith("unknown column 'anwser'; the allowed columns are question,")
    assert (unknown.row, unknown.column) == (2, "anwser")
    assert len([p for p in problems if "unknown" in p.reason]) == 1


def test_xlsx_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "faq.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    problem = only_problem(path)
    assert problem.reason.startswith("not a valid XLSX workbook")
    assert (problem.row, problem.column) == (None, None)


def test_truncated_xlsx(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path, [["question", "answer"], ["Hi", "Hello"]], name="good.xlsx")
    path = tmp_path / "faq.xlsx"
    path.write_bytes(good.read_bytes()[:-200])
    assert only_problem(path).reason.startswith("not a valid XLSX workbook")


def test_csv_field_over_the_csv_module_limit(tmp_path: Path) -> None:
    text = 'question,answer\r\nHi,Hello\r\nBye,"' + "x" * 140_000 + '"\r\n'
    problem = only_problem(write_csv(tmp_path, text))
    assert problem.reason.startswith("invalid CSV: field larger than field limit")
    assert problem.row == 3


# --- header problems ----------------------------------------------------------------------------


def test_missing_question_column(tmp_path: Path) -> None:
    text = "answer,intent\r\nHello,greeting\r\n"
    problem = only_problem(write_csv(tmp_path, text))
    assert (problem.reason, problem.row, problem.column) == (
        "missing column 'question'",
        1,
        "question",
    )


def test_unknown_column_is_not_silently_ignored(tmp_path: Path) -> None:
    text = "question,anwser\r\nHi,Hello\r\n"
    problems = csv_problems(tmp_path, text)
    unknown = problems[0]
    assert unknown.reason == (
        "unknown column 'anwser'; the allowed columns are question, answer, intent, "
        "alternates, language, category, follow_ups, synonyms, action"
    )
    assert (unknown.row, unknown.column) == (1, "anwser")
    # Without its answer the row is also incomplete: said as well, on its own row.
    assert [(p.reason, p.row) for p in problems[1:]] == [
        ("missing answer (needed when no intent is given)", 2)
    ]


def test_several_unknown_columns_in_one_problem(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [["question", "answer", "notes", "Owner"], ["Hi", "Hello"]])
    problem = only_problem(path)
    assert problem.reason.startswith("unknown columns 'notes', 'owner'; the allowed columns")
    assert (problem.row, problem.column) == (1, None)


def test_header_below_blank_rows_keeps_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [[], ["question", "answer", "colour"], ["Hi", "Hello"]])
    problem = only_problem(path)
    assert (problem.row, problem.column) == (2, "colour")


def test_duplicate_column(tmp_path: Path) -> None:
    problem = only_problem(write_csv(tmp_path, "question,answer,answer\r\nHi,Hello,Hey\r\n"))
    assert (problem.reason, problem.row, problem.column) == (
        "duplicate column 'answer'",
        1,
        "answer",
    )


def test_values_in_a_column_without_a_name(tmp_path: Path) -> None:
    text = "question,answer\r\nHi,Hello\r\nBye,Bye,a note\r\nCiao,Ciao,another\r\n"
    problem = only_problem(write_csv(tmp_path, text))
    assert (problem.reason, problem.row, problem.column) == (
        "column 3 has values but no name in the header row",
        3,
        None,
    )


# --- row problems -------------------------------------------------------------------------------


def test_missing_question(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello"}, {"question": "  ", "answer": "Bye"}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == ("missing question", 3, "question")


def test_row_numbers_count_records_not_lines(tmp_path: Path) -> None:
    rows = [
        {"question": "Hi", "answer": "Hello", "alternates": "Hey\nHowdy\nYo"},
        {"question": "", "answer": "Bye"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row) == ("missing question", 3)


def test_missing_answer_without_intent(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello"}, {"question": "Bye"}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "missing answer (needed when no intent is given)",
        3,
        "answer",
    )


def test_intent_without_any_answer(tmp_path: Path) -> None:
    rows = [
        {"question": "Hi", "answer": "Hello"},
        {"question": "Refund?", "intent": "refunds"},
        {"question": "Money back?", "intent": "refunds"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "intent 'refunds' has no answer",
        3,
        "answer",
    )


def test_intent_with_two_answers(tmp_path: Path) -> None:
    rows = [
        {"question": "Refund?", "intent": "refunds", "answer": "30 days."},
        {"question": "Money back?", "intent": "refunds"},
        {"question": "Return?", "intent": "refunds", "answer": "30 days."},
        {"question": "Refund policy?", "intent": "refunds", "answer": "14 days."},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "intent 'refunds' has two different answers (row 2 and row 5)",
        5,
        "answer",
    )


@pytest.mark.parametrize(
    "key", ["two words", "a/b", "a,b", "a|b", "x" * 201, "bell\x07", "zero\u200bwidth", ".."]
)
def test_invalid_intent_key(tmp_path: Path, key: str) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "intent": key}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert problem.reason.startswith("invalid intent key '")
    assert "use 1-200 printable characters without spaces, ',', '|' or '/'" in problem.reason
    assert (problem.row, problem.column) == (2, "intent")


@pytest.mark.parametrize(
    "key", ["reverted_card_payment?", "flight#airfare", "100%", "emoji🙂", "faq:returns"]
)
def test_dataset_labels_are_intent_keys(tmp_path: Path, key: str) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "intent": key, "follow_ups": ""}]
    rows.append({"question": "Bye", "answer": "See you", "intent": "bye", "follow_ups": key})
    first, second = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert (first.key, second.follow_ups) == (key, (key,))


def test_unicode_letters_in_intent_keys_are_fine(tmp_path: Path) -> None:
    rows = [{"question": "营业时间？", "answer": "9-5", "intent": "营业时间.v2-final"}]
    [intent] = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.key == "营业时间.v2-final"


def test_question_too_long(tmp_path: Path) -> None:
    rows = [{"question": "q" * 1001, "answer": "Hello"}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "question too long: 1001 characters, the limit is 1000",
        2,
        "question",
    )


def test_alternate_too_long(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "alternates": "Hey|" + "a" * 1001}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "alternate too long: 1001 characters, the limit is 1000",
        2,
        "alternates",
    )


def test_answer_too_long(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "a" * 20001}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "answer too long: 20001 characters, the limit is 20000",
        2,
        "answer",
    )


def test_category_too_long(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "category": "c" * 201}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "category too long: 201 characters, the limit is 200",
        2,
        "category",
    )


def test_same_phrasing_in_two_intents(tmp_path: Path) -> None:
    rows = [
        {"question": "Where is my order?", "intent": "tracking", "answer": "Track it here."},
        {"question": "Refund?", "intent": "refunds", "answer": "30 days."},
        {"question": "Cancel?", "intent": "refunds", "alternates": "where is  MY order?"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert problem.reason == (
        "phrasing 'where is MY order?' belongs to two intents: 'tracking' (row 2) "
        "and 'refunds' (row 4)"
    )
    assert (problem.row, problem.column) == (4, "alternates")


@pytest.mark.parametrize("language", ["english", "e", "en_US", "en-", "en-abcdefgh-abcdefgh"])
def test_invalid_language(tmp_path: Path, language: str) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "language": language}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert problem.reason.startswith("invalid language '")
    assert (problem.row, problem.column) == (2, "language")


def test_rows_of_one_intent_in_two_languages_make_one_bilingual_intent(tmp_path: Path) -> None:
    rows = [
        {"question": "Hours?", "intent": "hours", "answer": "9-5", "language": "en"},
        {"question": "When do you open?", "intent": "hours"},  # no language: the intent's first
        {"question": "几点开门？", "intent": "hours", "language": "zh", "answer": "9点到5点。"},
        {"question": "今天营业吗", "intent": "hours", "language": "zh"},
    ]
    (intent,) = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.phrasings == ("Hours?", "When do you open?", "几点开门？", "今天营业吗")
    assert (intent.language, intent.answer, intent.answers) == (
        "en",
        "9-5",
        (("zh", "9点到5点。"),),
    )
    assert intent.phrasings_in("zh") == ("几点开门？", "今天营业吗")
    assert intent.answer_in("zh-CN") == ("9点到5点。", "zh")
    assert intent.answer_in("fr") == ("9-5", "en")


def test_a_language_without_its_own_answer_answers_in_the_first(tmp_path: Path) -> None:
    rows = [
        {"question": "Hours?", "intent": "hours", "answer": "9-5", "language": "en"},
        {"question": "几点开门？", "intent": "hours", "language": "zh"},
    ]
    (intent,) = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.answers == () and intent.language_of("几点开门？") == "zh"
    assert intent.answer_in("zh") == ("9-5", "en")


def test_two_answers_in_one_language_name_the_language(tmp_path: Path) -> None:
    rows = [
        {"question": "Hours?", "intent": "hours", "answer": "9-5", "language": "en"},
        {"question": "几点开门？", "intent": "hours", "language": "zh", "answer": "9点。"},
        {"question": "营业时间？", "intent": "hours", "language": "zh", "answer": "10点。"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "intent 'hours' has two different answers in 'zh' (row 3 and row 4)",
        4,
        "answer",
    )


def test_first_language_needs_an_answer(tmp_path: Path) -> None:
    rows = [
        {"question": "Hours?", "intent": "hours", "language": "en"},
        {"question": "几点开门？", "intent": "hours", "language": "zh", "answer": "9点。"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.reason, problem.row, problem.column) == (
        "intent 'hours' has no answer in 'en', its first language",
        2,
        "answer",
    )


def test_rows_grouped_by_answer_keep_one_language(tmp_path: Path) -> None:
    rows = [
        {"question": "Hours?", "answer": "9-5", "language": "en"},
        {"question": "Opening times?", "answer": "9-5", "language": "de"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.row, problem.column) == (3, "language")
    assert "two different language values" in problem.reason


def test_intent_with_two_categories(tmp_path: Path) -> None:
    rows = [
        {"question": "Hours?", "intent": "hours", "answer": "9-5", "category": "Shop"},
        {"question": "Open?", "intent": "hours", "category": "Store"},
    ]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert (problem.row, problem.column) == (3, "category")
    assert "two different category values: 'Shop' (row 2) and 'Store' (row 3)" in problem.reason


def test_invalid_follow_up_key(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "follow_ups": "refunds|bad/key"}]
    problem = only_problem(write_csv(tmp_path, csv_text(rows)))
    assert problem.reason.startswith("invalid intent key 'bad/key'")
    assert (problem.row, problem.column) == (2, "follow_ups")


def test_unknown_follow_ups_are_left_to_the_import(tmp_path: Path) -> None:
    rows = [{"question": "Hi", "answer": "Hello", "follow_ups": "not_in_this_file"}]
    [intent] = read_faq_file(write_csv(tmp_path, csv_text(rows)), max_bytes=LIMIT)
    assert intent.follow_ups == ("not_in_this_file",)


def test_every_problem_in_a_file_is_listed(tmp_path: Path) -> None:
    rows = [
        {"question": "Hi", "answer": "Hello", "language": "english"},
        {"question": "", "answer": "Bye"},
        {"question": "Refund?", "intent": "bad key", "answer": "30 days."},
        {"question": "hi", "answer": "Hey there"},
        {"question": "Cancel?", "intent": "cancel"},
    ]
    problems = problems_of(write_csv(tmp_path, csv_text(rows)))
    assert [(p.row, p.column) for p in problems] == [
        (2, "language"),
        (3, "question"),
        (4, "intent"),
        (5, "question"),  # "hi" is already a phrasing of row 2's intent
        (6, "answer"),  # intent 'cancel' has no answer
    ]
    assert all(p.file == "faq.csv" for p in problems)
    assert "faq.csv, row 3, column 'question': missing question" in str(ImportRejected(problems))


def test_synonym_rows_are_read_beside_the_intents() -> None:
    data = (
        "question,answer,synonyms\n怎么退款？,7天内可退。,\n,,退款 / 退钱 | refund、money back\n"
    ).encode()
    knowledge = read_knowledge_bytes(data, "faq.csv", max_bytes=LIMIT)
    assert [intent.question for intent in knowledge.intents] == ["怎么退款？"]
    assert knowledge.synonyms == [("退款", "退钱", "refund", "money back")]
    no_synonyms = read_knowledge_bytes(
        b"question,answer\nHours?,9 to 5.\n", "f.csv", max_bytes=LIMIT
    )
    assert no_synonyms.synonyms is None  # a file without synonym rows leaves them as they are


def test_synonyms_in_json_are_a_list_of_strings() -> None:
    data = '[{"question": "Hours?", "answer": "9-5"}, {"synonyms": ["退款", "退钱"]}]'.encode()
    assert read_knowledge_bytes(data, "faq.json", max_bytes=LIMIT).synonyms == [("退款", "退钱")]


def test_bad_synonym_rows_are_all_reported_with_their_rows() -> None:
    data = (
        "question,answer,synonyms\n"
        "Hours?,9 to 5.,\n"
        ",,退款\n"
        ",,退款 | 退钱\n"
        ",,退钱 | 把钱退回\n"
        "Refund?,30 days.,refund | money back\n"
    ).encode()
    with pytest.raises(ImportRejected) as rejected:
        read_knowledge_bytes(data, "faq.csv", max_bytes=LIMIT)
    assert [str(p) for p in rejected.value.problems] == [
        "faq.csv, row 3, column 'synonyms': a synonym group needs at least two different terms",
        "faq.csv, row 5, column 'synonyms': '退钱' is in two synonym groups (row 4 and row 5)",
        "faq.csv, row 6, column 'synonyms': a synonym row holds only the synonyms column; "
        "this row also has 'question', 'answer'",
    ]


@pytest.mark.parametrize("file_format", ["csv", "json", "jsonl", "xlsx"])
def test_synonyms_survive_a_download_and_upload(file_format: str) -> None:
    intents = [IntentSpec("refunds", "30 days.", ("怎么退款？",), language="zh")]
    synonyms = [("退款", "退钱", "money back")]
    data = write_faq_bytes(intents, file_format, synonyms)
    knowledge = read_knowledge_bytes(data, f"kb.{file_format}", max_bytes=LIMIT)
    assert knowledge.intents == intents
    assert knowledge.synonyms == synonyms
