"""The shipped background set: its size, spread and fixed parts."""

from __future__ import annotations

from collections import Counter

import pytest

from chatbot.nlu.background import background_for, load_background, part_of


@pytest.mark.parametrize(("language", "at_least"), [("en", 2000), ("zh", 600)])
def test_each_language_has_enough_messages_over_forty_domains(language: str, at_least: int) -> None:
    messages = load_background(language)
    assert len(messages) >= at_least
    domains = Counter(m.domain for m in messages)
    assert len(domains) >= 40
    # Other companies' support questions are the near-domain confusables.
    assert sum(n for d, n in domains.items() if d.startswith("support_")) >= 0.1 * len(messages)
    assert all(m.language == language and m.text.strip() == m.text != "" for m in messages)


def test_parts_are_fixed_by_the_text_and_split_about_sixty_twenty_twenty() -> None:
    messages = load_background("en")
    parts = Counter(m.part for m in messages)
    assert set(parts) == {"train", "calibrate", "evaluate"}
    assert 0.5 < parts["train"] / len(messages) < 0.7
    assert 0.12 < parts["evaluate"] / len(messages) < 0.28
    assert all(part_of(m.text) == m.part for m in messages[:50])


def test_background_follows_the_knowledge_base_languages() -> None:
    english = background_for(["en"], "evaluate")
    both = background_for(["en", "zh-CN"], "evaluate")
    assert {m.language for m in english} == {"en"}
    assert {m.language for m in both} == {"en", "zh"}
    assert all(m.part == "evaluate" for m in both)


def test_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        load_background("fr")
