"""Synonym groups: terms a company's customers use interchangeably (退款 / 退钱 / refund).

A group's first term is its canonical form: the lexical side reads every other term of the group
as that one, in the knowledge base's phrasings and in customers' messages. Groups are checked
here, whether they come from a knowledge base file or from the admin console's editor, where
they are written one group per line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_TERM_CHARS = 50
MAX_GROUPS = 5000
SEPARATORS = r"[|/、,，]+"

SynonymGroup = tuple[str, ...]


@dataclass(frozen=True)
class CheckedGroup:
    """A group's terms (whitespace collapsed, repeats dropped) and what is wrong with it."""

    group: SynonymGroup
    problems: list[str]


def check_group(terms: Sequence[str]) -> CheckedGroup:
    """Check one group of terms.

    >>> check_group([" 退款 ", "退钱", "退款"])
    CheckedGroup(group=('退款', '退钱'), problems=[])
    >>> check_group(["退款"]).problems
    ['a synonym group needs at least two different terms']
    """
    group: list[str] = []
    problems: list[str] = []
    for term in terms:
        term = " ".join(term.split())
        if len(term) > MAX_TERM_CHARS:
            problems.append(
                f"synonym '{term[:20]}...' too long: {len(term)} characters, "
                f"the limit is {MAX_TERM_CHARS}"
            )
        elif term and term.casefold() not in {t.casefold() for t in group}:
            group.append(term)
    if len(group) < 2 and not problems:
        problems.append("a synonym group needs at least two different terms")
    return CheckedGroup(tuple(group), problems)


class SynonymClashes:
    """Finds a term given in two groups; ``where`` names each group (a row or line number)."""

    def __init__(self) -> None:
        self._first: dict[str, int] = {}

    def check(self, group: SynonymGroup, where: int, noun: str) -> list[str]:
        problems = []
        for term in group:
            first = self._first.setdefault(term.casefold(), where)
            if first != where:
                problems.append(
                    f"'{term}' is in two synonym groups ({noun} {first} and {noun} {where})"
                )
        return problems


class SynonymsRejected(ValueError):
    """Synonym groups refused as a whole; ``problems`` lists every reason, with its line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_synonyms(text: str) -> list[SynonymGroup]:
    """Groups written one per line, terms separated by ``|``, ``/``, ``、`` or commas.

    Blank lines and lines starting with ``#`` are skipped. Raises ``SynonymsRejected`` naming
    the line of every problem.

    >>> parse_synonyms("退款 / 退钱 / refund / money back\\n\\n快递 | 包裹")
    [('退款', '退钱', 'refund', 'money back'), ('快递', '包裹')]
    >>> try:
    ...     parse_synonyms("退款 / 退钱\\n退钱, 钱退回")
    ... except SynonymsRejected as rejected:
    ...     print(rejected.problems)
    ["line 2: '退钱' is in two synonym groups (line 1 and line 2)"]
    """
    groups: list[SynonymGroup] = []
    problems: list[str] = []
    clashes = SynonymClashes()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        checked = check_group(re.split(SEPARATORS, line))
        found = checked.problems or clashes.check(checked.group, number, "line")
        problems.extend(f"line {number}: {reason}" for reason in found)
        groups.append(checked.group)
    if len(groups) > MAX_GROUPS:
        problems.insert(0, f"too many synonym groups: {len(groups)}, the limit is {MAX_GROUPS}")
    if problems:
        raise SynonymsRejected(problems)
    return groups


def format_synonyms(groups: Sequence[Sequence[str]]) -> str:
    """The editor's text for these groups: one per line, terms separated by `` / ``.

    >>> format_synonyms([("退款", "退钱"), ("快递", "包裹")])
    '退款 / 退钱\\n快递 / 包裹'
    """
    return "\n".join(" / ".join(group) for group in groups)
