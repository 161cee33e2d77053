"""Authoring the knowledge base: every change an admin makes, once, for the console and the API.

The console's forms (``chatbot.api.admin_knowledge``, ``admin_synonyms``) and the JSON API
(``chatbot.api.knowledge``) both call these functions, so an intent saved either way is checked
by the same rules, written with the same audit record, in the same transaction, and bumps the
knowledge base's revision (serving processes follow it: no restart). Each function commits its
change, or leaves nothing written when it raises.
"""

# One module though past 400 lines, on purpose: every change to the knowledge base is here, once,
# so that the console and the API cannot come to check or record a change differently.

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from chatbot.db import audit
from chatbot.db import knowledge as store
from chatbot.knowledge.diff import IntentChange, describe_change
from chatbot.knowledge.edits import FieldProblem, IntentRejected, intent_from_form
from chatbot.knowledge.files import read_knowledge_bytes
from chatbot.knowledge.spec import ImportRejected, IntentSpec, KnowledgeDiff, Problem
from chatbot.knowledge.synonyms import SynonymGroup
from chatbot.knowledge.uploads import PendingUploads
from chatbot.knowledge.writers import write_faq_bytes
from chatbot.nlu.language import detect_language


class Conflict(Exception):
    """The intent changed (or went) since the caller read it: their edit would undo another."""

    def __init__(self, key: str, current: IntentSpec | None) -> None:
        self.key = key
        self.current = current
        super().__init__(
            f"intent '{key}' was changed by someone else since you read it: "
            "read it again and repeat your edit"
        )


def intent_version(intent: IntentSpec) -> str:
    """A short digest of everything an intent holds: it changes whenever the intent does.

    Editors send back the version they read; a different stored one is a :class:`Conflict`.

    >>> intent_version(IntentSpec("hours", "9 to 5.", ("Open?",)))
    'b66ebc80f3dfe38b'
    """
    text = json.dumps(asdict(intent), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Translation:
    """An intent's answer and phrasings in one of its other languages."""

    language: str
    answer: str | None
    phrasings: tuple[str, ...]


@dataclass(frozen=True)
class IntentDraft:
    """An intent as an admin wrote it: the console's form, or the API's body.

    ``phrasings`` and ``answer`` are in ``language``, the intent's first language.
    ``translations`` (the other languages) None keeps the stored intent's other languages,
    as the console's form (which edits the first language only) does.
    """

    key: str
    answer: str
    phrasings: Sequence[str]
    language: str = ""
    category: str = ""
    follow_ups: Sequence[str] = ()
    translations: Sequence[Translation] | None = None
    action: str = ""  # as JSON text, as a file holds it (empty: none)


def translations_of(intent: IntentSpec) -> list[Translation]:
    """The intent's other languages, each with its answer (None: it has none of its own) and
    its phrasings, in the order the intent names them."""
    answers = dict(intent.answers)
    tags = dict.fromkeys([*answers, *(tag for _, tag in intent.phrasing_languages)])
    return [Translation(tag, answers.get(tag), intent.phrasings_in(tag)) for tag in tags]


def _lines(phrasings: Sequence[str]) -> str:
    # One phrasing per line, as the form's text area holds them; a line break inside one of the
    # API's phrasings is whitespace like any other, not a second phrasing.
    return "\n".join(" ".join(text.split()) for text in phrasings)


def _intent_of(draft: IntentDraft, stored: IntentSpec | None) -> IntentSpec:
    """The checked intent, or ``IntentRejected`` naming every bad field."""
    problems: list[FieldProblem] = []
    try:
        intent = intent_from_form(
            key=draft.key,
            answer=draft.answer,
            phrasings=_lines(draft.phrasings),
            language=draft.language,
            category=draft.category,
            follow_ups=tuple(draft.follow_ups),
            action=draft.action,
        )
    except IntentRejected as rejected:
        problems.extend(rejected.problems)
        intent = None
    # Each other language, checked, and whether it has an answer of its own.
    translated: list[tuple[IntentSpec, bool]] = []
    for number, translation in enumerate(draft.translations or ()):
        field = f"translations[{number}]"
        try:
            checked = intent_from_form(
                key=draft.key.strip() or "draft",
                # A language may have phrasings and no answer of its own (its customers get
                # the first language's): only the phrasings and the tag are checked then.
                answer=translation.answer if translation.answer is not None else "-",
                phrasings=_lines(translation.phrasings),
                language=translation.language,
            )
        except IntentRejected as rejected:
            problems.extend(
                replace(problem, field=f"{field}.{problem.field}")
                for problem in rejected.problems
                if problem.field != "key"
            )
            continue
        earlier = [other.language for other, _ in translated] + (
            [intent.language] if intent else []
        )
        if checked.language in earlier:
            problems.append(
                FieldProblem(
                    f"{field}.language",
                    "'{language}' is given twice: one answer per language.",
                    {"language": checked.language},
                )
            )
        translated.append((checked, translation.answer is not None))
    if problems or intent is None:
        raise IntentRejected(problems)
    if draft.translations is None:
        return intent.carrying_languages_of(stored)
    phrasings = list(intent.phrasings)
    seen = {text.casefold() for text in phrasings}
    languages = []
    for checked, _answered in translated:
        for text in checked.phrasings:
            if text.casefold() not in seen:
                seen.add(text.casefold())
                phrasings.append(text)
                languages.append((text, checked.language))
    return replace(
        intent,
        phrasings=tuple(phrasings),
        answers=tuple((checked.language, checked.answer) for checked, own in translated if own),
        phrasing_languages=tuple(languages),
    )


def _snapshot(intent: IntentSpec | None) -> dict[str, Any] | None:
    return asdict(intent) if intent is not None else None


def save_intent(
    session: Session,
    actor: str | None,
    draft: IntentDraft,
    *,
    creating: bool,
    version: str | None = None,
    before_commit: Callable[[IntentSpec], None] | None = None,
) -> IntentSpec:
    """Add (``creating``) or overwrite an intent; returns it as stored.

    ``before_commit`` records what else the change means in the same transaction (say, the
    unanswered messages it came from, reviewed).

    Raises ``IntentRejected`` (every bad field; a taken key too), ``LookupError`` when
    overwriting an intent that does not exist, and :class:`Conflict` when ``version`` is given
    and the stored intent is no longer that version. An actual change is audited as
    ``intent.create`` or ``intent.update``.
    """
    try:
        stored = None if creating else store.find_intent(session, draft.key.strip())
        intent = _intent_of(draft, stored)
        before = store.save_intent(session, intent, create=creating)
    except (IntentRejected, LookupError):
        session.rollback()
        raise
    # Compared with what save_intent read under the knowledge base's lock: two editors holding
    # the same version cannot both pass.
    if version is not None and before is not None and intent_version(before) != version:
        session.rollback()
        raise Conflict(intent.key, store.find_intent(session, intent.key))
    if before != intent:
        action = "intent.create" if creating else "intent.update"
        audit.record(
            session, actor, action, intent.key, before=_snapshot(before), after=_snapshot(intent)
        )
    if before_commit is not None:
        before_commit(intent)
    session.commit()
    return intent


def add_phrasings(
    session: Session,
    actor: str | None,
    key: str,
    texts: Sequence[str],
    *,
    before_commit: Callable[[IntentSpec], None] | None = None,
) -> IntentSpec:
    """``texts`` become phrasings of intent ``key``, each in the language it is written in;
    checked and audited as an edit in the console is. ``LookupError`` when there is no such
    intent."""
    intent = store.find_intent(session, key)
    if intent is None:
        raise LookupError(f"intent '{key}' not found")
    first = list(intent.phrasings_in(intent.language))
    others = {t.language: t for t in translations_of(intent)}
    for text in texts:
        language = detect_language(text)
        if _primary(language) == _primary(intent.language):
            first.append(text)
            continue
        tag = next((t for t in others if _primary(t) == _primary(language)), language)
        earlier = others.get(tag, Translation(tag, None, ()))
        others[tag] = replace(earlier, phrasings=(*earlier.phrasings, text))
    draft = IntentDraft(
        key=intent.key,
        answer=intent.answer,
        phrasings=first,
        language=intent.language,
        category=intent.category or "",
        follow_ups=intent.follow_ups,
        translations=list(others.values()),
        action=json.dumps(intent.action.to_json()) if intent.action is not None else "",
    )
    return save_intent(session, actor, draft, creating=False, before_commit=before_commit)


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def delete_intent(
    session: Session, actor: str | None, key: str, *, version: str | None = None
) -> tuple[IntentSpec, list[str]]:
    """Delete an intent; intents that offered it as a follow-up stop offering it.

    Returns the deleted intent and the keys of those intents. Raises ``LookupError`` when there
    is no such intent, :class:`Conflict` when ``version`` is given and no longer stored.
    """
    result = store.delete_intent(session, key)
    if result is None:
        session.rollback()
        raise LookupError(f"intent '{key}' not found")
    deleted, sources = result
    if version is not None and intent_version(deleted) != version:
        session.rollback()
        raise Conflict(key, store.find_intent(session, key))
    audit.record(
        session,
        actor,
        "intent.delete",
        key,
        before=_snapshot(deleted),
        after={"removed_from_follow_ups_of": sources},
    )
    session.commit()
    return deleted, sources


# ---- uploads: preview, then confirm


@dataclass(frozen=True)
class UploadPreview:
    """What a file changes (or changed, once applied), and the token that applies it.

    ``token`` is None when the file changes nothing, and once it has been applied.
    """

    filename: str
    replace: bool
    diff: KnowledgeDiff
    changes: list[IntentChange]
    synonym_count: int
    token: str | None = None


class UploadRejected(ImportRejected):
    """A kept upload that no longer applies (its follow-ups went meanwhile, say)."""

    def __init__(self, problems: list[Problem], filename: str, replace: bool) -> None:
        super().__init__(problems)
        self.filename = filename
        self.replace = replace


def file_too_large(filename: str, size: int, limit: int) -> ImportRejected:
    """The refusal of a file over ``limit`` bytes, before any of it is read."""
    reason = f"file too large: {size} bytes, the limit is {limit} bytes"
    return ImportRejected([Problem(filename, reason)])


def _changes(
    before: list[IntentSpec], after: list[IntentSpec], diff: KnowledgeDiff
) -> list[IntentChange]:
    old = {intent.key: intent for intent in before}
    new = {intent.key: intent for intent in after}
    return [describe_change(old[key], new[key]) for key in diff.changed]


def preview_upload(
    session: Session,
    uploads: PendingUploads,
    actor: str,
    data: bytes,
    filename: str,
    *,
    replace: bool,
    max_bytes: int,
) -> UploadPreview:
    """Check a file and say what it would change; the file is kept for :func:`confirm_upload`
    (only ``actor`` may confirm it) when it changes something. Raises ``ImportRejected``."""
    incoming = read_knowledge_bytes(data, filename, max_bytes=max_bytes)
    diff = store.import_intents(
        session,
        incoming.intents,
        replace=replace,
        dry_run=True,
        source=filename,
        synonyms=incoming.synonyms,
    )
    token = None
    if not diff.is_empty:
        token = uploads.keep(data, filename, replace=replace, owner=actor)
    return UploadPreview(
        filename,
        replace,
        diff,
        _changes(store.load_intents(session), incoming.intents, diff),
        len(incoming.synonyms or ()),
        token,
    )


def confirm_upload(
    session: Session, uploads: PendingUploads, actor: str, token: str, *, max_bytes: int
) -> UploadPreview:
    """Apply a previewed file, all or nothing, audited as ``knowledge.import``.

    Raises ``UploadGone`` (expired, applied already, or someone else's) and
    :class:`UploadRejected`.
    """
    upload = uploads.take(token, owner=actor)
    before = store.load_intents(session)
    revision = store.knowledge_revision(session)
    try:
        # Parsed again from the kept bytes: the preview's objects did not outlive its request.
        incoming = read_knowledge_bytes(upload.data, upload.filename, max_bytes=max_bytes)
        diff = store.import_intents(
            session,
            incoming.intents,
            replace=upload.replace,
            dry_run=False,
            source=upload.filename,
            synonyms=incoming.synonyms,
        )
    except ImportRejected as rejected:
        session.rollback()
        raise UploadRejected(rejected.problems, upload.filename, upload.replace) from None
    if not diff.is_empty:
        audit.record(
            session,
            actor,
            "knowledge.import",
            upload.filename,
            before={"revision": revision},
            after={
                "file": upload.filename,
                "replace": upload.replace,
                "added": diff.added,
                "changed": diff.changed,
                "removed": diff.removed,
                "synonyms_replaced": diff.synonyms_replaced,
                "revision": store.knowledge_revision(session),
            },
        )
    session.commit()
    return UploadPreview(
        upload.filename,
        upload.replace,
        diff,
        _changes(before, incoming.intents, diff),
        len(incoming.synonyms or ()),
    )


def export_knowledge(session: Session, file_format: str) -> bytes:
    """The whole knowledge base as a file that uploads back unchanged (``ValueError`` when
    XLSX cannot hold it)."""
    return write_faq_bytes(store.load_intents(session), file_format, store.load_synonyms(session))


# ---- synonyms


def replace_synonyms(
    session: Session, actor: str | None, groups: Sequence[Sequence[str]]
) -> list[SynonymGroup]:
    """Replace every synonym group, audited as ``synonyms.update`` when they changed; returns
    the groups as stored. Raises ``SynonymsRejected`` (nothing written)."""
    try:
        before = store.save_synonyms(session, groups)
    except Exception:
        session.rollback()
        raise
    after = store.load_synonyms(session)
    if before != after:
        audit.record(
            session,
            actor,
            "synonyms.update",
            "synonyms",
            before={"groups": [list(group) for group in before]},
            after={
                "groups": [list(group) for group in after],
                "revision": store.knowledge_revision(session),
            },
        )
    session.commit()
    return after
