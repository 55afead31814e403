"""First-fit placement of frames in the shared buffer (M3, M5), with no I/O at all.

The sender keeps every region that a sample in flight references intact until that
sample is acknowledged (M3). :class:`RegionAllocator` is the bookkeeping for that: a
region is handed out first-fit in the lowest gap between live regions, as Microsoft's
test client does (M5), and only :meth:`RegionAllocator.free` — called when the ack
arrives — makes it available again.
"""

from __future__ import annotations

import bisect


class RegionAllocator:
    """Live regions of a buffer of ``capacity`` bytes, kept sorted by offset."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("a shared buffer needs a positive size")
        self.capacity = capacity
        self._offsets: list[int] = []
        self._lengths: dict[int, int] = {}

    @property
    def live(self) -> int:
        """Regions handed out and not yet freed."""
        return len(self._offsets)

    @property
    def used(self) -> int:
        """Bytes in live regions."""
        return sum(self._lengths.values())

    def allocate(self, length: int) -> int | None:
        """The offset of a free region of ``length`` bytes, or None when none fits now."""
        found = self._first_fit(length)
        if found is None:
            return None
        index, offset = found
        self._offsets.insert(index, offset)
        self._lengths[offset] = length
        return offset

    def fits(self, length: int) -> bool:
        """Whether :meth:`allocate` would find room for ``length`` bytes now."""
        return self._first_fit(length) is not None

    def _first_fit(self, length: int) -> tuple[int, int] | None:
        """Where a region of ``length`` bytes would go: (index among live regions, offset)."""
        if not 0 < length <= self.capacity:
            raise ValueError(f"a {length}-byte frame cannot fit a {self.capacity}-byte buffer")
        start = 0
        for index, offset in enumerate(self._offsets):
            if offset - start >= length:
                return index, start
            start = offset + self._lengths[offset]
        if self.capacity - start >= length:
            return len(self._offsets), start
        return None

    def free(self, offset: int) -> None:
        """Release the region at ``offset`` (its sample was acknowledged)."""
        if offset not in self._lengths:
            raise KeyError(f"no live region at offset {offset}")
        del self._lengths[offset]
        self._offsets.pop(bisect.bisect_left(self._offsets, offset))

    def regions(self) -> list[tuple[int, int]]:
        """Live ``(offset, length)`` pairs in buffer order."""
        return [(offset, self._lengths[offset]) for offset in self._offsets]
