"""One LVA-like session on gRPC's asyncio stack, for many streams on one event loop.

:class:`AsyncExtensionCall` is :class:`~lvatool.sim.call.ExtensionCall` for
``lvatool simulate``: the same :class:`~lvatool.protocol.ClientSession`, the same events
and the same tolerance of bytes that are not a message, but every stream of a run lives
on one event loop instead of three threads of its own (the sender, gRPC's request
consumer and a response reader). At 64 cameras those threads handed every frame from
one to the next several times, and the hand-offs cost more than sending the frame: CPU
per frame fell by a third when they went (``benchmarks/streams_bench.py``).

Everything here runs on the loop's thread, except :meth:`AsyncExtensionCall.wake`,
which any thread may call. The call has no overall deadline (a camera streams for days);
every wait here has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections import deque
from collections.abc import Sequence
from typing import Any

import grpc
import grpc.aio

from lvatool.contract import METHOD_PATH, extension_pb2, inferencing_pb2
from lvatool.protocol import (
    ClientSession,
    ContentReference,
    StreamSpec,
)
from lvatool.protocol.wire import decode_message
from lvatool.sim.call import (
    CallEnded,
    ConnectAttempts,
    ConnectOptions,
    Event,
    ReaderCrashed,
    channel_settings,
    reply_of,
    response_event,
)

Message = extension_pb2.MediaStreamMessage
_PROBE_METHOD = "/grpc.health.v1.Health/Check"


def open_async_channel(options: ConnectOptions) -> grpc.aio.Channel:
    """:func:`~lvatool.sim.call.open_channel` on the asyncio stack (call it on the loop
    that will use the channel: gRPC binds a channel to the loop it was made on)."""
    target, channel_args, credentials = channel_settings(options)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=channel_args)
    return grpc.aio.secure_channel(target, credentials, options=channel_args)


async def wait_for_async_channel(channel: grpc.aio.Channel, options: ConnectOptions) -> None:
    """:func:`~lvatool.sim.call.wait_for_channel` without blocking the loop: the same
    probes, judged by the same :class:`~lvatool.sim.call.ConnectAttempts`."""
    attempts = ConnectAttempts(options)
    probe = channel.unary_unary(_PROBE_METHOD, request_serializer=None, response_deserializer=None)
    while True:
        details: str | None = None
        try:
            await probe(b"", timeout=attempts.probe_timeout(), wait_for_ready=False)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.UNAVAILABLE:
                details = str(error.details() or "")
        if attempts.connected(details):
            return
        await asyncio.sleep(attempts.pause())


class AsyncExtensionCall:
    """A session with one extension: handshake, samples out, acknowledgements in.

    Made on the loop that runs it. Two tasks serve the call: a writer that sends what
    :meth:`send` queued (so a stream never waits on a write an extension does not read,
    and can still time out its acks), and a reader that feeds every response to the
    session and keeps the resulting events until :meth:`next_event` takes them.
    """

    def __init__(
        self, channel: grpc.aio.Channel, spec: StreamSpec, options: ConnectOptions
    ) -> None:
        self.spec = spec
        self.options = options
        self.session = ClientSession(spec)
        self.warnings: list[str] = []
        self._loop = asyncio.get_running_loop()
        self._events: deque[Event] = deque()
        self._arrived = asyncio.Event()
        self._outbox: deque[Message | None] = deque([self.session.start()])  # None: half-close
        self._queued = asyncio.Event()
        process = channel.stream_stream(
            METHOD_PATH,
            request_serializer=Message.SerializeToString,
            response_deserializer=decode_message,
        )
        self._call: Any = process(metadata=options.metadata() or None, wait_for_ready=False)
        self._reader = asyncio.ensure_future(self._read())
        self._writer = asyncio.ensure_future(self._write())

    # -- sending ---------------------------------------------------------------------
    async def handshake(self, timeout_s: float) -> extension_pb2.MediaStreamDescriptor:
        """Wait for the server's descriptor (H4); only then may samples go (H5)."""
        event = await self.next_event(timeout_s)
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
        """Queue one sample for sending; return its sequence number."""
        message = self.session.send_sample(timestamp, content, inferences=inferences, tag=tag)
        self._queue(message)
        return int(message.sequence_number)

    def close(self) -> None:
        """Half-close after what is queued: the server finishes and ends the call (Q6)."""
        self.session.close()
        self._queue(None)

    def cancel(self) -> None:
        """Abandon the call at once."""
        self._call.cancel()
        self._writer.cancel()

    def _queue(self, message: Message | None) -> None:
        self._outbox.append(message)
        self._queued.set()

    async def _write(self) -> None:
        """Send the queued messages in order, then half-close. A call that has ended
        takes nothing more; the reader reports how it ended, as an event."""
        outbox, call = self._outbox, self._call
        try:
            while True:
                while not outbox:
                    self._queued.clear()
                    await self._queued.wait()
                message = outbox.popleft()
                if message is None:
                    await call.done_writing()
                    return
                await call.write(message)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the call has ended; the reader says how

    # -- receiving -------------------------------------------------------------------
    async def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None when ``timeout_s`` passes first or :meth:`wake` is called."""
        if self._events:
            return self._events.popleft()
        self._arrived.clear()
        if timeout_s <= 0:
            return None
        timer = self._loop.call_later(timeout_s, self._arrived.set)
        try:
            await self._arrived.wait()
        finally:
            timer.cancel()
        return self._events.popleft() if self._events else None

    def wake(self) -> None:
        """End a :meth:`next_event` wait early (safe from any thread): something else is ready."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._arrived.set)

    async def finished(self) -> None:
        """Wait for both tasks to end; call it once the call has ended or been cancelled
        (a writer still waiting for samples then has none to wait for)."""
        await asyncio.gather(self._reader, return_exceptions=True)
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)

    def _put(self, event: Event) -> None:
        self._events.append(event)
        self._arrived.set()

    async def _read(self) -> None:
        call = self._call
        try:
            while True:
                message = await call.read()
                if message is grpc.aio.EOF:
                    break
                event, broken = response_event(self.session, message)
                if event is not None:
                    self._put(event)
                if broken:
                    self.cancel()
                    return
            self._put(CallEnded("OK", ""))
        except grpc.aio.AioRpcError as error:
            code = error.code()
            self._put(CallEnded(code.name if code else "UNKNOWN", error.details() or ""))
        except asyncio.CancelledError:
            # gRPC raises this when we cancelled the call; the task itself being
            # cancelled (the loop closing) must still end it.
            if not call.cancelled():
                raise
            self._put(CallEnded("CANCELLED", "cancelled by lvatool simulate"))
        except Exception as error:  # our bug: end the stream with it, never leave it waiting
            self._put(ReaderCrashed(f"{type(error).__name__}: {error}", traceback.format_exc()))
            self.cancel()
