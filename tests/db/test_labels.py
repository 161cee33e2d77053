"""Labels on conversations: normalised, each once, filterable in the transcript list, exported."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.db import conversations as store
from chatbot.db import labels, transcripts
from chatbot.db.models import Conversation, Role
from chatbot.db.transcripts import TranscriptFilter


def _conversation(session: Session, text: str) -> Conversation:
    conversation, _token = store.start_conversation(session, language="en")
    store.add_message(session, conversation, Role.CUSTOMER, text)
    return conversation


def test_a_label_is_trimmed_lower_cased_and_carried_once(db_session: Session) -> None:
    conversation = _conversation(db_session, "refund please")
    assert labels.add_label(db_session, conversation, "  Refund   Request ", by="sam@x.example")
    assert not labels.add_label(db_session, conversation, "refund request", by="sam@x.example")
    assert labels.add_label(db_session, conversation, "VIP", by=None)
    assert labels.labels_of(db_session, conversation.id) == ["refund request", "vip"]
    assert labels.remove_label(db_session, conversation, "Refund Request")
    assert not labels.remove_label(db_session, conversation, "refund request")
    assert labels.labels_of(db_session, conversation.id) == ["vip"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "enter a label"),
        ("   ", "enter a label"),
        ("a" * 41, "at most 40"),
        ("a,b", "commas"),
        ("bell\x07", "control"),
    ],
)
def test_bad_labels_are_refused_naming_the_field(
    db_session: Session, raw: str, problem: str
) -> None:
    conversation = _conversation(db_session, "hello")
    with pytest.raises(labels.LabelError, match=f"^label: .*{problem}"):
        labels.add_label(db_session, conversation, raw, by=None)
    assert labels.labels_of(db_session, conversation.id) == []


def test_a_conversation_carries_at_most_so_many_labels(db_session: Session) -> None:
    conversation = _conversation(db_session, "hello")
    for number in range(labels.MAX_LABELS):
        labels.add_label(db_session, conversation, f"l{number}", by=None)
    with pytest.raises(labels.LabelError, match="at most"):
        labels.add_label(db_session, conversation, "one more", by=None)


def test_the_transcript_list_filters_by_label(db_session: Session) -> None:
    refund = _conversation(db_session, "where is my refund")
    vip = _conversation(db_session, "I am a regular")
    both = _conversation(db_session, "refund for a regular")
    _conversation(db_session, "no labels here")
    labels.add_label(db_session, refund, "refund", by=None)
    labels.add_label(db_session, vip, "vip", by=None)
    labels.add_label(db_session, both, "refund", by=None)
    labels.add_label(db_session, both, "vip", by=None)

    def listed(label: str) -> set[str]:
        page = transcripts.list_conversations(db_session, TranscriptFilter(label=label))
        return {row.conversation.id for row in page.rows}

    assert listed("refund") == {refund.id, both.id}
    assert listed("vip") == {vip.id, both.id}
    assert listed("nothing") == set()
    assert labels.known_labels(db_session) == ["refund", "vip"]


def test_the_export_carries_each_conversations_labels(db_session: Session) -> None:
    labelled = _conversation(db_session, "where is my refund")
    plain = _conversation(db_session, "hello")
    labels.add_label(db_session, labelled, "vip", by=None)
    labels.add_label(db_session, labelled, "refund", by=None)
    db_session.flush()
    ids = {labelled.id, plain.id}
    rows = [
        row
        for row in transcripts.export_rows(db_session, TranscriptFilter())
        if row["conversation_id"] in ids
    ]
    by_conversation = {row["conversation_id"]: row["labels"] for row in rows}
    assert by_conversation == {labelled.id: ["refund", "vip"], plain.id: []}
    only = list(transcripts.export_rows(db_session, TranscriptFilter(label="vip")))
    assert {row["conversation_id"] for row in only} == {labelled.id}
