"""The analytics dashboard's text tables: what customers talked about and how they felt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatbot.db import text_analysis
from chatbot.nlu.keywords import top_keywords
from chatbot.nlu.sentiment import Polarity

if TYPE_CHECKING:
    from chatbot.api.analytics import Figures

TOP_KEYWORDS = 20


def keywords_table(figures: Figures) -> list[dict[str, Any]]:
    """The words most conversations of the period used (of its newest KEYWORD_SAMPLE customer
    messages), each with how many conversations used it."""
    texts = text_analysis.customer_texts(figures.session, figures.period)
    # One text per conversation: a keyword counts once per conversation that used it.
    ranked = top_keywords(("\n".join(messages) for messages in texts.values()), TOP_KEYWORDS)
    return [{"keyword": word, "conversations": count} for word, count in ranked]


def moods_table(figures: Figures) -> list[dict[str, Any]]:
    """Conversations of the period by the customer's mood, with their share."""
    counts = text_analysis.moods(figures.session, figures.period)
    total = sum(counts.values())
    return [
        {
            "mood": polarity.value,
            "conversations": counts.get(polarity.value, 0),
            "share": round(counts.get(polarity.value, 0) / total, 4) if total else None,
        }
        for polarity in Polarity
    ]
