"""Joining the old one-language-per-intent style into intents that speak several languages.

Knowledge bases written before intents had answers per language kept a copy per language:
``track_order`` in English and ``track_order_zh`` in Chinese. :func:`plan_language_merge` finds
such pairs and gives the knowledge base with each pair as one intent; plain data in and out, so
``chatbot knowledge merge-languages`` can show it (``--dry-run``) before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from chatbot.knowledge.spec import IntentSpec


@dataclass(frozen=True)
class LanguagePair:
    """``copy`` (e.g. ``track_order_zh``, in ``language``) merges into ``into``."""

    into: str
    copy: str
    language: str
    phrasings: int


@dataclass(frozen=True)
class LanguageMerge:
    pairs: list[LanguagePair]
    intents: list[IntentSpec]  # the knowledge base afterwards, in stored order

    @property
    def renamed(self) -> dict[str, str]:
        """Old key -> the key it now belongs to."""
        return {pair.copy: pair.into for pair in self.pairs}


def _primary(language: str) -> str:
    return language.split("-")[0].lower()


def plan_language_merge(intents: Sequence[IntentSpec]) -> LanguageMerge:
    """Pairs ``x`` / ``x_<lang>`` where ``x_<lang>`` is written in ``<lang>`` and ``x`` has no
    answer in that language yet; the merged intent keeps ``x``'s key, category and first
    language, gains the copy's answer and phrasings in its language, and offers both intents'
    follow-ups (renamed where they point at a merged copy).

    Example:
        >>> en = IntentSpec("refunds", "Within 30 days.", ("Refund?",), follow_ups=("hours",))
        >>> zh = IntentSpec("refunds_zh", "30天内。", ("怎么退款",), language="zh",
        ...                 follow_ups=("hours_zh",))
        >>> hours = IntentSpec("hours", "9 to 5.", ("Hours?",))
        >>> hours_zh = IntentSpec("hours_zh", "9点到5点。", ("几点开门",), language="zh")
        >>> merge = plan_language_merge([en, hours, zh, hours_zh])
        >>> merge.renamed
        {'refunds_zh': 'refunds', 'hours_zh': 'hours'}
        >>> refunds = merge.intents[0]
        >>> refunds.phrasings, refunds.answer_in("zh"), refunds.follow_ups
        (('Refund?', '怎么退款'), ('30天内。', 'zh'), ('hours',))
    """
    by_key = {intent.key: intent for intent in intents}
    pairs: list[LanguagePair] = []
    merged = dict(by_key)
    for intent in intents:
        base, _, suffix = intent.key.rpartition("_")
        target = merged.get(base)
        if (
            not base
            or target is None
            or base in {pair.copy for pair in pairs}
            or suffix.lower() != _primary(intent.language)
            or any(_primary(tag) == suffix.lower() for tag in target.languages)
        ):
            continue
        pairs.append(LanguagePair(base, intent.key, intent.language, len(intent.phrasings)))
        merged[base] = replace(
            target,
            phrasings=target.phrasings + intent.phrasings,
            answers=(*target.answers, (intent.language, intent.answer), *intent.answers),
            phrasing_languages=(
                *target.phrasing_languages,
                *((text, intent.language_of(text)) for text in intent.phrasings),
            ),
            follow_ups=target.follow_ups + intent.follow_ups,
        )
        del merged[intent.key]
    renamed = {pair.copy: pair.into for pair in pairs}
    result = []
    for intent in merged.values():
        follow_ups = dict.fromkeys(renamed.get(key, key) for key in intent.follow_ups)
        follow_ups.pop(intent.key, None)
        result.append(replace(intent, follow_ups=tuple(follow_ups)))
    return LanguageMerge(pairs, result)
