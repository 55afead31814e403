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
        if not 0 < length <= self.capacity:
            raise ValueError(f"a {length}-byte frame cannot fit a {self.capacity}-byte buffer")
        start = 0
        for index, offset in enumerate(self._offsets):
            if offset - start >= length:
                return self._take(index, start, length)
            start = offset + self._lengths[offset]
        if self.capacity - start >= length:
            return self._take(len(self._offsets), start, length)
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

    def _take(self, index: int, offset: int, length: int) -> int:
        self._offsets.insert(index, offset)
        self._lengths[offset] = length
        return offset
