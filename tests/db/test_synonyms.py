"""Synonym groups: replaced whole, checked first, a change bumps the revision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from chatbot.db.knowledge import (
    import_intents,
    knowledge_revision,
    load_intents,
    load_synonyms,
    save_synonyms,
)
from chatbot.db.session import make_engine
from chatbot.knowledge.spec import IntentSpec
from chatbot.knowledge.synonyms import SynonymsRejected

REFUNDS = IntentSpec("refunds", "7天内可退。", ("怎么退款？",), language="zh")
GROUPS = [("退款", "退钱", "refund", "money back"), ("快递", "包裹")]


def test_saving_replaces_the_groups_and_bumps_the_revision_only_on_a_change(
    db_session: Session,
) -> None:
    assert save_synonyms(db_session, GROUPS) == []
    assert load_synonyms(db_session) == GROUPS
    revision = knowledge_revision(db_session)
    assert save_synonyms(db_session, [list(g) for g in GROUPS]) == GROUPS
    assert knowledge_revision(db_session) == revision  # the same groups: nothing to rebuild
    save_synonyms(db_session, GROUPS[:1])
    assert load_synonyms(db_session) == GROUPS[:1]
    assert knowledge_revision(db_session) == revision + 1


def test_bad_groups_are_refused_and_nothing_changes(db_session: Session) -> None:
    save_synonyms(db_session, GROUPS)
    revision = knowledge_revision(db_session)
    with pytest.raises(SynonymsRejected) as rejected:
        save_synonyms(db_session, [("退款", "退钱"), ("退货",), ("钱退回", "退钱")])
    assert rejected.value.problems == [
        "group 2: a synonym group needs at least two different terms",
        "group 3: '退钱' is in two synonym groups (group 1 and group 3)",
    ]
    assert load_synonyms(db_session) == GROUPS
    assert knowledge_revision(db_session) == revision


def test_an_import_with_synonyms_replaces_them_and_one_without_keeps_them(
    db_session: Session,
) -> None:
    import_intents(db_session, [REFUNDS], replace=False, synonyms=GROUPS)
    assert load_synonyms(db_session) == GROUPS
    revision = knowledge_revision(db_session)

    dry = import_intents(db_session, [REFUNDS], replace=False, dry_run=True, synonyms=GROUPS[1:])
    assert dry.synonyms_replaced and not dry.is_empty
    assert load_synonyms(db_session) == GROUPS  # a dry run writes nothing

    same = import_intents(db_session, [REFUNDS], replace=True, synonyms=GROUPS)
    assert same.is_empty and knowledge_revision(db_session) == revision
    kept = import_intents(db_session, [REFUNDS], replace=True)
    assert kept.is_empty and load_synonyms(db_session) == GROUPS

    changed = import_intents(db_session, [REFUNDS], replace=True, synonyms=GROUPS[1:])
    assert changed.synonyms_replaced and changed.unchanged == ["refunds"]
    assert load_synonyms(db_session) == GROUPS[1:]
    assert knowledge_revision(db_session) == revision + 1
    assert load_intents(db_session) == [REFUNDS]


@pytest.fixture
def postgres_session(postgres_schema_url: str) -> Iterator[Session]:
    engine = make_engine(postgres_schema_url)
    try:
        with engine.connect() as connection:
            outer = connection.begin()
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            try:
                yield session
            finally:
                session.close()
                outer.rollback()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_synonyms_on_postgresql(postgres_session: Session) -> None:
    # A knowledge base of its own: the shared database may hold others' rows, even "default".
    name = f"test-{uuid.uuid4().hex}"
    import_intents(postgres_session, [REFUNDS], replace=False, name=name, synonyms=GROUPS)
    assert load_synonyms(postgres_session, name) == GROUPS
    save_synonyms(postgres_session, GROUPS[:1], name)
    assert load_synonyms(postgres_session, name) == GROUPS[:1]
    assert knowledge_revision(postgres_session, name) == 2
