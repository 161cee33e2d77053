from chatbot.nlu.lexical import (
    KnowledgeTokenizer,
    SubwordTokenizer,
    Synonyms,
    build_lexical_index,
    lexical_scores,
    segmented_tokenize,
    tokenize,
)


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
    assert lexical_scores(index, "nothing in common").tolist() == [0.0, 0.0]


def test_subword_pieces_are_learnt_from_the_knowledge_base() -> None:
    texts = [f"where is my parcel number {i}" for i in range(15)] + [
        f"我的包裹{i}在哪里" for i in range(15)
    ]
    tokenizer = SubwordTokenizer.train(texts)
    assert tokenizer is not None
    tokens = tokenizer("Where is my parcel?")
    assert any(t.startswith("§") for t in tokens)
    assert {"where", "parcel"} <= set(tokens)  # the word tokens stay beside the pieces
    assert SubwordTokenizer.train(texts) is not None
    assert SubwordTokenizer.train(texts)("我的包裹") == tokenizer("我的包裹")  # deterministic


def test_too_little_text_gives_no_subword_model() -> None:
    assert SubwordTokenizer.train(["hello", "goodbye"]) is None


def test_an_index_scores_with_the_tokenizer_it_was_built_with() -> None:
    docs = [f"order number {i} status" for i in range(10)] + [
        f"refund for item {i}" for i in range(10)
    ]
    tokenizer = SubwordTokenizer.train(docs)
    assert tokenizer is not None
    index = build_lexical_index(docs, tokenizer)
    scores = lexical_scores(index, "refund item")
    assert max(range(len(docs)), key=scores.__getitem__) >= 10


def test_chinese_is_matched_by_segmented_words_as_well_as_characters() -> None:
    tokens = segmented_tokenize("信用卡额度怎么提高")
    assert {"¶信用卡", "¶额度", "¶提高"} <= set(tokens)
    assert "信" in tokens  # the character n-grams stay beside the words


def test_words_are_added_beside_the_character_ngrams_not_instead() -> None:
    text = "发票怎么开? invoice"
    tokens = segmented_tokenize(text)
    assert tokens[: len(tokenize(text)) - 1] == tokenize(text)[:-1]
    assert "¶发票" in tokens and tokens[-1] == "invoice"


def test_synonyms_join_the_terms_of_a_group_in_phrasings_and_messages() -> None:
    phrasings = ["怎么申请退款", "运费怎么算", "how do I get a refund"]
    plain = build_lexical_index(phrasings, KnowledgeTokenizer.train(phrasings))
    groups = [["退款", "退钱", "refund", "money back"]]
    with_synonyms = build_lexical_index(phrasings, KnowledgeTokenizer.train(phrasings, groups))
    before, after = lexical_scores(plain, "我想退钱"), lexical_scores(with_synonyms, "我想退钱")
    assert after[0] > before[0] + 0.2
    assert after[1] == 0.0  # the shipping question shares nothing with it
    assert lexical_scores(with_synonyms, "I want my money back").argmax().item() in (0, 2)


def test_english_synonyms_match_whole_words_only() -> None:
    synonyms = Synonyms([["refund", "money back"]])
    assert synonyms.normalise("Money   back now")[1] == ["refund"]
    assert synonyms.normalise("moneyback")[1] == []
    assert synonyms.normalise("refunds")[1] == []


def test_longer_terms_win_over_the_shorter_terms_inside_them() -> None:
    synonyms = Synonyms([["信用卡", "透支卡"], ["卡", "银行卡"]])
    _, terms = synonyms.normalise("透支卡和银行卡")
    assert terms == ["信用卡", "卡"]
