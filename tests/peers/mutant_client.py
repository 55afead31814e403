"""An LVA-like client that breaks exactly one rule on purpose, to show the client suite notices.

Run as ``python tests/peers/mutant_client.py BEHAVIOUR TARGET``. It streams ten small RAW
BGR24 frames (64x48) to the extension at TARGET, correctly except for the one fault that
BEHAVIOUR names, then half-closes and waits (bounded) for the call to end. Every session
sends the credentials ``USERNAME``/``PASSWORD`` unless its fault is about credentials.
Messages are built by hand from ``lvatool.contract`` because the protocol core refuses
most of these faults. Behaviours (and the check and rule each one should fail):

- ``ok``: correct, embedded transfer.
- ``ok-shm``: correct, shared memory; a region is freed only when its sample is acknowledged.
- ``sample-first`` (C01, H2): the first message is a sample, not the descriptor.
- ``bad-descriptor`` (C02, H6): RAW frames declared with width 0.
- ``bad-timescale`` (C02, H3): ``media_descriptor.timescale`` is 0.
- ``early`` (C03, H5): samples follow the descriptor without waiting for the reply.
- ``numbering`` (C04, Q1): sample sequence numbers skip one.
- ``first-number`` (C04, Q1): messages are numbered from 0, so the first is not 1.
- ``first-ack`` (C04, Q1): the first message acknowledges 1, though nothing was received.
- ``short-samples`` (C05, F1): every RAW sample is one byte short.
- ``bytes-on-shm`` (C05, M2): a shared-memory stream whose samples carry ``content_bytes``.
- ``reference-on-embedded`` (C05, E1): an embedded stream whose samples carry references.
- ``shm-short`` (C06, M1): the /dev/shm file is half the declared ``length_bytes``.
- ``outside`` (C06, M4): the third sample's reference reaches past the end of the buffer.
- ``overwrite`` (C07, M3): every frame is written to one region, acknowledged or not.
- ``overlap`` (C07, M3): each frame is placed one byte into the previous, still
  unacknowledged region, and all are sent at once, so each write lands before the
  extension could have looked at the region it spoils.
- ``timestamps`` (C08, F3): timestamps decrease.
- ``epoch`` (C08, F3, a warning): timestamps increase but count from 0, not the Unix epoch.
- ``bad-auth`` (C09, A1): ``x-ms-authentication: Basic not-base64!``.
- ``wrong-auth`` (C09, A1): well-formed Basic credentials with the wrong password.
- ``no-auth`` (C09, A1): no ``x-ms-authentication`` header at all.
- ``cancel`` (C10, Q6, a warning): the call is cancelled instead of half-closed.
- ``garbage`` (C01, H2): the third sample is sent as bytes that are not a
  ``MediaStreamMessage`` at all.

The shared-memory behaviours remove their /dev/shm file however the script ends (normal
exit, exception, SIGTERM, SIGINT, SIGHUP; only SIGKILL cannot be caught). Its name starts
with ``$LVATOOL_MUTANT_SHM_PREFIX`` (default ``lvatool-mutant``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import os
import queue
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

import grpc

from lvatool.contract import SERVICE_NAME, extension_pb2, media_pb2
from lvatool.grpc_options import channel_options
from lvatool.protocol import AUTH_HEADER, basic_credentials
from lvatool.shm import RegionAllocator, SharedMemoryWriter

Message = extension_pb2.MediaStreamMessage
VideoFormat = media_pb2.VideoFrameSampleFormat

WIDTH, HEIGHT = 64, 48
FRAME_BYTES = WIDTH * HEIGHT * 3  # BGR24, unpadded rows
FRAMES = 10
TIMESCALE = 90_000
TICKS_PER_FRAME = TIMESCALE // 30
PACE_S = 0.03  # a 30 fps camera: the extension sees each frame before the next is written
USERNAME, PASSWORD = "lvatool", "mutant-secret"
WAIT_S = 10.0  # the longest any single wait may take
CALL_DEADLINE_S = 40.0
#: The /dev/shm file is named ``<prefix>-<pid>-<random>``; tests set a prefix of their own.
SHM_PREFIX = os.environ.get("LVATOOL_MUTANT_SHM_PREFIX", "lvatool-mutant")

BEHAVIOURS = (
    "ok",
    "ok-shm",
    "sample-first",
    "bad-descriptor",
    "bad-timescale",
    "early",
    "numbering",
    "first-number",
    "first-ack",
    "short-samples",
    "bytes-on-shm",
    "reference-on-embedded",
    "shm-short",
    "outside",
    "overwrite",
    "overlap",
    "timestamps",
    "epoch",
    "bad-auth",
    "wrong-auth",
    "no-auth",
    "cancel",
    "garbage",
)
#: Buffer size in frames, for the behaviours that use shared memory.
SHARED_MEMORY = {
    "ok-shm": 4,
    "bytes-on-shm": 4,
    "shm-short": 4,
    "outside": 4,
    "overwrite": 1,
    "overlap": FRAMES,
}
#: Behaviours that send every sample at once instead of at a camera's pace.
BURST = ("early", "overlap")


@dataclass(frozen=True)
class Ended:
    """The call is over, with this status."""

    code: str
    details: str = ""


_CLOSE = object()


class Call:
    """One ProcessMediaStream call: messages out through a queue, responses in through one."""

    def __init__(self, target: str, metadata: Sequence[tuple[str, str]]) -> None:
        options = [(k, v) for k, v in channel_options(64) if k != "grpc.so_reuseport"]
        self.channel = grpc.insecure_channel(target, options=options)
        self._outbox: queue.Queue[object] = queue.Queue()
        self._inbox: queue.Queue[Message | Ended] = queue.Queue()
        # Serialized by hand, so that a message may also be raw bytes (``garbage``).
        process = self.channel.stream_stream(
            f"/{SERVICE_NAME}/ProcessMediaStream",
            request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
            response_deserializer=Message.FromString,
        )
        self._call = process(
            self._requests(),
            metadata=tuple(metadata) or None,
            timeout=CALL_DEADLINE_S,
            wait_for_ready=False,
        )
        self.ended: Ended | None = None
        threading.Thread(target=self._read, name="mutant-reader", daemon=True).start()

    def _requests(self) -> Iterator[Message | bytes]:
        while (item := self._outbox.get()) is not _CLOSE:
            assert isinstance(item, Message | bytes)
            yield item

    def _read(self) -> None:
        try:
            for message in self._call:
                self._inbox.put(message)
            self._inbox.put(Ended("OK"))
        except grpc.RpcError as error:
            code = error.code()
            self._inbox.put(Ended(code.name if code else "UNKNOWN", error.details() or ""))

    def send(self, message: Message | bytes) -> None:
        self._outbox.put(message)

    def half_close(self) -> None:
        self._outbox.put(_CLOSE)

    def cancel(self) -> None:
        self._call.cancel()
        self._outbox.put(_CLOSE)

    def next(self, timeout_s: float) -> Message | Ended | None:
        """The next response, :class:`Ended`, or None when ``timeout_s`` passes first."""
        if self.ended is not None:
            return self.ended
        try:
            item = self._inbox.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None
        if isinstance(item, Ended):
            self.ended = item
        return item

    def close(self) -> None:
        self._call.cancel()
        self._outbox.put(_CLOSE)
        self.channel.close()


class Mutant:
    """Streams the frames, with the fault of ``behaviour``."""

    call: Call

    def __init__(self, behaviour: str, target: str, shm: SharedMemoryWriter | None) -> None:
        self.behaviour = behaviour
        self.target = target
        self.shm = shm
        self.allocator = RegionAllocator(shm.size) if shm is not None else None
        self.sequence = -1 if behaviour == "first-number" else 0  # first-number: from 0 (Q1)
        self.pending: dict[int, int | None] = {}  # sample sequence number -> region offset
        self.last_offset: int | None = None
        self.replied = False

    # -- messages ----------------------------------------------------------------------
    def _number(self) -> int:
        self.sequence += 1
        if self.behaviour == "numbering" and self.sequence == 5:
            self.sequence += 1  # skips 5 (Q1)
        return self.sequence

    def descriptor(self) -> Message:
        video = VideoFormat(
            encoding=VideoFormat.RAW,
            pixel_format=VideoFormat.BGR24,
            dimensions=media_pb2.Dimensions(
                width=0 if self.behaviour == "bad-descriptor" else WIDTH, height=HEIGHT
            ),
        )
        descriptor = extension_pb2.MediaStreamDescriptor(
            extension_identifier="mutant",
            media_descriptor=media_pb2.MediaDescriptor(
                timescale=0 if self.behaviour == "bad-timescale" else TIMESCALE,
                video_frame_sample_format=video,
            ),
        )
        if self.shm is not None:
            properties = descriptor.shared_memory_buffer_transfer_properties
            properties.handle_name = self.shm.name
            declared = self.shm.size * (2 if self.behaviour == "shm-short" else 1)
            properties.length_bytes = declared  # shm-short: twice the file's size (M1)
        return Message(
            sequence_number=self._number(),
            ack_sequence_number=1 if self.behaviour == "first-ack" else 0,  # first-ack: Q1
            media_stream_descriptor=descriptor,
        )

    def sample(self, index: int, base: int) -> Message | None:
        """Sample ``index``, or None when no shared-memory region came free in time."""
        level = (40 + 47 * index) % 256  # every frame differs, so a rewrite shows
        pixels = bytes([level]) * FRAME_BYTES
        if self.behaviour == "short-samples":
            pixels = pixels[:-1]
        step = index * TICKS_PER_FRAME
        if self.behaviour == "epoch":
            base = 0  # F3: increasing, but not counted from the Unix epoch
        timestamp = base - step if self.behaviour == "timestamps" else base + step
        message = Message(ack_sequence_number=0)
        message.media_sample.timestamp = timestamp
        if self.behaviour == "reference-on-embedded":  # E1
            message.media_sample.content_reference.address_offset = 0
            message.media_sample.content_reference.length_bytes = len(pixels)
        elif self.shm is None or self.behaviour == "bytes-on-shm":  # bytes-on-shm: M2
            message.media_sample.content_bytes.bytes = pixels
        else:
            offset = self._place(index, len(pixels))
            if offset is None:
                return None
            if offset + len(pixels) <= self.shm.size:  # outside: nothing to write (M4)
                self.shm.write(offset, pixels)
            message.media_sample.content_reference.address_offset = offset
            message.media_sample.content_reference.length_bytes = len(pixels)
            message.sequence_number = self._number()
            allocated = self.behaviour not in ("overwrite", "overlap") and (
                self.behaviour != "outside" or index != 2
            )
            self.pending[message.sequence_number] = offset if allocated else None
            return message
        message.sequence_number = self._number()
        return message

    def _place(self, index: int, length: int) -> int | None:
        """Where frame ``index`` goes in the shared buffer; None when no room came free."""
        assert self.shm is not None
        if self.behaviour == "overwrite":
            return 0  # M3: one region for every frame, acknowledged or not
        if self.behaviour == "overlap":
            # M3: one byte into the previous region, which nothing has acknowledged yet.
            offset = 0 if self.last_offset is None else self.last_offset + length - 1
            self.last_offset = offset
            return offset
        if self.behaviour == "outside" and index == 2:
            return self.shm.size - length // 2  # M4: half the frame lies past the end
        return self._allocate(length)

    def _allocate(self, length: int) -> int | None:
        """A free region, waiting for acknowledgements while the buffer is full (M5)."""
        assert self.allocator is not None
        deadline = time.monotonic() + WAIT_S
        while (offset := self.allocator.allocate(length)) is None:
            if not self._take(deadline - time.monotonic()):
                return None
        return offset

    # -- responses ---------------------------------------------------------------------
    def _take(self, timeout_s: float) -> bool:
        """Handle one response; False when the call ended or ``timeout_s`` passed."""
        item = self.call.next(timeout_s)
        if item is None or isinstance(item, Ended):
            return False
        if item.WhichOneof("payload") == "media_stream_descriptor":
            self.replied = True
            return True
        offset = self.pending.pop(item.ack_sequence_number, None)
        if offset is not None and self.allocator is not None:
            self.allocator.free(offset)
        return True

    def _handle_until(self, deadline: float) -> None:
        """Handle responses as they come until ``deadline`` (a camera's frame interval)."""
        while self.call.ended is None and (left := deadline - time.monotonic()) > 0:
            self._take(left)

    # -- the session -------------------------------------------------------------------
    def run(self) -> str:
        header = {
            "bad-auth": "Basic not-base64!",  # A1: not base64 at all
            "wrong-auth": basic_credentials(USERNAME, "not-the-password"),  # A1: well formed
            "no-auth": None,  # A1: missing
        }.get(self.behaviour, basic_credentials(USERNAME, PASSWORD))
        metadata = [(AUTH_HEADER, header)] if header is not None else []
        self.call = Call(self.target, metadata)
        try:
            return self._stream()
        finally:
            self.call.close()

    def _stream(self) -> str:
        call = self.call
        base = int(time.time() * TIMESCALE)
        if self.behaviour == "sample-first":
            first = self.sample(0, base)
            assert first is not None
            call.send(first)  # H2: the descriptor should have come first
        else:
            call.send(self.descriptor())
        if self.behaviour not in ("early", "sample-first"):  # early: H5
            deadline = time.monotonic() + WAIT_S
            while not self.replied and self._take(deadline - time.monotonic()):
                pass
            if not self.replied:
                return self._finish(half_close=True)
        for index in range(1 if self.behaviour == "sample-first" else 0, FRAMES):
            if call.ended is not None:
                break
            message = self.sample(index, base)
            if message is None:
                break
            # garbage: H2, bytes that no MediaStreamMessage parses to (a field 15 varint
            # that never ends), sent in place of the third sample
            call.send(b"\x78\xff\xff" if self.behaviour == "garbage" and index == 2 else message)
            if self.behaviour not in BURST:
                self._handle_until(time.monotonic() + PACE_S)
        return self._finish(half_close=self.behaviour != "cancel")

    def _finish(self, *, half_close: bool) -> str:
        call = self.call
        if not half_close:
            self._handle_until(time.monotonic() + PACE_S)  # the last sample reaches it first
            call.cancel()  # Q6: should have half-closed
            return "cancelled"
        call.half_close()
        deadline = time.monotonic() + WAIT_S
        while call.ended is None and time.monotonic() < deadline:
            self._take(deadline - time.monotonic())
        ended = call.ended
        if ended is None:
            return f"no end of the call within {WAIT_S:g} s"
        return f"{ended.code} {ended.details}".strip()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] not in BEHAVIOURS:
        print(
            f"usage: mutant_client.py {{{'|'.join(BEHAVIOURS)}}} TARGET",
            file=sys.stderr,
        )
        return 2
    behaviour, target = argv
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    shm = None
    try:
        if behaviour in SHARED_MEMORY:
            shm = SharedMemoryWriter(SHARED_MEMORY[behaviour] * FRAME_BYTES, prefix=SHM_PREFIX)
        ending = Mutant(behaviour, target, shm).run()
    finally:
        if shm is not None:
            shm.close()
    print(f"mutant {behaviour}: {ending}", file=sys.stderr)
    return 0 if ending == "OK" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
