"""Generate the synthetic H.264 sample clips and their ground-truth label files.

Why this exists: the tests and benchmarks need small, redistributable videos whose correct
per-frame answer is known exactly. Each clip alternates between dark and light scenes on a
fixed, irregular schedule, with motion in every frame so no two frames are identical. A frame's
label is ``"dark"`` when the mean BT.601 luma (0.299 R + 0.587 G + 0.114 B, 0-255, no per-pixel
rounding) of the *decoded* frame is below 127, else ``"light"``.

Every frame is kept far from the threshold (dark scenes around 50-65, light ones around
185-200), and the script refuses to write truth files unless every decoded frame is at least
``MARGIN`` away from 127 both in ``rgb24`` and in the ``yuv420p`` Y plane. Scaling, JPEG
compression, limited vs full range conversions or 16-bit pixel formats therefore cannot flip a
label. The labels are computed from the decoded file, not from the generator's intent.

The truth files also say where the bouncing box moved, for motion detectors: ``motion`` has,
for each frame, the rectangle the box swept since the previous frame (the union of its
rectangles in both frames; ``null`` for frame 0), and ``scene_cuts`` the frames that start a
new scene (the whole picture changes there). These come from the generator's geometry,
which is exact: H.264 moves edges by a pixel or two at most.

Usage::

    python samples/videos/make_clips.py              # write the clips next to this script
    python samples/videos/make_clips.py --out DIR    # write them somewhere else
    python samples/videos/make_clips.py --check      # regenerate in a temp dir, compare truth
    python samples/videos/make_clips.py --truth-only # rewrite the truth files of the clips
                                                     # already there, without re-encoding

Output is deterministic: the scene schedule, colours and motion are fixed constants (no random
numbers). The MP4 bytes may differ across encoder versions or machines; labels must not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

THRESHOLD = 127.0
MARGIN = 40.0
FPS = 30

# Fixed, irregular scene lengths (each 15-45 frames); scenes alternate dark, light, dark, ...
SCENE_LENGTHS: tuple[int, ...] = (23, 37, 15, 45, 19, 30, 41, 17, 28, 30, 15)
# Target base luma per scene (cycled); dark and light entries are picked by scene parity.
DARK_LUMA: tuple[float, ...] = (55.0, 60.0, 52.0, 58.0, 62.0)
LIGHT_LUMA: tuple[float, ...] = (192.0, 188.0, 196.0, 190.0, 194.0)
# Zero-luma colour tints (0.299 r + 0.587 g + 0.114 b == 0) so scenes differ in hue, not luma.
TINTS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),
    (-20.0, 0.0, 52.456),
    (24.0, -8.0, -21.754),
    (-10.0, 10.0, -25.263),
    (15.0, -10.0, 12.149),
)
BAR_OFFSETS: tuple[float, ...] = (-14.0, -6.0, 10.0, 2.0, 14.0, -10.0, 6.0, -2.0)


@dataclass(frozen=True)
class ClipSpec:
    """One clip to generate."""

    name: str
    width: int
    height: int
    frames: int
    crf: int


CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("daynight.mp4", 640, 360, 300, 28),
    ClipSpec("bars1080.mp4", 1920, 1080, 120, 30),
)

Rgb = npt.NDArray[np.uint8]


def scene_of(index: int) -> int:
    """Return the scene number of frame ``index`` (the schedule repeats if exhausted)."""
    total = sum(SCENE_LENGTHS)
    index %= total
    for scene, length in enumerate(SCENE_LENGTHS):
        if index < length:
            return scene
        index -= length
    raise AssertionError("unreachable")


def render(index: int, width: int, height: int) -> Rgb:
    """Render frame ``index``: tinted base, scrolling bars, moving waves and a moving box."""
    scene = scene_of(index)
    dark = scene % 2 == 0
    levels = DARK_LUMA if dark else LIGHT_LUMA
    base = levels[scene // 2 % len(levels)]
    tint = np.array(TINTS[scene % len(TINTS)], dtype=np.float32)

    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    # Vertical bars scrolling right by 1/90 of the width per frame.
    bar_w = width / len(BAR_OFFSETS)
    shift = index * width / 90.0
    bar_idx = (((xs - shift) % width) // bar_w).astype(np.int64) % len(BAR_OFFSETS)
    bars = np.asarray(BAR_OFFSETS, dtype=np.float32)[bar_idx]
    # Diagonal soft waves drifting down-left.
    period = height / 3.0
    phase = 2.0 * np.pi * (ys[:, None] + 0.5 * xs[None, :] - 3.0 * index) / period
    waves = 8.0 * np.sin(phase)
    luma = base + bars[None, :] + waves

    rgb = luma[:, :, None] + tint[None, None, :]
    # A box bouncing across the frame, brighter in dark scenes and darker in light ones.
    x0, y0, bw, bh = box_rect(index, width, height)
    rgb[y0 : y0 + bh, x0 : x0 + bw, :] += 30.0 if dark else -30.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def box_rect(index: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The bouncing box of frame ``index`` in pixels: ``(x, y, width, height)``."""
    bw, bh = width // 6, height // 4
    travel_x, travel_y = width - bw, height - bh
    px = (index * width // 60) % (2 * travel_x)
    py = (index * height // 45) % (2 * travel_y)
    x0 = px if px < travel_x else 2 * travel_x - px
    y0 = py if py < travel_y else 2 * travel_y - py
    return x0, y0, bw, bh


def swept_box(index: int, width: int, height: int) -> list[float] | None:
    """Where the box moved into frame ``index``, normalised ``[l, t, w, h]``; None at 0.

    The union of its rectangles in frames ``index - 1`` and ``index``: a differencing
    motion detector sees change within it (the box's edges, old and new), none outside
    it but the bars' and waves' fainter drift.
    """
    if index == 0:
        return None
    ax, ay, aw, ah = box_rect(index - 1, width, height)
    bx, by, bw, bh = box_rect(index, width, height)
    x0, y0 = min(ax, bx), min(ay, by)
    x1, y1 = max(ax + aw, bx + bw), max(ay + ah, by + bh)
    return [
        round(x0 / width, 6),
        round(y0 / height, 6),
        round((x1 - x0) / width, 6),
        round((y1 - y0) / height, 6),
    ]


def scene_cuts(frames: int) -> list[int]:
    """The frames that begin a new scene (every pixel's level changes there)."""
    return [i for i in range(1, frames) if scene_of(i) != scene_of(i - 1)]


def geometry_truth(spec: ClipSpec) -> dict[str, object]:
    """The truth that comes from the generator's geometry, not from decoding."""
    return {
        "motion": [swept_box(i, spec.width, spec.height) for i in range(spec.frames)],
        "scene_cuts": scene_cuts(spec.frames),
    }


def encode(spec: ClipSpec, path: Path) -> str:
    """Encode ``spec`` to ``path`` as H.264 yuv420p MP4; return the encoder name used."""
    codec = "libx264" if "libx264" in av.codecs_available else "h264"
    # faststart: the index comes first, so players (and lvatool) can stream it over HTTP.
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream(codec, rate=FPS)
        if not isinstance(stream, av.VideoStream):
            raise SystemExit(f"{codec} did not give a video stream")
        stream.width = spec.width
        stream.height = spec.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.codec_context.gop_size = 30
        # A fixed thread count keeps x264 output reproducible on a given machine.
        stream.codec_context.thread_count = 2
        if codec == "libx264":
            stream.options = {"crf": str(spec.crf), "preset": "medium"}
        for i in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(render(i, spec.width, spec.height), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return codec


@dataclass(frozen=True)
class Decoded:
    """Per-frame measurements of a decoded clip."""

    labels: list[str]
    rgb_luma: list[float]
    y_plane: list[float]
    fps: float


def rgb_mean_luma(rgb: npt.NDArray[np.generic]) -> float:
    """Mean BT.601 luma over 0-255 (weights applied to channel means: same as per pixel)."""
    means = rgb.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    return float(0.299 * means[0] + 0.587 * means[1] + 0.114 * means[2])


def measure(path: Path) -> Decoded:
    """Decode ``path`` in presentation order and measure every frame."""
    labels: list[str] = []
    rgb_luma: list[float] = []
    y_plane: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or 0)
        for frame in container.decode(stream):
            luma = rgb_mean_luma(frame.to_ndarray(format="rgb24"))
            yuv = frame.to_ndarray(format="yuv420p")
            y_mean = float(yuv[: frame.height].mean(dtype=np.float64))
            rgb_luma.append(luma)
            y_plane.append(y_mean)
            labels.append("dark" if luma < THRESHOLD else "light")
    return Decoded(labels, rgb_luma, y_plane, fps)


def decode_speed(path: Path) -> float:
    """Frames per second of a single decode-only pass with ``thread_type = "AUTO"``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = time.perf_counter()
        count = sum(1 for _ in container.decode(stream))
        elapsed = time.perf_counter() - start
    return count / elapsed


def truth_path(out: Path, spec: ClipSpec) -> Path:
    """Path of the truth file belonging to ``spec``."""
    return out / spec.name.replace(".mp4", ".truth.json")


def checked_labels(spec: ClipSpec, path: Path) -> tuple[Decoded, float, float]:
    """Decode ``path`` and validate it as ``spec``; labels and the distances to 127."""
    decoded = measure(path)
    if len(decoded.labels) != spec.frames:
        raise SystemExit(f"{spec.name}: decoded {len(decoded.labels)} != {spec.frames} frames")
    dist_rgb = min(abs(v - THRESHOLD) for v in decoded.rgb_luma)
    dist_y = min(abs(v - THRESHOLD) for v in decoded.y_plane)
    bad = [
        i
        for i, (a, b) in enumerate(zip(decoded.rgb_luma, decoded.y_plane, strict=True))
        if abs(a - THRESHOLD) < MARGIN or abs(b - THRESHOLD) < MARGIN
    ]
    if bad:
        raise SystemExit(f"{spec.name}: frames within {MARGIN} of {THRESHOLD}: {bad[:20]}")
    flips = [
        i
        for i, (a, b) in enumerate(zip(decoded.rgb_luma, decoded.y_plane, strict=True))
        if (a < THRESHOLD) != (b < THRESHOLD)
    ]
    if flips:
        raise SystemExit(f"{spec.name}: rgb24 and Y-plane labels disagree at {flips[:20]}")
    return decoded, dist_rgb, dist_y


def write_truth(out: Path, spec: ClipSpec, labels: list[str]) -> None:
    """Write the truth file of ``spec``: decoded labels, then the geometry's truth."""
    truth = {
        "clip": spec.name,
        "frames": len(labels),
        "fps": FPS,
        "labels": labels,
        **geometry_truth(spec),
    }
    truth_path(out, spec).write_text(json.dumps(truth) + "\n", encoding="utf-8")


def build(out: Path, verbose: bool = True, encode_clips: bool = True) -> dict[str, list[str]]:
    """Write every clip and truth file into ``out``; return labels per clip. Fails loudly.

    Without ``encode_clips`` the clips already in ``out`` are decoded as they are and only
    the truth files are written (``--truth-only``): the MP4 bytes stay unchanged.
    """
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, list[str]] = {}
    for spec in CLIPS:
        path = out / spec.name
        if encode_clips:
            codec = encode(spec, path)
        elif not path.is_file():
            raise SystemExit(f"--truth-only: {path} does not exist; generate the clips first")
        else:
            codec = "as found"
        decoded, dist_rgb, dist_y = checked_labels(spec, path)
        write_truth(out, spec, decoded.labels)
        result[spec.name] = decoded.labels
        if verbose:
            dark = decoded.labels.count("dark")
            print(
                f"{spec.name}: {codec}, {spec.width}x{spec.height}, {spec.frames} frames, "
                f"{path.stat().st_size} bytes, dark={dark} light={spec.frames - dark}, "
                f"min |luma-127| rgb24={dist_rgb:.2f} Y={dist_y:.2f}, "
                f"decode {decode_speed(path):.0f} fps"
            )
    return result


def check(committed: Path) -> int:
    """Regenerate into a temp dir and compare the committed truth files: labels with the
    fresh decode, motion and scene cuts with the generator's geometry."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(Path(tmp), verbose=False)
    status = 0
    for spec in CLIPS:
        path = truth_path(committed, spec)
        try:
            truth = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"FAIL {path}: {exc}")
            status = 1
            continue
        if truth.get("labels") != fresh[spec.name] or truth.get("frames") != spec.frames:
            print(f"FAIL {path}: labels differ from a fresh regeneration")
            status = 1
        elif any(truth.get(key) != value for key, value in geometry_truth(spec).items()):
            print(f"FAIL {path}: motion or scene_cuts differ from the generator's geometry")
            status = 1
        else:
            print(f"ok   {path}")
    return status


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--check", action="store_true", help="compare with committed truth")
    parser.add_argument(
        "--truth-only",
        action="store_true",
        help="rewrite the truth files of the clips in --out without re-encoding them",
    )
    args = parser.parse_args(argv)
    if args.check:
        return check(args.out)
    build(args.out, encode_clips=not args.truth_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
