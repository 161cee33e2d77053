"""Erasing one conversation and expiring old ones delete every copy of the customer's words."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from chatbot.db import conversations as store
from chatbot.db import privacy
from chatbot.db.base import utcnow
from chatbot.db.models import (
    AuditEntry,
    Conversation,
    Correction,
    LoginAttempt,
    Message,
    ModelVersion,
    Role,
)
from chatbot.db.transcripts import message_search

SECRET = "my neighbour Ann Example at 12 Quiet Lane ordered the lamp"


def conversation_with_correction(session: Session, words: str, age: timedelta) -> str:
    conversation, _token = store.start_conversation(session)
    asked = store.add_message(session, conversation, Role.CUSTOMER, words)
    store.add_message(session, conversation, Role.BOT, "Standard delivery takes 3-5 days.")
    session.add(Correction(message_id=asked.id, text=words, intent="delivery_time"))
    conversation.updated_at = utcnow() - age
    session.flush()
    return conversation.id


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def fts_hits(session: Session, word: str) -> int:
    """What the transcript search finds for ``word``: SQLite's FTS table itself (a row left
    behind would be a copy of the text); on PostgreSQL, the conversations the search finds."""
    if session.get_bind().dialect.name != "sqlite":
        found = select(func.count()).select_from(Conversation).where(message_search(session, word))
        return session.scalar(found) or 0
    return (
        session.scalar(
            text("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH :word"), {"word": word}
        )
        or 0
    )


def test_erasing_deletes_messages_corrections_and_the_search_index(db_session: Session) -> None:
    erased_id = conversation_with_correction(db_session, SECRET, timedelta(0))
    kept_id = conversation_with_correction(db_session, "where is my sofa", timedelta(0))
    assert fts_hits(db_session, "neighbour") == 1

    erased = privacy.erase_conversation(db_session, erased_id, "ada@admin.example")

    assert erased == privacy.Erased(conversations=1, messages=2, corrections=1)
    assert db_session.get(Conversation, erased_id) is None
    assert db_session.get(Conversation, kept_id) is not None
    assert fts_hits(db_session, "neighbour") == 0
    texts = [c.text for c in db_session.scalars(select(Correction))]
    assert texts == ["where is my sofa"]
    [entry] = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "conversation.erase")
    )
    assert (entry.actor, entry.target) == ("ada@admin.example", erased_id)
    assert "Ann" not in str(entry.before) + str(entry.after)  # counts, never the words
    assert privacy.erase_conversation(db_session, erased_id, None) is None


def test_expiry_deletes_what_is_older_than_the_retention_only(db_session: Session) -> None:
    old = conversation_with_correction(db_session, SECRET, timedelta(days=40))
    recent = conversation_with_correction(db_session, "where is my sofa", timedelta(days=10))
    # A correction whose message went long ago still holds a customer's words.
    db_session.add(
        Correction(message_id=None, text="old words", created_at=utcnow() - timedelta(days=41))
    )
    db_session.add(
        LoginAttempt(
            email="x@y.example", address="1", succeeded=False, at=utcnow() - timedelta(days=91)
        )
    )
    db_session.flush()

    erased = privacy.expire(
        db_session,
        conversation_retention=timedelta(days=30),
        login_attempt_retention=timedelta(days=90),
    )

    assert erased == privacy.Erased(conversations=1, messages=2, corrections=2, login_attempts=1)
    assert db_session.get(Conversation, old) is None
    assert db_session.get(Conversation, recent) is not None
    assert count(db_session, Message) == 2 and count(db_session, Correction) == 1
    [entry] = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run"))
    assert entry.after == erased.as_dict()


def test_retention_none_keeps_conversations(db_session: Session) -> None:
    conversation_with_correction(db_session, SECRET, timedelta(days=4000))
    erased = privacy.expire(
        db_session, conversation_retention=None, login_attempt_retention=timedelta(days=30)
    )
    assert erased == privacy.Erased()
    assert count(db_session, Conversation) == 1
    assert count(db_session, AuditEntry) == 0  # nothing went, nothing to record


def test_erasing_reaches_the_copies_older_model_versions_kept(
    db_session: Session, tmp_path: Path
) -> None:
    """Versions trained before reports named corrections by id listed each skipped one's text,
    in their row and in their files: erasure removes that conversation's, and only them."""
    erased_id = conversation_with_correction(db_session, SECRET, timedelta(0))
    other = {"text": "where is my sofa", "intent": "gone"}
    listed = {"skipped_corrections": [{"text": SECRET, "intent": "gone"}, other]}
    directory = tmp_path / "ft-20260101-000000-abcdef"
    (directory / "report").mkdir(parents=True)
    (directory / "report" / "report.json").write_text(json.dumps({"accuracy": 0.9, **listed}))
    card = {"version": directory.name, "training": {"epochs": 3, **listed}}
    (directory / "chatbot_model.json").write_text(json.dumps(card))
    db_session.add(
        ModelVersion(
            version=directory.name,
            kind="fine-tuned",
            base_model="base",
            path=str(directory),
            config={"epochs": 3, **listed},
        )
    )
    db_session.flush()

    erased = privacy.erase_conversation(db_session, erased_id, None)

    assert erased is not None and erased.model_versions == 1
    row = db_session.scalars(select(ModelVersion)).one()
    assert row.config == {"epochs": 3, "skipped_corrections": [other]}
    report = json.loads((directory / "report" / "report.json").read_text())
    assert report == {"accuracy": 0.9, "skipped_corrections": [other]}
    card_now = json.loads((directory / "chatbot_model.json").read_text())
    assert card_now["training"] == {"epochs": 3, "skipped_corrections": [other]}
    assert "Ann Example" not in (directory / "chatbot_model.json").read_text()
