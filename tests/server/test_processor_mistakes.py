"""A processor's mistakes end its call with INTERNAL naming it, logged once (issue 8, 6).

Each mistake is a real processor served over loopback: returning the wrong shape,
raising in ``open()`` or ``process()``, even ``SystemExit``/``KeyboardInterrupt``. The
client must get INTERNAL with a message that names the processor, what it returned and
what was expected (not gRPC's UNKNOWN "Exception iterating responses", nor a call left
open); the server logs it once, and the next session is served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import grpc
import pytest

from lvatool.media import Encoding, FrameFormat
from lvatool.server import (
    Frame,
    FunctionProcessor,
    Inference,
    Processor,
    SessionInfo,
    classification,
)
from lvatool.testing import serve
from tests.frames import DARK, descriptor, encode, sample
from tests.rawcall import RawCall
from tests.server.serverlog import ServerLog, server_log

JPG = FrameFormat(Encoding.JPG)


def returns_none(frame: Frame) -> None:
    return None


def returns_dict(frame: Frame) -> dict[str, float]:
    return {"dark": 0.9}


def returns_number(frame: Frame) -> float:
    return 0.5


def returns_one_inference(frame: Frame) -> Inference:
    return classification("dark")


def returns_strings(frame: Frame) -> list[str]:
    return ["dark"]


def exits(frame: Frame) -> list[Inference]:
    raise SystemExit(3)


def interrupts(frame: Frame) -> list[Inference]:
    raise KeyboardInterrupt


def raises(frame: Frame) -> list[Inference]:
    raise RuntimeError("model file missing")


class OpenFails(Processor):
    def open(self, session: SessionInfo) -> None:
        raise RuntimeError("no GPU")

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        return []


class OpenRefuses(Processor):
    def open(self, session: SessionInfo) -> None:
        raise ValueError("this model needs RAW frames")


class ShortBatch(Processor):
    def process_batch(
        self, frames: Sequence[Frame], session: SessionInfo
    ) -> Sequence[Sequence[Inference]]:
        return []


@pytest.fixture
def log() -> Iterator[ServerLog]:
    with server_log() as collected:
        yield collected


@contextmanager
def one_frame_served(processor: Processor) -> Iterator[tuple[grpc.StatusCode, str, str]]:
    """Serve ``processor`` and send it one frame: the call's status, and the server's
    address, which keeps serving until the block ends."""
    with serve(processor, grace_s=0) as address, grpc.insecure_channel(address) as channel:
        call = RawCall(channel)
        call.send(descriptor(JPG))
        try:
            call.recv()
        except AssertionError:  # refused at the descriptor: the status says why
            yield (*call.status(), address)
            return
        call.send(sample(2, encode(DARK, JPG)))
        yield (*call.status(), address)


def still_serves(address: str) -> None:
    """A fresh session on the same server gets its reply descriptor: one call ended, not all."""
    with grpc.insecure_channel(address) as channel:
        call = RawCall(channel)
        call.send(descriptor(JPG))
        assert call.recv().WhichOneof("payload") == "media_stream_descriptor"
        call.cancel()


@pytest.mark.parametrize(
    ("function", "returned"),
    [
        (returns_none, "None"),
        (returns_dict, "dict {'dark': 0.9}"),
        (returns_number, "float 0.5"),
        (returns_one_inference, "a single Inference"),
        (returns_strings, "str 'dark'"),
    ],
)
def test_wrong_return_is_internal_naming_processor_value_and_expectation(
    function: Callable[[Frame], object], returned: str, log: ServerLog
) -> None:
    processor = FunctionProcessor(function)  # type: ignore[arg-type]
    with one_frame_served(processor) as (code, details, address):
        assert code == grpc.StatusCode.INTERNAL, details
        assert f"{__name__}.{function.__name__}" in details  # names the processor
        assert returned in details and "expected" in details
        (end,) = log.wait_for("session end")
        assert "status=INTERNAL" in end
        assert len(log.lines(returned)) == 2  # the mistake once, and the session end
        still_serves(address)


@pytest.mark.parametrize(
    ("function", "error"),
    [
        (raises, "RuntimeError: model file missing"),
        (exits, "SystemExit: 3"),
        (interrupts, "KeyboardInterrupt"),
    ],
)
def test_exceptions_from_process_are_internal_with_one_traceback(
    function: Callable[[Frame], object], error: str, log: ServerLog
) -> None:
    """SystemExit and KeyboardInterrupt too: they used to leave the call open, no status."""
    processor = FunctionProcessor(function)  # type: ignore[arg-type]
    with one_frame_served(processor) as (code, details, address):
        assert code == grpc.StatusCode.INTERNAL, details
        assert f"{__name__}.{function.__name__}" in details and error in details
        (end,) = log.wait_for("session end")
        assert "status=INTERNAL" in end
        logged = [r for r in log.records if r.levelno >= logging.ERROR and r.exc_info]
        assert len(logged) == 1  # once, with the traceback
        still_serves(address)


def test_open_raising_is_internal_naming_open(log: ServerLog) -> None:
    with one_frame_served(OpenFails()) as (code, details, _):
        assert code == grpc.StatusCode.INTERNAL
        assert "OpenFails" in details and "open()" in details and "no GPU" in details
        (end,) = log.wait_for("session end")
        assert "status=INTERNAL" in end
        assert len([r for r in log.records if r.exc_info]) == 1


def test_open_raising_value_error_still_refuses_the_session(log: ServerLog) -> None:
    with one_frame_served(OpenRefuses()) as (code, details, _):
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "needs RAW frames" in details


def test_wrong_number_of_batch_results_is_internal(log: ServerLog) -> None:
    with one_frame_served(ShortBatch()) as (code, details, _):
        assert code == grpc.StatusCode.INTERNAL
        assert "ShortBatch" in details and "0 results for a batch of 1" in details
