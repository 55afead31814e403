"""What a served processor answers on the wire, for the tests of the serving helpers."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np

from lvatool.media import Encoding, FrameFormat
from tests.frames import descriptor, encode, label, sample
from tests.rawcall import RawCall

JPG = FrameFormat(Encoding.JPG)


def labels_from(address: str, frames: Sequence[np.ndarray]) -> list[str]:
    """The classification tag the server at ``address`` gives each frame, sent as JPEG in
    one session that then ends cleanly (half-close, status OK)."""
    with grpc.insecure_channel(address) as channel:
        call = RawCall(channel)
        call.send(descriptor(JPG))
        call.recv()
        for number, rgb in enumerate(frames, start=2):
            call.send(sample(number, encode(rgb, JPG)))
        responses = sorted((call.recv() for _ in frames), key=lambda r: r.ack_sequence_number)
        call.half_close()
        assert call.status()[0] == grpc.StatusCode.OK
    return [label(response) for response in responses]
