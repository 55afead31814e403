"""One LVA-like session over gRPC: the client protocol core, wired to a real call.

:class:`ExtensionCall` owns a ``ProcessMediaStream`` call and a
:class:`~lvatool.protocol.ClientSession`. The caller sends samples; a reader thread
feeds every response to the session and queues the resulting events, so the caller can
wait for acknowledgements with a deadline. The call itself has no overall deadline (a
camera streams for days), but every wait here does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from lvatool.contract import extension_pb2, extension_pb2_grpc, inferencing_pb2
from lvatool.grpc_options import channel_options
from lvatool.protocol import (
    AUTH_HEADER,
    AckReceived,
    ClientSession,
    ContentReference,
    ProtocolError,
    ReplyReceived,
    StreamSpec,
    basic_credentials,
)

Message = extension_pb2.MediaStreamMessage


class CallError(Exception):
    """The call could not be made or ended abnormally; ``code`` is the gRPC status name."""

    def __init__(self, message: str, code: str = "UNAVAILABLE") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CallEnded:
    """The server ended the call with ``code`` (``OK`` on a clean end)."""

    code: str
    details: str


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach an extension."""

    target: str
    connect_timeout_s: float = 10.0
    max_message_mib: int = 64
    username: str | None = None
    password: str | None = None
    tls_ca: bytes | None = None
    tls_server_name: str | None = None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """``x-ms-authentication`` when credentials are configured (A1)."""
        if self.username is None:
            return ()
        return ((AUTH_HEADER, basic_credentials(self.username, self.password or "")),)


def open_channel(options: ConnectOptions) -> grpc.Channel:
    """A channel to ``options.target`` with raised message limits (E2) and optional TLS."""
    channel_args: list[tuple[str, Any]] = [
        (name, value)
        for name, value in channel_options(options.max_message_mib)
        if name != "grpc.so_reuseport"
    ]
    if options.tls_ca is None:
        return grpc.insecure_channel(options.target, options=channel_args)
    if options.tls_server_name:
        channel_args.append(("grpc.ssl_target_name_override", options.tls_server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates=options.tls_ca)
    return grpc.secure_channel(options.target, credentials, options=channel_args)


def wait_for_channel(channel: grpc.Channel, options: ConnectOptions) -> None:
    """Wait until the channel is connected or raise :class:`CallError`."""
    try:
        grpc.channel_ready_future(channel).result(timeout=options.connect_timeout_s)
    except grpc.FutureTimeoutError:
        raise CallError(
            f"cannot connect to {options.target} within {options.connect_timeout_s:g} s"
        ) from None


_CLOSE = object()


class ExtensionCall:
    """A session with one extension: handshake, samples out, acknowledgements in."""

    def __init__(
        self,
        channel: grpc.Channel,
        spec: StreamSpec,
        options: ConnectOptions,
        *,
        observe: bool = False,
    ) -> None:
        self.spec = spec
        self.options = options
        # Observing (the conformance checker): a server's mistakes are recorded in
        # ``session.violations`` and the call goes on, so each check judges its own rule.
        self.session = ClientSession(spec, observe=observe)
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._events: queue.Queue[ReplyReceived | AckReceived | CallEnded | ProtocolError] = (
            queue.Queue()
        )
        self.ended: CallEnded | None = None
        stub = extension_pb2_grpc.MediaGraphExtensionStub(channel)  # type: ignore[no-untyped-call]
        self._outbox.put(self.session.start())
        self._call = stub.ProcessMediaStream(
            self._requests(), metadata=options.metadata() or None, wait_for_ready=False
        )
        self._reader = threading.Thread(target=self._read, name="lvatool-call-reader", daemon=True)
        self._reader.start()

    # -- sending ---------------------------------------------------------------------
    def _requests(self) -> Iterator[Message]:
        while True:
            item = self._outbox.get()
            if item is _CLOSE:
                return
            yield item

    def handshake(self, timeout_s: float) -> extension_pb2.MediaStreamDescriptor:
        """Wait for the server's descriptor (H4); only then may samples go (H5)."""
        event = self.next_event(timeout_s)
        if event is None:
            self.cancel()
            raise CallError(
                f"no reply descriptor from {self.options.target} within {timeout_s:g} s",
                code="DEADLINE_EXCEEDED",
            )
        if isinstance(event, ReplyReceived):
            self.warnings.extend(event.warnings)
            return event.descriptor
        if isinstance(event, CallEnded):
            raise CallError(
                f"the server ended the call before its descriptor: {event.code}: {event.details}",
                code=event.code,
            )
        if isinstance(event, ProtocolError):
            raise event
        raise CallError("the server acknowledged a sample before its descriptor", code="INTERNAL")

    def send(
        self,
        timestamp: int,
        content: bytes | ContentReference,
        *,
        inferences: Sequence[inferencing_pb2.Inference] = (),
        tag: Any = None,
    ) -> int:
        """Send one sample; return its sequence number."""
        with self._lock:
            message = self.session.send_sample(timestamp, content, inferences=inferences, tag=tag)
        self._outbox.put(message)
        return int(message.sequence_number)

    def close(self) -> None:
        """Half-close: no more samples; the server finishes and ends the call (Q6)."""
        with self._lock:
            self.session.close()
        self._outbox.put(_CLOSE)

    def cancel(self) -> None:
        """Abandon the call at once."""
        self._call.cancel()
        self._outbox.put(_CLOSE)

    # -- receiving -------------------------------------------------------------------
    def next_event(
        self, timeout_s: float
    ) -> ReplyReceived | AckReceived | CallEnded | ProtocolError | None:
        """The next event, or None when ``timeout_s`` passes first."""
        try:
            return self._events.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None

    def _read(self) -> None:
        try:
            for message in self._call:
                with self._lock:
                    try:
                        event = self.session.receive(message)
                    except ProtocolError as error:
                        self._events.put(error)
                        self._call.cancel()
                        return
                if event is not None:
                    self._events.put(event)
            self._events.put(CallEnded("OK", ""))
        except grpc.RpcError as error:
            code = error.code()
            self._events.put(CallEnded(code.name if code else "UNKNOWN", error.details() or ""))
        finally:
            self._outbox.put(_CLOSE)
