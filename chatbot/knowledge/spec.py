"""Plain value types for a knowledge base and the problems found in a file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from chatbot.knowledge.actions import IntentAction


@dataclass(frozen=True)
class IntentSpec:
    """One intent: the phrasings customers use, in any language, and its answer per language.

    ``answer`` is in ``language``, the intent's first language; ``answers`` holds the answers in
    its other languages as ``(language, answer)`` pairs. ``phrasings`` are all of them, every
    language together (training and retrieval see one intent); ``phrasing_languages`` names the
    language of each phrasing that is not in ``language``, as ``(phrasing, language)`` pairs,
    so a subset of the phrasings (a training split) keeps its languages.

    >>> bilingual = IntentSpec("refunds", "Within 30 days.", ("Refund?", "怎么退款"),
    ...                        answers=(("zh", "30天内可退款。"),),
    ...                        phrasing_languages=(("怎么退款", "zh"),))
    >>> bilingual.languages, bilingual.language_of("怎么退款"), bilingual.answer_in("zh-CN")
    (('en', 'zh'), 'zh', ('30天内可退款。', 'zh'))
    >>> bilingual.answer_in("de")
    ('Within 30 days.', 'en')
    """

    key: str
    answer: str
    phrasings: tuple[str, ...]
    category: str | None = None
    language: str = "en"
    follow_ups: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    phrasing_languages: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Slots to ask for and an HTTP call whose response fills the answer (None: a plain answer).
    action: IntentAction | None = field(default=None, repr=False)

    @property
    def question(self) -> str:
        """The canonical phrasing, shown on suggestion buttons."""
        return self.phrasings[0]

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the intent answers in, its first language first."""
        return (self.language, *(language for language, _ in self.answers))

    def language_of(self, phrasing: str) -> str:
        """The language a phrasing is written in."""
        return dict(self.phrasing_languages).get(phrasing, self.language)

    def phrasings_in(self, language: str) -> tuple[str, ...]:
        """The phrasings written in ``language`` (exactly that tag)."""
        return tuple(p for p in self.phrasings if self.language_of(p) == language)

    def question_in(self, language: str | None) -> str:
        """The first phrasing in ``language`` (by its primary subtag), else :attr:`question`."""
        wanted = (language or self.language).split("-")[0].lower()
        for phrasing in self.phrasings:
            if self.language_of(phrasing).split("-")[0].lower() == wanted:
                return phrasing
        return self.question

    def answer_in(self, language: str | None) -> tuple[str, str]:
        """``(answer, its language)``: the answer in ``language`` when the intent has one (a tag
        matches its primary subtag too: ``zh-CN`` takes ``zh``), else the first language's."""
        by_language = {self.language: self.answer, **dict(self.answers)}
        if language:
            wanted = language.lower()
            for tag, answer in by_language.items():
                if tag.lower() == wanted:
                    return answer, tag
            for tag, answer in by_language.items():
                if tag.split("-")[0].lower() == wanted.split("-")[0]:
                    return answer, tag
        return self.answer, self.language

    def carrying_languages_of(self, stored: IntentSpec | None) -> IntentSpec:
        """This intent (edited in its first language) with ``stored``'s other languages kept:
        their answers, and the language of every phrasing that is still there."""
        if stored is None:
            return self
        phrasing_languages = tuple(
            (text, stored.language_of(text))
            for text in self.phrasings
            if text in stored.phrasings and stored.language_of(text) != self.language
        )
        # A language keeps its answer while it keeps a phrasing: a file row needs a question.
        still = {tag for _, tag in phrasing_languages}
        kept = tuple((tag, answer) for tag, answer in stored.answers if tag in still)
        return replace(self, answers=kept, phrasing_languages=phrasing_languages)


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: file, row (as a person counts them), column."""

    file: str
    reason: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.reason}"


class ImportRejected(Exception):
    """A file was refused as a whole; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class KnowledgeDiff:
    """What an import adds, changes and removes, by intent key."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # The file's synonym groups differ from the stored ones and replace them.
    synonyms_replaced: bool = field(default=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.synonyms_replaced)
