"""Slots and session ends (issue 8, point 4 and the logging part of 7).

Frozen or vanished peers, one host opening every call, silent sessions: each is built
for real (a subprocess client stopped with SIGSTOP, many calls from one address) against
a server on loopback, and every end is checked from both sides: the status the client
receives and the ``session end`` line the operator reads must name the same thing.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from lvatool.contract import METHOD_PATH
from lvatool.media import Encoding, FrameFormat
from lvatool.server import ExtensionServer, ServerOptions, SessionPolicy
from lvatool.server.slots import peer_address
from tests.frames import DARK, descriptor, encode, sample
from tests.rawcall import RawCall
from tests.server.serverlog import ServerLog, server_log
from tests.sim.simrun import wait_for

JPG = FrameFormat(Encoding.JPG)

# A client that opens a session, says so, then waits to be frozen by the test.
FROZEN_CLIENT = """
import sys, threading
import grpc
from lvatool.media import Encoding, FrameFormat
from tests.frames import descriptor
from tests.rawcall import RawCall

channel = grpc.insecure_channel(sys.argv[1])
call = RawCall(channel, deadline_s=600)
call.send(descriptor(FrameFormat(Encoding.JPG)))
call.recv(timeout_s=60)
print("ready", flush=True)
threading.Event().wait()
"""


def started(policy: SessionPolicy, **options: object) -> ExtensionServer:
    server = ExtensionServer(
        ServerOptions(host="127.0.0.1", port=0, policy=policy, **options)  # type: ignore[arg-type]
    )
    server.start()
    return server


@pytest.fixture
def log() -> Iterator[ServerLog]:
    with server_log() as collected:
        yield collected


def handshake(call: RawCall) -> None:
    call.send(descriptor(JPG))
    assert call.recv().WhichOneof("payload") == "media_stream_descriptor"


def test_frozen_client_loses_its_slot_to_keepalive(log: ServerLog) -> None:
    """A3: a client stopped with SIGSTOP answers no HTTP/2 ping and loses its only slot."""
    server = started(SessionPolicy(max_sessions=1), keepalive_time_s=1, keepalive_timeout_s=1)
    client = subprocess.Popen(
        [sys.executable, "-c", FROZEN_CLIENT, server.address],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "ready"  # its session holds the slot
        assert server.servicer.slots.active == 1
        (start,) = log.wait_for("session start")
        peer = start.split("peer=", 1)[1].split()[0]  # this client's, not another server's
        client.send_signal(signal.SIGSTOP)
        wait_for(lambda: server.servicer.slots.active == 0, "the frozen client's slot freed", 60)
        (end,) = log.wait_for(f"session end peer={peer} ")
        assert "status=CANCELLED" in end, end
        with grpc.insecure_channel(server.address) as channel:
            fresh = RawCall(channel)
            handshake(fresh)  # the slot serves someone else
            fresh.cancel()
    finally:
        client.kill()
        client.wait(30)
        server.stop(0)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_one_peer_address_cannot_take_every_slot(log: ServerLog) -> None:
    """H1: past --max-sessions-per-peer a peer is refused with RESOURCE_EXHAUSTED naming
    the limit, at once; another address is still served."""
    server = ExtensionServer(
        ServerOptions(
            host="::" if _ipv6_loopback() else "127.0.0.1",
            port=0,
            policy=SessionPolicy(max_sessions=8, max_sessions_per_peer=2),
        )
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            silent = [RawCall(channel), RawCall(channel)]
            for call in silent:
                handshake(call)
            refused = RawCall(channel)
            refused.send(descriptor(JPG))
            code, details = refused.status(timeout_s=10)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-sessions-per-peer" in details and "127.0.0.1" in details
            assert log.lines("session refused") and "RESOURCE_EXHAUSTED" in log.lines()[-1]
            if _ipv6_loopback():
                with grpc.insecure_channel(f"[::1]:{server.port}") as other_peer:
                    other = RawCall(other_peer)
                    handshake(other)
                    other.cancel()
            for call in silent:
                call.cancel()
            wait_for(lambda: server.servicer.slots.active == 0, "the slots given back")
            again = RawCall(channel)
            handshake(again)  # the peer's share is back
            again.cancel()
    finally:
        server.stop(0)


def test_idle_timeout_ends_a_silent_session(log: ServerLog) -> None:
    """A3: with --idle-timeout-s a session with no message for that long ends with
    DEADLINE_EXCEEDED naming the option; the log says the same."""
    server = started(SessionPolicy(idle_timeout_s=1.0, idle_poll_s=0.2))
    try:
        with grpc.insecure_channel(server.address) as channel:
            call = RawCall(channel)
            handshake(call)
            call.send(sample(2, encode(DARK, JPG)))
            call.recv()
            code, details = call.status(timeout_s=30)
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "--idle-timeout-s" in details
            (end,) = log.wait_for("session end")
            assert "status=DEADLINE_EXCEEDED" in end and "--idle-timeout-s" in end
    finally:
        server.stop(0)


def test_handshake_timeout_is_kept(log: ServerLog) -> None:
    """H2: a call that never sends its descriptor ends with DEADLINE_EXCEEDED, logged so."""
    server = started(SessionPolicy(handshake_timeout_s=1.0))
    try:
        with grpc.insecure_channel(server.address) as channel:
            call = RawCall(channel)
            code, details = call.status(timeout_s=30)
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "(H2)" in details
            (end,) = log.wait_for("session end")
            assert "status=DEADLINE_EXCEEDED" in end
    finally:
        server.stop(0)


@pytest.fixture
def server() -> Iterator[ExtensionServer]:
    running = started(SessionPolicy(idle_poll_s=0.2))
    yield running
    running.stop(0)


def test_garbage_bytes_logged_with_the_clients_status(
    server: ExtensionServer, log: ServerLog
) -> None:
    """§2: bytes that are no MediaStreamMessage end the call with INVALID_ARGUMENT, and
    the log line names INVALID_ARGUMENT too (gRPC used to send INTERNAL behind its back)."""
    with grpc.insecure_channel(server.address) as channel:
        call = channel.stream_stream(METHOD_PATH)(iter([b"\xff\xff\xff garbage"]), timeout=30)
        with pytest.raises(grpc.RpcError) as ended:
            list(call)
    assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "MediaStreamMessage" in (ended.value.details() or "")
    (end,) = log.wait_for("session end")
    assert "status=INVALID_ARGUMENT" in end


@pytest.mark.parametrize("when", ["before the descriptor", "after the handshake"])
def test_cancelled_calls_are_logged_as_cancelled(
    when: str, server: ExtensionServer, log: ServerLog
) -> None:
    """A cancelled call is logged CANCELLED: not "ended OK", not an H2 violation."""
    with grpc.insecure_channel(server.address) as channel:
        call = RawCall(channel)
        if when == "after the handshake":
            handshake(call)
        else:
            wait_for(lambda: server.servicer.slots.active == 1, "the call to arrive")
        call.cancel()
        assert call.status()[0] == grpc.StatusCode.CANCELLED
        (end,) = log.wait_for("session end")
    assert "status=CANCELLED" in end and "H2" not in end


def test_half_close_before_the_descriptor_is_logged_as_the_h2_violation_it_is(
    server: ExtensionServer, log: ServerLog
) -> None:
    """H2: a client that half-closes without a descriptor gets INVALID_ARGUMENT, and the
    log says so once gRPC has closed the call (a cancel ends the request stream alike)."""
    with grpc.insecure_channel(server.address) as channel:
        call = RawCall(channel)
        wait_for(lambda: server.servicer.slots.active == 1, "the call to arrive")
        call.half_close()
        code, details = call.status()
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "(H2)" in details
    (end,) = log.wait_for("session end")
    assert "status=INVALID_ARGUMENT" in end and "H2" in end


def test_half_close_is_logged_ok(server: ExtensionServer, log: ServerLog) -> None:
    """Q6: a session the client half-closes ends OK on both sides."""
    with grpc.insecure_channel(server.address) as channel:
        call = RawCall(channel)
        handshake(call)
        call.send(sample(2, encode(DARK, JPG)))
        call.recv()
        call.half_close()
        assert call.status()[0] == grpc.StatusCode.OK
    (end,) = log.wait_for("session end")
    assert "status=OK" in end and "received=1 acknowledged=1" in end


def test_refused_credentials_are_logged_with_the_clients_status(log: ServerLog) -> None:
    """A1: a refusal before any session is logged too, with the status the client got."""
    server = started(SessionPolicy(credentials=("user", "secret")))
    try:
        with grpc.insecure_channel(server.address) as channel:
            call = RawCall(channel)
            call.send(descriptor(JPG))
            assert call.status()[0] == grpc.StatusCode.UNAUTHENTICATED
        (refused,) = log.wait_for("session refused")
        assert "status=UNAUTHENTICATED" in refused and "missing" in refused
    finally:
        server.stop(0)


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:10.0.0.5:40512", "10.0.0.5"),
        ("ipv6:%5B::1%5D:40512", "::1"),
        ("ipv6:[fe80::1]:5001", "fe80::1"),
        ("unix:/tmp/socket", "unix:/tmp/socket"),
    ],
)
def test_peer_address_is_the_ip_without_the_port(peer: str, address: str) -> None:
    """The per-peer limit counts every connection of one host together."""
    assert peer_address(peer) == address
