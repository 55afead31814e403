"""Probe frames and the tools checks use to talk to a server under test.

Checks never assume the server's model. What is right is derived from the server's own
answers: each probe frame is first sent alone, embedded, and its results become the
baseline that every other context (among other frames, through shared memory, in a
concurrent session) must reproduce (Q3, M3, H1).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from google.protobuf.json_format import MessageToDict

from lvatool.conformance.catalogue import CheckFailed
from lvatool.contract import inferencing_pb2
from lvatool.media import Encoding, FrameFormat, PixelFormat, encode_image, rgb_to_raw
from lvatool.protocol import (
    AckReceived,
    ContentReference,
    ProtocolError,
    ReplyReceived,
    SharedMemoryTransfer,
    StreamSpec,
)
from lvatool.sim.call import (
    CallEnded,
    CallError,
    ConnectOptions,
    ExtensionCall,
    open_channel,
    wait_for_channel,
)

PROBE_WIDTH, PROBE_HEIGHT = 160, 120
# Checks stop waiting for the peer this long before their deadline, so that silence is
# reported by the check, naming the rule it breaks, and not by the runner's deadline.
VERDICT_MARGIN_S = 0.5
RAW_PROBE = FrameFormat(Encoding.RAW, PixelFormat.BGR24, PROBE_WIDTH, PROBE_HEIGHT)


@cache
def probe_images() -> tuple[np.ndarray, ...]:
    """Four deterministic pictures that most models tell apart: dark, light, two patterns."""
    rng = np.random.default_rng(2020)
    h, w = PROBE_HEIGHT, PROBE_WIDTH

    def textured(level: int) -> np.ndarray:
        noise = rng.integers(-12, 13, size=(h, w, 3))
        return np.clip(level + noise, 0, 255).astype(np.uint8)

    gradient = np.repeat(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], h, axis=0)
    gradient = np.repeat(gradient, 3, axis=2)
    blocks = ((np.indices((h, w)).sum(axis=0) // 16) % 2 * 200 + 20).astype(np.uint8)
    return (textured(25), textured(230), np.ascontiguousarray(gradient), np.dstack([blocks] * 3))


def encode_probe(index: int, frame: FrameFormat) -> bytes:
    """Probe ``index`` in ``frame``'s format."""
    image = probe_images()[index]
    if frame.width and frame.height:
        image = np.ascontiguousarray(image[: frame.height, : frame.width])
    if frame.encoding is Encoding.RAW:
        return rgb_to_raw(image, frame.pixel_format, frame.stride_bytes)
    return encode_image(image, frame.encoding, 90)


def canonical(inferences: Sequence[inferencing_pb2.Inference]) -> tuple[str, ...]:
    """Results in a form that compares equal when they mean the same.

    Identifiers that a server may mint afresh per call (inference_id, related and
    sequence ids) are left out, and numbers are rounded to two decimals.
    """

    def rounded(value: object) -> object:
        if isinstance(value, float):
            return round(value, 2)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    out = []
    for inference in inferences:
        body = MessageToDict(inference)
        for volatile in ("inferenceId", "relatedInferences", "sequenceId"):
            body.pop(volatile, None)
        out.append(json.dumps(rounded(body), sort_keys=True))
    return tuple(sorted(out))


def time_left(context: object) -> float:
    """Seconds a check may still wait for the peer: its deadline less the verdict margin."""
    from lvatool.conformance.runner import CheckContext

    assert isinstance(context, CheckContext)
    return max(context.remaining() - VERDICT_MARGIN_S, 0.0)


def describe_results(result: tuple[str, ...]) -> str:
    return "[" + ", ".join(result) + "]" if result else "no inferences"


@dataclass
class ServerEnv:
    """The server under test and what the checks learn about it along the way."""

    connect: ConnectOptions
    username: str | None = None
    password: str | None = None
    profile: str | None = None
    _baselines: dict[int, tuple[str, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def target(self) -> str:
        return self.connect.target


class Probe:
    """One session with the server under test, every wait bounded by the check's deadline."""

    def __init__(
        self,
        context: object,
        spec: StreamSpec,
        connect: ConnectOptions | None = None,
    ) -> None:
        from lvatool.conformance.runner import CheckContext

        assert isinstance(context, CheckContext)
        self.context = context
        env: ServerEnv = context.env
        self.connect = connect or env.connect
        self.spec = spec
        self.channel = open_channel(self.connect)
        context.on_cancel(self.channel.close)
        try:
            wait_for_channel(
                self.channel,
                ConnectOptions(
                    target=self.connect.target,
                    connect_timeout_s=context.remaining(self.connect.connect_timeout_s),
                ),
            )
        except CallError as error:
            raise CheckFailed(str(error)) from None
        self.call = ExtensionCall(self.channel, spec, self.connect)
        context.on_cancel(self.call.cancel)
        self.reply: ReplyReceived | None = None
        self.ended: CallEnded | None = None

    def handshake(self) -> ReplyReceived:
        """The server's reply descriptor; fails the check on anything else (H2, H4)."""
        event = self.call.next_event(time_left(self.context))
        if event is None:
            raise CheckFailed("no reply descriptor before the deadline (H4: never silence)")
        if isinstance(event, ProtocolError):
            raise CheckFailed(str(event))
        if isinstance(event, CallEnded):
            self.ended = event
            raise CheckFailed(
                f"the server ended the call instead of replying: {event.code} {event.details}"
            )
        if not isinstance(event, ReplyReceived):
            raise CheckFailed("the server's first message was not its descriptor (H2)")
        self.reply = event
        return event

    def send(self, content: bytes | ContentReference, timestamp: int, tag: object = None) -> int:
        return self.call.send(timestamp, content, tag=tag)

    def next_ack(self) -> AckReceived:
        """The next acknowledgement, or a failure naming what came instead."""
        event = self.call.next_event(time_left(self.context))
        if event is None:
            raise CheckFailed("an acknowledgement did not arrive before the deadline (Q2)")
        if isinstance(event, AckReceived):
            return event
        if isinstance(event, ProtocolError):
            raise CheckFailed(str(event))
        if isinstance(event, CallEnded):
            self.ended = event
            raise CheckFailed(
                f"the call ended with samples unacknowledged: {event.code} {event.details}".strip()
            )
        raise CheckFailed("the server sent a second descriptor (H2)")

    def acks(self, count: int) -> list[AckReceived]:
        return [self.next_ack() for _ in range(count)]

    def finish(self) -> CallEnded:
        """Half-close and wait for the end of the call (Q6)."""
        self.call.close()
        while self.ended is None:
            event = self.call.next_event(time_left(self.context))
            if event is None:
                raise CheckFailed("the call did not end after the half-close (Q6)")
            if isinstance(event, CallEnded):
                self.ended = event
            elif isinstance(event, ProtocolError):
                raise CheckFailed(str(event))
        return self.ended

    def end_status(self) -> CallEnded:
        """Wait (within the deadline) for the server to end the call; the status it gave."""
        while self.ended is None:
            event = self.call.next_event(time_left(self.context))
            if event is None:
                raise CheckFailed(
                    "the server neither answered nor ended the call (H6: never silence)"
                )
            if isinstance(event, CallEnded):
                self.ended = event
        return self.ended

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def run_probe_frames(
    context: object,
    indices: Sequence[int],
    frame: FrameFormat = RAW_PROBE,
    shm: SharedMemoryTransfer | None = None,
) -> list[tuple[str, ...]]:
    """Send probes ``indices`` in one embedded session; each one's canonical results."""
    probe = Probe(context, StreamSpec(frame, identifier="lvatool-conformance"))
    try:
        probe.handshake()
        for position, index in enumerate(indices):
            probe.send(encode_probe(index, frame), 90_000 * (position + 1), tag=position)
        results: dict[int, tuple[str, ...]] = {}
        for ack in probe.acks(len(indices)):
            results[ack.tag] = canonical(ack.inferences)
        probe.finish()
        return [results[i] for i in range(len(indices))]
    finally:
        probe.close()


def baseline(context: object, index: int) -> tuple[str, ...]:
    """Probe ``index``'s results when sent alone, embedded, in a session of its own."""
    from lvatool.conformance.runner import CheckContext

    assert isinstance(context, CheckContext)
    env: ServerEnv = context.env
    with env._lock:
        known = env._baselines.get(index)
    if known is not None:
        return known
    (result,) = run_probe_frames(context, [index])
    with env._lock:
        env._baselines[index] = result
    return result
