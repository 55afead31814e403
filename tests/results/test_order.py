"""Send order from acknowledgement order (lvatool.results.order): its rules, property-tested."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lvatool.results.order import SendOrder


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[tuple[int, int | None, float]], list[tuple[str, int]]]:
    """Frames of several streams in send order, and events: each send, then its fate later.

    A frame is (stream, sequence or None when dropped, send time). Events are ("sent", i)
    and ("done", i), in an order where a frame's fate never comes before its send, and
    each stream's sends come in its own order (one thread per stream).
    """
    count = draw(st.integers(0, 40))
    streams = draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    dropped = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    frames: list[tuple[int, int | None, float]] = []
    next_sequence = [2, 2, 2, 2]
    for i, (stream, drop) in enumerate(zip(streams, dropped, strict=True)):
        sequence = None if drop else next_sequence[stream]
        if sequence is not None:
            next_sequence[stream] += 1
        frames.append((stream, sequence, float(i)))
    events: list[tuple[str, int]] = []
    pending: list[int] = []
    for i, (_, sequence, _) in enumerate(frames):
        if sequence is None:
            events.append(("done", i))  # a drop is reported at its send attempt
        else:
            events.append(("sent", i))
            pending.append(i)
        while pending and draw(st.booleans()):  # some acks come now, in any order
            events.append(("done", pending.pop(draw(st.integers(0, len(pending) - 1)))))
    while pending:
        events.append(("done", pending.pop(draw(st.integers(0, len(pending) - 1)))))
    return frames, events


@settings(max_examples=200, deadline=None)
@given(runs(), st.sampled_from([0.0, 2.5]))
def test_every_frame_leaves_once_in_send_order(
    run: tuple[list[tuple[int, int | None, float]], list[tuple[str, int]]], hold_s: float
) -> None:
    frames, events = run
    order: SendOrder[int] = SendOrder(hold_s)
    out: list[int] = []
    now = 0.0
    for what, i in events:
        stream, sequence, at = frames[i]
        now = max(now, at)
        if what == "sent":
            assert sequence is not None
            order.sent(stream, sequence, at)
            out += order.ready(now)
        else:
            out += order.resolved(stream, sequence, i, now)
        assert all(frames[j][2] <= now - hold_s for j in out)  # held at least hold_s
    out += order.drain()
    assert out == list(range(len(frames)))  # each once, in send (time) order
    assert len(order) == 0 and order.unresolved == 0


def test_an_unanswered_head_holds_the_rest_back() -> None:
    order: SendOrder[str] = SendOrder(hold_s=0.0)
    order.sent(0, 2, 1.0)
    order.sent(0, 3, 2.0)
    assert order.resolved(0, 3, "second", 3.0) == []
    assert len(order) == 2
    assert order.resolved(0, 2, "first", 4.0) == ["first", "second"]


def test_a_send_reported_late_still_takes_its_place() -> None:
    """Stream 1 read the clock at 1.0 but reported after stream 0's send at 1.5."""
    order: SendOrder[str] = SendOrder(hold_s=1.0)
    order.sent(0, 2, 1.5)
    assert order.resolved(0, 2, "stream 0", 1.6) == []  # held: a report may still come
    order.sent(1, 2, 1.0)
    assert order.resolved(1, 2, "stream 1", 1.7) == []
    assert order.ready(2.0) == ["stream 1"]
    assert order.ready(2.5) == ["stream 0"]


def test_drain_skips_frames_whose_fate_never_came() -> None:
    order: SendOrder[str] = SendOrder(hold_s=0.0)
    order.sent(0, 2, 1.0)
    order.sent(0, 3, 2.0)
    order.resolved(0, 3, "answered", 2.5)
    assert order.unresolved == 1
    assert order.drain() == ["answered"]
