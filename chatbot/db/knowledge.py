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
from chatbot.knowledge.actions import action_from_json
from chatbot.knowledge.diff import check_follow_ups, diff_knowledge
from chatbot.knowledge.edits import FieldProblem, IntentRejected
from chatbot.knowledge.spec import ImportRejected, IntentSpec, KnowledgeDiff
from chatbot.knowledge.synonyms import SynonymClashes, SynonymGroup, SynonymsRejected, check_group


def get_knowledge_base(session: Session, name: str = "default") -> KnowledgeBase:
    """The knowledge base called ``name``, created (and flushed) when missing.

    >>> get_knowledge_base(session).revision
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

    >>> hours = IntentSpec("opening_hours", "9 to 5.", ("When are you open?",))
    >>> refunds = IntentSpec("refunds", "Within 30 days.", ("Can I get my money back?",))
    >>> _ = import_intents(session, [hours, refunds], replace=False)
    >>> [intent.key for intent in load_intents(session)]
    ['opening_hours', 'refunds']
    """
    knowledge_base = _find(session, name)
    if knowledge_base is None:
        return []
    return [_to_spec(intent) for intent in _stored_intents(session, knowledge_base)]


def intent_languages(session: Session, name: str = "default") -> dict[str, str]:
    """Every intent's key and main language, in the order they were created: what pages that
    offer intents to choose from need, without loading phrasings and answers.

    >>> refunds = IntentSpec("refunds", "Within 30 days.", ("Can I get my money back?",))
    >>> _ = import_intents(session, [refunds], replace=False)
    >>> intent_languages(session)
    {'refunds': 'en'}
    """
    rows = session.execute(
        select(Intent.key, Intent.language)
        .join(KnowledgeBase, KnowledgeBase.id == Intent.knowledge_base_id)
        .where(KnowledgeBase.name == name)
        .order_by(Intent.id)
    )
    return {key: language for key, language in rows}


def knowledge_revision(session: Session, name: str = "default") -> int:
    """The knowledge base's revision, bumped by every change; 0 when it does not exist yet.

    >>> knowledge_revision(session)
    0
    >>> refunds = IntentSpec("refunds", "Within 30 days.", ("Can I get my money back?",))
    >>> _ = import_intents(session, [refunds], replace=False)
    >>> knowledge_revision(session)
    1
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
    synonyms: Sequence[SynonymGroup] | None = None,
) -> KnowledgeDiff:
    """Bring the stored knowledge base in line with ``intents``, all or nothing.

    Without ``replace`` (a merge) the intents given are added or overwritten whole and the other
    stored intents stay; with it, stored intents absent from ``intents`` are removed. Every
    follow-up must name an intent that exists afterwards, or ``ImportRejected`` is raised (each
    problem naming ``source``) before anything is written. With ``dry_run`` nothing is written
    at all. A real, non-empty change bumps the revision and is flushed, not committed.
    ``synonyms`` (a file's synonym groups; None when it has none) replace the stored groups.

    >>> from chatbot.knowledge.files import read_faq_bytes
    >>> refunds = IntentSpec("refunds", "Within 30 days.", ("Can I get my money back?",))
    >>> _ = import_intents(session, [refunds], replace=False)
    >>> faq = b"question,answer\\nOpening hours?,9 to 5.\\n"
    >>> intents = read_faq_bytes(faq, "faq.csv", max_bytes=10_000_000)
    >>> import_intents(session, intents, replace=False, source="faq.csv")
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
    stored_synonyms = _groups(knowledge_base.synonyms) if knowledge_base else []
    if synonyms is not None and _groups(synonyms) != stored_synonyms:
        diff.synonyms_replaced = True
    if dry_run or diff.is_empty:
        return diff

    knowledge_base = knowledge_base or get_knowledge_base(session, name)
    if diff.synonyms_replaced:
        knowledge_base.synonyms = [list(group) for group in synonyms or ()]
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


def load_synonyms(session: Session, name: str = "default") -> list[SynonymGroup]:
    """The knowledge base's synonym groups, each group's first term canonical.

    >>> load_synonyms(session)
    []
    >>> _ = save_synonyms(session, [("退款", "退钱", "refund")])
    >>> load_synonyms(session)
    [('退款', '退钱', 'refund')]
    """
    groups = session.scalar(select(KnowledgeBase.synonyms).where(KnowledgeBase.name == name))
    return _groups(groups or [])


def save_synonyms(
    session: Session, groups: Sequence[Sequence[str]], name: str = "default"
) -> list[SynonymGroup]:
    """Replace the synonym groups; returns the groups as they were before.

    Raises ``SynonymsRejected`` (naming each group by its position, from 1) for a group with
    fewer than two terms, a term too long, or a term in two groups. A real change bumps the
    revision, so serving processes rebuild their index; nothing is committed.
    """
    problems: list[str] = []
    clashes = SynonymClashes()
    checked_groups = []
    for number, terms in enumerate(groups, start=1):
        checked = check_group(terms)
        found = checked.problems or clashes.check(checked.group, number, "group")
        problems.extend(f"group {number}: {reason}" for reason in found)
        checked_groups.append(checked.group)
    if problems:
        raise SynonymsRejected(problems)
    knowledge_base = _find(session, name, lock=True) or get_knowledge_base(session, name)
    before = _groups(knowledge_base.synonyms or [])
    if checked_groups != before:
        knowledge_base.synonyms = [list(group) for group in checked_groups]
        _bump(knowledge_base)
        session.flush()
    return before


def _groups(groups: Sequence[Sequence[str]]) -> list[SynonymGroup]:
    return [tuple(group) for group in groups]


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
        answers=tuple((intent.answers or {}).items()),
        phrasing_languages=tuple(
            (phrasing.text, phrasing.language)
            for phrasing in intent.phrasings
            if phrasing.language != intent.language
        ),
        # Checked on the way in (file or form): stored actions always parse.
        action=action_from_json(intent.action) if intent.action is not None else None,
    )


def _overwrite(intent: Intent, spec: IntentSpec) -> None:
    intent.answer = spec.answer
    intent.answers = dict(spec.answers)
    intent.category = spec.category
    intent.language = spec.language
    intent.follow_ups = list(spec.follow_ups)
    intent.action = spec.action.to_json() if spec.action is not None else None
    # Phrasings are replaced whole, and only when they differ, so unchanged rows keep their ids.
    stored = [(phrasing.text, phrasing.language) for phrasing in intent.phrasings]
    if stored != [(text, spec.language_of(text)) for text in spec.phrasings]:
        intent.phrasings = [
            Phrasing(text=text, language=spec.language_of(text), position=position)
            for position, text in enumerate(spec.phrasings)
        ]


# ---- one intent at a time: the admin console's edits


def find_intent(session: Session, key: str, name: str = "default") -> IntentSpec | None:
    """The stored intent with ``key``, or None.

    >>> refunds = IntentSpec("refunds", "Within 30 days.", ("Can I get my money back?",))
    >>> _ = import_intents(session, [refunds], replace=False)
    >>> find_intent(session, "refunds").answer
    'Within 30 days.'
    >>> find_intent(session, "gift_cards") is None
    True
    """
    knowledge_base = _find(session, name)
    if knowledge_base is None:
        return None
    intent = _stored_intent(session, knowledge_base, key)
    return _to_spec(intent) if intent is not None else None


def search_intents(
    session: Session,
    *,
    text: str = "",
    language: str = "",
    category: str = "",
    name: str = "default",
) -> list[IntentSpec]:
    """Stored intents whose key, phrasings or answer contain ``text``, ignoring case.

    ``language`` (any of the intent's) and ``category``, when given, must match exactly.
    Matched in Python rather than SQL: ``casefold`` treats every script alike on SQLite and
    PostgreSQL, and a knowledge base is small enough to read whole (the serving index holds it
    all in memory anyway).

    >>> _ = import_intents(session, [
    ...     IntentSpec("refunds", "Within 30 days.", ("Can I get my money back?",)),
    ...     IntentSpec("delivery", "3-5 days.", ("Where is my parcel?",)),
    ...     IntentSpec("refund_time", "3-5 working days.", ("When does the refund arrive?",)),
    ... ], replace=False)
    >>> [intent.key for intent in search_intents(session, text="REFUND")]
    ['refunds', 'refund_time']
    """
    needle = text.strip().casefold()
    found = []
    for intent in load_intents(session, name):
        if language and language not in intent.languages:
            continue
        if category and (intent.category or "") != category:
            continue
        haystack = (intent.key, intent.answer, *(a for _, a in intent.answers), *intent.phrasings)
        if needle and not any(needle in field.casefold() for field in haystack):
            continue
        found.append(intent)
    return found


def follow_up_sources(session: Session, key: str, name: str = "default") -> list[str]:
    """Keys of the intents that offer ``key`` as a follow-up, in stored order."""
    return [intent.key for intent in load_intents(session, name) if key in intent.follow_ups]


def save_intent(
    session: Session, intent: IntentSpec, *, create: bool, name: str = "default"
) -> IntentSpec | None:
    """Add (``create``) or overwrite one intent; returns the stored intent as it was before.

    Raises ``IntentRejected`` when the key is taken (creating), a follow-up names no intent, or
    a phrasing already belongs to another intent (the readers would refuse that knowledge base
    on its next upload); ``LookupError`` when overwriting an intent that does not exist. A real
    change bumps the revision, so serving processes pick it up; nothing is committed.
    """
    knowledge_base = _find(session, name, lock=True) or get_knowledge_base(session, name)
    stored = _stored_intents(session, knowledge_base, fresh=True)
    by_key = {row.key: row for row in stored}
    existing = by_key.get(intent.key)
    problems: list[FieldProblem] = []
    if create and existing is not None:
        problems.append(
            FieldProblem("key", "An intent called '{key}' already exists.", {"key": intent.key})
        )
    elif not create and existing is None:
        raise LookupError(f"intent '{intent.key}' not found")
    for target in intent.follow_ups:
        if target == intent.key:
            problems.append(FieldProblem("follow_ups", "An intent cannot follow up itself."))
        elif target not in by_key:
            problems.append(
                FieldProblem("follow_ups", "No intent is called '{key}'.", {"key": target})
            )
    owners = {
        phrasing.text.casefold(): row.key
        for row in stored
        if row.key != intent.key
        for phrasing in row.phrasings
    }
    for phrasing in intent.phrasings:
        owner = owners.get(phrasing.casefold())
        if owner is not None:
            problems.append(
                FieldProblem(
                    "phrasings",
                    "'{phrasing}' is already a phrasing of '{owner}'.",
                    {"phrasing": phrasing, "owner": owner},
                )
            )
    if problems:
        raise IntentRejected(problems)

    before = _to_spec(existing) if existing is not None else None
    if before == intent:
        return before
    if existing is None:
        existing = Intent(knowledge_base_id=knowledge_base.id, key=intent.key)
        session.add(existing)
    _overwrite(existing, intent)
    _bump(knowledge_base)
    session.flush()
    return before


def delete_intent(
    session: Session, key: str, name: str = "default"
) -> tuple[IntentSpec, list[str]] | None:
    """Remove an intent, and remove it from the follow-ups of every intent that offers it.

    Returns the deleted intent and the keys of the intents that lost it as a follow-up; None
    when there is no such intent. Bumps the revision; nothing is committed.
    """
    knowledge_base = _find(session, name, lock=True)
    if knowledge_base is None:
        return None
    stored = _stored_intents(session, knowledge_base, fresh=True)
    target = next((row for row in stored if row.key == key), None)
    if target is None:
        return None
    deleted = _to_spec(target)
    sources = []
    for row in stored:
        if key in row.follow_ups:
            # A new list: the JSON column only notices assignment, not mutation in place.
            row.follow_ups = [other for other in row.follow_ups if other != key]
            sources.append(row.key)
    session.delete(target)
    _bump(knowledge_base)
    session.flush()
    return deleted, sources


def _stored_intent(session: Session, knowledge_base: KnowledgeBase, key: str) -> Intent | None:
    query = (
        select(Intent)
        .where(Intent.knowledge_base_id == knowledge_base.id, Intent.key == key)
        .options(selectinload(Intent.phrasings))
    )
    return session.scalar(query)


def _bump(knowledge_base: KnowledgeBase) -> None:
    knowledge_base.revision += 1
    knowledge_base.updated_at = utcnow()
