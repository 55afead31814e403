"""A ProcessMediaStream call driven one message at a time, every wait with a deadline.

Tests use it to send exactly what they want, well-formed or not, and to read exactly
what comes back; the call's overall deadline guarantees no test can hang.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

import grpc

from lvatool.contract import extension_pb2, extension_pb2_grpc

Message = extension_pb2.MediaStreamMessage
_CLOSE = object()


class RawCall:
    def __init__(
        self,
        channel: grpc.Channel,
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
        deadline_s: float = 30.0,
    ) -> None:
        self._outbox: queue.Queue[object] = queue.Queue()
        self._inbox: queue.Queue[Message | None] = queue.Queue()
        stub = extension_pb2_grpc.MediaGraphExtensionStub(channel)
        self._call = stub.ProcessMediaStream(
            self._requests(), metadata=metadata, timeout=deadline_s
        )
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self._done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _requests(self) -> Iterator[Message]:
        while True:
            item = self._outbox.get()
            if item is _CLOSE:
                return
            assert isinstance(item, Message)
            yield item

    def _read(self) -> None:
        try:
            for message in self._call:
                self._inbox.put(message)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            self.code = error.code()
            self.details = error.details() or ""
        finally:
            self._inbox.put(None)
            self._done.set()

    def send(self, message: Message) -> None:
        self._outbox.put(message)

    def half_close(self) -> None:
        self._outbox.put(_CLOSE)

    def cancel(self) -> None:
        self._call.cancel()
        self._outbox.put(_CLOSE)

    def recv(self, timeout_s: float = 10.0) -> Message:
        """The next response; fails the test if none comes in time or the call ended."""
        try:
            message = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no response within {timeout_s} s") from None
        if message is None:
            self._inbox.put(None)
            raise AssertionError(f"the call ended: {self.code} {self.details}")
        return message

    def status(self, timeout_s: float = 10.0) -> tuple[grpc.StatusCode, str]:
        """Wait for the call to end; its status code and details."""
        if not self._done.wait(timeout_s):
            raise AssertionError(f"the call did not end within {timeout_s} s")
        assert self.code is not None
        return self.code, self.details

    def drain(self, timeout_s: float = 10.0) -> list[Message]:
        """Every remaining response until the call ends."""
        out: list[Message] = []
        while True:
            try:
                message = self._inbox.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(f"the call did not end within {timeout_s} s") from None
            if message is None:
                self._inbox.put(None)
                return out
            out.append(message)
