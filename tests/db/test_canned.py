"""Canned replies: stored trimmed, validated field by field, updated by whom."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.db import canned


def test_create_list_update_delete(db_session: Session) -> None:
    refund = canned.create_canned(
        db_session, "  Refund delay ", "Refunds take 3-5 days.", actor="sam@staff.example"
    )
    apology = canned.create_canned(
        db_session, "Apology", "Sorry about that!", language="en", actor="sam@staff.example"
    )
    assert refund.title == "Refund delay" and refund.language is None
    assert [r.title for r in canned.list_canned(db_session)] == ["Apology", "Refund delay"]

    canned.update_canned(
        db_session, apology, "Apology", "我们很抱歉！", language="zh", actor="olga"
    )
    assert (apology.text, apology.language, apology.updated_by) == ("我们很抱歉！", "zh", "olga")

    canned.delete_canned(db_session, refund, actor=None)
    assert canned.get_canned(db_session, refund.id) is None
    assert [r.id for r in canned.list_canned(db_session)] == [apology.id]


@pytest.mark.parametrize(
    ("title", "text", "field"),
    [
        ("", "Some text", "title"),
        ("   ", "Some text", "title"),
        ("x" * 101, "Some text", "title"),
        ("Title", "", "text"),
        ("Title", "y" * 2001, "text"),
    ],
)
def test_bad_input_names_the_field(db_session: Session, title: str, text: str, field: str) -> None:
    with pytest.raises(canned.CannedReplyError) as caught:
        canned.create_canned(db_session, title, text, actor=None)
    assert caught.value.field == field
    assert canned.list_canned(db_session) == []


def test_the_longest_allowed_values_are_kept(db_session: Session) -> None:
    reply = canned.create_canned(db_session, "x" * 100, "y" * 2000, actor=None)
    assert len(reply.title) == 100 and len(reply.text) == 2000


def test_a_failed_update_changes_nothing(db_session: Session) -> None:
    reply = canned.create_canned(db_session, "Hello", "Hi there!", actor="sam")
    with pytest.raises(canned.CannedReplyError):
        canned.update_canned(db_session, reply, "Hello", "", actor="olga")
    assert (reply.text, reply.updated_by) == ("Hi there!", "sam")
