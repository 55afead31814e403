"""gRPC channel options shared by the server and the client side of lvatool."""

from __future__ import annotations

MIB = 1 << 20


def channel_options(max_message_mib: int) -> list[tuple[str, int]]:
    """Message limits raised on both sides so raw 1080p frames fit (E2).

    Larger HTTP/2 frames and a larger initial window let a multi-megabyte sample cross
    in a few writes instead of hundreds: measured +25 % frames/s for 1080p embedded.
    ``so_reuseport`` is off so that a second server on a busy port fails loudly.
    """
    limit = max_message_mib * MIB
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        ("grpc.http2.max_frame_size", 4 * MIB),
        ("grpc.http2.lookahead_bytes", 32 * MIB),
        ("grpc.so_reuseport", 0),
    ]


def server_keepalive_options(time_s: float, timeout_s: float) -> list[tuple[str, int]]:
    """HTTP/2 pings that drop a peer which answers nothing (A3, issue 8).

    A client frozen with SIGSTOP, or a host that vanished without closing its TCP
    connection, would otherwise hold its session slot forever. The server pings every
    ``time_s`` of silence and ends the connection when a ping goes unanswered for
    ``timeout_s``. Measured (facts.md): ``keepalive_time_ms`` and ``keepalive_timeout_ms``
    alone never ended such calls; ``http2.ping_timeout_ms`` is what does. Pings are sent
    however long the connection carries no data (``max_pings_without_data`` 0), because a
    motion-gated session can be silent for hours and must still be watched. A live peer
    answers pings in its HTTP/2 stack, so a merely quiet session is never dropped.
    """
    time_ms = max(1, round(time_s * 1000))
    timeout_ms = max(1, round(timeout_s * 1000))
    return [
        ("grpc.keepalive_time_ms", time_ms),
        ("grpc.keepalive_timeout_ms", timeout_ms),
        ("grpc.http2.ping_timeout_ms", timeout_ms),
        ("grpc.http2.max_pings_without_data", 0),
    ]
