"""What ``lvatool simulate`` puts on the wire, seen by a real extension (the checker).

LVA always sets ``stride_bytes`` for RAW frames, padded or not (protocol.md §2);
extensions reshape by it, so simulate must send the same or it tests them against a
client that does not exist.
"""

from __future__ import annotations

import pytest

from lvatool.conformance import CheckingExtension
from lvatool.media import PixelFormat, raw_frame_size
from tests.sim.simrun import run

TRANSFERS = pytest.mark.parametrize("transfer", [[], ["--shm", "4"]], ids=["embedded", "shm"])


@TRANSFERS
@pytest.mark.parametrize(
    ("pixel_format", "width", "height", "align", "stride"),
    [
        ("rgb24", 416, 416, 1, 1248),  # the docs' example: unpadded, still 1248
        ("bgr24", 161, 91, 1, 483),  # odd width, unpadded
        ("bgr24", 161, 91, 64, 512),  # padded to 64 bytes
        ("yuv420p", 161, 91, 1, 161),  # YUV420P: the luma stride
        ("yuv420p", 161, 91, 64, 192),
        ("rgb565le", 161, 91, 1, 322),
    ],
)
def test_raw_descriptor_carries_the_real_stride(
    transfer: list[str], pixel_format: str, width: int, height: int, align: int, stride: int
) -> None:
    with CheckingExtension() as checker:
        code, summary, output = run(
            "--target", checker.address, "--format", "raw", "--pixel-format", pixel_format,
            "--width", str(width), "--height", str(height), "--scale-mode", "stretch",
            "--stride-align", str(align), "--max-frames", "6", *transfer,
        )  # fmt: skip
        (session,) = checker.sessions
    assert code == 0, output
    assert session.descriptor is not None
    video = session.descriptor.media_descriptor.video_frame_sample_format
    assert (video.dimensions.width, video.dimensions.height) == (width, height)
    assert video.stride_bytes == stride
    # The samples are laid out by that stride: their size, and the checker's labels
    # (read by stride_bytes) matching the truth, say so.
    size = raw_frame_size(PixelFormat[pixel_format.upper()], width, height, stride)
    assert [sample.length for sample in session.samples] == [size] * 6
    assert summary["truth"]["matched"] == 6


@TRANSFERS
def test_encoded_descriptor_has_no_stride(transfer: list[str]) -> None:
    """§2: encoded images use pixel_format NONE and no stride."""
    with CheckingExtension() as checker:
        code, _, output = run(
            "--target", checker.address, "--format", "png", "--max-frames", "2", *transfer
        )
        (session,) = checker.sessions
    assert code == 0, output
    assert session.descriptor is not None
    video = session.descriptor.media_descriptor.video_frame_sample_format
    assert (video.pixel_format, video.stride_bytes) == (0, 0)
