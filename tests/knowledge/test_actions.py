"""Actions in knowledge base files: checked on import with named problems, kept by export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chatbot.knowledge.actions import ActionRejected, action_from_json
from chatbot.knowledge.edits import IntentRejected, intent_from_form
from chatbot.knowledge.files import read_faq_bytes
from chatbot.knowledge.spec import ImportRejected
from chatbot.knowledge.writers import write_faq_bytes

ORDER_ACTION: dict[str, Any] = {
    "slots": [
        {
            "name": "order_number",
            "prompt": {"en": "What is your order number?", "zh": "请问您的订单号是多少？"},
            "validator": {"regex": "[A-Z]{2}[0-9]{4}"},
            "invalid": {"en": "Order numbers look like AB1234."},
        },
        {"name": "email", "prompt": {"en": "Your e-mail?"}, "validator": "email"},
        {"name": "size", "prompt": {"en": "Which size?"}, "validator": {"choice": ["S", "M"]}},
        {"name": "quantity", "prompt": {"en": "How many?"}, "validator": "number"},
    ],
    "call": {
        "method": "POST",
        "url": "https://orders.example/api/orders/{order_number}",
        "headers": {"Authorization": "Bearer {secret:ORDERS_TOKEN}", "Accept": "application/json"},
        "timeout_s": 2.5,
    },
    "answer": {
        "en": "{% if found %}Order {{ slots.order_number }}: {{ response.state }}{% endif %}",
        "zh": "订单 {{ slots.order_number }}：{{ response.state }}",
    },
    "apology": {"en": "The order system is down.", "zh": "订单系统暂时不可用。"},
}


def order_row(action: object = ORDER_ACTION) -> dict[str, Any]:
    return {
        "intent": "order_status",
        "question": "Where is my order?",
        "answer": "I can look up your order.",
        "action": action,
    }


def jsonl(*rows: dict[str, Any]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def action_problems(action: object) -> list[str]:
    with pytest.raises(ImportRejected) as rejected:
        read_faq_bytes(jsonl(order_row(action)), "kb.jsonl", max_bytes=10**6)
    assert all(p.column == "action" and p.row == 1 for p in rejected.value.problems)
    return [p.reason for p in rejected.value.problems]


def with_changes(**changes: Any) -> dict[str, Any]:
    action = json.loads(json.dumps(ORDER_ACTION))
    for path, value in changes.items():
        target = action
        *parents, last = path.split("__")
        for name in parents:
            target = target[int(name)] if isinstance(target, list) else target[name]
        target[last] = value
    return action


def test_an_action_reads_into_the_intent() -> None:
    intent = read_faq_bytes(jsonl(order_row()), "kb.jsonl", max_bytes=10**6)[0]

    assert intent.action is not None
    assert [slot.validator for slot in intent.action.slots] == [
        "regex",
        "email",
        "choice",
        "number",
    ]
    assert intent.action.call.method == "POST" and intent.action.call.timeout_s == 2.5
    assert intent.action.call.headers[0] == ("Authorization", "Bearer {secret:ORDERS_TOKEN}")
    assert intent.action.to_json() == ORDER_ACTION


@pytest.mark.parametrize("file_format", ["csv", "json", "jsonl", "xlsx"])
def test_an_action_survives_export_and_import_unchanged(file_format: str) -> None:
    intents = read_faq_bytes(jsonl(order_row()), "kb.jsonl", max_bytes=10**6)

    data = write_faq_bytes(intents, file_format)

    assert read_faq_bytes(data, f"kb.{file_format}", max_bytes=10**6) == intents


def test_a_csv_cell_holds_the_action_as_json_text() -> None:
    cell = json.dumps(ORDER_ACTION).replace('"', '""')
    text = f'intent,question,answer,action\norder_status,Where is my order?,Looking.,"{cell}"\n'

    intent = read_faq_bytes(text.encode(), "kb.csv", max_bytes=10**6)[0]

    assert intent.action is not None and intent.action.to_json() == ORDER_ACTION


def test_files_without_actions_are_written_without_the_column() -> None:
    intents = read_faq_bytes(b"question,answer\nHours?,9 to 5.\n", "kb.csv", max_bytes=1000)

    assert b"action" not in write_faq_bytes(intents, "csv").splitlines()[0]


def test_a_bad_method_is_named() -> None:
    assert action_problems(with_changes(call__method="FETCH")) == [
        'call.method: unknown method "FETCH": use one of GET, POST, PUT, PATCH, DELETE'
    ]


def test_a_bad_validator_is_named() -> None:
    problems = action_problems(with_changes(slots__1__validator="zipcode"))

    assert problems == [
        'slots[1].validator: unknown validator "zipcode": use "number", "email", '
        '{"regex": PATTERN} or {"choice": [...]}'
    ]


def test_a_regex_that_does_not_compile_is_named() -> None:
    [problem] = action_problems(with_changes(slots__0__validator={"regex": "[A-Z"}))

    assert problem.startswith("slots[0].validator: invalid regex: unterminated character set")


def test_bad_template_syntax_is_named_with_its_language_and_line() -> None:
    answer = {"en": "Order {{ slots.order_number }}\n{% if found %}shipped", "zh": "好"}

    [problem] = action_problems(with_changes(answer=answer))

    assert problem.startswith("answer.en: template error on line 2: Unexpected end of template.")
    assert "'endif'" in problem


def test_every_problem_of_an_action_is_reported_at_once() -> None:
    action = with_changes(
        call__url="ftp://orders.example/{order_id}",
        call__timeout_s=600,
        call__headers={"X-Token": "{env:HOME}"},
        slots__2__name="Size",
    )

    assert action_problems(action) == [
        "slots[2].name: use 1-40 lowercase letters, digits or '_', starting with a letter",
        "call.url: must be an http:// or https:// address",
        "call.headers.X-Token: only {secret:NAME} references may appear in braces "
        "(NAME: capital letters, digits, '_')",
        "call.timeout_s: must be a number of seconds above 0, at most 30",
    ]


def test_a_url_placeholder_must_name_a_slot() -> None:
    action = with_changes(call__url="https://orders.example/{secret:TOKEN}/{order_number}")

    assert action_problems(action) == [
        "call.url: {secret:TOKEN} names no slot (secrets go in headers)"
    ]


def test_an_action_needs_a_call_and_an_answer() -> None:
    with pytest.raises(ActionRejected) as rejected:
        action_from_json({"slots": []})

    assert rejected.value.problems == [
        "call: must be an object with a method and a url",
        "answer: missing (an object of language: text)",
    ]


def test_a_json_action_of_the_wrong_type_is_named() -> None:
    with pytest.raises(ImportRejected) as rejected:
        read_faq_bytes(jsonl(order_row(["GET"])), "kb.jsonl", max_bytes=10**6)

    [problem] = rejected.value.problems
    assert (problem.column, problem.reason) == ("action", "'action' must be an object, not a list")


def test_the_console_form_names_a_bad_action() -> None:
    with pytest.raises(IntentRejected) as rejected:
        intent_from_form(
            key="order_status",
            answer="Looking.",
            phrasings="Where is my order?",
            action='{"call": {"method": "GET"}',
        )

    [problem] = rejected.value.problems
    assert problem.field == "action"
    assert str(problem).startswith("action: not valid JSON:")


def test_the_console_form_takes_the_file_format() -> None:
    intent = intent_from_form(
        key="order_status",
        answer="Looking.",
        phrasings="Where is my order?",
        action=json.dumps(ORDER_ACTION),
    )

    assert intent.action is not None and intent.action.to_json() == ORDER_ACTION


def test_the_readme_example_imports() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Actions with slots", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```jsonl\n(.*?)```", section, re.S)
    assert example, "README.md's Actions with slots section has no JSONL example"

    [intent] = read_faq_bytes(example.group(1).encode(), "readme.jsonl", max_bytes=10**6)

    assert intent.action is not None
    assert intent.action.call.headers == (("Authorization", "Bearer {secret:ORDERS_TOKEN}"),)
    assert [language for language, _ in intent.action.answers] == ["en", "zh"]
