"""Editing one intent at a time: checked against the rest, revision bumped, follow-ups valid."""

from __future__ import annotations

from dataclasses import replace as with_fields

import pytest
from sqlalchemy.orm import Session

from chatbot.db.knowledge import (
    delete_intent,
    find_intent,
    follow_up_sources,
    import_intents,
    knowledge_revision,
    load_intents,
    save_intent,
    search_intents,
)
from chatbot.knowledge.edits import IntentRejected, intent_from_form
from chatbot.knowledge.spec import IntentSpec

HOURS = IntentSpec(
    "hours", "We are open **9 to 5**.", ("Opening hours?", "When are you open?"), "Shop"
)
REFUNDS = IntentSpec(
    "refunds", "Within 30 days.", ("Can I get a refund?", "Money back?"), follow_ups=("hours",)
)
TRACKING = IntentSpec("tracking", "请查看订单页面。", ("我的订单在哪里？",), "物流", language="zh")
INTENTS = [HOURS, REFUNDS, TRACKING]
GIFTS = IntentSpec(
    "gifts", "We wrap gifts for free.", ("Do you wrap gifts?",), follow_ups=("hours",)
)


@pytest.fixture
def stored(db_session: Session) -> Session:
    import_intents(db_session, INTENTS, replace=False)
    return db_session


def problems_of(rejected: pytest.ExceptionInfo[IntentRejected]) -> list[tuple[str, str]]:
    return [(p.field, p.message.format(**p.values)) for p in rejected.value.problems]


def test_find_intent(stored: Session) -> None:
    assert find_intent(stored, "refunds") == REFUNDS
    assert find_intent(stored, "nope") is None


@pytest.mark.parametrize(
    ("text", "language", "category", "keys"),
    [
        ("", "", "", ["hours", "refunds", "tracking"]),
        ("OPEN", "", "", ["hours"]),  # a phrasing, ignoring case
        ("30 days", "", "", ["refunds"]),  # the answer
        ("fund", "", "", ["refunds"]),  # the key
        ("订单", "", "", ["tracking"]),
        ("", "zh", "", ["tracking"]),
        ("", "", "Shop", ["hours"]),
        ("open", "zh", "", []),
    ],
)
def test_search_matches_key_phrasings_and_answer_with_filters(
    stored: Session, text: str, language: str, category: str, keys: list[str]
) -> None:
    found = search_intents(stored, text=text, language=language, category=category)
    assert [intent.key for intent in found] == keys


def test_creating_an_intent_stores_it_and_bumps_the_revision(stored: Session) -> None:
    revision = knowledge_revision(stored)

    assert save_intent(stored, GIFTS, create=True) is None

    assert load_intents(stored) == [*INTENTS, GIFTS]
    assert knowledge_revision(stored) == revision + 1


def test_updating_returns_the_intent_as_it_was(stored: Session) -> None:
    revision = knowledge_revision(stored)
    edited = with_fields(HOURS, answer="Open **8 to 6**.", phrasings=("Hours?", "Opening hours?"))

    assert save_intent(stored, edited, create=False) == HOURS

    assert find_intent(stored, "hours") == edited
    assert knowledge_revision(stored) == revision + 1


def test_saving_an_unchanged_intent_keeps_the_revision(stored: Session) -> None:
    revision = knowledge_revision(stored)

    assert save_intent(stored, HOURS, create=False) == HOURS

    assert knowledge_revision(stored) == revision


def test_a_taken_key_unknown_follow_ups_and_borrowed_phrasings_are_refused(
    stored: Session,
) -> None:
    revision = knowledge_revision(stored)
    clash = IntentSpec("hours", "A.", ("money BACK?", "New one"), follow_ups=("hours", "missing"))

    with pytest.raises(IntentRejected) as rejected:
        save_intent(stored, clash, create=True)

    assert problems_of(rejected) == [
        ("key", "An intent called 'hours' already exists."),
        ("follow_ups", "An intent cannot follow up itself."),
        ("follow_ups", "No intent is called 'missing'."),
        ("phrasings", "'money BACK?' is already a phrasing of 'refunds'."),
    ]
    assert load_intents(stored) == INTENTS
    assert knowledge_revision(stored) == revision


def test_updating_a_missing_intent_is_a_lookup_error(stored: Session) -> None:
    with pytest.raises(LookupError):
        save_intent(stored, GIFTS, create=False)


def test_deleting_removes_the_intent_from_other_follow_ups(stored: Session) -> None:
    save_intent(stored, GIFTS, create=True)
    revision = knowledge_revision(stored)
    assert follow_up_sources(stored, "hours") == ["refunds", "gifts"]

    result = delete_intent(stored, "hours")

    assert result == (HOURS, ["refunds", "gifts"])
    assert find_intent(stored, "hours") is None
    assert find_intent(stored, "refunds") == with_fields(REFUNDS, follow_ups=())
    assert find_intent(stored, "gifts") == with_fields(GIFTS, follow_ups=())
    assert knowledge_revision(stored) == revision + 1
    # What is left imports again as it is: no dangling follow-up.
    assert import_intents(stored, load_intents(stored), replace=True, dry_run=True).is_empty


def test_deleting_a_missing_intent_changes_nothing(stored: Session) -> None:
    revision = knowledge_revision(stored)
    assert delete_intent(stored, "nope") is None
    assert knowledge_revision(stored) == revision


def test_the_form_normalises_like_the_file_readers() -> None:
    intent = intent_from_form(
        key=" gifts ",
        answer="Free.\r\n\r\n- wrapped\r\n",
        phrasings="  Do you   wrap gifts? \r\n\r\nDO YOU WRAP GIFTS?\nGift wrap?",
        language="ZH-Hant",
        category="  Extra   services ",
        follow_ups=["hours", "hours", ""],
    )

    assert intent == IntentSpec(
        "gifts",
        "Free.\n\n- wrapped",
        ("Do you wrap gifts?", "Gift wrap?"),
        "Extra services",
        "zh-Hant",
        ("hours",),
    )


def test_the_form_names_every_bad_field() -> None:
    with pytest.raises(IntentRejected) as rejected:
        intent_from_form(
            key="has space",
            answer="  ",
            phrasings="\n \n",
            language="english please",
            category="x" * 201,
            follow_ups=["bad key!"],
        )

    assert [field for field, _ in problems_of(rejected)] == [
        "key",
        "phrasings",
        "answer",
        "language",
        "category",
        "follow_ups",
    ]


def test_console_addresses_cannot_be_keys() -> None:
    with pytest.raises(IntentRejected) as rejected:
        intent_from_form(key="upload", answer="A.", phrasings="Q?")
    assert problems_of(rejected) == [("key", "'upload' is reserved: choose another key.")]
