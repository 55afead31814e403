"""image.scale (protocol.md F1, F4): sizes per mode, black centred bars for pad."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvatool.media import ScaleMode, output_size, scale_frame, scaled_size

STRETCH, PAD, KEEP = ScaleMode.STRETCH, ScaleMode.PAD, ScaleMode.PRESERVE_ASPECT_RATIO


def test_values_are_the_topology_spellings() -> None:
    assert [m.value for m in ScaleMode] == ["preserveAspectRatio", "pad", "stretch"]
    assert ScaleMode("pad") is PAD
    assert isinstance(PAD, str)
    assert PAD == "pad"


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("preserveAspectRatio", KEEP),
        ("PRESERVEASPECTRATIO", KEEP),
        ("preserveaspectratio", KEEP),
        ("Pad", PAD),
        ("PAD", PAD),
        ("stretch", STRETCH),
        ("Stretch", STRETCH),
        (" stretch ", STRETCH),
    ],
)
def test_parse_is_case_insensitive(text: str, mode: ScaleMode) -> None:
    assert ScaleMode.parse(text) is mode


@pytest.mark.parametrize("text", ["", "crop", "preserve_aspect_ratio", "fit"])
def test_parse_lists_valid_values(text: str) -> None:
    with pytest.raises(ValueError, match="preserveAspectRatio, pad, stretch"):
        ScaleMode.parse(text)


@pytest.mark.parametrize(
    ("source", "target", "mode", "content", "frame"),
    [
        ((1920, 1080), (416, 416), STRETCH, (416, 416), (416, 416)),
        ((1920, 1080), (416, 416), KEEP, (416, 234), (416, 234)),
        ((1920, 1080), (416, 416), PAD, (416, 234), (416, 416)),
        ((1080, 1920), (416, 416), KEEP, (234, 416), (234, 416)),
        ((1080, 1920), (416, 416), PAD, (234, 416), (416, 416)),
        ((640, 480), (1280, 720), KEEP, (960, 720), (960, 720)),  # upscaling
        ((1000, 1), (10, 10), KEEP, (10, 1), (10, 1)),  # never 0 pixels
        ((1, 1000), (10, 10), PAD, (1, 10), (10, 10)),
        ((300, 200), (150, 100), KEEP, (150, 100), (150, 100)),  # same aspect ratio
    ],
)
def test_sizes(
    source: tuple[int, int],
    target: tuple[int, int],
    mode: ScaleMode,
    content: tuple[int, int],
    frame: tuple[int, int],
) -> None:
    assert scaled_size(*source, *target, mode) == content
    assert output_size(*source, *target, mode) == frame


@settings(max_examples=50, deadline=None)
@given(
    src_w=st.integers(1, 4000),
    src_h=st.integers(1, 4000),
    width=st.integers(1, 2000),
    height=st.integers(1, 2000),
)
def test_fitted_size_touches_one_side_and_keeps_the_ratio(
    src_w: int, src_h: int, width: int, height: int
) -> None:
    w, h = scaled_size(src_w, src_h, width, height, KEEP)
    assert 1 <= w <= width and 1 <= h <= height
    assert w == width or h == height
    # Each side is the exact fit rounded to the nearest pixel (or 1).
    scale = min(width / src_w, height / src_h)
    assert abs(w - src_w * scale) <= 0.5 + 1e-9 or w == 1
    assert abs(h - src_h * scale) <= 0.5 + 1e-9 or h == 1
    assert output_size(src_w, src_h, width, height, PAD) == (width, height)
    assert scaled_size(src_w, src_h, width, height, PAD) == (w, h)


def test_non_positive_sizes_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        scaled_size(0, 10, 10, 10, KEEP)
    with pytest.raises(ValueError, match="positive"):
        output_size(10, 10, 10, 0, PAD)


def white(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), 255, dtype=np.uint8)


def test_pad_landscape_has_black_bars_above_and_below() -> None:
    out = scale_frame(white(20, 40), 20, 20, PAD)
    assert out.shape == (20, 20, 3)
    assert out.dtype == np.uint8
    assert not out[:5].any() and not out[15:].any()  # 5 rows of bar on each side
    assert (out[5:15] == 255).all()


def test_pad_portrait_has_black_bars_left_and_right() -> None:
    out = scale_frame(white(60, 20), 30, 30, PAD)  # content 10 wide, centred
    assert out.shape == (30, 30, 3)
    assert not out[:, :10].any() and not out[:, 20:].any()
    assert (out[:, 10:20] == 255).all()


def test_pad_odd_margin_is_centred_to_within_a_pixel() -> None:
    out = scale_frame(white(10, 30), 30, 13, PAD)  # content 30x10 in 30x13: bars of 1 and 2
    top = int(np.argmax(out[:, 0, 0] == 255))
    bottom = 13 - 10 - top
    assert abs(top - bottom) <= 1


@pytest.mark.parametrize("mode", list(ScaleMode))
def test_scale_frame_shapes(mode: ScaleMode) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = scale_frame(rgb, 32, 32, mode)
    width, height = output_size(64, 48, 32, 32, mode)
    assert out.shape == (height, width, 3)


def test_stretch_resizes_content() -> None:
    rgb = np.zeros((10, 20, 3), dtype=np.uint8)
    rgb[:, 10:] = 255  # left half black, right half white
    out = scale_frame(rgb, 40, 7, STRETCH)
    assert out.shape == (7, 40, 3)
    assert not out[:, :15].any()
    assert (out[:, 25:] == 255).all()


def test_same_size_is_a_copy() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (9, 16, 3), dtype=np.uint8)
    out = scale_frame(rgb, 16, 9, KEEP)
    np.testing.assert_array_equal(out, rgb)
    out[0, 0] = 1
    assert not np.shares_memory(out, rgb)
