"""Extensions that misbehave on purpose, to show that clients notice.

Each runs as a real gRPC server on a loopback port. Behaviour is chosen per server:

- ``silent``: replies to the descriptor, then never acknowledges anything.
- ``ack_twice``: acknowledges every sample twice (breaks Q2).
- ``no_descriptor``: answers the descriptor with a sample (breaks H2).
- ``die_after``: ends every call with UNAVAILABLE after N samples, as a crash would.
- ``checking``: holds samples, acknowledges them late and out of order (Q4), and hashes
  each shared-memory region on arrival and again just before its ack (M3).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from lvatool.contract import extension_pb2, extension_pb2_grpc
from lvatool.protocol import ContentReference, SampleReceived, ServerSession
from lvatool.server.processor import classification
from lvatool.shm import SharedMemoryReader

Message = extension_pb2.MediaStreamMessage


@dataclass
class Findings:
    """What the checking server saw."""

    samples: int = 0
    rewritten: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MutantServicer(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    def __init__(self, behaviour: str, after: int = 5, hold: int = 4) -> None:
        self.behaviour = behaviour
        self.after = after
        self.hold = hold
        self.findings = Findings()

    def ProcessMediaStream(
        self, request_iterator: Iterator[Message], context: grpc.ServicerContext
    ) -> Iterator[Message]:
        session = ServerSession("mutant")
        first = next(request_iterator)
        event = session.receive(first)
        if self.behaviour == "no_descriptor":
            yield Message(sequence_number=1, ack_sequence_number=1, media_sample={})
            return
        spec = session.spec
        assert spec is not None
        reader = None
        if spec.shared_memory is not None:
            reader = SharedMemoryReader(
                spec.shared_memory.handle_name, spec.shared_memory.length_bytes
            )
        yield session.reply_descriptor()
        del event
        held: list[tuple[int, bytes | None, ContentReference | None]] = []
        rng = random.Random(7)
        count = 0
        for message in request_iterator:
            sample = session.receive(message)
            assert isinstance(sample, SampleReceived)
            count += 1
            if self.behaviour == "silent":
                continue
            if self.behaviour == "die_after" and count > self.after:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the extension crashed")
            result = [classification("seen")]
            if self.behaviour == "ack_twice":
                reply = session.acknowledge(sample.sequence_number, result)
                yield reply
                yield Message(
                    sequence_number=reply.sequence_number + 1,
                    ack_sequence_number=sample.sequence_number,
                    media_sample=extension_pb2.MediaSample(timestamp=sample.timestamp),
                )
                session._last_sent += 1  # keep our own numbering consistent
                continue
            if self.behaviour == "checking":
                digest = None
                reference = None
                if isinstance(sample.content, ContentReference) and reader is not None:
                    reference = sample.content
                    digest = hashlib.sha256(
                        reader.region(reference.offset, reference.length)
                    ).digest()
                held.append((sample.sequence_number, digest, reference))
                with self.findings.lock:
                    self.findings.samples += 1
                if len(held) >= self.hold:
                    rng.shuffle(held)
                    yield from self._release(session, held[: self.hold // 2], reader)
                    del held[: self.hold // 2]
                continue
            yield session.acknowledge(sample.sequence_number, result)
        if self.behaviour == "checking":
            rng.shuffle(held)
            yield from self._release(session, held, reader)

    def _release(
        self,
        session: ServerSession,
        items: list[tuple[int, bytes | None, ContentReference | None]],
        reader: SharedMemoryReader | None,
    ) -> Iterator[Message]:
        for sequence, digest, reference in items:
            if reference is not None and reader is not None:
                again = hashlib.sha256(reader.region(reference.offset, reference.length)).digest()
                if again != digest:
                    with self.findings.lock:
                        self.findings.rewritten.append(sequence)
            yield session.acknowledge(sequence, [classification("held")])


class MutantServer:
    """A :class:`MutantServicer` on a free loopback port."""

    def __init__(self, behaviour: str, **kwargs: int) -> None:
        self.servicer = MutantServicer(behaviour, **kwargs)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16),
            options=[
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.max_send_message_length", 64 << 20),
            ],
        )
        extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(self.servicer, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> MutantServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(0)
