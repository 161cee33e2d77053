"""Plain value types for a knowledge base and the problems found in a file."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IntentSpec:
    """One intent: the phrasings customers use and the single answer they share."""

    key: str
    answer: str
    phrasings: tuple[str, ...]
    category: str | None = None
    language: str = "en"
    follow_ups: tuple[str, ...] = ()

    @property
    def question(self) -> str:
        """The canonical phrasing, shown on suggestion buttons."""
        return self.phrasings[0]


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
