"""Warnings counted by kind, so a fault repeated on every frame costs one line, not 16,000.

An extension that echoes a wrong timestamp does it for every frame, and each warning
names its frame ("response for sample 17 carries timestamp 0 …"). Kept as a list, a
long run stored and printed one line per frame and slowed down as the list grew (each
new warning was compared with every stored one). :class:`WarningTally` keeps one entry
per *kind* of warning, the first occurrence's text and a count: memory and output are
O(kinds), whatever the length of the run.

A kind is the text with its numbers taken out: the sample number, timestamps and
sequence numbers vary from frame to frame, the sentence does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+")

#: Kinds kept apart; any further kinds (there are a handful in practice) are pooled, so
#: not even a peer that varies its words can make the tally grow without bound.
MAX_KINDS = 50


@dataclass
class CountedWarning:
    """The first text of one kind of warning and how many times that kind occurred."""

    text: str
    count: int = 1

    def __str__(self) -> str:
        """The text, with ``(N times)`` when it occurred more than once."""
        return self.text if self.count == 1 else f"{self.text} ({self.count} times)"


class WarningTally:
    """Warnings of a stream or a run, one :class:`CountedWarning` per kind, in first-seen order."""

    def __init__(self) -> None:
        self._kinds: dict[str, CountedWarning] = {}
        self._pooled = CountedWarning("", 0)

    @staticmethod
    def kind(text: str) -> str:
        """What makes two warnings the same kind: the text without its numbers."""
        return _NUMBER.sub("#", text)

    def add(self, text: str, count: int = 1) -> None:
        """Count one more warning (``count`` more, when merging tallies)."""
        key = self.kind(text)
        entry = self._kinds.get(key)
        if entry is not None:
            entry.count += count
        elif len(self._kinds) < MAX_KINDS:
            self._kinds[key] = CountedWarning(text, count)
        else:
            self._pooled.count += count

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)

    def merge(self, other: WarningTally) -> None:
        """Add another stream's tally to this one."""
        for entry in other._kinds.values():
            self.add(entry.text, entry.count)
        self._pooled.count += other._pooled.count

    def counted(self) -> list[CountedWarning]:
        """Each kind once, with its count; pooled kinds last, as one entry."""
        entries = list(self._kinds.values())
        if self._pooled.count:
            entries.append(CountedWarning(f"{self._pooled.count} warnings of other kinds"))
        return entries

    def texts(self) -> list[str]:
        """Each kind once as a sentence, e.g. ``"… not the sample's 123 (16000 times)"``."""
        return [str(entry) for entry in self.counted()]

    def __len__(self) -> int:
        """How many warnings were counted in all (not how many kinds)."""
        return sum(entry.count for entry in self._kinds.values()) + self._pooled.count

    def __bool__(self) -> bool:
        return bool(self._kinds) or bool(self._pooled.count)

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts())
