"""The server session's observing mode, fed by hand: every violation recorded, in place.

A conformance checker runs ``ServerSession(observe=True)`` to see every rule a client
breaks, not just the first. The messages here are built by hand because a correct
``ClientSession`` refuses to make most of these mistakes.
"""

from __future__ import annotations

import pytest

from lvatool.contract import extension_pb2, media_pb2
from lvatool.protocol import (
    DescriptorReceived,
    RemoteProtocolError,
    SampleReceived,
    ServerSession,
    ServerState,
    Status,
)

Message = extension_pb2.MediaStreamMessage
VideoFormat = media_pb2.VideoFrameSampleFormat
WIDTH, HEIGHT = 4, 2
FRAME = WIDTH * HEIGHT * 3  # BGR24
BUFFER = 10 * FRAME


def descriptor(
    number: int = 1, *, ack: int = 0, shm: bool = False, timescale: int = 90_000, width: int = WIDTH
) -> Message:
    video = VideoFormat(
        encoding=VideoFormat.RAW,
        pixel_format=VideoFormat.BGR24,
        dimensions=media_pb2.Dimensions(width=width, height=HEIGHT),
    )
    message = Message(sequence_number=number, ack_sequence_number=ack)
    described = message.media_stream_descriptor
    described.extension_identifier = "test"
    described.media_descriptor.timescale = timescale
    described.media_descriptor.video_frame_sample_format.CopyFrom(video)
    if shm:
        described.shared_memory_buffer_transfer_properties.handle_name = "buffer"
        described.shared_memory_buffer_transfer_properties.length_bytes = BUFFER
    return message


def sample(
    number: int,
    *,
    ack: int = 0,
    data: bytes | None = None,
    ref: tuple[int, int] | None = None,
    timestamp: int = 0,
) -> Message:
    message = Message(sequence_number=number, ack_sequence_number=ack)
    message.media_sample.timestamp = timestamp or 1000 * number
    if ref is not None:
        message.media_sample.content_reference.address_offset = ref[0]
        message.media_sample.content_reference.length_bytes = ref[1]
    else:
        message.media_sample.content_bytes.bytes = b"\x80" * FRAME if data is None else data
    return message


def observed(session: ServerSession) -> list[tuple[str | None, str | None, int | None]]:
    """(rule, field, message index) of every recorded violation."""
    return [(v.rule, v.field, v.message_index) for v in session.violations]


def streaming(*, shm: bool = False) -> ServerSession:
    session = ServerSession("checker", observe=True)
    session.receive(descriptor(shm=shm))
    session.reply_descriptor()
    return session


def test_a_clean_stream_records_nothing() -> None:
    session = streaming(shm=True)
    for number in range(2, 6):
        event = session.receive(sample(number, ref=((number - 2) * FRAME, FRAME)))
        assert isinstance(event, SampleReceived)
        assert event.readable and not event.violations
        session.acknowledge(number)
    assert session.violations == []


def test_every_violation_is_recorded_with_its_rule_field_and_message() -> None:
    """One client, many mistakes: each recorded where it happened, and the session goes on."""
    session = ServerSession("checker", observe=True)
    first = session.receive(descriptor(0, ack=3, timescale=0))  # Q1 number, Q1 ack, H3
    assert isinstance(first, DescriptorReceived)
    assert [v.rule for v in first.violations] == ["Q1", "Q1", "H3"]
    session.receive(sample(1))  # H5: before the reply (numbering resumed from 0)
    session.reply_descriptor()
    session.receive(sample(2, ack=7))  # Q1: acknowledges a message never sent
    session.receive(sample(4))  # Q1: skips 3
    short = session.receive(sample(5, data=b"\0" * (FRAME - 1)))  # F1
    assert isinstance(short, SampleReceived) and short.readable
    session.receive(sample(6, data=b""))  # F1 (a RAW frame of 0 bytes)
    session.receive(sample(7, ref=(0, FRAME)))  # E1: a reference on an embedded stream
    session.receive(sample(8))  # correct
    assert observed(session) == [
        ("Q1", "sequence_number", 1),
        ("Q1", "ack_sequence_number", 1),
        ("H3", "media_descriptor.timescale", 1),
        ("H5", "media_sample", 2),
        ("Q1", "ack_sequence_number", 3),
        ("Q1", "sequence_number", 4),
        ("F1", "media_sample.content_bytes", 5),
        ("F1", "media_sample.content_bytes", 6),
        ("E1", "media_sample.content_bytes", 7),
    ]
    messages = [v.message for v in session.violations]
    assert "the first message acknowledges 3" in messages[1]
    assert "sequence_number 4 where 3 was expected" in messages[5]
    assert session.samples_received == 7
    assert session.pending == 7


def test_strict_mode_tolerates_what_only_an_observer_records() -> None:
    """The reference server serves a client despite these; its behaviour is unchanged."""
    session = ServerSession("reference")
    session.receive(descriptor(ack=3, timescale=0))
    session.receive(sample(2))  # before the reply: H5 tolerated
    session.reply_descriptor()
    session.receive(sample(3, ack=9))
    assert session.violations == []
    shm = ServerSession("reference")
    shm.receive(descriptor(shm=True))
    shm.reply_descriptor()
    shm.receive(sample(2, ref=(0, FRAME)))
    shm.receive(sample(3, ref=(FRAME - 1, FRAME)))  # overlaps sample 2: M3 tolerated
    assert shm.pending == 2


def test_strict_mode_raises_the_first_broken_rule() -> None:
    session = ServerSession("reference")
    session.receive(descriptor())
    session.reply_descriptor()
    with pytest.raises(RemoteProtocolError) as caught:
        session.receive(sample(3, data=b"short"))
    assert caught.value.rule == "Q1"  # numbering is judged before content
    assert caught.value.message_index == 2
    assert session.violations == []


@pytest.mark.parametrize(
    ("messages", "rule", "field"),
    [
        ([sample(1)], "H2", "media_stream_descriptor"),
        ([Message(sequence_number=1)], "H2", "media_stream_descriptor"),
        (
            [descriptor(width=0)],
            "H6",
            "media_descriptor.video_frame_sample_format.dimensions.width",
        ),
        ([descriptor(), descriptor(2)], "H2", "media_sample"),
    ],
)
def test_a_message_with_no_transition_is_recorded_and_still_raised(
    messages: list[Message], rule: str, field: str
) -> None:
    """Nothing after these can be judged, so observing mode ends the call too."""
    session = ServerSession("checker", observe=True)
    *before, last = messages
    for message in before:
        session.receive(message)
    if before:
        session.reply_descriptor()
    with pytest.raises(RemoteProtocolError) as caught:
        session.receive(last)
    assert (caught.value.rule, caught.value.field) == (rule, field)
    assert caught.value.status is Status.INVALID_ARGUMENT
    assert session.violations == [caught.value]
    assert caught.value.message_index == len(messages)


def test_overlapping_an_unacknowledged_region_is_m3_whenever_it_is_written() -> None:
    """M3 from the references alone: no need to catch the bytes changing."""
    session = streaming(shm=True)
    session.receive(sample(2, ref=(0, FRAME)))
    event = session.receive(sample(3, ref=(FRAME - 1, FRAME)))  # one byte into sample 2
    assert isinstance(event, SampleReceived) and event.readable
    assert [(v.rule, v.field) for v in event.violations] == [
        ("M3", "media_sample.content_reference")
    ]
    assert "overlaps [0, +24) of sample 2" in event.violations[0].message
    session.acknowledge(2)
    session.acknowledge(3)
    session.receive(sample(4, ref=(FRAME - 1, FRAME)))  # the same place, now free: fine
    session.receive(sample(5, ref=(2 * FRAME - 1, FRAME)))  # adjacent to sample 4: fine
    assert [v.message_index for v in session.violations] == [3]


@pytest.mark.parametrize(
    ("shm", "message", "rule", "field", "readable"),
    [
        (True, sample(2), "M2", "media_sample.content_reference", False),
        (False, sample(2, ref=(0, FRAME)), "E1", "media_sample.content_bytes", False),
        (True, sample(2, ref=(BUFFER - FRAME + 1, FRAME)), "M4", "media_sample.content_reference",
         False),
        (True, sample(2, ref=(0, 0)), "M4", "media_sample.content_reference", False),
        (True, sample(2, ref=(0, FRAME - 1)), "M4", "media_sample.content_reference.length_bytes",
         True),
        (False, sample(2, data=b"\0" * (FRAME + 1)), "F1", "media_sample.content_bytes", True),
    ],
)  # fmt: skip
def test_content_of_the_wrong_kind_place_or_size(
    shm: bool, message: Message, rule: str, field: str, readable: bool
) -> None:
    """E1, M2, M4, F1: recorded on the event, which says whether the content may be read."""
    session = streaming(shm=shm)
    event = session.receive(message)
    assert isinstance(event, SampleReceived)
    assert [(v.rule, v.field) for v in event.violations] == [(rule, field)]
    assert event.readable is readable
    assert session.pending == 1  # still a sample: it is acknowledged like any other
    session.acknowledge(2)


def test_unreadable_references_are_not_held_against_later_ones() -> None:
    """A reference outside the buffer covers nothing, so it cannot be overlapped (M3)."""
    session = streaming(shm=True)
    session.receive(sample(2, ref=(BUFFER - 1, FRAME)))
    session.receive(sample(3, ref=(BUFFER - FRAME, FRAME)))
    assert [v.rule for v in session.violations] == ["M4"]
    assert isinstance(session.receive(sample(4, ref=(0, FRAME))), SampleReceived)


def test_draining_after_an_observed_stream() -> None:
    """Q6 bookkeeping is the same in both modes."""
    session = streaming(shm=True)
    session.receive(sample(2, ref=(0, FRAME)))
    session.receive(sample(3, ref=(0, FRAME)))  # M3
    session.end_of_requests()
    states = [session.state]
    for number in (3, 2):
        response = session.acknowledge(number)
        assert response.ack_sequence_number == number
        states.append(session.state)
    assert states == [ServerState.DRAINING, ServerState.DRAINING, ServerState.CLOSED]
