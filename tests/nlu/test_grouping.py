"""Grouping unanswered messages: the real model recovers topics written as paraphrases."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.grouping import group_messages
from tests.nlu.unanswered_topics import HELD_OUT, TOPICS, labelled


def _labels(groups: list, n: int) -> list[int]:
    found = [0] * n
    for label, group in enumerate(groups):
        for member in group.members:
            found[member] = label
    return found


@pytest.mark.model
@pytest.mark.parametrize("name", ["tuning", "held_out"])
def test_groups_recover_the_topics(real_encoder: SentenceEncoder, name: str) -> None:
    texts, truth = labelled(TOPICS if name == "tuning" else HELD_OUT)
    groups = group_messages(texts, real_encoder.encode(texts))
    score = adjusted_rand_score(truth, _labels(groups, len(texts)))
    print(f"\nadjusted Rand index, {name}: {score:.3f} ({len(groups)} groups)")
    assert score >= 0.7
    for group in groups:  # a group never mixes languages
        assert len({truth[m].split("/")[1] for m in group.members}) == 1


def test_each_group_lists_its_most_central_message_first() -> None:
    vectors = torch.tensor([[1.0, 0.0], [0.8, 0.2], [0.9, 0.1], [0.0, 1.0]])
    groups = group_messages(["refund a", "refund b", "refund c", "parking"], vectors)
    assert [group.members for group in groups] == [(2, 0, 1), (3,)]
    assert groups[0].language == "en" and 0 < groups[0].cohesion <= 1


def test_nothing_to_group() -> None:
    assert group_messages([], torch.empty(0, 4)) == []
