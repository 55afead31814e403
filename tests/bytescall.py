"""A ProcessMediaStream call that sends and receives bytes, not messages.

:class:`tests.rawcall.RawCall` can only send what protobuf can serialise. A hostile client
is not so polite: it may send bytes that are no protobuf at all. This call has no
serialisers, so every request goes on the wire exactly as given (a serialised message,
or garbage) and every response comes back as the bytes the server sent, for the test to
parse and judge. Every wait has a deadline, and so does the call itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc

from lvatool.contract import METHOD_PATH

_CLOSE = object()


class BytesCall:
    """One call on ``channel``; ``deadline_s`` bounds it as a whole (a gRPC timeout)."""

    def __init__(self, channel: grpc.Channel, *, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.responses: list[bytes] = []
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self._outbox: queue.Queue[object] = queue.Queue()
        self._changed = threading.Condition()
        self._ended = False
        # No serialisers: requests and responses are bytes on the wire, as they are.
        method = channel.stream_stream(METHOD_PATH)
        self._call = method(self._requests(), timeout=deadline_s)
        threading.Thread(target=self._read, name="bytescall-reader", daemon=True).start()

    def send(self, data: bytes) -> None:
        self._outbox.put(data)

    def half_close(self) -> None:
        self._outbox.put(_CLOSE)

    def cancel(self) -> None:
        self._call.cancel()
        self._outbox.put(_CLOSE)

    def wait_for_response_or_end(self, timeout_s: float) -> bool:
        """True once a response arrived or the call ended; False if ``timeout_s`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.responses) or self._ended, timeout_s)

    def wait_for_end(self, timeout_s: float) -> bool:
        """True once the call has ended with a status; False if ``timeout_s`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._ended, timeout_s)

    @property
    def hit_own_deadline(self) -> bool:
        """The call ended because *this client's* deadline passed, not by the server's status.

        The server ends a silent handshake with DEADLINE_EXCEEDED too, but with its own
        message; gRPC's client-side timeout says only "Deadline Exceeded".
        """
        return self.code == grpc.StatusCode.DEADLINE_EXCEEDED and self.details in (
            "",
            "Deadline Exceeded",
        )

    def _requests(self) -> Iterator[bytes]:
        while True:
            item = self._outbox.get()
            if item is _CLOSE:
                return
            assert isinstance(item, bytes)
            yield item

    def _read(self) -> None:
        code, details = grpc.StatusCode.OK, ""
        try:
            for response in self._call:
                with self._changed:
                    self.responses.append(response)
                    self._changed.notify_all()
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
        finally:
            self._outbox.put(_CLOSE)  # let gRPC's request thread finish
            with self._changed:
                self.code, self.details = code, details
                self._ended = True
                self._changed.notify_all()
