"""A client that shrinks its shared buffer after the handshake, against real processes.

Reading a mapped page past the end of a truncated file is SIGBUS, which kills the
whole process, so the server and the conformance checker run in processes of their
own here: before the fix each died (every session lost, nothing logged); now the call
ends with FAILED_PRECONDITION naming M1 and the sizes, and the process carries on
(A3, M1).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import IO

import grpc
import pytest

from lvatool.protocol import SharedMemoryTransfer
from tests.frames import DARK, descriptor, encode, label, raw_format, reference
from tests.rawcall import RawCall
from tests.serveproc import free_port, wait_healthy
from tests.server.test_hostile_input import DEADLINE_S, still_served
from tests.shmfile import ShmFile

#: A process on a loaded 2-core machine may take a while to import grpc and PyAV.
START_S = 60.0


def _wait_until_serving(address: str, process: subprocess.Popen[str]) -> None:
    try:
        wait_healthy(address, process, START_S)
    except AssertionError:
        process.kill()
        raise AssertionError(f"no server on {address}: {process.communicate()[1]}") from None


@pytest.fixture
def serve_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``lvatool serve`` in its own process, so that a SIGBUS kills it and not pytest."""
    yield from _serve()


@pytest.fixture
def batching_serve_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The same, holding frames in batches of 2 for up to a minute before processing."""
    yield from _serve("--batch-size", "2", "--batch-timeout-ms", "60000", "--log-level", "debug")


def _serve(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    command = [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), *options],
        stderr=subprocess.PIPE,
        text=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        _wait_until_serving(address, process)
        yield process, address
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=START_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def buffer() -> Iterator[ShmFile]:
    file = ShmFile(1 << 20)
    yield file
    file.close()


def test_server_survives_a_buffer_shrunk_after_the_handshake(
    serve_process: tuple[subprocess.Popen[str], str], buffer: ShmFile
) -> None:
    """A3, M1: the call ends with FAILED_PRECONDITION; the server lives and serves on."""
    process, address = serve_process
    frame = raw_format(DARK)
    content = encode(DARK, frame)
    buffer.write(0, content)
    with grpc.insecure_channel(address) as channel:
        call = RawCall(channel, deadline_s=2 * DEADLINE_S)
        call.send(descriptor(frame, SharedMemoryTransfer(buffer.name, buffer.size)))
        assert call.recv(DEADLINE_S).WhichOneof("payload") == "media_stream_descriptor"
        call.send(reference(2, 0, len(content)))
        assert label(call.recv(DEADLINE_S)) == "dark"  # the buffer works until it shrinks

        os.truncate(buffer.path, 4096)
        call.send(reference(3, 8192, len(content)))
        code, details = call.status(DEADLINE_S)
        assert process.poll() is None, f"the server died ({process.returncode})"
        assert code == grpc.StatusCode.FAILED_PRECONDITION, details
        assert "shrank to 4096 bytes" in details and str(buffer.size) in details
        assert "M1" in details
        still_served(channel)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=START_S)
    assert process.returncode == 0, stderr
    assert "Fatal Python error" not in stderr


def test_a_frame_waiting_in_a_batch_is_not_read_from_a_shrunk_buffer(
    batching_serve_process: tuple[subprocess.Popen[str], str], buffer: ShmFile
) -> None:
    """A3, M1: a frame's region was whole when it arrived, but the client shrinks the file
    while the frame waits for its batch; the server checks again before processing it."""
    process, address = batching_serve_process
    frame = raw_format(DARK)
    content = encode(DARK, frame)
    buffer.write(8192, content)
    with grpc.insecure_channel(address) as channel:
        call = RawCall(channel, deadline_s=2 * DEADLINE_S)
        call.send(descriptor(frame, SharedMemoryTransfer(buffer.name, buffer.size)))
        assert call.recv(DEADLINE_S).WhichOneof("payload") == "media_stream_descriptor"
        call.send(reference(2, 8192, len(content)))  # waits for a second frame
        _wait_for_log(process, "sample 2 received, 1 of 2 in the batch")
        os.truncate(buffer.path, 4096)
        call.half_close()  # the half-close processes the partial batch (Q6)
        code, details = call.status(DEADLINE_S)
        assert process.poll() is None, f"the server died ({process.returncode})"
        assert code == grpc.StatusCode.FAILED_PRECONDITION, details
        assert "shrank to 4096 bytes" in details and "waiting to be processed" in details
        still_served(channel)


_CHECKER = textwrap.dedent(
    """
    import json
    from lvatool.conformance.checking_extension import CheckingExtension

    with CheckingExtension() as checker:
        print(checker.port, flush=True)
        if checker.servicer.session_started.wait({deadline}):
            record = checker.sessions[0]
            record.done.wait({deadline})
            violations = [[v.rule, v.status.name, str(v)] for v in record.violations]
            print(json.dumps({{"ending": record.ending, "violations": violations}}), flush=True)
    """
)


def _wait_for_log(process: subprocess.Popen[str], text: str) -> None:
    """Read the server's log until a line holds ``text``; fail at the deadline."""
    end = time.monotonic() + DEADLINE_S
    while (left := end - time.monotonic()) > 0:
        line = _read_line(process, left, stream=process.stderr)
        if text in line:
            return
    raise AssertionError(f"the server never logged {text!r}")


def _read_line(
    process: subprocess.Popen[str], deadline_s: float, stream: IO[str] | None = None
) -> str:
    """The next line the process prints (on stdout unless ``stream``), or an AssertionError
    once ``deadline_s`` passes."""
    stream = stream or process.stdout
    assert stream is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            if selector.select(left):
                return stream.readline()
    raise AssertionError(f"the checker printed nothing within {deadline_s} s")


def test_conformance_checker_judges_a_shrunk_buffer_instead_of_dying(buffer: ShmFile) -> None:
    """The checking extension maps the client's buffer too: same fault, same clean end.

    The client under test shrinks its buffer; the checker records an M1 violation, ends
    the call with FAILED_PRECONDITION and reports, where it used to die of SIGBUS and
    lose the whole run's report.
    """
    checker = subprocess.Popen(
        [sys.executable, "-c", _CHECKER.format(deadline=START_S)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(_read_line(checker, START_S))
        frame = raw_format(DARK)
        content = encode(DARK, frame)
        buffer.write(0, content)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = RawCall(channel, deadline_s=2 * DEADLINE_S)
            call.send(descriptor(frame, SharedMemoryTransfer(buffer.name, buffer.size)))
            assert call.recv(DEADLINE_S).WhichOneof("payload") == "media_stream_descriptor"
            os.truncate(buffer.path, 0)
            call.send(reference(2, 0, len(content)))
            call.half_close()
            code, details = call.status(DEADLINE_S)
        assert code == grpc.StatusCode.FAILED_PRECONDITION, details
        report = json.loads(_read_line(checker, START_S))
        _, stderr = checker.communicate(timeout=START_S)
    finally:
        if checker.poll() is None:
            checker.kill()
            checker.communicate()
    assert checker.returncode == 0, stderr
    assert report["ending"] == "refused"
    (rule, status, message) = report["violations"][-1]
    assert (rule, status) == ("M1", "FAILED_PRECONDITION")
    assert "shrank to 0 bytes" in message
