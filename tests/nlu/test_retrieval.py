import pytest
import torch

from chatbot.nlu.retrieval import build_index, score_intents, top_intents


def unit(*rows: list[float] | list[int]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float), dim=1)


def test_centroid_is_the_normalised_mean_of_an_intents_phrasings() -> None:
    index = build_index(["a", "b"], unit([1, 0, 0], [0, 1, 0], [0, 0, 1]), [0, 0, 1])
    assert torch.allclose(index.centroids[0], unit([1, 1, 0])[0])
    assert torch.allclose(index.centroids[1], torch.tensor([0.0, 0.0, 1.0]))


def test_scores_mix_nearest_phrasing_and_centroid() -> None:
    index = build_index(["a", "b"], unit([1, 0, 0], [0, 1, 0], [0, 0, 1]), [0, 0, 1])
    query = unit([1, 0, 0])
    nearest_only = score_intents(index, query, nearest_weight=1.0)
    assert torch.allclose(nearest_only, torch.tensor([[1.0, 0.0]]))
    mixed = score_intents(index, query, nearest_weight=0.5)
    assert mixed[0, 0] == pytest.approx(0.5 * 1.0 + 0.5 * 0.7071, abs=1e-4)


def test_disallowed_intents_score_minus_infinity_and_are_dropped_from_the_top() -> None:
    index = build_index(["a", "b", "c"], unit([1, 0], [0.9, 0.1], [0, 1]), [0, 1, 2])
    scores = score_intents(index, unit([1, 0]), allowed=torch.tensor([False, True, True]))
    assert scores[0, 0] == float("-inf")
    ranked = top_intents(scores, index.keys, k=3)[0]
    assert [key for key, _ in ranked] == ["b", "c"]
    assert ranked[0][1] > ranked[1][1]


def test_an_intent_without_phrasings_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one phrasing"):
        build_index(["a", "b"], unit([1, 0]), [0])
