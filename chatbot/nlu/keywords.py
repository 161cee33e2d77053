"""What customers talk about: the words of their messages that carry meaning, in either language.

English is cut into words, less scikit-learn's English stop words and the small talk of a chat
(hi, thanks, please). Chinese is cut into words by jieba (the dictionary the lexical side loads
once per process); words of one character and the words jieba's dictionary counts as very common
(我们, 怎么, 已经: function words, more frequent than 质量) are dropped, with a short list of chat
filler (请问, 谢谢). Numbers (order numbers, dates) are never keywords.

A word counts once per message, so a customer repeating a word does not make it a topic.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from chatbot.nlu.lexical import segmenter

_CHINESE_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ENGLISH_WORD = re.compile(r"[a-z]+")
# Occurrences in jieba's dictionary (of 60 million) above which a word is a function word: 一下
# (13,924), 我们 (98,740) go; 质量 (8,009) and 地址 (3,386) stay.
COMMON_IN_JIEBA = 10_000
# Small talk and request words of a chat, never a topic.
# fmt: off
CHAT_WORDS_EN = frozenset({
    "hi", "hello", "hey", "thanks", "thank", "cheers", "please", "pls", "ok", "okay", "yes",
    "yeah", "want", "need", "like", "just", "know", "got", "get", "does", "did", "don", "doesn",
    "didn", "isn", "wasn", "aren", "haven", "hasn", "won", "can", "let", "ll", "ve", "tell", "help",
})
CHAT_WORDS_ZH = frozenset({
    "请问", "你好", "您好", "谢谢", "感谢", "麻烦", "客服", "亲亲", "为什么", "还是", "就是",
    "什么时候", "能不能", "可不可以", "帮我", "是不是", "有没有", "一下", "那个", "这样", "怎么办",
    "好的", "嗯嗯", "可以吗", "我要", "我想", "想要",
})
# fmt: on


def keywords_of(text: str) -> list[str]:
    """The distinct keywords of one message: its Chinese words, then its English ones.

    Example:
        >>> keywords_of("Where is my parcel? The parcel tracking shows nothing")
        ['parcel', 'tracking', 'shows']
        >>> keywords_of("请问我的快递怎么还没到，优惠券也用不了")
        ['快递', '没到', '优惠券', '不了']
    """
    words: list[str] = []
    lowered = text.lower()
    dictionary = None
    for run in _CHINESE_RUN.findall(lowered):
        dictionary = dictionary or segmenter()
        words.extend(
            word
            for word in dictionary.lcut(run)
            if len(word) > 1
            and word not in CHAT_WORDS_ZH
            and dictionary.FREQ.get(word, 0) <= COMMON_IN_JIEBA
        )
    words.extend(
        word
        for word in _ENGLISH_WORD.findall(_CHINESE_RUN.sub(" ", lowered))
        if len(word) > 2 and word not in ENGLISH_STOP_WORDS and word not in CHAT_WORDS_EN
    )
    return list(dict.fromkeys(words))


def top_keywords(texts: Iterable[str], limit: int = 10) -> list[tuple[str, int]]:
    """The ``limit`` keywords found in most of ``texts``, each with how many texts have it;
    ties in alphabetical order.

    Example:
        >>> top_keywords(["refund please", "my refund is late", "late delivery"], limit=2)
        [('late', 2), ('refund', 2)]
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(keywords_of(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]
