"""Lexical matching: TF-IDF cosine over subword pieces, words and Chinese character n-grams.

The base encoder is English-only: to it every Chinese sentence looks alike. Exact tokens also catch
product codes and names that an encoder blurs. The subword pieces come from a sentencepiece model
trained on the knowledge base itself, so its own vocabulary (compound words, Chinese terms, product
names) gets pieces of its own. Scores are cosines in 0..1, like the dense side, so the two can be
mixed with one weight.

Chinese is written without spaces, so runs of Chinese characters are cut into words by jieba's
dictionary segmenter as well as into character n-grams (the n-grams still catch what a word cut
misses, such as a wrongly split name). A knowledge base's synonym groups (退款 / 退钱 / refund /
money back) turn every term of a group into the group's first term, in the phrasings and in the
message alike, before anything is tokenised.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)
Tokenizer = Callable[[str], list[str]]

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\W_]+", re.UNICODE)
_CJK_START = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def tokenize(text: str) -> list[str]:
    """Lowercased words; runs of Chinese characters become character unigrams and bigrams.

    Example:
        >>> tokenize("退货 policy for HP-2041?")
        ['退', '货', '退货', 'policy', 'for', 'hp', '2041']
    """
    tokens: list[str] = []
    for run in _TOKEN.findall(text.lower()):
        if _CJK_START.match(run):
            tokens.extend(run)
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(run)
    return tokens


def segmented_tokenize(text: str) -> list[str]:
    """:func:`tokenize`, plus the words (two characters or more) jieba cuts each Chinese run into.

    Words carry a ``¶`` mark, so a two-character word and the same characters' bigram stay two
    pieces of evidence. Measured on bench/data/zh_paraphrase's tune split and the sample's
    Chinese test set, words in place of the character n-grams lost (0.842 against 0.921 on the
    sample); beside them they changed one question in a hundred either way (bench/README.md).

    Example:
        >>> segmented_tokenize("信用卡额度 limit")
        ['信', '用', '卡', '额', '度', '信用', '用卡', '卡额', '额度', '¶信用卡', '¶额度', 'limit']
    """
    tokens: list[str] = []
    for run in _TOKEN.findall(text.lower()):
        if _CJK_START.match(run):
            tokens.extend(run)
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
            tokens.extend(f"¶{word}" for word in segmenter().lcut(run) if len(word) > 1)
        else:
            tokens.append(run)
    return tokens


_jieba: Any = None
_jieba_lock = threading.Lock()


def segmenter() -> Any:
    """jieba's dictionary segmenter (the lexical side's words, the keyword counts)."""
    # One dictionary per process: loading it takes about half a second (from jieba's cache).
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _jieba = tokenizer
    return _jieba


_LATIN_EDGE = re.compile(r"[a-z0-9]")


class Synonyms:
    """Groups of interchangeable terms; every term stands for its group's first term.

    Terms match case-insensitively; an English term matches whole words only, a Chinese one
    anywhere. Longer terms win over shorter ones they contain.

    Example:
        >>> synonyms = Synonyms([["退款", "退钱", "refund", "money back"]])
        >>> synonyms.normalise("我要退钱")
        ('我要 退款 ', ['退款'])
        >>> synonyms.normalise("Money back please")
        (' 退款  please', ['退款'])
    """

    def __init__(self, groups: Sequence[Sequence[str]] = ()) -> None:
        self.canonical: dict[str, str] = {}
        for group in groups:
            terms = [" ".join(term.lower().split()) for term in group]
            terms = [term for term in terms if term]
            for term in terms:
                self.canonical.setdefault(term, terms[0])
        alternatives = []
        for term in sorted(self.canonical, key=len, reverse=True):
            pattern = re.escape(term).replace(r"\ ", r"\s+")
            if _LATIN_EDGE.match(term[0]):
                pattern = r"(?<![a-z0-9])" + pattern
            if _LATIN_EDGE.match(term[-1]):
                pattern += r"(?![a-z0-9])"
            alternatives.append(pattern)
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def normalise(self, text: str) -> tuple[str, list[str]]:
        """The lowercased text with each term replaced by its canonical term, and those terms."""
        text = text.lower()
        if self._pattern is None:
            return text, []
        found: list[str] = []

        def replace(match: re.Match[str]) -> str:
            canonical = self.canonical[" ".join(match.group().split())]
            found.append(canonical)
            return f" {canonical} "

        return self._pattern.sub(replace, text), found


class KnowledgeTokenizer:
    """The tokenizer of one knowledge base: its synonyms, its subword pieces, words, n-grams.

    A term of a synonym group also adds one ``≡`` token naming its group, so two phrasings that
    share a group share that whole token, whatever the terms' characters.

    Example:
        >>> tokenizer = KnowledgeTokenizer.train(["怎么退款"], [["退款", "退钱"]])
        >>> "≡退款" in tokenizer("能退钱吗")
        True
    """

    def __init__(
        self,
        synonyms: Synonyms,
        pieces: SubwordTokenizer | None,
        words: Tokenizer = tokenize,
    ) -> None:
        self.synonyms = synonyms
        self.pieces = pieces
        self.words = words

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        synonyms: Sequence[Sequence[str]] = (),
        *,
        segment: bool = False,
    ) -> KnowledgeTokenizer:
        """Learn pieces from the knowledge base's phrasings (after synonyms are applied).

        ``segment=True`` adds jieba's words to Chinese's character n-grams (CHATBOT_CHINESE_WORDS).
        """
        normaliser = Synonyms(synonyms)
        words = segmented_tokenize if segment else tokenize
        pieces = SubwordTokenizer.train([normaliser.normalise(t)[0] for t in texts], words=words)
        return cls(normaliser, pieces, words)

    def __call__(self, text: str) -> list[str]:
        normalised, terms = self.synonyms.normalise(text)
        tokens = self.pieces(normalised) if self.pieces else self.words(normalised)
        return tokens + [f"≡{term}" for term in terms]


class SubwordTokenizer:
    """Sentencepiece pieces learnt from the knowledge base, plus the word and n-gram tokens.

    Measured on held-out questions, pieces alone lost to plain words on BANKING77 and on the
    Chinese sample; pieces and words together matched words on BANKING77 and beat them in Chinese.
    """

    def __init__(self, model_proto: bytes, words: Tokenizer = tokenize) -> None:
        import sentencepiece

        self._processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self.words = words

    @classmethod
    def train(cls, texts: Sequence[str], words: Tokenizer = tokenize) -> SubwordTokenizer | None:
        """Learn pieces from these texts; None when they are too few to learn from."""
        import sentencepiece

        lowered = [t.lower() for t in texts if t.strip()]
        characters = len(set("".join(lowered)))
        if len(lowered) < 20:
            return None
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(lowered),
                model_writer=model,
                model_type="unigram",
                vocab_size=min(8000, characters + 1000),
                hard_vocab_limit=False,
                character_coverage=1.0,
                num_threads=1,  # deterministic
                minloglevel=2,
            )
        except RuntimeError as exc:  # e.g. too little text for any piece beyond characters
            log.info("no subword model for this knowledge base: %s", exc)
            return None
        return cls(model.getvalue(), words)

    def __call__(self, text: str) -> list[str]:
        pieces = self._processor.encode(text.lower(), out_type=str)
        return [f"§{p}" for p in pieces] + self.words(text)


@dataclass(frozen=True)
class LexicalIndex:
    """An inverted index of L2-normalised TF-IDF document vectors."""

    idf: dict[str, float]
    postings: dict[str, tuple[Tensor, Tensor]]  # token -> (documents, weights)
    size: int
    tokenizer: Tokenizer = tokenize


def build_lexical_index(documents: Sequence[str], tokenizer: Tokenizer = tokenize) -> LexicalIndex:
    """Index documents (phrasings) for :func:`lexical_scores`.

    Example:
        >>> phrasings = ["Where is my parcel?", "How do I return shoes?", "Refund my order"]
        >>> index = build_lexical_index(phrasings, SubwordTokenizer.train(phrasings) or tokenize)
        >>> lexical_scores(index, "my parcel").argmax().item()  # the first phrasing
        0
    """
    counts = [Counter(tokenizer(doc)) for doc in documents]
    document_frequency: Counter[str] = Counter()
    for count in counts:
        document_frequency.update(count.keys())
    n = len(documents)
    idf = {t: math.log((n + 1) / (df + 1)) + 1 for t, df in document_frequency.items()}
    lists: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for doc, count in enumerate(counts):
        weights = _weights(count, idf)
        for token, weight in weights.items():
            lists[token].append((doc, weight))
    # Tensors per token: a query adds a few postings lists in C instead of looping in Python.
    postings = {
        token: (
            torch.tensor([d for d, _ in entries], dtype=torch.long),
            torch.tensor([w for _, w in entries], dtype=torch.float32),
        )
        for token, entries in lists.items()
    }
    return LexicalIndex(idf, postings, n, tokenizer)


def lexical_scores(index: LexicalIndex, query: str) -> Tensor:
    """Cosine between the query and every indexed document, in document order: shape (size,)."""
    scores = torch.zeros(index.size)
    for token, weight in _weights(Counter(index.tokenizer(query)), index.idf).items():
        posting = index.postings.get(token)
        if posting is not None:
            scores.index_add_(0, posting[0], posting[1], alpha=weight)
    return scores


def _weights(count: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    # Tokens the index has never seen carry no evidence either way, but still lengthen the query.
    raw = {t: (1 + math.log(c)) * idf.get(t, 0.0) for t, c in count.items()}
    top_idf = max(idf.values(), default=1.0)
    unseen = sum(((1 + math.log(c)) * top_idf) ** 2 for t, c in count.items() if t not in idf)
    norm = math.sqrt(sum(w * w for w in raw.values()) + unseen) or 1.0
    return {t: w / norm for t, w in raw.items() if w}
