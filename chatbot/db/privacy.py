"""Erasing a customer's conversation and expiring old ones: the only deleter of conversations.

A conversation's words live in its messages (and their full-text index, kept by triggers) and
in staff corrections, which copy the customer's text as training data; its attachments in files
under the data directory. Erasure and expiry delete all of the rows and name the files, which
the caller removes once the deletion is committed; the audit entry that records an erasure
names the conversation and counts what went, never the text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chatbot.db import accounts, audit
from chatbot.db import attachments as attachment_rows
from chatbot.db.base import utcnow
from chatbot.db.models import Attachment, Conversation, Correction, Message, ModelVersion
from chatbot.evaluation import version_reports

BATCH = 500  # conversations deleted per statement when expiring


@dataclass(frozen=True)
class Erased:
    """What one erasure or expiry deleted."""

    conversations: int = 0
    messages: int = 0
    corrections: int = 0
    login_attempts: int = 0
    model_versions: int = 0  # versions whose files or row still listed the text (erasure)
    # Stored names of the attachment files whose rows went: remove them after the commit.
    files: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, int]:
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "corrections": self.corrections,
            "login_attempts": self.login_attempts,
            "attachments": len(self.files),
        }


def _delete_conversations(session: Session, ids: list[str]) -> Erased:
    files = tuple(attachment_rows.stored_names(session, ids))
    session.execute(delete(Attachment).where(Attachment.conversation_id.in_(ids)))
    in_them = select(Message.id).where(Message.conversation_id.in_(ids))
    corrections = session.execute(delete(Correction).where(Correction.message_id.in_(in_them)))
    # Messages first, explicitly, so SQLite's full-text triggers see every row go.
    messages = session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    conversations = session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    session.flush()
    return Erased(
        conversations=_count(conversations),
        messages=_count(messages),
        corrections=_count(corrections),
        files=files,
    )


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase_conversation(session: Session, conversation_id: str, actor: str | None) -> Erased | None:
    """Delete one conversation and every copy of its text; audited. None if there is none.

    Model versions trained before reports named corrections by id listed the text of each
    correction they left out, in the database and in their files: those copies go too."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    texts = _texts_of(session, conversation_id)
    session.expunge(conversation)  # its rows go behind the ORM's back
    erased = _delete_conversations(session, [conversation_id])
    reports = _forget_in_model_versions(session, texts)
    erased = replace(erased, model_versions=reports)
    audit.record(
        session,
        actor,
        "conversation.erase",
        conversation_id,
        after={**erased.as_dict(), "model_versions": reports},
    )
    return erased


def _texts_of(session: Session, conversation_id: str) -> set[str]:
    in_it = select(Message.id).where(Message.conversation_id == conversation_id)
    messages = session.scalars(
        select(Message.text).where(Message.conversation_id == conversation_id)
    )
    corrections = session.scalars(select(Correction.text).where(Correction.message_id.in_(in_it)))
    return {*messages, *corrections}


def _forget_in_model_versions(session: Session, texts: set[str]) -> int:
    """Remove ``texts`` from every version's list of skipped corrections; how many changed."""
    changed = 0
    for version in session.scalars(select(ModelVersion)):
        config = copy.deepcopy(version.config or {})
        in_row = version_reports.forget_in(config, texts)
        if in_row:
            version.config = config  # a new value, so the JSON column is written
        in_files = version_reports.forget_texts(version.path, texts)
        changed += in_row or in_files
    session.flush()
    return changed


def expire(
    session: Session,
    *,
    conversation_retention: timedelta | None,
    login_attempt_retention: timedelta,
    now: datetime | None = None,
) -> Erased:
    """Delete conversations idle longer than ``conversation_retention`` (None: keep them),
    corrections whose message is gone and that are as old, and old sign-in attempts.
    Records one audit entry when anything went."""
    now = now or utcnow()
    totals = Erased()
    if conversation_retention is not None:
        cutoff = now - conversation_retention
        while True:
            ids = list(
                session.scalars(
                    select(Conversation.id).where(Conversation.updated_at < cutoff).limit(BATCH)
                )
            )
            if not ids:
                break
            batch = _delete_conversations(session, ids)
            if not batch.conversations:  # nothing went: never loop on the same rows
                break
            totals = Erased(
                totals.conversations + batch.conversations,
                totals.messages + batch.messages,
                totals.corrections + batch.corrections,
                files=totals.files + batch.files,
            )
        orphans = session.execute(
            delete(Correction).where(
                Correction.message_id.is_(None), Correction.created_at < cutoff
            )
        )
        totals = replace(totals, corrections=totals.corrections + _count(orphans))
    attempts = accounts.purge_login_records(session, login_attempt_retention, now=now)
    totals = replace(totals, login_attempts=attempts)
    if any(totals.as_dict().values()):
        audit.record(session, None, "retention.run", None, after=totals.as_dict())
    session.flush()
    return totals
