"""Diffing stored intents against a file's, and checking follow-ups across the result."""

from __future__ import annotations

from dataclasses import replace as with_fields

import pytest

from chatbot.knowledge.diff import check_follow_ups, diff_knowledge
from chatbot.knowledge.spec import IntentSpec, KnowledgeDiff

HOURS = IntentSpec("hours", "9 to 5.", ("Opening hours?", "When are you open?"))
REFUNDS = IntentSpec("refunds", "Within 30 days.", ("Can I get a refund?",), category="Billing")
TRACKING = IntentSpec("tracking", "Track it here.", ("Where is my order?",), follow_ups=("hours",))


def test_same_intents_make_an_empty_diff() -> None:
    diff = diff_knowledge([HOURS, REFUNDS], [HOURS, REFUNDS], replace=True)
    assert diff == KnowledgeDiff(unchanged=["hours", "refunds"])
    assert diff.is_empty


def test_merge_adds_and_changes_but_never_removes() -> None:
    changed = with_fields(REFUNDS, answer="Within 14 days.")
    diff = diff_knowledge([HOURS, REFUNDS], [TRACKING, changed], replace=False)
    assert diff == KnowledgeDiff(added=["tracking"], changed=["refunds"], unchanged=["hours"])
    assert not diff.is_empty


def test_replace_removes_stored_intents_missing_from_the_file() -> None:
    diff = diff_knowledge([HOURS, REFUNDS, TRACKING], [TRACKING, HOURS], replace=True)
    assert diff == KnowledgeDiff(removed=["refunds"], unchanged=["tracking", "hours"])


def test_keys_keep_the_order_of_the_file() -> None:
    new = [IntentSpec(key, "A.", (f"{key}?",)) for key in ("zeta", "alpha", "mid")]
    assert diff_knowledge([], new, replace=False).added == ["zeta", "alpha", "mid"]


@pytest.mark.parametrize(
    "changed",
    [
        with_fields(HOURS, answer="9 to 6."),
        with_fields(HOURS, phrasings=("When are you open?", "Opening hours?")),  # order only
        with_fields(HOURS, phrasings=("Opening hours?",)),
        with_fields(HOURS, category="Shop"),
        with_fields(HOURS, language="de"),
        with_fields(HOURS, follow_ups=("refunds",)),
    ],
)
def test_any_field_that_differs_is_a_change(changed: IntentSpec) -> None:
    assert diff_knowledge([HOURS], [changed], replace=False).changed == ["hours"]


def test_follow_ups_may_name_intents_of_the_file_or_stored_ones_when_merging() -> None:
    assert check_follow_ups([HOURS], [TRACKING], replace=False, source="faq.csv") == []
    assert check_follow_ups([], [TRACKING, HOURS], replace=True, source="faq.csv") == []


def test_follow_up_to_an_intent_that_does_not_exist() -> None:
    [problem] = check_follow_ups([REFUNDS], [TRACKING], replace=False, source="faq.csv")
    assert problem.file == "faq.csv"
    assert problem.reason == "intent 'tracking' has a follow-up to 'hours', which does not exist"
    assert problem.column == "follow_ups"


def test_replace_may_not_remove_an_intent_that_is_a_follow_up() -> None:
    [problem] = check_follow_ups([HOURS, TRACKING], [TRACKING], replace=True, source="new.csv")
    assert problem.reason == (
        "intent 'tracking' has a follow-up to 'hours', which this import removes"
    )


def test_the_same_key_twice_is_refused() -> None:
    [problem] = check_follow_ups([], [HOURS, HOURS], replace=False, source="<upload>")
    assert (problem.file, problem.reason) == ("<upload>", "intent 'hours' appears twice")
