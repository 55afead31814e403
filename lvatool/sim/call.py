"""One LVA-like session over gRPC: the client protocol core, wired to a real call.

:class:`ExtensionCall` owns a ``ProcessMediaStream`` call and a
:class:`~lvatool.protocol.ClientSession`. The caller sends samples; a reader thread
feeds every response to the session and queues the resulting events, so the caller can
wait for acknowledgements with a deadline. The call itself has no overall deadline (a
camera streams for days), but every wait here does. The conformance checker and the
Locust user drive it; ``lvatool simulate`` runs its streams on the asyncio twin,
:mod:`lvatool.sim.aio_call`, which shares the verdicts here (:func:`response_event`,
:func:`reply_of`, :class:`ConnectAttempts`).

Responses are parsed here, not by gRPC: bytes that are not a ``MediaStreamMessage`` are
the extension breaking the protocol (a :class:`~lvatool.protocol.RemoteProtocolError`),
where gRPC would report its own ``INTERNAL`` status as if the connection had failed.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from lvatool.addresses import AddressError, parse_target
from lvatool.contract import METHOD_PATH, extension_pb2, inferencing_pb2
from lvatool.grpc_options import channel_options
from lvatool.protocol import (
    AUTH_HEADER,
    AckReceived,
    ClientSession,
    ClientState,
    ContentReference,
    ProtocolError,
    RemoteProtocolError,
    ReplyReceived,
    StreamSpec,
    basic_credentials,
)
from lvatool.protocol.wire import Undecodable, decode_message
from lvatool.sim.connect_errors import explain

Message = extension_pb2.MediaStreamMessage
#: Any RPC answers the question "can a call get through?"; the standard health check is
#: the one most servers have, and one that lacks it still answers (UNIMPLEMENTED).
_PROBE_METHOD = "/grpc.health.v1.Health/Check"


class CallError(Exception):
    """The call could not be made or ended abnormally; ``code`` is the gRPC status name."""

    def __init__(self, message: str, code: str = "UNAVAILABLE") -> None:
        super().__init__(message)
        self.code = code


class ReaderCrashed(Exception):
    """The reader thread failed on our side (a bug in lvatool, not the extension's fault).

    Queued as an event like a :class:`ProtocolError`, so the stream ends with a failure
    instead of waiting for acknowledgements that can no longer arrive; ``details`` keeps
    the traceback for ``--debug``.
    """

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


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
    """A channel to ``options.target`` with raised message limits (E2) and optional TLS.

    The target may be written as LVA writes it (``tcp://HOST:PORT``); one without a port,
    or with a bad one, raises :class:`CallError` (``INVALID_ARGUMENT``) at once rather
    than after the connect timeout.
    """
    target, channel_args, credentials = channel_settings(options)
    if credentials is None:
        return grpc.insecure_channel(target, options=channel_args)
    return grpc.secure_channel(target, credentials, options=channel_args)


def channel_settings(
    options: ConnectOptions,
) -> tuple[str, list[tuple[str, Any]], grpc.ChannelCredentials | None]:
    """The address, channel arguments and TLS credentials (None: plaintext) of a channel
    to ``options.target``, for the synchronous and the asyncio stacks alike."""
    try:
        target = parse_target(options.target)
    except AddressError as error:
        raise CallError(f"target {error}", code="INVALID_ARGUMENT") from None
    channel_args: list[tuple[str, Any]] = [
        (name, value)
        for name, value in channel_options(options.max_message_mib)
        if name != "grpc.so_reuseport"
    ]
    if options.tls_ca is None:
        return target, channel_args, None
    if options.tls_server_name:
        channel_args.append(("grpc.ssl_target_name_override", options.tls_server_name))
    return target, channel_args, grpc.ssl_channel_credentials(root_certificates=options.tls_ca)


#: How often a refused connection is tried again while a server may still be starting.
_RETRY_S = 0.2


def _probe(channel: grpc.Channel, timeout_s: float) -> str | None:
    """The details of a call that cannot get through (``UNAVAILABLE``); None if it can."""
    probe = channel.unary_unary(_PROBE_METHOD, request_serializer=None, response_deserializer=None)
    try:
        probe(b"", timeout=max(timeout_s, 0.01), wait_for_ready=False)
    except grpc.RpcError as error:
        if error.code() is grpc.StatusCode.UNAVAILABLE:
            return str(error.details() or "")
    return None


def wait_for_channel(channel: grpc.Channel, options: ConnectOptions) -> None:
    """Wait until the channel is connected or raise :class:`CallError` saying why not.

    While the channel is not ready, a probe call asks gRPC why: a refused connection may
    still be a server starting up, so the wait goes on to ``connect_timeout_s``; a TLS
    mistake cannot fix itself, so it fails at once, named (see :mod:`connect_errors`).
    """
    attempts = ConnectAttempts(options)
    # Not grpc.channel_ready_future: its connectivity-polling thread outlives the wait and
    # dies with a traceback ("Channel deallocated!") when the channel closes soon after,
    # as it does when a refused session is given up at once.
    while True:
        if attempts.connected(_probe(channel, attempts.probe_timeout())):
            return
        time.sleep(attempts.pause())  # a refused connection: ask again until the deadline


class ConnectAttempts:
    """The judgement of a connect wait, apart from how it probes and sleeps (it does
    neither), so the synchronous and the asyncio waits decide alike."""

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self.deadline = time.monotonic() + options.connect_timeout_s
        self.last_details = ""

    def probe_timeout(self) -> float:
        """How long the next probe may take: what is left, at most 2 s."""
        return min(max(self.deadline - time.monotonic(), 0.01), 2.0)

    def connected(self, details: str | None) -> bool:
        """True when the probe got through (``details`` None); raise :class:`CallError`
        when the failure is lasting (a TLS mistake) or the deadline has passed."""
        if details is None:
            return True
        options = self.options
        if details:
            self.last_details = details
            problem = explain(options.target, details, tls=options.tls_ca is not None)
            if problem is not None and problem.lasting:
                raise CallError(problem.sentence)
        if time.monotonic() >= self.deadline:
            problem = explain(options.target, self.last_details, tls=options.tls_ca is not None)
            reason = f": {problem.sentence.split(': ', 1)[1]}" if problem else ""
            raise CallError(
                f"cannot connect to {options.target} within {options.connect_timeout_s:g} s{reason}"
            )
        return False

    def pause(self) -> float:
        """How long to wait before the next probe."""
        return max(min(_RETRY_S, self.deadline - time.monotonic()), 0.0)


_CLOSE = object()
Event = ReplyReceived | AckReceived | CallEnded | ProtocolError | ReaderCrashed


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
        self._events: queue.Queue[Event] = queue.Queue()
        self.ended: CallEnded | None = None
        self._outbox.put(self.session.start())
        process = channel.stream_stream(
            METHOD_PATH,
            request_serializer=Message.SerializeToString,
            response_deserializer=decode_message,
        )
        self._call = process(
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
        reply = reply_of(event, self.options.target, timeout_s)
        self.warnings.extend(reply.warnings)
        return reply.descriptor

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
    def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None when ``timeout_s`` passes first."""
        try:
            event = self._events.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None
        return event

    def _read(self) -> None:
        try:
            for message in self._call:
                with self._lock:
                    event, broken = response_event(self.session, message)
                if event is not None:
                    self._events.put(event)
                if broken:
                    self._call.cancel()
                    return
            self._events.put(CallEnded("OK", ""))
        except grpc.RpcError as error:
            code = error.code()
            self._events.put(CallEnded(code.name if code else "UNKNOWN", error.details() or ""))
        except Exception as error:  # our bug: end the stream with it, never leave it waiting
            self._events.put(
                ReaderCrashed(f"{type(error).__name__}: {error}", traceback.format_exc())
            )
            self._call.cancel()
        finally:
            self._outbox.put(_CLOSE)


def reply_of(event: Event | None, target: str, timeout_s: float) -> ReplyReceived:
    """The server's reply descriptor from the first event of a call, or the error that
    says why there is none (None: nothing came within ``timeout_s``)."""
    if isinstance(event, ReplyReceived):
        return event
    if event is None:
        raise CallError(
            f"no reply descriptor from {target} within {timeout_s:g} s", code="DEADLINE_EXCEEDED"
        )
    if isinstance(event, CallEnded):
        raise CallError(
            f"the server ended the call before its descriptor: {event.code}: {event.details}",
            code=event.code,
        )
    if isinstance(event, ProtocolError | ReaderCrashed):
        raise event
    raise CallError("the server acknowledged a sample before its descriptor", code="INTERNAL")


def response_event(
    session: ClientSession, response: Message | Undecodable
) -> tuple[Event | None, bool]:
    """What one response means to the session: its event (None: nothing to report, in
    observing mode), and whether the extension broke the protocol so the call must end.
    The same for the synchronous and the asyncio call."""
    if isinstance(response, Undecodable):
        first = session.state is ClientState.AWAIT_REPLY
        return undecodable_error(response, first=first), True
    try:
        return session.receive(response), False
    except ProtocolError as error:
        return error, True


def undecodable_error(response: Undecodable, *, first: bool) -> RemoteProtocolError:
    """The protocol error of a response that is not a ``MediaStreamMessage`` at all.

    Before the reply descriptor (``first``) it breaks H2 (the first message must be a
    descriptor), after it Q2 (each response acknowledges one sample with a ``media_sample``).
    """
    what = "first message" if first else "a response"
    return RemoteProtocolError(
        f"the server's {what} is {response.size} bytes that do not parse as a "
        f"MediaStreamMessage ({response.reason})",
        rule="H2" if first else "Q2",
        field="media_stream_descriptor" if first else "media_sample",
    )
