from chatbot.lexical import SubwordTokenizer, build_lexical_index, lexical_scores, tokenize


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
