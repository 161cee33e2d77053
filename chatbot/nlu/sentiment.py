"""How a customer feels in a message: negative, neutral or positive, with a score from -1 to 1.

English goes through VADER (its rules for negation, intensifiers, "but", capitals and "!" over a
7,500-word lexicon), with the words that mean something else in a support chat re-weighted: a
customer asking for "help" or writing "please" is not pleased, one whose parcel is "late" is not
neutral. No kept library reads Chinese support chat (SnowNLP learnt from product reviews in 2015),
so Chinese has a lexicon of its own here (``ZH_TERMS``) with the same rules written for Chinese:
negators (不, 没有, 别) flip the term they precede, degree words (很, 太, 好 before a feeling)
scale it, what follows 但是 counts more than what precedes it, and the longest term wins (不错 is
praise, 不好意思 politeness). Both finish as VADER does: the sum, normalised to -1..1.

Everything is table look-ups: a message costs a few tens of microseconds, so it runs in the turn.
The labelled samples that measure it (bench/data/sentiment_*.csv) were never used to choose a word
or a weight; bench/README.md has the figures.
"""

from __future__ import annotations

import enum
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from chatbot.nlu.language import has_chinese

# VADER's own cut-off for a neutral compound score.
NEUTRAL_BAND = 0.05
_ALPHA = 15  # VADER's normalisation: score / sqrt(score^2 + alpha)


class Polarity(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True)
class Sentiment:
    polarity: Polarity
    score: float  # -1 (most negative) to 1 (most positive)


def polarity_of(score: float) -> Polarity:
    if score <= -NEUTRAL_BAND:
        return Polarity.NEGATIVE
    if score >= NEUTRAL_BAND:
        return Polarity.POSITIVE
    return Polarity.NEUTRAL


def analyse(text: str) -> Sentiment:
    """The sentiment of one customer message; Chinese when it has any Chinese character.

    Example:
        >>> analyse("Thanks, that was really helpful!").polarity
        <Polarity.POSITIVE: 'positive'>
        >>> analyse("Can you help me track my parcel?").polarity
        <Polarity.NEUTRAL: 'neutral'>
        >>> analyse("这个服务太差了").polarity, analyse("服务不错").polarity
        (<Polarity.NEGATIVE: 'negative'>, <Polarity.POSITIVE: 'positive'>)
    """
    score = _chinese_score(text) if has_chinese(text) else _english_score(text)
    score = round(score, 4)
    return Sentiment(polarity_of(score), score)


# ---- English: VADER, re-weighted for support chat

# Words whose everyday sentiment is not the customer's mood in a support chat. Chosen from how
# customers write (tests/nlu/test_sentiment.py), never from the benchmark's labelled samples.
EN_REWEIGHTED: dict[str, float] = {
    # requests and politeness: "can you help", "please", "I would like", "sure"
    "help": 0.0,
    "please": 0.0,
    "like": 0.0,
    "want": 0.0,
    "sure": 0.0,
    "ok": 0.0,
    "okay": 0.0,
    "yes": 0.0,
    "no": 0.0,  # still a negator: "no good" stays negative
    "free": 0.0,  # "is shipping free?"
    "cancel": 0.0,  # cancelling an order is a request, not a complaint
    "care": 0.0,  # "customer care"
    "credit": 0.0,
    "gift": 0.0,
    "matter": 0.0,
    "pretty": 0.0,  # "pretty sure"
    "joke": -1.5,  # "this is a joke"
    # the things that go wrong with orders
    "late": -1.2,
    "delayed": -1.3,
    "faulty": -1.9,
    "defective": -1.9,
    "unacceptable": -2.5,
    "useless": -2.0,
    "scam": -2.5,
    "ripoff": -2.5,
    "rip-off": -2.5,
    "ridiculous": -2.0,
    "waste": -1.8,
    "wasted": -1.8,
    "refuse": -0.8,
    "fed": -1.0,  # "fed up"
    "sick": -1.5,  # "sick of waiting"
    "lovely": 2.2,
    "smooth": 1.2,
    "quick": 1.0,
    "quickly": 0.8,
    "fast": 1.0,
    "resolved": 1.2,
    "sorted": 1.0,
    "appreciated": 2.0,
    "appreciate": 1.8,
    "cheers": 1.5,
}

_vader: Any = None
_vader_lock = threading.Lock()


def _english() -> Any:
    # Reading VADER's lexicon takes tens of milliseconds: once per process.
    global _vader
    with _vader_lock:
        if _vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            analyzer = SentimentIntensityAnalyzer()
            analyzer.lexicon.update(EN_REWEIGHTED)
            _vader = analyzer
    return _vader


def load() -> None:
    """Read VADER's lexicon now (about 35 ms), at start rather than in a customer's turn."""
    _english()


def _english_score(text: str) -> float:
    return float(_english().polarity_scores(text)["compound"])


# ---- Chinese: a lexicon and VADER's rules

# Each term with its weight on VADER's scale (-4..4). 0 marks a longer term that must win over a
# shorter one inside it: 不好意思 is politeness, 差不多 is "about", 好的 is "OK".
# fmt: off
ZH_TERMS: dict[str, float] = {
    # thanks, praise, satisfaction, relief
    "谢谢": 1.5, "感谢": 1.8, "多谢": 1.5, "谢啦": 1.5, "谢了": 1.2, "辛苦了": 1.2, "辛苦": 0.8,
    "满意": 2.0, "好": 1.2, "不错": 1.6, "棒": 2.0, "赞": 1.8, "点赞": 2.0, "好评": 2.0,
    "给力": 2.0, "厉害": 1.5, "完美": 2.5, "开心": 2.0, "高兴": 2.0, "喜欢": 1.8, "爱了": 2.2,
    "方便": 1.2, "很快": 1.2, "挺快": 1.2, "真快": 1.5, "及时": 1.2, "专业": 1.2, "耐心": 1.5,
    "热情": 1.5, "周到": 1.5, "靠谱": 1.5, "贴心": 1.8, "好用": 1.5, "实用": 1.2, "解决了": 1.4,
    "搞定了": 1.4, "帮大忙": 2.0, "帮了大忙": 2.0, "有帮助": 1.5, "帮到": 1.0, "有用": 1.2,
    "优秀": 2.0, "舒服": 1.2, "划算": 1.2, "实惠": 1.2, "惊喜": 2.0, "感动": 2.0, "放心": 1.2,
    "顺利": 1.2, "清楚": 0.6, "明白了": 0.5, "没问题": 0.6, "太好了": 2.5, "好极了": 2.8,
    "漂亮": 1.6, "质量好": 1.8, "物美价廉": 2.0, "值得": 1.4, "推荐": 1.2, "回购": 1.4,
    "还好": 0.3, "还行": 0.5, "好处": 0.5, "好用的": 1.5, "nice": 1.5, "666": 2.0,
    # longer terms that hold a sentiment word but mean no sentiment
    "好的": 0.0, "好吧": -0.3, "你好": 0.0, "您好": 0.0, "好像": 0.0, "好多": 0.0, "好几": 0.0,
    "好不好": 0.0, "最好": 0.0, "只好": -0.5, "好友": 0.0, "好奇": 0.0, "不好意思": 0.0,
    "差不多": 0.0, "差价": 0.0, "相差": 0.0, "麻烦": 0.0, "问题": 0.0, "快递": 0.0, "慢慢": 0.0,
    "尽快": 0.0, "赶快": -0.3, "坏账": 0.0, "没错": 0.5, "抱歉": 0.0, "希望": 0.0,
    # displeasure, anger, disappointment, impatience
    "差": -2.0, "差劲": -2.5, "差评": -2.5, "垃圾": -3.0, "烂": -2.5, "坑": -2.0, "坑人": -2.5,
    "骗": -2.5, "骗子": -3.0, "欺骗": -2.8, "慢": -1.5, "失望": -2.5, "生气": -2.5,
    "愤怒": -3.0, "气死": -3.0, "无语": -2.0, "郁闷": -2.0, "烦": -2.0, "烦死": -2.8,
    "不满": -2.0, "投诉": -2.0, "糟糕": -2.5, "糟透": -3.0, "离谱": -2.5, "过分": -2.2,
    "恶心": -2.5, "后悔": -2.0, "受不了": -2.5, "忍无可忍": -3.0, "崩溃": -2.5, "着急": -1.5,
    "急死": -2.5, "破损": -1.8, "坏了": -1.8, "坏的": -1.8, "损坏": -1.8, "碎了": -1.8,
    "没用": -1.8, "没有用": -1.8, "有问题": -1.0, "错了": -1.2, "发错": -1.6, "弄错": -1.6,
    "假货": -3.0, "假的": -2.0, "太贵": -1.5, "浪费": -2.0, "白等": -2.2, "敷衍": -2.5,
    "恶劣": -2.8, "不耐烦": -2.0, "折腾": -2.0, "拖延": -2.0, "推脱": -2.2, "踢皮球": -2.5,
    "听不懂": -1.8, "答非所问": -2.5, "废物": -3.0, "智障": -3.0, "傻": -2.5, "蠢": -2.5,
    "破玩意": -3.0, "什么破": -2.5, "再也不": -2.0, "差劲的": -2.5, "难用": -2.0,
    "难过": -2.0, "伤心": -2.0,
    "担心": -1.0, "害怕": -1.5, "遗憾": -1.5, "可惜": -1.0, "头疼": -1.5, "闹心": -2.0,
    "心累": -2.5, "服了": -2.0, "呵呵": -1.5, "什么鬼": -2.5, "搞什么": -2.5,
    "怎么回事": -1.2, "怎么还": -1.2, "到底": -0.8, "好久": -0.8, "太久": -1.8, "很久": -1.0,
    "快点": -0.8, "快一点": -0.8, "退钱": -0.8, "曝光": -2.0, "12315": -2.0, "黑心": -3.0,
    "无良": -3.0, "太麻烦": -2.0, "很麻烦": -1.5, "好麻烦": -1.5, "真麻烦": -1.8,
    "一直没": -1.2, "不靠谱": -2.0, "失败": -1.5, "卡顿": -1.5,
    "不行": -1.5, "不能用": -1.8, "用不了": -1.8, "根本": -0.8, "凭什么": -2.0,
}
# Degree words: multiply the sentiment term right after them.
ZH_DEGREE: dict[str, float] = {
    "很": 1.3, "非常": 1.5, "太": 1.5, "特别": 1.5, "超": 1.5, "超级": 1.6, "真": 1.3,
    "真是": 1.3, "真的": 1.3, "极其": 1.6, "十分": 1.4, "挺": 1.2, "最": 1.4, "巨": 1.5,
    "相当": 1.3, "实在": 1.3, "这么": 1.2, "那么": 1.0, "如此": 1.3, "有点": 0.7,
    "有些": 0.7, "稍微": 0.6, "比较": 0.9, "还算": 0.8,
}
# Negators: flip the sentiment term they precede (VADER's factor).
ZH_NEGATORS = ("不是", "没有", "不太", "不怎么", "不", "没", "别", "未", "无", "非", "并不", "从不")
_NEGATE = -0.74
_GOOD_AS_DEGREE = 1.3  # 好慢: as 很慢
# fmt: on
# What follows a contrast counts more than what precedes it (VADER's weights for "but").
ZH_CONTRASTS = ("但是", "可是", "不过", "然而", "但", "却")
_BEFORE_CONTRAST, _AFTER_CONTRAST = 0.5, 1.5
_EXCLAMATION = re.compile(r"[!！]")
_QUESTIONS = re.compile(r"[?？]")

_KINDS = (
    [(term, "term") for term in ZH_TERMS]
    + [(word, "degree") for word in ZH_DEGREE]
    + [(word, "negator") for word in ZH_NEGATORS]
    + [(word, "contrast") for word in ZH_CONTRASTS]
)
_LONGEST = max(len(word) for word, _kind in _KINDS)
_LOOKUP: dict[str, str] = {}
for _word, _kind in _KINDS:
    _LOOKUP.setdefault(_word, _kind)  # a sentiment term wins over the same degree word (好)


def _chinese_pieces(text: str) -> list[tuple[str, str, int, int]]:
    """(word, kind, start, end) of every known word, longest first from left to right."""
    pieces = []
    lowered = text.lower()
    i = 0
    while i < len(lowered):
        for size in range(min(_LONGEST, len(lowered) - i), 0, -1):
            word = lowered[i : i + size]
            kind = _LOOKUP.get(word)
            if kind is not None:
                pieces.append((word, kind, i, i + size))
                i += size
                break
        else:
            i += 1
    # 好 before a feeling is a degree word: 好慢, 好开心.
    for index, (word, _kind, start, end) in enumerate(pieces[:-1]):
        following = pieces[index + 1]
        if (
            word == "好"
            and following[1] == "term"
            and following[2] == end
            and ZH_TERMS[following[0]]
        ):
            pieces[index] = (word, "degree", start, end)
    return pieces


def _chinese_score(text: str) -> float:
    pieces = _chinese_pieces(text)
    valences: list[float] = []
    contrast_at: int | None = None
    for index, (word, kind, start, _end) in enumerate(pieces):
        if kind == "contrast":
            contrast_at = len(valences)
            continue
        if kind != "term" or not ZH_TERMS[word]:
            continue
        valence = ZH_TERMS[word]
        # Modifiers written right before the term (at most one character between them):
        # 不太好, 没那么好, 太慢了.
        reach = start
        for earlier, earlier_kind, earlier_start, earlier_end in reversed(pieces[:index]):
            if reach - earlier_end > 1 or earlier_kind not in ("degree", "negator"):
                break
            if earlier_kind == "degree":
                valence *= ZH_DEGREE.get(earlier, _GOOD_AS_DEGREE)
            else:
                valence *= _NEGATE
            reach = earlier_start
        valences.append(valence)
    if contrast_at is not None:
        valences = [v * _BEFORE_CONTRAST for v in valences[:contrast_at]] + [
            v * _AFTER_CONTRAST for v in valences[contrast_at:]
        ]
    total = sum(valences)
    if total:
        # "!" and "？？" make a feeling stronger, never make one (VADER's amounts).
        emphasis = min(len(_EXCLAMATION.findall(text)), 4) * 0.292
        questions = len(_QUESTIONS.findall(text))
        if questions > 1:
            emphasis += min(questions, 4) * 0.18
        total += math.copysign(emphasis, total)
    return total / math.sqrt(total * total + _ALPHA)
