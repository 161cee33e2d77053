"""Keywords of customer messages: English without stop words, Chinese cut by jieba."""

from __future__ import annotations

from chatbot.nlu.keywords import keywords_of, top_keywords


def test_english_keywords_leave_out_stop_words_chat_words_and_numbers() -> None:
    words = keywords_of("Hi, please help: where is my refund for order 55102? The refund is late")
    assert words == ["refund", "order", "late"]


def test_chinese_is_cut_into_words_not_characters() -> None:
    words = keywords_of("请问我的退款什么时候到账？沙发质量有问题")
    assert words == ["退款", "沙发", "质量"]
    # Function words, chat filler and single characters are not topics.
    assert not {"请问", "我的", "什么时候", "的", "我"} & set(words)


def test_a_mixed_message_has_both_languages_keywords() -> None:
    assert set(keywords_of("我的 sofa 坏了, the delivery was fine")) >= {"sofa", "delivery"}


def test_a_keyword_counts_once_per_text() -> None:
    texts = ["refund refund refund", "refund please", "delivery is late", "退款到账了吗", "退款"]
    assert top_keywords(texts, limit=3) == [("refund", 2), ("退款", 2), ("delivery", 1)]
