"""The sans-I/O core, driven by feeding messages: no gRPC, no sockets.

A client session and a server session are joined in memory, as h11's tests join two
connections, and each rule is checked from both ends.
"""

from __future__ import annotations

import pytest

from lvatool.contract import extension_pb2, media_pb2
from lvatool.media import Encoding, FrameFormat, PixelFormat
from lvatool.protocol import (
    AckReceived,
    ClientSession,
    ClientState,
    ContentReference,
    DescriptorReceived,
    LocalProtocolError,
    RemoteProtocolError,
    ReplyReceived,
    SampleReceived,
    ServerSession,
    ServerState,
    SharedMemoryTransfer,
    Status,
    StreamSpec,
)

RAW = FrameFormat(Encoding.RAW, PixelFormat.BGR24, 4, 2)
RAW_SIZE = 4 * 3 * 2
JPEG_SPEC = StreamSpec(FrameFormat(Encoding.JPG), identifier="cam1")
SHM_SPEC = StreamSpec(RAW, shared_memory=SharedMemoryTransfer("buf", 1000))


def connect(spec: StreamSpec) -> tuple[ClientSession, ServerSession]:
    """Run the handshake between two in-memory sessions."""
    client, server = ClientSession(spec), ServerSession("test")
    event = server.receive(client.start())
    assert isinstance(event, DescriptorReceived)
    reply = client.receive(server.reply_descriptor())
    assert isinstance(reply, ReplyReceived)
    return client, server


def test_handshake_numbers_and_reply_descriptor() -> None:
    """H2, H4, Q1: descriptors first, numbered 1, the reply acknowledging the client's."""
    client, server = ClientSession(JPEG_SPEC), ServerSession("reference")
    first = client.start()
    assert (first.sequence_number, first.ack_sequence_number) == (1, 0)
    assert first.WhichOneof("payload") == "media_stream_descriptor"
    event = server.receive(first)
    assert isinstance(event, DescriptorReceived)
    assert event.spec.identifier == "cam1"
    reply = server.reply_descriptor()
    assert (reply.sequence_number, reply.ack_sequence_number) == (1, 1)
    assert reply.media_stream_descriptor.extension_identifier == "reference"
    assert reply.media_stream_descriptor.media_descriptor.timescale == 90_000
    assert not reply.media_stream_descriptor.media_descriptor.HasField("video_frame_sample_format")
    assert isinstance(client.receive(reply), ReplyReceived)
    assert client.state is ClientState.STREAMING


def test_client_may_not_send_before_reply() -> None:
    """H5: no sample before the server's descriptor."""
    client = ClientSession(JPEG_SPEC)
    client.start()
    with pytest.raises(LocalProtocolError) as caught:
        client.send_sample(1, b"x")
    assert caught.value.rule == "H5"


def test_samples_are_acked_once_each_in_any_order() -> None:
    """Q1, Q2, Q4: one response per sample, out of order allowed, timestamps echoed."""
    client, server = connect(JPEG_SPEC)
    sent = [client.send_sample(1000 * i, b"jpeg", tag=f"t{i}") for i in range(1, 4)]
    assert [m.sequence_number for m in sent] == [2, 3, 4]
    events = [server.receive(m) for m in sent]
    assert all(isinstance(e, SampleReceived) for e in events)
    assert server.pending == 3
    responses = [server.acknowledge(n) for n in (4, 2, 3)]
    assert [r.sequence_number for r in responses] == [2, 3, 4]
    assert [r.ack_sequence_number for r in responses] == [4, 2, 3]
    assert [r.media_sample.timestamp for r in responses] == [3000, 1000, 2000]
    acks = [client.receive(r) for r in responses]
    assert all(isinstance(a, AckReceived) for a in acks)
    assert [a.tag for a in acks if isinstance(a, AckReceived)] == ["t3", "t1", "t2"]
    assert client.pending == 0


def test_server_refuses_to_ack_twice_or_unknown() -> None:
    """Q2 from the server's side: a second ack is the caller's bug."""
    client, server = connect(JPEG_SPEC)
    server.receive(client.send_sample(5, b"jpeg"))
    server.acknowledge(2)
    with pytest.raises(LocalProtocolError):
        server.acknowledge(2)
    with pytest.raises(LocalProtocolError):
        server.acknowledge(99)


@pytest.mark.parametrize(
    ("ack", "words"),
    [(2, "a second time"), (9, "never sent"), (0, "no sample")],
)
def test_client_rejects_bad_acks(ack: int, words: str) -> None:
    """Q2 from the client's side: double acks and acks of unsent samples are violations."""
    client, server = connect(JPEG_SPEC)
    server.receive(client.send_sample(5, b"jpeg"))
    if ack == 2:
        client.receive(server.acknowledge(2))
    bad = extension_pb2.MediaStreamMessage(
        sequence_number=3 if ack == 2 else 2,
        ack_sequence_number=ack,
        media_sample=extension_pb2.MediaSample(timestamp=5),
    )
    with pytest.raises(RemoteProtocolError) as caught:
        client.receive(bad)
    assert caught.value.rule == "Q2"
    assert words in str(caught.value)


def test_client_tolerates_sequence_zero_with_warning() -> None:
    """Q5: sample servers reply with sequence 0; tolerated and reported."""
    client = ClientSession(JPEG_SPEC)
    client.start()
    reply = extension_pb2.MediaStreamMessage(
        sequence_number=0, media_stream_descriptor=extension_pb2.MediaStreamDescriptor()
    )
    event = client.receive(reply)
    assert isinstance(event, ReplyReceived)
    assert any("Q5" in w for w in event.warnings)


def test_client_rejects_sample_before_reply() -> None:
    """H2: the server's first message must be its descriptor."""
    client = ClientSession(JPEG_SPEC)
    client.start()
    with pytest.raises(RemoteProtocolError) as caught:
        client.receive(
            extension_pb2.MediaStreamMessage(
                sequence_number=1, ack_sequence_number=1, media_sample=extension_pb2.MediaSample()
            )
        )
    assert caught.value.rule == "H2"


def test_server_requires_descriptor_first() -> None:
    """H2: a sample as the first message ends the call with INVALID_ARGUMENT."""
    server = ServerSession()
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive(
            extension_pb2.MediaStreamMessage(
                sequence_number=1, media_sample=extension_pb2.MediaSample()
            )
        )
    assert caught.value.status is Status.INVALID_ARGUMENT
    assert caught.value.rule == "H2"


def test_server_checks_sequence_numbers() -> None:
    """Q1: numbers start at 1 and increase by exactly 1."""
    client, server = connect(JPEG_SPEC)
    message = client.send_sample(1, b"jpeg")
    message.sequence_number = 7
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive(message)
    assert caught.value.rule == "Q1"
    assert caught.value.field == "sequence_number"


def _descriptor(**video: object) -> extension_pb2.MediaStreamMessage:
    fields: dict[str, object] = {
        "encoding": media_pb2.VideoFrameSampleFormat.RAW,
        "pixel_format": media_pb2.VideoFrameSampleFormat.BGR24,
        "dimensions": media_pb2.Dimensions(width=4, height=2),
    }
    fields.update(video)
    return extension_pb2.MediaStreamMessage(
        sequence_number=1,
        media_stream_descriptor=extension_pb2.MediaStreamDescriptor(
            media_descriptor=media_pb2.MediaDescriptor(
                timescale=90000,
                video_frame_sample_format=media_pb2.VideoFrameSampleFormat(**fields),  # type: ignore[arg-type]
            )
        ),
    )


@pytest.mark.parametrize(
    ("video", "status", "field"),
    [
        ({"dimensions": media_pb2.Dimensions(width=0, height=2)}, Status.INVALID_ARGUMENT, "width"),
        (
            {"dimensions": media_pb2.Dimensions(width=4, height=0)},
            Status.INVALID_ARGUMENT,
            "height",
        ),
        ({"stride_bytes": 5}, Status.INVALID_ARGUMENT, "stride_bytes"),
        ({"pixel_format": 0}, Status.INVALID_ARGUMENT, "pixel_format"),
        ({"pixel_format": 99}, Status.UNIMPLEMENTED, "pixel_format"),
        ({"encoding": 9}, Status.UNIMPLEMENTED, "encoding"),
    ],
)
def test_descriptor_validation_names_the_field(
    video: dict[str, object], status: Status, field: str
) -> None:
    """H6: a descriptor the server cannot serve names its field and the right status."""
    with pytest.raises(RemoteProtocolError) as caught:
        ServerSession().receive(_descriptor(**video))
    assert caught.value.status is status
    assert caught.value.field is not None and caught.value.field.endswith(field)
    assert field in str(caught.value)


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", "..", "."])
def test_bad_handle_names_are_refused(name: str) -> None:
    """M4: the handle name must be a plain file name."""
    message = _descriptor()
    properties = message.media_stream_descriptor.shared_memory_buffer_transfer_properties
    properties.handle_name = name
    properties.length_bytes = 100
    with pytest.raises(RemoteProtocolError) as caught:
        ServerSession().receive(message)
    assert caught.value.rule == "M4"
    assert caught.value.status is Status.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("offset", "length"), [(990, RAW_SIZE), (0, 0), (2**63, RAW_SIZE), (0, RAW_SIZE + 1)]
)
def test_references_are_bounds_and_size_checked(offset: int, length: int) -> None:
    """M4: a reference outside the buffer, or of the wrong size for RAW, is refused."""
    client, server = connect(SHM_SPEC)
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive(client.send_sample(1, ContentReference(offset, length)))
    assert caught.value.rule == "M4"
    assert caught.value.status is Status.INVALID_ARGUMENT


def test_reference_inside_buffer_is_accepted() -> None:
    """M2: a reference relative to the start of the buffer."""
    client, server = connect(SHM_SPEC)
    event = server.receive(client.send_sample(1, ContentReference(1000 - RAW_SIZE, RAW_SIZE)))
    assert isinstance(event, SampleReceived)
    assert event.content == ContentReference(1000 - RAW_SIZE, RAW_SIZE)


def test_embedded_raw_size_is_checked() -> None:
    """F1: embedded RAW content must be as long as the declared format implies."""
    client, server = connect(StreamSpec(RAW))
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive(client.send_sample(1, b"\0" * (RAW_SIZE - 1)))
    assert caught.value.field == "media_sample.content_bytes"


def test_half_close_drains_then_closes() -> None:
    """Q6: after the client's half-close the server finishes what it has, then closes."""
    client, server = connect(JPEG_SPEC)
    server.receive(client.send_sample(1, b"jpeg"))
    client.close()
    assert client.state is ClientState.CLOSING
    server.end_of_requests()
    assert server.state is ServerState.DRAINING
    client.receive(server.acknowledge(2))
    assert server.state is ServerState.CLOSED
    assert client.state is ClientState.DONE


def test_second_descriptor_is_refused_by_both_sides() -> None:
    """H2: exactly one descriptor per direction."""
    client, server = connect(JPEG_SPEC)
    with pytest.raises(LocalProtocolError):
        client.start()
    twice = _descriptor()
    twice.sequence_number = 2
    with pytest.raises(RemoteProtocolError):
        server.receive(twice)
    with pytest.raises(RemoteProtocolError):
        client.receive(
            extension_pb2.MediaStreamMessage(
                sequence_number=2, media_stream_descriptor=extension_pb2.MediaStreamDescriptor()
            )
        )
