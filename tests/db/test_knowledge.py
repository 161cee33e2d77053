"""Storing imports: all or nothing; a dry run writes nothing; only a change bumps the revision."""

from __future__ import annotations

import uuid
from dataclasses import replace as with_fields
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.knowledge import (
    get_knowledge_base,
    import_intents,
    knowledge_revision,
    load_intents,
)
from chatbot.db.models import Intent, KnowledgeBase, Phrasing
from chatbot.db.session import make_engine
from chatbot.knowledge.actions import action_from_json
from chatbot.knowledge.files import read_faq_file
from chatbot.knowledge.spec import ImportRejected, IntentSpec, KnowledgeDiff

HOURS = IntentSpec(
    "hours", "We are open **9 to 5**.", ("Opening hours?", "When are you open?"), "Shop"
)
REFUNDS = IntentSpec(
    "refunds", "Within 30 days.", ("Can I get a refund?", "Money back?"), follow_ups=("hours",)
)
TRACKING = IntentSpec("tracking", "营业时间", ("我的订单在哪里？",), language="zh")
INTENTS = [HOURS, REFUNDS, TRACKING]


def counts(session: Session) -> tuple[int, int, int]:
    def count(model: type[KnowledgeBase | Intent | Phrasing]) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return count(KnowledgeBase), count(Intent), count(Phrasing)


def snapshot(session: Session) -> tuple[list[IntentSpec], int, tuple[int, int, int]]:
    return load_intents(session), knowledge_revision(session), counts(session)


def test_nothing_stored_yet(db_session: Session) -> None:
    assert load_intents(db_session) == []
    assert knowledge_revision(db_session) == 0
    assert counts(db_session) == (0, 0, 0)  # reading created nothing


def test_get_knowledge_base_creates_it_once(db_session: Session) -> None:
    first = get_knowledge_base(db_session)
    assert (first.name, first.revision) == ("default", 0)
    assert get_knowledge_base(db_session).id == first.id
    assert counts(db_session) == (1, 0, 0)


def test_import_then_load_gives_the_same_intents(db_session: Session) -> None:
    diff = import_intents(db_session, INTENTS, replace=False, source="faq.csv")
    assert diff == KnowledgeDiff(added=["hours", "refunds", "tracking"])
    assert load_intents(db_session) == INTENTS
    assert knowledge_revision(db_session) == 1
    assert counts(db_session) == (1, 3, 5)


def test_reimporting_the_same_intents_changes_nothing(db_session: Session) -> None:
    import_intents(db_session, INTENTS, replace=False)
    updated_at = get_knowledge_base(db_session).updated_at
    diff = import_intents(db_session, INTENTS, replace=True)
    assert diff.is_empty and diff.unchanged == ["hours", "refunds", "tracking"]
    assert knowledge_revision(db_session) == 1
    assert get_knowledge_base(db_session).updated_at == updated_at


def test_merge_overwrites_intents_of_the_file_and_keeps_the_others(db_session: Session) -> None:
    import_intents(db_session, INTENTS, replace=False)
    hours = with_fields(HOURS, phrasings=("Are you open on Sunday?",), category=None)
    new = IntentSpec("shipping", "3 days.", ("How long is shipping?",))
    diff = import_intents(db_session, [new, hours], replace=False)
    assert diff == KnowledgeDiff(
        added=["shipping"], changed=["hours"], unchanged=["refunds", "tracking"]
    )
    assert load_intents(db_session) == [hours, REFUNDS, TRACKING, new]
    assert knowledge_revision(db_session) == 2
    # The old phrasings of 'hours' are gone, not orphaned.
    assert counts(db_session) == (1, 4, 1 + 2 + 1 + 1)


def test_replace_removes_intents_and_their_phrasings(db_session: Session) -> None:
    import_intents(db_session, INTENTS, replace=False)
    tracking_id = db_session.scalar(select(Intent.id).where(Intent.key == "tracking"))
    diff = import_intents(db_session, [HOURS, REFUNDS], replace=True)
    assert diff == KnowledgeDiff(removed=["tracking"], unchanged=["hours", "refunds"])
    assert load_intents(db_session) == [HOURS, REFUNDS]
    assert knowledge_revision(db_session) == 2
    orphans = select(func.count()).select_from(Phrasing).where(Phrasing.intent_id == tracking_id)
    assert db_session.scalar(orphans) == 0
    assert counts(db_session) == (1, 2, 4)


def test_dry_run_writes_nothing(db_session: Session) -> None:
    diff = import_intents(db_session, INTENTS, replace=False, dry_run=True)
    assert diff.added == ["hours", "refunds", "tracking"]
    assert counts(db_session) == (0, 0, 0)  # not even the knowledge base row

    import_intents(db_session, INTENTS, replace=False)
    before = snapshot(db_session)
    diff = import_intents(
        db_session, [with_fields(HOURS, answer="Closed.")], replace=True, dry_run=True
    )
    assert diff == KnowledgeDiff(changed=["hours"], removed=["refunds", "tracking"])
    assert snapshot(db_session) == before
    assert not (db_session.new or db_session.dirty or db_session.deleted)


def test_unknown_follow_up_rejects_the_whole_import(db_session: Session) -> None:
    import_intents(db_session, [HOURS], replace=False)
    before = snapshot(db_session)
    broken = IntentSpec("returns", "Send it back.", ("Returns?",), follow_ups=("labels",))
    with pytest.raises(ImportRejected) as caught:
        import_intents(db_session, [TRACKING, broken], replace=False, source="faq.csv")
    [problem] = caught.value.problems
    assert problem.file == "faq.csv"
    assert problem.reason == "intent 'returns' has a follow-up to 'labels', which does not exist"
    assert problem.column == "follow_ups"
    assert snapshot(db_session) == before
    assert not (db_session.new or db_session.dirty or db_session.deleted)


def test_replace_may_not_remove_an_intent_still_offered_as_follow_up(db_session: Session) -> None:
    import_intents(db_session, INTENTS, replace=False)
    before = snapshot(db_session)
    with pytest.raises(ImportRejected) as caught:
        import_intents(db_session, [REFUNDS, TRACKING], replace=True, source="new.xlsx")
    [problem] = caught.value.problems
    assert (problem.file, problem.column) == ("new.xlsx", "follow_ups")
    assert (
        problem.reason == "intent 'refunds' has a follow-up to 'hours', which this import removes"
    )
    assert snapshot(db_session) == before


def test_knowledge_bases_are_separate_by_name(db_session: Session) -> None:
    import_intents(db_session, [HOURS], replace=False, name="staging")
    assert load_intents(db_session, "staging") == [HOURS]
    assert load_intents(db_session) == []
    assert (knowledge_revision(db_session, "staging"), knowledge_revision(db_session)) == (1, 0)


def test_a_file_imports_end_to_end(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "question,answer,intent,follow_ups\n"
        "Opening hours?,9 to 5.,hours,\n"
        "Refund?,30 days.,refunds,hours\n",
        encoding="utf-8",
    )
    intents = read_faq_file(path, max_bytes=10_000)
    import_intents(db_session, intents, replace=True, source=path.name)
    assert [intent.key for intent in load_intents(db_session)] == ["hours", "refunds"]


@pytest.mark.postgres
def test_import_and_load_on_postgresql(postgres_schema_url: str) -> None:
    engine = make_engine(postgres_schema_url)
    # A knowledge base of its own, as if the database held others' rows, even "default".
    name = f"test-{uuid.uuid4().hex}"
    try:
        with engine.connect() as connection:
            outer = connection.begin()
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            try:
                diff = import_intents(session, INTENTS, replace=False, source="faq.csv", name=name)
                assert diff.added == ["hours", "refunds", "tracking"]
                assert load_intents(session, name) == INTENTS
                with pytest.raises(ImportRejected):
                    import_intents(session, [REFUNDS], replace=True, name=name)
                diff = import_intents(session, [HOURS, REFUNDS], replace=True, name=name)
                assert diff.removed == ["tracking"]
                assert load_intents(session, name) == [HOURS, REFUNDS]
                assert knowledge_revision(session, name) == 2
            finally:
                session.close()
                outer.rollback()
    finally:
        engine.dispose()


def test_an_action_is_stored_and_changing_it_is_a_change(db_session: Session) -> None:
    lookup = action_from_json(
        {
            "slots": [{"name": "order", "prompt": {"en": "Order?"}, "validator": "number"}],
            "call": {"method": "GET", "url": "https://orders.example/{order}"},
            "answer": {"en": "{{ response.state }}"},
        }
    )
    orders = IntentSpec("orders", "I look orders up.", ("Where is my order?",), action=lookup)
    import_intents(db_session, [orders], replace=False)

    assert load_intents(db_session) == [orders]
    slower = with_fields(lookup, call=with_fields(lookup.call, timeout_s=9.0))
    diff = import_intents(db_session, [with_fields(orders, action=slower)], replace=False)
    assert diff.changed == ["orders"]
    assert load_intents(db_session)[0].action == slower
    diff = import_intents(db_session, [with_fields(orders, action=None)], replace=False)
    assert diff.changed == ["orders"] and load_intents(db_session)[0].action is None
