"""``serve``: a real ExtensionServer in this process, on a free port, stopped at exit."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pytest

from lvatool.server import Frame, Inference, Processor, SessionInfo
from lvatool.testing import serve
from lvatool.testing.process import is_serving
from tests.frames import DARK, LIGHT, descriptor, encode, sample
from tests.rawcall import RawCall
from tests.testing.wire import JPG, labels_from


def test_serves_dark_light_by_default_and_stops_at_exit() -> None:
    with serve() as address:
        assert address.startswith("127.0.0.1:")
        assert labels_from(address, [DARK, LIGHT]) == ["dark", "light"]
    assert not is_serving(address, timeout_s=1.0)


class BatchSizes(Processor):
    def __init__(self) -> None:
        self.sizes: list[int] = []

    def process_batch(
        self, frames: Sequence[Frame], session: SessionInfo
    ) -> Sequence[Sequence[Inference]]:
        self.sizes.append(len(frames))
        return [[] for _ in frames]


def test_server_and_session_options_are_keywords() -> None:
    """``batch_size`` (a SessionPolicy field) and the processor object reach the server."""
    processor = BatchSizes()
    with (
        serve(processor, batch_size=4, batch_timeout_s=30.0) as address,
        grpc.insecure_channel(address) as channel,
    ):
        call = RawCall(channel)
        call.send(descriptor(JPG))
        call.recv()
        for number in range(2, 10):
            call.send(sample(number, encode(DARK, JPG)))
        assert len([call.recv() for _ in range(8)]) == 8
        call.cancel()
    assert processor.sizes == [4, 4]


def test_credentials_are_required_when_given() -> None:
    with (
        serve(credentials=("user", "secret")) as address,
        grpc.insecure_channel(address) as channel,
    ):
        call = RawCall(channel)
        call.send(descriptor(JPG))
        code, details = call.status()
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "A1" in details


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="unknown server option"), serve(batchsize=4):
        pass
