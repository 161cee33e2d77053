"""What importing a file would do to the stored knowledge base, computed from plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.knowledge.spec import IntentSpec, KnowledgeDiff, Problem


def diff_knowledge(
    current: Sequence[IntentSpec], incoming: Sequence[IntentSpec], *, replace: bool
) -> KnowledgeDiff:
    """Compare the stored intents with a file's, by key.

    An intent of the file is added when no stored intent has its key, changed when any field
    differs (answer, phrasings and their order, category, language, follow-ups), unchanged
    otherwise. With ``replace`` stored intents missing from the file are removed; without it
    (a merge) they stay and count as unchanged. Keys keep the file's order, then the stored order.

    >>> old = [IntentSpec("hours", "9 to 5.", ("Opening hours?",))]
    >>> new = [IntentSpec("refunds", "Within 30 days.", ("Can I get a refund?",))]
    >>> diff_knowledge(old, new, replace=True)
    KnowledgeDiff(added=['refunds'], changed=[], removed=['hours'], unchanged=[])
    >>> diff_knowledge(old, new, replace=False)
    KnowledgeDiff(added=['refunds'], changed=[], removed=[], unchanged=['hours'])
    """
    stored = {intent.key: intent for intent in current}
    diff = KnowledgeDiff()
    for intent in incoming:
        before = stored.get(intent.key)
        if before is None:
            diff.added.append(intent.key)
        elif before != intent:
            diff.changed.append(intent.key)
        else:
            diff.unchanged.append(intent.key)
    in_file = {intent.key for intent in incoming}
    untouched = [intent.key for intent in current if intent.key not in in_file]
    (diff.removed if replace else diff.unchanged).extend(untouched)
    return diff


def check_follow_ups(
    current: Sequence[IntentSpec],
    incoming: Sequence[IntentSpec],
    *,
    replace: bool,
    source: str,
) -> list[Problem]:
    """Problems that importing ``incoming`` would leave in the knowledge base as a whole.

    Every follow-up of the file's intents must name an intent that exists after the import: one
    of the file, or (when merging) a stored one. Stored intents that stay keep their follow-ups,
    which can only break when ``replace`` removes their target; every stored intent that stays
    then comes from the file, so checking the file's intents covers that case too.

    >>> check_follow_ups([], [IntentSpec("a", "A.", ("a?",), follow_ups=("b",))],
    ...                  replace=False, source="faq.csv")
    [Problem(file='faq.csv', reason="intent 'a' has a follow-up to 'b', which does not exist", \
row=None, column='follow_ups')]
    """
    problems = []
    in_file: set[str] = set()
    for intent in incoming:
        if intent.key in in_file:
            problems.append(
                Problem(source, f"intent '{intent.key}' appears twice", column="intent")
            )
        in_file.add(intent.key)
    stored = {intent.key for intent in current}
    existing = in_file if replace else in_file | stored
    for intent in incoming:
        for target in intent.follow_ups:
            if target in existing:
                continue
            why = "which this import removes" if target in stored else "which does not exist"
            reason = f"intent '{intent.key}' has a follow-up to '{target}', {why}"
            problems.append(Problem(source, reason, column="follow_ups"))
    return problems


@dataclass(frozen=True)
class IntentChange:
    """How one intent differs between two versions, for people reviewing an import."""

    key: str
    fields: tuple[str, ...]
    phrasings_added: tuple[str, ...] = ()
    phrasings_removed: tuple[str, ...] = ()


def describe_change(before: IntentSpec, after: IntentSpec) -> IntentChange:
    """Which fields of an intent differ, and which phrasings come and go.

    >>> describe_change(IntentSpec("a", "A.", ("a?", "b?")), IntentSpec("a", "A!", ("b?", "c?")))
    IntentChange(key='a', fields=('answer', 'phrasings'), phrasings_added=('c?',), \
phrasings_removed=('a?',))
    """
    # An answer in another language is an answer; a phrasing's language is a language.
    compared = {
        "answer": ("answer", "answers"),
        "phrasings": ("phrasings",),
        "category": ("category",),
        "language": ("language", "phrasing_languages"),
        "follow_ups": ("follow_ups",),
        "action": ("action",),
    }
    fields = tuple(
        name
        for name, attributes in compared.items()
        if any(getattr(before, a) != getattr(after, a) for a in attributes)
    )
    return IntentChange(
        after.key,
        fields,
        tuple(text for text in after.phrasings if text not in before.phrasings),
        tuple(text for text in before.phrasings if text not in after.phrasings),
    )
