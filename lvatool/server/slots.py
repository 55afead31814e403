"""Session slots: the server's limit, a limit per peer address, and who is still inside.

``--max-sessions`` alone lets one connection that opens that many calls and sends
nothing lock every other camera out (issue 8). A second limit per peer *address* (the
IP, without the port, so that many connections from one host count together) keeps a
share for everyone else. The same bookkeeping tells a stopping server whether calls are
still running when its grace period ends.
"""

from __future__ import annotations

import threading
import time
import urllib.parse


def peer_address(peer: str) -> str:
    """The IP of a gRPC peer string, without its port.

    gRPC names peers ``ipv4:10.0.0.5:40512``, ``ipv6:%5B::1%5D:40512`` (brackets
    URL-encoded) or ``unix:/path``; anything else is kept whole.
    """
    kind, sep, rest = peer.partition(":")
    if not sep or kind not in ("ipv4", "ipv6"):
        return peer
    rest = urllib.parse.unquote(rest)
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    host, colon, port = rest.rpartition(":")
    return host if colon and port.isdigit() else rest


class SessionSlots:
    """Counts sessions in total and per peer address; refuses past either limit (H1)."""

    def __init__(self, max_sessions: int, max_per_peer: int) -> None:
        self.max_sessions = max_sessions
        self.max_per_peer = max_per_peer
        self._per_peer: dict[str, int] = {}
        self._active = 0
        self._idle = threading.Condition()

    def acquire(self, peer: str) -> str | None:
        """Take a slot for ``peer``; None when taken, else the sentence refusing it."""
        address = peer_address(peer)
        with self._idle:
            if self._active >= self.max_sessions:
                return (
                    f"the server is at its limit of {self.max_sessions} sessions (--max-sessions)"
                )
            held = self._per_peer.get(address, 0)
            if held >= self.max_per_peer:
                return (
                    f"{address} already has {held} sessions, the limit per peer address "
                    "(--max-sessions-per-peer)"
                )
            self._per_peer[address] = held + 1
            self._active += 1
            return None

    def release(self, peer: str) -> None:
        """Give back the slot taken for ``peer``."""
        address = peer_address(peer)
        with self._idle:
            left = self._per_peer.get(address, 0) - 1
            if left > 0:
                self._per_peer[address] = left
            else:
                self._per_peer.pop(address, None)
            self._active -= 1
            self._idle.notify_all()

    @property
    def active(self) -> int:
        """Sessions running now."""
        with self._idle:
            return self._active

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Wait until no session runs, at most ``timeout_s``; True if none runs."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True
