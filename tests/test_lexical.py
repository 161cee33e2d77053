from chatbot.lexical import build_lexical_index, lexical_scores, tokenize


def test_tokens_are_lowercased_words_and_chinese_character_ngrams() -> None:
    assert tokenize("Return HP-2041?") == ["return", "hp", "2041"]
    assert tokenize("怎么退货") == ["怎", "么", "退", "货", "怎么", "么退", "退货"]


def test_scores_are_cosines_and_rank_the_shared_words_first() -> None:
    index = build_lexical_index(["怎么退货", "运费多少钱", "发票怎么开"])
    scores = lexical_scores(index, "我想退货")
    assert max(range(3), key=scores.__getitem__) == 0
    assert all(0.0 <= s <= 1.0 + 1e-9 for s in scores)
    assert lexical_scores(index, "运费多少钱")[1] > 0.99


def test_product_codes_match_exactly() -> None:
    index = build_lexical_index(["is the lamp LX-200 dimmable", "is the lamp LX-300 dimmable"])
    scores = lexical_scores(index, "LX-300 dimmable?")
    assert scores[1] > scores[0]


def test_words_never_seen_lower_the_score() -> None:
    index = build_lexical_index(["refund status", "delivery time"])
    assert lexical_scores(index, "refund")[0] > lexical_scores(index, "refund for my cat")[0]
    assert lexical_scores(index, "nothing in common") == [0.0, 0.0]
