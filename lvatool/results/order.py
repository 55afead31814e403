"""Putting results that arrive in acknowledgement order back into send order, in bounded memory.

Acknowledgements may come late and out of order (Q4), and streams run side by side, so
results reach the writer in no useful order; a file in send order is what a person
reads and what a baseline compare pairs. Writing everything at the end would hold a
24-hour run in memory and lose it all to a crash. Instead :class:`SendOrder` keeps a
queue of frames in send order (a frame takes its place when it is *sent*, or when it is
dropped, which is its send attempt) and releases the head while its fate is known.

What it holds is therefore bounded by time, not by the run's length: a frame's fate is
known within ``--ack-timeout`` of its send (acknowledged or timed out), so the queue
never holds more than the frames sent during one ack timeout, plus ``hold_s``.

``hold_s``: across streams the order is by send time, and a stream reads the clock just
before it hands a sample to gRPC, then reports it; another stream may report a later
send in between. A ready head is therefore kept until ``hold_s`` after its send, so a
report that comes slightly late still takes its place; at the end of the run everything
left is released in order at once.

I/O-free and clock-free (times are passed in), so its rules are tested directly.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_HOLD_S = 1.0


@dataclass
class _Slot(Generic[T]):
    at_s: float  # send time (or drop time): the sort key across streams
    item: T | None = None


class SendOrder(Generic[T]):
    """A queue of frames in send order; items leave it in that order once resolved."""

    def __init__(self, hold_s: float = DEFAULT_HOLD_S) -> None:
        self.hold_s = hold_s
        self._queue: collections.deque[_Slot[T]] = collections.deque()
        self._waiting: dict[Hashable, _Slot[T]] = {}  # (stream, sequence) → its slot

    def __len__(self) -> int:
        """Frames held: sent and unresolved, or resolved behind one that is not."""
        return len(self._queue)

    @property
    def unresolved(self) -> int:
        return len(self._waiting)

    def sent(self, stream: int, sequence: int, at_s: float) -> None:
        """Stream ``stream`` sent sample ``sequence`` at ``at_s``: its place in the order."""
        slot: _Slot[T] = _Slot(at_s)
        self._waiting[(stream, sequence)] = slot
        self._insert(slot)

    def resolved(self, stream: int, sequence: int | None, item: T, now_s: float) -> list[T]:
        """The fate of a sent frame (or, with ``sequence`` None, a frame dropped now).

        Returns the items now ready to write, in send order. A sequence never reported
        as sent (its stream's report was lost) takes its place at ``now_s``.
        """
        slot = self._waiting.pop((stream, sequence), None) if sequence is not None else None
        if slot is None:
            self._insert(_Slot(now_s, item))
        else:
            slot.item = item
        return self.ready(now_s)

    def ready(self, now_s: float) -> list[T]:
        """Items resolved, with nothing unresolved before them, sent ``hold_s`` ago."""
        out: list[T] = []
        queue = self._queue
        while queue and queue[0].item is not None and queue[0].at_s <= now_s - self.hold_s:
            out.append(queue.popleft().item)  # type: ignore[arg-type]
        return out

    def drain(self) -> list[T]:
        """Every resolved item left, in send order (the run has ended); unresolved skipped."""
        out = [slot.item for slot in self._queue if slot.item is not None]
        self._queue.clear()
        self._waiting.clear()
        return out

    def _insert(self, slot: _Slot[T]) -> None:
        """In send-time order; almost always at the end, so searched from the end.

        Equal times keep their arrival order, so one stream's frames (reported by one
        thread, in sequence) never change places.
        """
        queue = self._queue
        position = len(queue)
        while position > 0 and queue[position - 1].at_s > slot.at_s:
            position -= 1
        queue.insert(position, slot)
