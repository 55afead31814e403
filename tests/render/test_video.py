"""simulate's annotated video, from real runs against real servers, decoded back with PyAV.

A test processor puts entity boxes at known places on known frames; the runs' own
records (a second observer) say which frame got what, and the decoded video must show
each box's pixels where the inference placed it, and none where it did not.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from lvatool.media import Encoding, PixelFormat
from lvatool.render.draw import tag_colour
from lvatool.render.video import AnnotatedVideo
from lvatool.server import (
    Frame,
    Inference,
    Processor,
    SessionInfo,
    entity,
)
from lvatool.sim import ConnectOptions, RunOptions, StreamOptions, simulate
from lvatool.sim.observe import FrameRecord, RunObserver
from lvatool.sim.prepare import ImageOptions
from lvatool.sim.run import RunResult
from lvatool.sim.samples import sample_path
from lvatool.testing import serve

TAG = "person"  # drawn in green, far from the clip's blues and greys
GREEN = tag_colour(TAG)
WIDTH, HEIGHT = 640, 360  # the bundled clip's size, and so the video's


class Records(RunObserver):
    """Every frame's record, by stream, in the order the stream sent the frames."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_stream: dict[int, list[FrameRecord]] = {}
        self.dropped = threading.Event()

    def frame_done(self, record: FrameRecord) -> None:
        with self.lock:
            self.by_stream.setdefault(record.stream, []).append(record)
        if record.status == "dropped":
            self.dropped.set()

    def in_send_order(self, stream: int) -> list[FrameRecord]:
        return sorted(self.by_stream.get(stream, []), key=lambda r: r.index)


class BoxEveryThirdFrame(Processor):
    """An entity box on every third frame of a session, at a place of the session's own.

    Session n (in the order they open) puts its box at ``BOXES[n]``, so a video made
    from one stream shows that stream's boxes and never another's.
    """

    BOXES = ((0.25, 0.25, 0.5, 0.5), (0.05, 0.55, 0.3, 0.35))

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[int, tuple[int, itertools.count[int]]] = {}

    def open(self, session: SessionInfo) -> None:
        with self.lock:
            self.sessions[id(session)] = (len(self.sessions), itertools.count())

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        with self.lock:
            place, frames = self.sessions[id(session)]
            if next(frames) % 3:
                return []
        return [entity(TAG, self.BOXES[place], confidence=0.75)]


class HoldFirstFrame(Processor):
    """Answers nothing until ``release`` is set (or 30 s pass), then answers everything."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        self.release.wait(30)
        return []


def run(
    target: str,
    *observers: RunObserver,
    frames: int,
    streams: int = 1,
    image: ImageOptions | None = None,
    shm_bytes: int | None = None,
    **stream: object,
) -> RunResult:
    options = StreamOptions(
        connect=ConnectOptions(target=target),
        image=image or ImageOptions(),
        shm_bytes=shm_bytes,
        **stream,  # type: ignore[arg-type]
    )
    return simulate(
        RunOptions(
            stream=options,
            video=str(sample_path()),
            streams=streams,
            max_frames=frames,
            observers=observers,
        )
    )


def decoded(path: Path) -> tuple[list[np.ndarray], av.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pictures = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return pictures, stream


def box_edges(box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions along the middle of a drawn box's outline, and well inside it."""
    left, top, width, height = box
    x0, y0 = round(left * WIDTH), round(top * HEIGHT)
    x1, y1 = round((left + width) * WIDTH), round((top + height) * HEIGHT)
    # Left, right and bottom edges (the tag's label hangs over the top one), 1 px in.
    edge = [(y, x0 + 1) for y in range(y0 + 8, y1 - 8, 4)]
    edge += [(y, x1 - 2) for y in range(y0 + 8, y1 - 8, 4)]
    edge += [(y1 - 2, x) for x in range(x0 + 8, x1 - 8, 4)]
    inside = [(y, x) for y in range(y0 + 15, y1 - 15, 9) for x in range(x0 + 15, x1 - 15, 9)]
    return np.array(edge), np.array(inside)


def distance_to(
    picture: np.ndarray, points: np.ndarray, colour: tuple[int, int, int]
) -> np.ndarray:
    pixels = picture[points[:, 0], points[:, 1]].astype(np.int32)
    distances: np.ndarray = np.sqrt(((pixels - np.array(colour)) ** 2).sum(axis=1))
    return distances


def shows_box(picture: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    """The outline has the box's colour (H.264 and 4:2:0 allowed for), its inside not."""
    edge, inside = box_edges(box)
    return bool(
        np.median(distance_to(picture, edge, GREEN)) < 60
        and distance_to(picture, inside, GREEN).min() > 100
    )


def clip_region(count: int) -> list[np.ndarray]:
    """The bundled clip's first ``count`` frames, cut to a region no annotation covers."""
    with av.open(str(sample_path())) as container:
        frames = itertools.islice(container.decode(video=0), count)
        return [frame.to_ndarray(format="rgb24")[CLEAR].astype(np.int16) for frame in frames]


CLEAR = np.s_[100:250, 500:630]  # right of both test boxes, clear of labels and captions


def assert_each_is_its_own_frame(pictures: list[np.ndarray], clip: list[np.ndarray]) -> None:
    """Picture i is the clip's frame i as sent (close to it, closer than its neighbours)."""
    for index, picture in enumerate(pictures):
        region = picture[CLEAR].astype(np.int16)
        errors = {j: np.abs(region - clip[j]).mean() for j in range(index - 2, index + 3)
                  if 0 <= j < len(clip)}  # fmt: skip
        assert errors[index] < 3, (index, errors)
        assert min(errors, key=errors.__getitem__) == index, (index, errors)


def alert_caption(picture: np.ndarray) -> bool:
    """The bottom-left caption is drawn in red: the frame got no answer."""
    corner = picture[-24:, :160].astype(np.int32)
    return bool(((corner[..., 0] > 180) & (corner[..., 1] < 110) & (corner[..., 2] < 110)).any())


def test_the_video_has_every_frame_sent_with_its_own_boxes(tmp_path: Path) -> None:
    path = tmp_path / "annotated.mp4"
    records = Records()
    with serve(BoxEveryThirdFrame()) as target:
        result = run(target, AnnotatedVideo(path), records, frames=45)
    assert result.summary.outcome == "ok", result.summary.error
    assert not result.summary.stats.warnings.texts()

    pictures, stream = decoded(path)
    assert len(pictures) == result.summary.stats.frames_sent == 45
    assert stream.average_rate == 30  # the clip's frame rate
    assert (stream.width, stream.height) == (WIDTH, HEIGHT)
    box = BoxEveryThirdFrame.BOXES[0]
    sent = records.in_send_order(0)
    assert [r.index for r in sent] == list(range(45))
    with_box = [r.index for r in sent if r.inferences]
    assert len(with_box) == 15
    for record, picture in zip(sent, pictures, strict=True):
        assert shows_box(picture, box) == bool(record.inferences), record.index
        assert not alert_caption(picture)
    assert_each_is_its_own_frame(pictures, clip_region(45))


def test_annotate_stream_1_takes_stream_1s_frames(tmp_path: Path) -> None:
    path = tmp_path / "stream1.mp4"
    records = Records()
    with serve(BoxEveryThirdFrame()) as target:
        result = run(
            target,
            AnnotatedVideo(path, stream=1),
            records,
            frames=24,
            streams=2,
            image=ImageOptions(encoding=Encoding.RAW, pixel_format=PixelFormat.BGR24),
            shm_bytes=16 << 20,
        )
    assert result.summary.outcome == "ok", result.summary.error
    pictures, _ = decoded(path)
    assert len(pictures) == 24
    mine = records.in_send_order(1)
    boxes = {
        (r.inferences[0].entity.box.l, r.inferences[0].entity.box.t) for r in mine if r.inferences
    }
    assert len(boxes) == 1  # this stream's session put its box in one place
    (place,) = boxes
    (ours,) = [b for b in BoxEveryThirdFrame.BOXES if pytest.approx(b[:2]) == place]
    (theirs,) = [b for b in BoxEveryThirdFrame.BOXES if b != ours]
    for record, picture in zip(mine, pictures, strict=True):
        assert shows_box(picture, ours) == bool(record.inferences), record.index
        assert not shows_box(picture, theirs)
    # The shared RAW frames were held, not reused, until drawn.
    assert_each_is_its_own_frame(pictures, clip_region(24))


def test_frames_that_timed_out_are_drawn_with_their_status(tmp_path: Path) -> None:
    path = tmp_path / "timeouts.mp4"
    records = Records()
    release = threading.Event()
    try:
        with serve(HoldFirstFrame(release)) as target:
            result = run(
                target,
                AnnotatedVideo(path),
                records,
                frames=30,
                max_in_flight=4,
                ack_timeout_s=1.0,
            )
            release.set()
    finally:
        release.set()
    assert result.summary.outcome == "stalled"
    sent = records.in_send_order(0)
    assert sent and all(r.status == "timed_out" for r in sent)
    pictures, _ = decoded(path)
    assert len(pictures) == len(sent) == result.summary.stats.frames_sent
    assert all(alert_caption(picture) for picture in pictures)


def test_frames_dropped_for_a_full_buffer_keep_their_place_with_their_status(
    tmp_path: Path,
) -> None:
    path = tmp_path / "drops.mp4"
    records = Records()
    with serve(HoldFirstFrame(records.dropped)) as target:
        result = run(
            target,
            AnnotatedVideo(path),
            records,
            frames=20,
            image=ImageOptions(encoding=Encoding.RAW, pixel_format=PixelFormat.BGR24),
            shm_bytes=1 << 20,  # one 640x360 BGR24 frame: the next is dropped while held
            on_full="drop",
        )
    assert result.summary.outcome == "ok", result.summary.error
    fates = records.in_send_order(0)
    assert len(fates) == 20 and any(r.status == "dropped" for r in fates)
    pictures, _ = decoded(path)
    assert len(pictures) == 20  # the timeline is kept: dropped frames are in it
    for record, picture in zip(fates, pictures, strict=True):
        assert alert_caption(picture) == (record.status != "acked"), record.index
        if record.status == "dropped":  # no picture was sent: a dark frame
            assert picture[100:260, 200:600].mean() < 40


def test_frames_that_come_too_fast_are_left_out_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "skipping.mp4"
    # A writer that rests 999 times what a frame cost it, and room for one frame only.
    video = AnnotatedVideo(path, buffer_bytes=1, cpu_share=0.001)
    with serve(BoxEveryThirdFrame()) as target:
        result = run(target, video, frames=40)
    assert result.summary.outcome == "ok", result.summary.error
    assert video.frames_skipped > 0
    assert video.frames_written + video.frames_skipped == 40
    pictures, _ = decoded(path)
    assert len(pictures) == video.frames_written
    (warning,) = result.summary.stats.warnings.texts()
    assert f"left out {video.frames_skipped} of 40 frames" in warning


def test_a_video_that_cannot_be_written_fails_the_run_with_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "annotated.mp4"
    with serve(BoxEveryThirdFrame()) as target:
        result = run(target, AnnotatedVideo(path), frames=10)
    assert result.summary.outcome == "error"
    assert result.summary.error is not None
    assert result.summary.error.startswith(f"cannot write the annotated video {path}: ")
    assert "\n" not in result.summary.error


def test_a_stream_the_run_does_not_have_fails_the_run(tmp_path: Path) -> None:
    with serve(BoxEveryThirdFrame()) as target:
        result = run(target, AnnotatedVideo(tmp_path / "x.mp4", stream=2), frames=5, streams=2)
    assert result.summary.outcome == "error"
    assert result.summary.error == "cannot annotate stream 2: the run has 2 streams (0-1)"
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"stream": -1}, "stream must be 0 or more"),
        ({"width": 1}, "width must be 2-16384"),
        ({"cpu_share": 0.0}, "CPU share"),
    ],
)
def test_bad_settings_are_refused_before_the_run(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnnotatedVideo("out.mp4", **arguments)  # type: ignore[arg-type]
