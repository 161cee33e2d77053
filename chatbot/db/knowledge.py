"""Storing the knowledge base: the only module that reads or writes its tables.

Functions take the caller's session and never commit: the CLI and the web app own the transaction,
so an import and whatever the caller records beside it succeed or fail together.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from chatbot.db.base import utcnow
from chatbot.db.models import Intent, KnowledgeBase, Phrasing
from chatbot.knowledge.diff import check_follow_ups, diff_knowledge
from chatbot.knowledge.spec import ImportRejected, IntentSpec, KnowledgeDiff


def get_knowledge_base(session: Session, name: str = "default") -> KnowledgeBase:
    """The knowledge base called ``name``, created (and flushed) when missing.

    >>> get_knowledge_base(session).revision  # doctest: +SKIP
    0
    """
    knowledge_base = _find(session, name)
    if knowledge_base is not None:
        return knowledge_base
    try:
        # A savepoint: when another process creates it first, only this insert is undone.
        with session.begin_nested():
            knowledge_base = KnowledgeBase(name=name, revision=0, updated_at=utcnow())
            session.add(knowledge_base)
    except IntegrityError:
        knowledge_base = _find(session, name)
        if knowledge_base is None:
            raise
    return knowledge_base


def load_intents(session: Session, name: str = "default") -> list[IntentSpec]:
    """The stored intents in the order they were created, phrasings in file order.

    >>> [intent.key for intent in load_intents(session)]  # doctest: +SKIP
    ['opening_hours', 'refunds']
    """
    knowledge_base = _find(session, name)
    if knowledge_base is None:
        return []
    return [_to_spec(intent) for intent in _stored_intents(session, knowledge_base)]


def knowledge_revision(session: Session, name: str = "default") -> int:
    """The knowledge base's revision, bumped by every change; 0 when it does not exist yet.

    >>> knowledge_revision(session)  # doctest: +SKIP
    3
    """
    revision = session.scalar(select(KnowledgeBase.revision).where(KnowledgeBase.name == name))
    return revision or 0


def import_intents(
    session: Session,
    intents: Sequence[IntentSpec],
    *,
    replace: bool,
    dry_run: bool = False,
    source: str = "<upload>",
    name: str = "default",
) -> KnowledgeDiff:
    """Bring the stored knowledge base in line with ``intents``, all or nothing.

    Without ``replace`` (a merge) the intents given are added or overwritten whole and the other
    stored intents stay; with it, stored intents absent from ``intents`` are removed. Every
    follow-up must name an intent that exists afterwards, or ``ImportRejected`` is raised (each
    problem naming ``source``) before anything is written. With ``dry_run`` nothing is written
    at all. A real, non-empty change bumps the revision and is flushed, not committed.

    >>> intents = read_faq_file(Path("faq.csv"), max_bytes=10_000_000)  # doctest: +SKIP
    >>> import_intents(session, intents, replace=False, source="faq.csv")  # doctest: +SKIP
    KnowledgeDiff(added=['opening_hours'], changed=[], removed=[], unchanged=['refunds'])
    """
    # Locked until the caller's commit, so two imports cannot both diff against the same state.
    knowledge_base = _find(session, name, lock=not dry_run)
    stored = _stored_intents(session, knowledge_base, fresh=not dry_run) if knowledge_base else []
    current = [_to_spec(intent) for intent in stored]
    problems = check_follow_ups(current, intents, replace=replace, source=source)
    if problems:
        raise ImportRejected(problems)
    diff = diff_knowledge(current, intents, replace=replace)
    if dry_run or diff.is_empty:
        return diff

    knowledge_base = knowledge_base or get_knowledge_base(session, name)
    stored_by_key = {intent.key: intent for intent in stored}
    incoming = {intent.key: intent for intent in intents}
    for key in diff.removed:
        session.delete(stored_by_key[key])  # its phrasings go with it (ORM cascade)
    for key in diff.changed:
        _overwrite(stored_by_key[key], incoming[key])
    for key in diff.added:
        intent = Intent(knowledge_base_id=knowledge_base.id, key=key)
        _overwrite(intent, incoming[key])
        session.add(intent)
    knowledge_base.revision += 1
    knowledge_base.updated_at = utcnow()
    session.flush()
    return diff


def _find(session: Session, name: str, *, lock: bool = False) -> KnowledgeBase | None:
    query = select(KnowledgeBase).where(KnowledgeBase.name == name)
    if lock:
        # Refreshed too: the row may have changed while another import held the lock.
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def _stored_intents(
    session: Session, knowledge_base: KnowledgeBase, *, fresh: bool = False
) -> list[Intent]:
    query = (
        select(Intent)
        .where(Intent.knowledge_base_id == knowledge_base.id)
        .order_by(Intent.id)
        .options(selectinload(Intent.phrasings))
    )
    if fresh:
        # Objects this session loaded before the lock was taken may be out of date.
        query = query.execution_options(populate_existing=True)
    return list(session.scalars(query))


def _to_spec(intent: Intent) -> IntentSpec:
    return IntentSpec(
        key=intent.key,
        answer=intent.answer,
        phrasings=tuple(phrasing.text for phrasing in intent.phrasings),
        category=intent.category,
        language=intent.language,
        follow_ups=tuple(intent.follow_ups),
    )


def _overwrite(intent: Intent, spec: IntentSpec) -> None:
    intent.answer = spec.answer
    intent.category = spec.category
    intent.language = spec.language
    intent.follow_ups = list(spec.follow_ups)
    # Phrasings are replaced whole, and only when they differ, so unchanged rows keep their ids.
    if [phrasing.text for phrasing in intent.phrasings] != list(spec.phrasings):
        intent.phrasings = [
            Phrasing(text=text, position=position) for position, text in enumerate(spec.phrasings)
        ]
