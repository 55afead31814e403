"""image_of: every sample the simulator can send, as the picture it was made from.

Samples are prepared by the simulator's own FramePreparer from a decoded frame of the
bundled clip, in each encoding and RAW layout, both as the shared ``VideoFrame`` that
shared-memory streams hand over and as the bytes of an embedded sample.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from lvatool.media import Encoding, PixelFormat
from lvatool.render.images import image_of, sample_image
from lvatool.sim.observe import SentFrame
from lvatool.sim.prepare import FramePreparer, ImageOptions
from lvatool.sim.samples import sample_path


@pytest.fixture(scope="module")
def source() -> av.VideoFrame:
    """Frame 150 of the bundled clip (640x360, half-way through its day-night ramp)."""
    with av.open(str(sample_path())) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 150:
                return frame
    raise AssertionError("the bundled clip has fewer than 151 frames")


# The most each layout may lose: JPEG quality 90, 5/6-bit channels, swscale's rounding.
TOLERANCE = {
    Encoding.JPG: 2.0,
    Encoding.PNG: 0.0,
    Encoding.BMP: 0.0,
}
RAW_TOLERANCE = {
    PixelFormat.RGB565BE: 8.0,
    PixelFormat.RGB565LE: 8.0,
    PixelFormat.RGB555BE: 8.0,
    PixelFormat.RGB555LE: 8.0,
    PixelFormat.YUV420P: 2.0,
    PixelFormat.ARGB: 2.0,
    PixelFormat.ABGR: 2.0,
}

CASES = [(encoding, PixelFormat.BGR24) for encoding in TOLERANCE] + [
    (Encoding.RAW, pixel_format)
    for pixel_format in PixelFormat
    if pixel_format is not PixelFormat.NONE
]


def _sent(prepared: bytes | av.VideoFrame, preparer: FramePreparer) -> SentFrame:
    return SentFrame(0, 150, 1, 5.0, 0.1, prepared, preparer.format)


@pytest.mark.parametrize("stride_align", [1, 64], ids=["tight", "padded-rows"])
@pytest.mark.parametrize(
    ("encoding", "pixel_format"),
    CASES,
    ids=[f"{e.name}" if e is not Encoding.RAW else f"RAW-{p.name}" for e, p in CASES],
)
def test_image_of_gives_the_source_picture(
    source: av.VideoFrame, encoding: Encoding, pixel_format: PixelFormat, stride_align: int
) -> None:
    preparer = FramePreparer(
        ImageOptions(encoding=encoding, pixel_format=pixel_format, stride_align=stride_align),
        source.width,
        source.height,
    )
    prepared = preparer.prepare(source)
    expected = source.to_ndarray(format="rgb24").astype(np.int16)
    limit = TOLERANCE.get(encoding, RAW_TOLERANCE.get(pixel_format, 0.0))
    # Shared memory hands over the VideoFrame itself; embedded streams its bytes.
    for sample in {
        type(prepared).__name__: prepared,
        "bytes": preparer.to_bytes(prepared),
    }.values():
        image = image_of(_sent(sample, preparer))
        assert image.mode == "RGB" and image.size == (source.width, source.height)
        error = np.abs(np.asarray(image, dtype=np.int16) - expected)
        assert error.mean() <= limit, (type(sample).__name__, error.mean())


@pytest.mark.parametrize("pixel_format", [PixelFormat.BGR24, PixelFormat.YUV420P])
def test_a_width_scales_the_picture_keeping_its_aspect(
    source: av.VideoFrame, pixel_format: PixelFormat
) -> None:
    preparer = FramePreparer(
        ImageOptions(encoding=Encoding.RAW, pixel_format=pixel_format),
        source.width,
        source.height,
    )
    prepared = preparer.prepare(source)
    half_size = Image.fromarray(source.to_ndarray(format="rgb24")).resize((320, 180))
    expected = np.asarray(half_size, dtype=np.int16)
    for sample in (prepared, preparer.to_bytes(prepared)):
        image = sample_image(sample, preparer.format, width=320)
        assert image.size == (320, 180)
        assert np.abs(np.asarray(image, dtype=np.int16) - expected).mean() < 4


def test_the_shared_sample_is_left_as_it_was(source: av.VideoFrame) -> None:
    preparer = FramePreparer(
        ImageOptions(encoding=Encoding.RAW, pixel_format=PixelFormat.RGB565BE),
        source.width,
        source.height,
    )
    prepared = preparer.prepare(source)
    before = preparer.to_bytes(prepared)
    image_of(_sent(prepared, preparer)).paste((255, 0, 0), (0, 0, 100, 100))
    assert preparer.to_bytes(prepared) == before


def test_a_sample_that_is_not_its_format_is_a_value_error(source: av.VideoFrame) -> None:
    preparer = FramePreparer(ImageOptions(encoding=Encoding.JPG), source.width, source.height)
    with pytest.raises(ValueError, match="cannot decode"):
        image_of(_sent(b"not a jpeg", preparer))
