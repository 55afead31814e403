"""What a hostile peer sends the server, in-process: each ends its own call, never the server.

Every test builds the hostile input for real (a FIFO or a link in /dev/shm, a buffer
name with dots, a PNG bomb, an image unlike its descriptor), shows the call ends with
the status and rule protocol.md names, within a deadline, and that a fresh session is
still served afterwards (A3, H6, M1, M4).
"""

from __future__ import annotations

import errno
import io
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from lvatool.media import Encoding, FrameFormat
from lvatool.protocol import SharedMemoryTransfer
from lvatool.server import (
    ExtensionServer,
    Frame,
    Inference,
    Processor,
    ServerOptions,
    SessionInfo,
    SessionPolicy,
    classification,
)
from tests.frames import DARK, LIGHT, descriptor, encode, label, raw_format, reference, sample
from tests.hostile_files import png_bomb
from tests.rawcall import RawCall

JPG = FrameFormat(Encoding.JPG)
PNG = FrameFormat(Encoding.PNG)
SHM_ROOT = Path("/dev/shm")
#: Generous: the machine is shared and loaded; a healthy answer takes milliseconds.
DEADLINE_S = 20.0


def unique_name(middle: str = "") -> str:
    return f"lvatool-test-{uuid.uuid4().hex[:12]}{middle}"


def _channel(server: ExtensionServer) -> grpc.Channel:
    return grpc.insecure_channel(server.address)


def still_served(channel: grpc.Channel) -> None:
    """A fresh session after the hostile one: handshake, one frame, its own label, OK."""
    call = RawCall(channel, deadline_s=DEADLINE_S)
    call.send(descriptor(JPG))
    assert call.recv(DEADLINE_S).WhichOneof("payload") == "media_stream_descriptor"
    call.send(sample(2, encode(LIGHT, JPG)))
    call.half_close()  # a server that batches processes a partial batch at the half-close
    assert label(call.recv(DEADLINE_S)) == "light"
    assert call.status(DEADLINE_S)[0] == grpc.StatusCode.OK


def refused(channel: grpc.Channel, *messages: object) -> tuple[grpc.StatusCode, str]:
    """Send ``messages`` and half-close a new call; the status it ends with, in time.

    Half-closing lets a server that accepts everything end the call with OK (and the
    test fail on that), rather than leave it open until the deadline.
    """
    call = RawCall(channel, deadline_s=2 * DEADLINE_S)
    for message in messages:
        call.send(message)  # type: ignore[arg-type]
    call.half_close()
    try:
        return call.status(DEADLINE_S)
    finally:
        call.cancel()


@pytest.fixture
def fifo() -> Iterator[Path]:
    path = SHM_ROOT / unique_name()
    os.mkfifo(path)
    yield path
    try:  # an old server blocked in open() is released by opening the other end
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as error:
        if error.errno != errno.ENXIO:
            raise
    path.unlink()


def test_fifo_handle_name_is_refused_not_pinned(
    server: ExtensionServer, channel: grpc.Channel, fifo: Path
) -> None:
    """A3, M1: a FIFO named as the buffer ends the call at once with FAILED_PRECONDITION."""
    frame = raw_format(DARK)
    code, details = refused(channel, descriptor(frame, SharedMemoryTransfer(fifo.name, 4096)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION, details
    assert "handle_name" in details and "FIFO" in details and "M1" in details
    still_served(channel)


def test_symlinked_handle_name_is_invalid_argument(
    server: ExtensionServer, channel: grpc.Channel
) -> None:
    """M4: a link in /dev/shm, even to a real buffer, is a malformed name: INVALID_ARGUMENT."""
    target = SHM_ROOT / unique_name()
    link = SHM_ROOT / unique_name("-link")
    target.write_bytes(bytes(4096))
    os.symlink(target, link)
    try:
        shm = SharedMemoryTransfer(link.name, 4096)
        code, details = refused(channel, descriptor(raw_format(DARK), shm))
    finally:
        link.unlink()
        target.unlink()
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert "symbolic link" in details and "M4" in details
    still_served(channel)


def test_dots_inside_a_handle_name_are_served(
    server: ExtensionServer, channel: grpc.Channel
) -> None:
    """M4 forbids '..' as a path component, not two dots inside a plain name."""
    frame = raw_format(DARK)
    content = encode(DARK, frame)
    path = SHM_ROOT / unique_name("..frames")
    path.write_bytes(content + bytes(4096))
    try:
        call = RawCall(channel, deadline_s=DEADLINE_S)
        call.send(descriptor(frame, SharedMemoryTransfer(path.name, len(content) + 4096)))
        reply = call.recv(DEADLINE_S)
        assert reply.WhichOneof("payload") == "media_stream_descriptor"
        call.send(reference(2, 0, len(content)))
        assert label(call.recv(DEADLINE_S)) == "dark"
        call.half_close()
        assert call.status(DEADLINE_S)[0] == grpc.StatusCode.OK
    finally:
        path.unlink()


@pytest.mark.parametrize(
    ("declared", "content", "expected"),
    [
        (PNG, "bomb", "over the limit"),
        (FrameFormat(Encoding.PNG, width=160, height=120), "bomb", "dimensions are 160x120"),
        (FrameFormat(Encoding.JPG, width=33, height=17), "png", "encoding is JPG"),
        (FrameFormat(Encoding.PNG, width=32, height=17), "png", "dimensions are 32x17"),
    ],
    ids=["bomb-no-dimensions", "bomb-declared-small", "png-on-jpg-stream", "wrong-width"],
)
def test_encoded_sample_unlike_its_descriptor_is_invalid_argument(
    declared: FrameFormat, content: str, expected: str
) -> None:
    """A3, H3: the header is judged on arrival; the processor never sees the sample.

    The processor here reads ``frame.data`` itself, as a model with its own decoder
    would: it must be protected too, so it must never be called.
    """
    processor = _RecordingProcessor()
    data = png_bomb() if content == "bomb" else encode(DARK, PNG)
    options = ServerOptions(host="127.0.0.1", port=0)
    with ExtensionServer(options, processor) as server, _channel(server) as channel:
        code, details = refused(channel, descriptor(declared), sample(2, data))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert "media_sample content" in details and expected in details
        assert processor.frames == 0
        still_served(channel)
        assert processor.frames == 1


def test_four_bombs_in_a_batch_are_refused_at_the_first() -> None:
    """A3: with --batch-size 4 the first bomb ends the call; none is ever decoded."""
    processor = _RecordingProcessor()
    policy = SessionPolicy(batch_size=4, batch_timeout_s=5.0)
    options = ServerOptions(host="127.0.0.1", port=0, policy=policy)
    with ExtensionServer(options, processor) as server, _channel(server) as channel:
        bomb = png_bomb()
        messages = [sample(n, bomb) for n in range(2, 6)]
        code, details = refused(channel, descriptor(PNG), *messages)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert "over the limit" in details
        assert processor.frames == 0


def test_frames_waiting_in_the_batch_are_answered_before_a_bad_one_ends_the_call() -> None:
    """Q2: a bad sample ends the call, but the good frames already in the batch get their
    acks first, as with any other refused sample."""
    policy = SessionPolicy(batch_size=4, batch_timeout_s=60.0)
    options = ServerOptions(host="127.0.0.1", port=0, policy=policy)
    with ExtensionServer(options) as server, _channel(server) as channel:
        call = RawCall(channel, deadline_s=DEADLINE_S)
        call.send(descriptor(JPG))
        assert call.recv(DEADLINE_S).WhichOneof("payload") == "media_stream_descriptor"
        call.send(sample(2, encode(DARK, JPG)))
        call.send(sample(3, encode(LIGHT, JPG)))
        call.send(sample(4, encode(LIGHT, PNG)))  # a PNG on a JPG stream (H3)
        acks = [call.recv(DEADLINE_S) for _ in range(2)]
        assert [(m.ack_sequence_number, label(m)) for m in acks] == [(2, "dark"), (3, "light")]
        code, details = call.status(DEADLINE_S)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert "encoding is JPG" in details


class _RecordingProcessor(Processor):
    """Decodes ``frame.data`` itself (no limit of its own) and counts the frames it saw."""

    def __init__(self) -> None:
        self.frames = 0
        self._lock = threading.Lock()

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        with self._lock:
            self.frames += 1
        with Image.open(io.BytesIO(frame.data)) as image:
            mean = float(np.asarray(image.convert("L")).mean())
        return [classification("dark" if mean < 127 else "light")]


def test_frame_image_refuses_a_bomb() -> None:
    """Frame.image decodes with the limit: a processor calling it is protected too."""
    from lvatool.server import InvalidFrameError

    with pytest.raises(InvalidFrameError, match="over the limit"):
        _ = Frame(png_bomb(), PNG).image
    with pytest.raises(InvalidFrameError, match="encoding is JPG"):
        _ = Frame(encode(DARK, PNG), JPG).image
