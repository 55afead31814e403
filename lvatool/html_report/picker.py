"""Frames spread evenly over a run whose length is not known in advance, in bounded memory.

The report shows a strip of thumbnails from the whole run, not its first seconds. A
reservoir would bound memory too, but picks at random: two neighbours and a long gap.
Every n-th with doubling keeps the picks evenly spaced: keep every ``step``-th item
offered; when more than ``capacity`` are kept, keep every other one of them and double
the step. At any moment the kept items are exactly the offered items ``0, step, 2·step,
…``, between ``capacity / 2`` and ``capacity`` of them once that many were offered.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class EvenPicker(Generic[T]):
    """Keeps at most ``capacity`` items, evenly spaced over all items offered (not thread-safe)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, not {capacity}")
        self.capacity = capacity
        self.step = 1
        self.offered = 0
        self._kept: list[tuple[int, T]] = []  # (position offered, item), in order

    def offer(self, item: T) -> bool:
        """Consider the next item; True when it is kept (for now: a later thinning may drop it)."""
        position = self.offered
        self.offered += 1
        if position % self.step:
            return False
        self._kept.append((position, item))
        if len(self._kept) > self.capacity:
            self.step *= 2
            self._kept = [(p, kept) for p, kept in self._kept if p % self.step == 0]
        return position % self.step == 0

    def positions(self) -> list[int]:
        """The offered positions of the items kept (0-based), in order."""
        return [position for position, _ in self._kept]

    def items(self) -> list[T]:
        return [item for _, item in self._kept]
