"""The fan-out window's rules, checked exhaustively with Hypothesis (I/O-free, like the allocator).

A frame is read by every reader in order, once, or dropped for it (counted); the window
never holds more than its capacity, and holds a frame exactly as long as some reader has
still to pass it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lvatool.sim.call import ConnectOptions
from lvatool.sim.fanout import FanoutWindow
from lvatool.sim.run import RunOptions
from lvatool.sim.stream import StreamOptions


class WindowMachine(RuleBasedStateMachine):
    """Random publishes, takes, evictions, readers leaving; the model checks each step."""

    def __init__(self) -> None:
        super().__init__()
        self.window: FanoutWindow[str] = FanoutWindow(4)
        self.readers = [self.window.add_reader() for _ in range(3)]
        self.seen: dict[int, list[int]] = {r: [] for r in self.readers}
        self.dropped: dict[int, int] = dict.fromkeys(self.readers, 0)
        self.left: set[int] = set()

    def live(self) -> list[int]:
        return [r for r in self.readers if r not in self.left]

    @precondition(lambda self: self.window.has_room())
    @rule()
    def publish(self) -> None:
        number = self.window.publish(f"frame {self.window.published}")
        assert number == self.window.published - 1

    @rule(choice=st.integers(0, 2))
    def take(self, choice: int) -> None:
        reader = self.readers[choice]
        if reader in self.left:
            return
        taken = self.window.take(reader)
        if taken is None:
            assert self.window.behind(reader) == 0
            return
        number, item = taken
        assert item == f"frame {number}"  # the frame published under that number
        assert not self.seen[reader] or number > self.seen[reader][-1]  # in order, once
        self.seen[reader].append(number)

    @precondition(lambda self: not self.window.has_room())
    @rule()
    def evict(self) -> None:
        laggards = set(self.window.laggards())
        assert laggards, "a full window is held by some reader"
        losers = self.window.evict_oldest()
        assert set(losers) == laggards
        for reader in losers:
            self.dropped[reader] += 1

    @precondition(lambda self: len(self.left) < 2)
    @rule(choice=st.integers(0, 2))
    def leave(self, choice: int) -> None:
        reader = self.readers[choice]
        self.window.remove_reader(reader)
        self.left.add(reader)

    @invariant()
    def bounded(self) -> None:
        assert self.window.held <= self.window.capacity

    @invariant()
    def every_frame_taken_or_dropped_or_pending(self) -> None:
        for reader in self.live():
            accounted = len(self.seen[reader]) + self.dropped[reader] + self.window.behind(reader)
            assert accounted == self.window.published
            assert self.window.dropped(reader) == self.dropped[reader]

    @invariant()
    def held_exactly_while_needed(self) -> None:
        live = self.live()
        slowest = max((self.window.behind(r) for r in live), default=0)
        assert self.window.held == slowest


TestWindow = WindowMachine.TestCase
TestWindow.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)


@given(st.integers(1, 8), st.integers(0, 40))
def test_a_single_reader_loses_nothing_when_it_keeps_up(capacity: int, frames: int) -> None:
    window: FanoutWindow[int] = FanoutWindow(capacity)
    reader = window.add_reader()
    got = []
    for value in range(frames):
        assert window.has_room()
        window.publish(value)
        taken = window.take(reader)
        assert taken is not None
        got.append(taken[1])
        assert window.held == 0  # freed as soon as its only reader has it
    assert got == list(range(frames))
    assert window.starving()  # it has taken everything: it waits for the next


def test_a_reader_made_later_starts_at_the_oldest_frame_held() -> None:
    window: FanoutWindow[int] = FanoutWindow(3)
    first = window.add_reader()
    window.publish(10)
    window.publish(11)
    late = window.add_reader()
    assert window.take(late) == (0, 10)
    assert window.take(first) == (0, 10)


def test_streams_are_staggered_over_one_frame_interval_when_paced() -> None:
    stream = StreamOptions(connect=ConnectOptions(target="x"), realtime=True)
    options = RunOptions(stream=stream, video="v", streams=4)
    assert options.schedule_offsets(20.0) == pytest.approx([0.0, 0.0125, 0.025, 0.0375])
    assert (
        RunOptions(stream=stream, video="v", streams=4, stagger=False).schedule_offsets(20.0)
        == [0.0] * 4
    )
    unpaced = StreamOptions(connect=ConnectOptions(target="x"))
    assert RunOptions(stream=unpaced, video="v", streams=3).schedule_offsets(20.0) == [0.0] * 3
