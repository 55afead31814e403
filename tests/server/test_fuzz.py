"""Fuzz: nothing a client sends can crash, pin or silence the server (A3, H6, Q1, Q2, Q6).

Hypothesis plays whole calls (see :mod:`tests.strategies`) against one in-process
reference server over real gRPC on loopback, with a real ``/dev/shm`` buffer holding real
frames, a symlink to it and a directory beside it. For every call:

- it ends with a status before the client's own deadline: a call the server never ends
  is a hang, and fails as one;
- the status is one a server chooses: never ``UNKNOWN``, which is what gRPC sends when an
  exception escapes the servicer (H6 grades it a crash);
- a call that ends ``OK`` answered its descriptor and then every sample exactly once,
  numbered 1, 2, 3 … (Q1, Q2, Q6);
- a fresh, valid session is served right after it.

Reproducible in CI: by default a fixed, derandomized set of examples runs (no example
database is read or written), the same on every machine. ``LVATOOL_FUZZ_EXAMPLES=N``
runs N random examples instead, for a longer hunt that keeps its failures in
``.hypothesis/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from lvatool.contract import extension_pb2, media_pb2
from lvatool.media import Encoding, FrameFormat
from lvatool.protocol import SharedMemoryTransfer
from lvatool.server import (
    DarkLightProcessor,
    ExtensionServer,
    Frame,
    Inference,
    ServerOptions,
    SessionInfo,
    SessionPolicy,
)
from tests.bytescall import BytesCall
from tests.frames import DARK, descriptor, encode, flat, label, raw_format, reference, sample
from tests.rawcall import RawCall
from tests.strategies import TINY_IMAGES, Script, ShmPlaces, scripts

Message = extension_pb2.MediaStreamMessage
PLACES = ShmPlaces.unique()
JPG = FrameFormat(Encoding.JPG)
JPG_33x17 = FrameFormat(Encoding.JPG, width=33, height=17)
HANDSHAKE_TIMEOUT_S = 3.0
MAX_MESSAGE_MIB = 8
CALL_DEADLINE_S = 30.0  # generous: a loaded 2-core machine; a hang still ends here

_EXAMPLES = int(os.environ.get("LVATOOL_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_EXAMPLES or 200,
    derandomize=not _EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=DirectoryBasedExampleDatabase(".hypothesis/examples") if _EXAMPLES else None,
)

#: Statuses the server may end a call with, and what each means here.
SERVER_CHOICES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,  # malformed values (H6, M4, Q1, H2)
    grpc.StatusCode.UNIMPLEMENTED,  # a valid format the server does not serve (H6)
    grpc.StatusCode.FAILED_PRECONDITION,  # shared memory that cannot be opened (H6, M1)
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # a message over the limit, or no free session (H1)
    grpc.StatusCode.DEADLINE_EXCEEDED,  # the server's handshake timeout (H2)
    grpc.StatusCode.CANCELLED,  # the call broke under the server
}


@pytest.fixture(scope="module")
def shm_places() -> Iterator[ShmPlaces]:
    """The files of :data:`PLACES` in ``/dev/shm``, removed after the module."""
    root = Path("/dev/shm")
    buffer, fifo = root / PLACES.buffer, root / PLACES.fifo
    fd = os.open(buffer, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, PLACES.size)
        for offset, data in PLACES.regions:
            os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
    (root / PLACES.symlink).symlink_to(buffer)
    (root / PLACES.directory).mkdir()
    os.mkfifo(fifo, 0o600)
    try:
        yield PLACES
    finally:
        _release_fifo_readers(fifo)
        fifo.unlink()
        (root / PLACES.directory).rmdir()
        (root / PLACES.symlink).unlink()
        buffer.unlink()


def _release_fifo_readers(fifo: Path) -> None:
    """Open the FIFO for writing once, so a server thread stuck opening it can go on.

    Only a server that regressed on issue 8 point 2 blocks there; without this its thread
    would keep the test process from exiting after the failure was reported.
    """
    with contextlib.suppress(OSError):  # ENXIO: no reader is waiting, the healthy case
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


class EveryPathProcessor(DarkLightProcessor):
    """The reference classifier that also decodes every frame to RGB, as user models do.

    The dark/light label comes from :meth:`Frame.mean_luma`, which reads RAW bytes in
    place; ``frame.image`` takes the other road (``raw_to_rgb``, the YUV converter,
    Pillow), so the fuzz reaches both. A RAW image of the wrong shape is our bug, raised
    as one: it ends the call with ``INTERNAL``, which the fuzz reports.
    """

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        image = frame.image
        declared = frame.format
        if declared.encoding is Encoding.RAW and image.shape != (
            declared.height,
            declared.width,
            3,
        ):
            raise AssertionError(f"raw_to_rgb made {image.shape} of {declared}")
        return super().process(frame, session)


@pytest.fixture(scope="module")
def fuzz_channel(shm_places: ShmPlaces) -> Iterator[grpc.Channel]:
    """A channel to one reference server, with small limits, shared by every example."""
    policy = SessionPolicy(
        handshake_timeout_s=HANDSHAKE_TIMEOUT_S,
        batch_size=2,  # partial batches and flushes before an error are exercised too
        batch_timeout_s=0.05,
        idle_poll_s=0.2,
        max_sessions=4,  # a leaked session slot shows within a few examples
    )
    options = ServerOptions(
        host="127.0.0.1", port=0, max_message_mib=MAX_MESSAGE_MIB, policy=policy
    )
    with (
        ExtensionServer(options, processor=EveryPathProcessor()) as server,
        grpc.insecure_channel(
            server.address,
            options=[
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.max_send_message_length", 64 << 20),
            ],
        ) as channel,
    ):
        yield channel


def play(channel: grpc.Channel, script: Script) -> BytesCall:
    """Send the script's messages as bytes, end the call as it says; wait for the status."""
    call = BytesCall(channel, deadline_s=CALL_DEADLINE_S)
    encoded = script.encoded()
    for index, data in enumerate(encoded):
        call.send(data)
        if index == 0 and script.wait_for_reply:
            # Any first message gets a reply or ends the call (H2, H4, H6).
            assert call.wait_for_response_or_end(CALL_DEADLINE_S), (
                "hang: no reply and no status after the first message\n" + script.describe()
            )
    if script.ending == "cancel":
        call.cancel()
    else:
        call.half_close()
    assert call.wait_for_end(CALL_DEADLINE_S + 10), "the client's own deadline did not fire"
    return call


def judge(call: BytesCall, script: Script) -> None:
    """The rules every call must end by, whatever the client sent."""
    seen = f"{call.code} {call.details!r}\n{script.describe()}"
    if script.ending == "cancel":
        return  # the client's own CANCELLED; the next session shows the server is fine
    assert not call.hit_own_deadline, f"hang: the server never ended the call; {seen}"
    assert call.code != grpc.StatusCode.UNKNOWN, f"an exception escaped the servicer: {seen}"
    assert call.code in SERVER_CHOICES, f"unexpected status: {seen}"
    if script.clean:
        assert call.code == grpc.StatusCode.OK, f"a valid session was not served: {seen}"
    if call.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        assert "H2" in call.details, f"DEADLINE_EXCEEDED other than the handshake's: {seen}"
    responses = [Message.FromString(data) for data in call.responses]
    assert [r.sequence_number for r in responses] == list(range(1, len(responses) + 1)), (
        f"responses not numbered 1, 2, 3 … (Q1): {seen}"
    )
    if call.code == grpc.StatusCode.OK:
        kinds = [r.WhichOneof("payload") for r in responses]
        expected = ["media_stream_descriptor"] + ["media_sample"] * len(script.samples)
        assert kinds == expected, f"an OK call must answer every sample once (Q2, Q6): {seen}"
        answered = sorted((r.ack_sequence_number, r.media_sample.timestamp) for r in responses[1:])
        sent = sorted((m.sequence_number, m.media_sample.timestamp) for m in script.samples)
        assert answered == sent, f"acks must name each sample with its timestamp (Q2): {seen}"


def assert_still_serving(channel: grpc.Channel) -> None:
    """A fresh, valid session (one small JPG frame) gets its reply and one ack.

    Session slots of calls that just ended are released as their handlers unwind, a
    moment after the client saw the status, so RESOURCE_EXHAUSTED is retried until a
    deadline; a slot that is never released fails here.
    """
    deadline = time.monotonic() + 30
    while True:
        call = RawCall(channel, deadline_s=20)
        call.send(descriptor(JPG))
        call.send(sample(2, encode(DARK, JPG)))
        call.half_close()
        responses = call.drain(timeout_s=25)
        code, details = call.status(timeout_s=5)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < deadline:
            continue
        assert code == grpc.StatusCode.OK, f"a fresh session was not served: {code} {details}"
        assert [r.WhichOneof("payload") for r in responses] == [
            "media_stream_descriptor",
            "media_sample",
        ]
        assert responses[1].ack_sequence_number == 2
        assert label(responses[1]) == "dark"
        return


def _format_of(script: Script) -> str:
    """The encoding (and RAW pixel format) the script's first message declares."""
    first = script.messages[0]
    assert isinstance(first, Message)
    video = first.media_stream_descriptor.media_descriptor.video_frame_sample_format
    name = media_pb2.VideoFrameSampleFormat.Encoding.Name(video.encoding)
    if name == "RAW":
        name += " " + media_pb2.VideoFrameSampleFormat.PixelFormat.Name(video.pixel_format)
    shm = first.media_stream_descriptor.HasField("shared_memory_buffer_transfer_properties")
    return f"{name} {'shared memory' if shm else 'embedded'}"


def _rule(details: str) -> str:
    """The rule ID a status message cites, such as ``M4``, or ``-``."""
    found = re.search(r"\b([A-Z]\d{1,2})\)", details)
    return found.group(1) if found else "-"


def _shm_jpg_call(handle_name: str, offset: int = 0, *, length: int = PLACES.size) -> Script:
    """A JPG stream through ``/dev/shm/<handle_name>``, one reference at ``offset``."""
    jpg = TINY_IMAGES[Encoding.JPG, 33, 17]
    opening = descriptor(JPG_33x17, SharedMemoryTransfer(handle_name, length))
    return Script((opening, reference(2, offset, len(jpg))), True, "half-close")


def _known_calls() -> dict[str, Script]:
    """Hostile calls worth running every time, whatever Hypothesis draws (issue 8)."""
    jpg = TINY_IMAGES[Encoding.JPG, 33, 17]
    rgb = flat(90, 5, 3)
    bgr = raw_format(rgb)
    timescale_zero = descriptor(JPG_33x17)
    timescale_zero.media_stream_descriptor.media_descriptor.timescale = 0
    call = partial(Script, wait_for_reply=True, ending="half-close")
    return {
        "valid embedded JPG": call((descriptor(JPG_33x17), sample(2, jpg), sample(3, jpg))),
        "valid embedded RAW BGR24": call((descriptor(bgr), sample(2, encode(rgb, bgr)))),
        "valid JPG through shared memory": _shm_jpg_call(PLACES.buffer),
        "garbage bytes, not protobuf (point 7)": call((b"\xff",)),
        "FIFO as handle_name (point 2)": _shm_jpg_call(PLACES.fifo),
        "symlink as handle_name (M4)": _shm_jpg_call(PLACES.symlink),
        "directory as handle_name": _shm_jpg_call(PLACES.directory),
        "missing handle_name (M1)": _shm_jpg_call(PLACES.missing),
        "length_bytes past the file's end (M1)": _shm_jpg_call(PLACES.buffer, length=2**63),
        "reference past the buffer (M4)": _shm_jpg_call(PLACES.buffer, PLACES.size - 1),
        "reference at offset 2**64-1 (M4)": _shm_jpg_call(PLACES.buffer, 2**64 - 1),
        "sample before the descriptor (H2)": call((sample(1, jpg), descriptor(JPG_33x17))),
        "descriptor after a sample (H2)": call(
            (descriptor(JPG_33x17), sample(2, jpg), descriptor(JPG_33x17))
        ),
        "empty message first (H2)": call((Message(sequence_number=1),)),
        "half-close before anything (H2)": call(()),
        "samples before the reply (H5)": Script(
            (descriptor(JPG_33x17), sample(2, jpg), sample(3, jpg)), False, "half-close"
        ),
        "timescale 0, tolerated (H3)": call((timescale_zero, sample(2, jpg))),
        "cancel after the reply": Script((descriptor(JPG_33x17),), True, "cancel"),
        "sample over the message limit (E2)": call(
            (descriptor(JPG_33x17), sample(2, bytes(MAX_MESSAGE_MIB << 20)))
        ),
    }


KNOWN_CALLS = _known_calls()


@pytest.mark.parametrize("name", list(KNOWN_CALLS))
def test_known_hostile_calls(fuzz_channel: grpc.Channel, name: str) -> None:
    """The calls of issue 8 the fuzz must always cover, judged by the same rules."""
    script = KNOWN_CALLS[name]
    judge(play(fuzz_channel, script), script)
    assert_still_serving(fuzz_channel)


@FUZZ
@pytest.mark.timeout(0 if _EXAMPLES else 120)  # a long random hunt is not bounded by CI's limit
@given(script=scripts(PLACES))
def test_any_call_ends_with_a_status_and_the_server_carries_on(
    fuzz_channel: grpc.Channel, script: Script
) -> None:
    """A3, H6: hostile descriptors, samples, numbers and bytes end only their own call."""
    call = play(fuzz_channel, script)
    # What the examples reached, for --hypothesis-show-statistics.
    event(f"{script.ending}: {call.code.name if call.code else None}")
    event(f"rule {_rule(call.details)}, {len(call.responses)} responses")
    if call.code == grpc.StatusCode.OK and len(call.responses) > 1:
        event(f"frames answered: {_format_of(script)}")
    judge(call, script)
    assert_still_serving(fuzz_channel)


def test_a_client_that_says_nothing_gets_deadline_exceeded(fuzz_channel: grpc.Channel) -> None:
    """H2: no descriptor within the handshake timeout ends the call; the server carries on."""
    call = BytesCall(fuzz_channel, deadline_s=CALL_DEADLINE_S)
    try:
        assert call.wait_for_end(CALL_DEADLINE_S + 10)
        assert not call.hit_own_deadline, "hang: the server never ended a silent call"
        assert call.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "media_stream_descriptor" in call.details
    finally:
        call.cancel()
    assert_still_serving(fuzz_channel)
