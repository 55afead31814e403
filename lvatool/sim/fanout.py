"""The fan-out window: one producer's frames, read by many streams, held boundedly.

Decoding and preparing a frame costs far more than sending it, so N simulated cameras
share one decoder: each prepared frame is published once into a bounded window and every
stream (reader) takes it from there, at its own pace. This module is the window's
bookkeeping alone, free of threads, clocks and I/O, so its rules can be checked
exhaustively (tests/sim/test_fanout.py) the way :mod:`lvatool.shm.allocator` is:

- frames get consecutive numbers from 0; each reader has a cursor, the number of the
  next frame it will take, and takes frames in order, never one twice;
- a frame is kept only while some reader has not yet passed it (taken or dropped it):
  the window holds the frames from the slowest reader's cursor to the newest, and at
  most ``capacity`` of them, so memory is bounded whatever the readers do;
- the producer publishes only when there is room. When there is none, the slowest
  readers hold everyone back; the wrapper (:mod:`lvatool.sim.shared_frames`) decides
  when waiting for them has lasted long enough and :meth:`FanoutWindow.evict_oldest`
  drops the oldest frame *for those readers only*: each counts the drop, every other
  reader has already taken it. A slow reader thus falls behind on its own, loses
  frames once it is a whole window behind, and can neither stall the others for longer
  than the wrapper allows nor make the window grow.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FanoutWindow(Generic[T]):
    """A bounded ring of published frames with one cursor per reader."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a fan-out window holds at least 1 frame, not {capacity}")
        self.capacity = capacity
        self._frames: deque[T] = deque()
        self._first = 0  # number of the oldest frame held
        self._cursors: dict[int, int] = {}
        self._dropped: dict[int, int] = {}
        self._next_reader = 0

    # -- readers -----------------------------------------------------------------------
    def add_reader(self) -> int:
        """A new reader, starting at the oldest frame still held (frame 0 before any)."""
        reader = self._next_reader
        self._next_reader += 1
        self._cursors[reader] = self._first
        self._dropped[reader] = 0
        return reader

    def remove_reader(self, reader: int) -> None:
        """The reader is gone (its stream ended): it holds no frame back any more."""
        self._cursors.pop(reader, None)
        self._release()

    def take(self, reader: int) -> tuple[int, T] | None:
        """The reader's next frame and its number, or None when it has taken all."""
        cursor = self._cursors[reader]
        if cursor >= self.published:
            return None
        item = self._frames[cursor - self._first]
        self._cursors[reader] = cursor + 1
        self._release()
        return cursor, item

    def dropped(self, reader: int) -> int:
        """Frames this reader lost because it was a whole window behind."""
        return self._dropped[reader]

    def behind(self, reader: int) -> int:
        """Frames published that this reader has still to take."""
        return self.published - self._cursors[reader]

    # -- the producer ------------------------------------------------------------------
    @property
    def published(self) -> int:
        """How many frames have been published (the next frame's number)."""
        return self._first + len(self._frames)

    @property
    def held(self) -> int:
        """Frames held now: from the slowest reader's cursor to the newest."""
        return len(self._frames)

    def has_room(self) -> bool:
        return len(self._frames) < self.capacity

    def publish(self, item: T) -> int:
        """Add the next frame; its number. Only when :meth:`has_room`."""
        if not self.has_room():
            raise RuntimeError("the fan-out window is full: publish only when it has room")
        self._frames.append(item)
        number = self.published - 1
        self._release()  # with no reader, nothing needs it
        return number

    def starving(self) -> bool:
        """Some reader has taken every frame published and waits for the next."""
        published = self.published
        return any(cursor >= published for cursor in self._cursors.values())

    def laggards(self) -> list[int]:
        """Readers still to take the oldest frame held: those holding the window full."""
        return [r for r, cursor in self._cursors.items() if cursor == self._first]

    def evict_oldest(self) -> list[int]:
        """Drop the oldest frame for the readers that have not taken it; those readers.

        Every other reader has taken it already, so the frame is gone for good and each
        reader returned counts one drop and moves on to the next frame.
        """
        if not self._frames:
            return []
        losers = self.laggards()
        for reader in losers:
            self._cursors[reader] += 1
            self._dropped[reader] += 1
        self._frames.popleft()
        self._first += 1
        return losers

    def _release(self) -> None:
        """Forget the frames every reader has passed."""
        oldest_needed = min(self._cursors.values(), default=self.published)
        while self._first < oldest_needed and self._frames:
            self._frames.popleft()
            self._first += 1
