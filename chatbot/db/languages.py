"""Merging ``x`` / ``x_zh`` intent pairs in the stored knowledge base (see
``chatbot.knowledge.languages``): the intents, and the corrections and messages that name them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from chatbot.db.knowledge import import_intents, load_intents
from chatbot.db.models import Correction, Message
from chatbot.knowledge.languages import LanguageMerge, plan_language_merge


@dataclass(frozen=True)
class MergedLanguages:
    plan: LanguageMerge
    corrections: int = 0  # corrections now naming the merged intent
    messages: int = 0  # bot replies now naming it (analytics count them as one intent)


def merge_language_copies(
    session: Session, *, dry_run: bool = False, name: str = "default"
) -> MergedLanguages:
    """Turn every ``x`` / ``x_<lang>`` pair into one intent ``x``, all or nothing.

    Corrections and stored replies that named ``x_<lang>`` name ``x`` afterwards, so training,
    reports and analytics count one intent across its languages. Nothing is committed; with
    ``dry_run`` nothing is written.

    >>> from chatbot.knowledge.spec import IntentSpec
    >>> _ = import_intents(session, [
    ...     IntentSpec("hours", "9 to 5.", ("Hours?",)),
    ...     IntentSpec("hours_zh", "9点到5点。", ("几点开门",), language="zh"),
    ... ], replace=False)
    >>> merge_language_copies(session).plan.renamed
    {'hours_zh': 'hours'}
    >>> [(i.key, i.languages) for i in load_intents(session)]
    [('hours', ('en', 'zh'))]
    """
    plan = plan_language_merge(load_intents(session, name))
    if dry_run or not plan.pairs:
        return MergedLanguages(plan)
    import_intents(session, plan.intents, replace=True, source="merge-languages", name=name)
    corrections = messages = 0
    for old, new in plan.renamed.items():
        renamed = update(Correction).where(Correction.intent == old).values(intent=new)
        corrections += _count(session.execute(renamed))
        renamed = update(Message).where(Message.intent == old).values(intent=new)
        messages += _count(session.execute(renamed))
    return MergedLanguages(plan, corrections, messages)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
