"""The reference server over real gRPC on loopback and real /dev/shm files."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from lvatool.contract import extension_pb2
from lvatool.media import (
    RAW_PIXEL_FORMATS,
    Encoding,
    FrameFormat,
    PixelFormat,
    raw_frame_size,
    row_bytes,
)
from lvatool.protocol import AUTH_HEADER, SharedMemoryTransfer, basic_credentials
from lvatool.server import ExtensionServer
from lvatool.testing import serve
from tests.frames import DARK, LIGHT, descriptor, encode, flat, label, raw_format, reference, sample
from tests.rawcall import RawCall
from tests.shmfile import ShmFile

JPG = FrameFormat(Encoding.JPG)


@pytest.fixture
def shm() -> Iterator[ShmFile]:
    file = ShmFile(1 << 20)
    yield file
    file.close()


def handshake(call: RawCall, frame: FrameFormat, shm: SharedMemoryTransfer | None = None) -> None:
    call.send(descriptor(frame, shm))
    reply = call.recv()
    assert reply.WhichOneof("payload") == "media_stream_descriptor"


def test_handshake_reply_descriptor(call: RawCall) -> None:
    """H2, H4: the reply is a descriptor numbered 1 acking the client's, with its timescale."""
    call.send(descriptor(JPG))
    reply = call.recv()
    assert reply.sequence_number == 1
    assert reply.ack_sequence_number == 1
    assert reply.media_stream_descriptor.extension_identifier == "lvatool"
    assert reply.media_stream_descriptor.media_descriptor.timescale == 90_000
    assert not reply.media_stream_descriptor.media_descriptor.HasField("video_frame_sample_format")


def test_sequence_and_ack_numbers_one_response_per_sample(call: RawCall) -> None:
    """Q1, Q2: responses numbered 2, 3 … each acking exactly one sample, timestamp echoed."""
    handshake(call, JPG)
    frames = [encode(DARK if i % 2 else LIGHT, JPG) for i in range(5)]
    for i, data in enumerate(frames, start=2):
        call.send(sample(i, data, timestamp=1_000_000 + i))
    responses = [call.recv() for _ in frames]
    assert [r.sequence_number for r in responses] == [2, 3, 4, 5, 6]
    assert sorted(r.ack_sequence_number for r in responses) == [2, 3, 4, 5, 6]
    for response in responses:
        assert response.media_sample.timestamp == 1_000_000 + response.ack_sequence_number
    call.half_close()
    assert call.drain() == []
    assert call.status()[0] == grpc.StatusCode.OK


@pytest.mark.parametrize("batch_size", [1, 3])
def test_results_belong_to_their_own_frame(batch_size: int) -> None:
    """Q3: alternating dark and light frames each get their own label, batched or not."""
    with (
        serve(batch_size=batch_size, batch_timeout_s=0.2, grace_s=0) as address,
        grpc.insecure_channel(address) as channel,
    ):
        call = RawCall(channel)
        frame = raw_format(DARK)
        handshake(call, frame)
        expected = {}
        for i in range(10):
            rgb = DARK if i % 2 == 0 else LIGHT
            expected[i + 2] = "dark" if i % 2 == 0 else "light"
            call.send(sample(i + 2, encode(rgb, frame)))
        responses = [call.recv() for _ in range(10)]  # the last partial batch times out
        assert {r.ack_sequence_number: label(r) for r in responses} == expected
        call.half_close()
        assert call.status()[0] == grpc.StatusCode.OK


def test_partial_batch_flushed_at_end_of_stream() -> None:
    """Q6 with batching: a half-close flushes a partial batch at once."""
    with (
        serve(batch_size=8, batch_timeout_s=30.0, grace_s=0) as address,
        grpc.insecure_channel(address) as channel,
    ):
        call = RawCall(channel)
        handshake(call, JPG)
        for i in range(3):
            call.send(sample(i + 2, encode(LIGHT, JPG)))
        call.half_close()
        responses = call.drain(timeout_s=5)
        assert sorted(r.ack_sequence_number for r in responses) == [2, 3, 4]
        assert call.status()[0] == grpc.StatusCode.OK


def test_shared_memory_regions_overwritten_on_ack_keep_labels(shm: ShmFile) -> None:
    """M3: the client overwrites each region the moment it is acked; labels stay right."""
    with (
        serve(batch_size=3, batch_timeout_s=0.5, grace_s=0) as address,
        grpc.insecure_channel(address) as channel,
    ):
        call = RawCall(channel)
        frame = raw_format(DARK)
        size = frame.raw_size()
        handshake(call, frame, SharedMemoryTransfer(shm.name, shm.size))
        frames = [DARK, LIGHT, DARK, LIGHT, LIGHT, DARK, DARK, LIGHT, DARK]
        expected: dict[int, str] = {}
        for group in range(0, len(frames), 3):
            for slot, rgb in enumerate(frames[group : group + 3]):
                sequence = group + slot + 2
                shm.write(slot * size, encode(rgb, frame))
                expected[sequence] = "dark" if rgb is DARK else "light"
                call.send(reference(sequence, slot * size, size))
            for _ in range(3):
                response = call.recv()
                slot = (response.ack_sequence_number - 2) % 3
                opposite = LIGHT if expected[response.ack_sequence_number] == "dark" else DARK
                shm.write(slot * size, encode(opposite, frame))  # reuse at once
                assert label(response) == expected[response.ack_sequence_number]
        call.half_close()
        assert call.status()[0] == grpc.StatusCode.OK


def _formats() -> list[FrameFormat]:
    width, height = 33, 17  # odd on both axes
    out = [FrameFormat(Encoding.JPG), FrameFormat(Encoding.PNG), FrameFormat(Encoding.BMP)]
    for pixel_format in RAW_PIXEL_FORMATS:
        stride = row_bytes(pixel_format, width) + 13  # padded, and not to a round number
        out.append(FrameFormat(Encoding.RAW, pixel_format, width, height, stride))
    return out


@pytest.mark.parametrize(
    "frame",
    _formats(),
    ids=lambda f: f.pixel_format.name if f.encoding is Encoding.RAW else f.encoding.name,
)
@pytest.mark.parametrize("transfer", ["embedded", "shm"])
def test_every_encoding_and_pixel_format(
    frame: FrameFormat, transfer: str, call: RawCall, shm: ShmFile
) -> None:
    """F1: every encoding and RAW pixel format, padded stride, odd width; both transfers."""
    transfer_props = SharedMemoryTransfer(shm.name, shm.size) if transfer == "shm" else None
    handshake(call, frame, transfer_props)
    for sequence, rgb, want in ((2, flat(30), "dark"), (3, flat(220), "light")):
        data = encode(rgb, frame)
        if transfer_props is None:
            call.send(sample(sequence, data))
        else:
            offset = (sequence - 2) * 65536
            shm.write(offset, data)
            call.send(reference(sequence, offset, len(data)))
        assert label(call.recv()) == want


@pytest.mark.parametrize(
    "pixel_format", [PixelFormat.RGB24, PixelFormat.YUV420P], ids=["rgb24", "yuv420p"]
)
@pytest.mark.parametrize("transfer", ["embedded", "shm"])
@pytest.mark.parametrize("stride", ["zero", "row"])
def test_stride_zero_and_the_row_size_both_mean_unpadded(
    pixel_format: PixelFormat, transfer: str, stride: str, call: RawCall, shm: ShmFile
) -> None:
    """§2: senders always set stride_bytes, but a receiver still reads 0 as unpadded rows.

    lvatool simulate now sends the real stride; this keeps the liberal reading of 0 covered,
    with the same unpadded bytes under both descriptors.
    """
    width, height = 33, 17  # odd: YUV420P chroma rows round up
    bytes_per_row = row_bytes(pixel_format, width) if stride == "row" else 0
    frame = FrameFormat(Encoding.RAW, pixel_format, width, height, bytes_per_row)
    transfer_props = SharedMemoryTransfer(shm.name, shm.size) if transfer == "shm" else None
    handshake(call, frame, transfer_props)
    for sequence, rgb, want in ((2, flat(30), "dark"), (3, flat(220), "light")):
        data = encode(rgb, frame)
        assert len(data) == raw_frame_size(pixel_format, width, height)  # not padded
        if transfer_props is None:
            call.send(sample(sequence, data))
        else:
            offset = (sequence - 2) * 65536
            shm.write(offset, data)
            call.send(reference(sequence, offset, len(data)))
        assert label(call.recv()) == want
    call.half_close()
    assert call.status()[0] == grpc.StatusCode.OK


def test_1080p_bgr24_embedded(call: RawCall) -> None:
    """E2: a 6.2 MB raw 1080p frame fits through the raised message limits."""
    rgb = np.full((1080, 1920, 3), 200, dtype=np.uint8)
    frame = raw_format(rgb)
    handshake(call, frame)
    data = encode(rgb, frame)
    assert len(data) > 4 * 1024 * 1024
    call.send(sample(2, data))
    assert label(call.recv()) == "light"


def _bad_descriptor(kind: str) -> extension_pb2.MediaStreamMessage:
    message = descriptor(raw_format(DARK))
    video = message.media_stream_descriptor.media_descriptor.video_frame_sample_format
    shm_props = message.media_stream_descriptor.shared_memory_buffer_transfer_properties
    if kind == "slash":
        shm_props.handle_name, shm_props.length_bytes = "../../etc/passwd", 4096
    elif kind == "dotdot":
        shm_props.handle_name, shm_props.length_bytes = "..", 4096
    elif kind == "missing":
        shm_props.handle_name, shm_props.length_bytes = "lvatool-no-such-buffer", 4096
    elif kind == "zero":
        video.dimensions.width = 0
    elif kind == "unsupported":
        video.pixel_format = 77  # type: ignore[assignment]
    return message


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("slash", grpc.StatusCode.INVALID_ARGUMENT),
        ("dotdot", grpc.StatusCode.INVALID_ARGUMENT),
        ("missing", grpc.StatusCode.FAILED_PRECONDITION),
        ("zero", grpc.StatusCode.INVALID_ARGUMENT),
        ("unsupported", grpc.StatusCode.UNIMPLEMENTED),
        ("outside", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_bad_input_ends_only_that_call(
    kind: str, code: grpc.StatusCode, server: ExtensionServer, channel: grpc.Channel, shm: ShmFile
) -> None:
    """H6, M4, A3: a clear status within a deadline; a parallel session carries on."""
    healthy = RawCall(channel)
    handshake(healthy, JPG)
    healthy.send(sample(2, encode(DARK, JPG)))
    assert label(healthy.recv()) == "dark"

    bad = RawCall(channel, deadline_s=10)
    if kind == "outside":
        frame = raw_format(DARK)
        handshake(bad, frame, SharedMemoryTransfer(shm.name, shm.size))
        bad.send(reference(2, shm.size - 10, frame.raw_size()))
    else:
        bad.send(_bad_descriptor(kind))
    status, details = bad.status(timeout_s=5)
    assert status == code
    assert details  # the message names the problem
    if kind in ("slash", "dotdot", "missing"):
        assert "handle_name" in details
    if kind == "outside":
        assert "content_reference" in details

    healthy.send(sample(3, encode(LIGHT, JPG)))
    assert label(healthy.recv()) == "light"
    healthy.half_close()
    assert healthy.status()[0] == grpc.StatusCode.OK


def test_wrong_or_missing_credentials_are_unauthenticated() -> None:
    """A1: x-ms-authentication checked before any frame."""

    def header(user: str, password: str) -> list[tuple[str, str]]:
        return [(AUTH_HEADER, basic_credentials(user, password))]

    with (
        serve(credentials=("user", "secret"), grace_s=0) as address,
        grpc.insecure_channel(address) as channel,
    ):
        for metadata in (None, header("user", "wrong")):
            call = RawCall(channel, metadata=metadata)
            call.send(descriptor(JPG))
            assert call.status()[0] == grpc.StatusCode.UNAUTHENTICATED
        good = RawCall(channel, metadata=header("user", "secret"))
        handshake(good, JPG)
        good.cancel()


def test_32_concurrent_sessions(channel: grpc.Channel) -> None:
    """H1: 32 sessions at once, each with its own numbering and results."""
    errors: list[BaseException] = []

    def session(index: int) -> None:
        try:
            call = RawCall(channel)
            handshake(call, JPG)
            for i in range(5):
                rgb = DARK if (i + index) % 2 else LIGHT
                call.send(sample(i + 2, encode(rgb, JPG)))
                response = call.recv()
                assert response.ack_sequence_number == i + 2
                assert label(response) == ("dark" if rgb is DARK else "light")
            call.half_close()
            assert call.status()[0] == grpc.StatusCode.OK
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[0]


def test_half_close_answers_in_flight_then_ok(call: RawCall) -> None:
    """Q6: after the client's half-close, pending samples are acked and the call ends OK."""
    handshake(call, JPG)
    for i in range(4):
        call.send(sample(i + 2, encode(LIGHT, JPG)))
    call.half_close()
    responses = call.drain()
    assert sorted(r.ack_sequence_number for r in responses) == [2, 3, 4, 5]
    assert call.status()[0] == grpc.StatusCode.OK


def test_garbage_jpeg_is_invalid_argument(call: RawCall) -> None:
    """H6 for content: an undecodable image ends the call with a status, not a crash."""
    handshake(call, JPG)
    call.send(sample(2, b"not a jpeg"))
    code, details = call.status()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "content" in details


def test_unknown_pixel_values_name_field_in_reply() -> None:
    """H6: the status message names the field at fault."""
    message = descriptor(raw_format(DARK))
    message.media_stream_descriptor.media_descriptor.video_frame_sample_format.stride_bytes = 3
    with serve(grace_s=0) as address, grpc.insecure_channel(address) as channel:
        call = RawCall(channel)
        call.send(message)
        code, details = call.status()
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "stride_bytes" in details
