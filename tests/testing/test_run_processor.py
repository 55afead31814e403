"""``run_processor`` and ``run_processor_on_video``: the server's frames and checks, in-process.

A processor that works here must work behind ``lvatool serve``, and one that returns a
bad value must fail here with the very sentence the server sends as ``INTERNAL``; both
are checked against a real server over loopback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from lvatool.media import Encoding, FrameFormat, PixelFormat
from lvatool.server import (
    DarkLightProcessor,
    Frame,
    Inference,
    Processor,
    ProcessorLoadError,
    SessionInfo,
    classification,
)
from lvatool.sim import SourceError
from lvatool.sim.samples import sample_path
from lvatool.testing import (
    ImageLike,
    ProcessorMistake,
    run_processor,
    run_processor_on_video,
    serve,
)
from tests.frames import descriptor, sample
from tests.rawcall import RawCall

DARK = np.full((24, 32, 3), 30, np.uint8)
LIGHT = np.full((24, 32, 3), 220, np.uint8)


def labels(results: Sequence[Sequence[Inference]]) -> list[str]:
    return [str(inference.classification.tag.value) for (inference,) in results]


def brightness(frame: Frame) -> list[Inference]:
    return [classification("bright" if frame.image.mean() > 100 else "dim")]


class Recorder(Processor):
    """Keeps what the server API hands a processor, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.frames: list[Frame] = []
        self.images: list[np.ndarray] = []
        self.sessions: list[SessionInfo] = []
        self.batches: list[int] = []

    def open(self, session: SessionInfo) -> None:
        self.calls.append("open")
        self.sessions.append(session)

    def process_batch(
        self, frames: Sequence[Frame], session: SessionInfo
    ) -> Sequence[Sequence[Inference]]:
        self.calls.append("process")
        self.batches.append(len(frames))
        self.frames.extend(frames)
        self.images.extend(frame.image.copy() for frame in frames)
        return [[] for _ in frames]

    def close(self, session: SessionInfo) -> None:
        self.calls.append("close")


def test_every_kind_of_image_and_processor(tmp_path: Path) -> None:
    """PIL images, arrays and files; an instance, a subclass, a function, references."""
    png = tmp_path / "dark.png"
    Image.fromarray(DARK).save(png)
    images: list[ImageLike] = [Image.fromarray(LIGHT), DARK, png, str(png)]
    model = tmp_path / "my_model.py"
    model.write_text(
        "from lvatool.server import classification\n"
        "def process(frame):\n"
        "    return [classification('bright' if frame.image.mean() > 100 else 'dim')]\n"
    )
    assert labels(run_processor(DarkLightProcessor(), images)) == ["light", "dark", "dark", "dark"]
    assert labels(run_processor(DarkLightProcessor, images)) == ["light", "dark", "dark", "dark"]
    assert labels(run_processor(brightness, images)) == ["bright", "dim", "dim", "dim"]
    by_module = run_processor("lvatool.server:DarkLightProcessor", images)
    assert labels(by_module) == ["light", "dark", "dark", "dark"]
    assert labels(run_processor(f"{model}:process", images)) == ["bright", "dim", "dim", "dim"]
    assert run_processor(DarkLightProcessor(), []) == []


def test_frames_and_session_are_the_servers() -> None:
    """One session: open, one process per frame, close; RAW RGB24 frames as sent, numbered
    from 2 (the descriptor is message 1, Q1), 30 frames/s timestamps in 90 kHz ticks (F3)."""
    recorder = Recorder()
    rgb = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    run_processor(recorder, [rgb, LIGHT, DARK], extension_configuration='{"zone": 2}')
    assert recorder.calls == ["open", "process", "process", "process", "close"]
    (session,) = recorder.sessions
    assert session.extension_configuration == '{"zone": 2}'
    assert session.spec.frame == FrameFormat(Encoding.RAW, PixelFormat.RGB24, 32, 24, 96)
    assert session.spec.embedded
    assert [f.sequence_number for f in recorder.frames] == [2, 3, 4]
    assert [f.timestamp for f in recorder.frames] == [0, 3000, 6000]
    assert np.array_equal(recorder.images[0], rgb)
    assert recorder.frames[1].mean_luma() == pytest.approx(220)


def test_batches_as_the_server_makes_them() -> None:
    recorder = Recorder()
    results = run_processor(recorder, [DARK] * 7, batch_size=3)
    assert recorder.batches == [3, 3, 1]  # the partial batch at the end, as at a half-close
    assert results == [[]] * 7


def test_the_same_result_as_behind_a_real_server() -> None:
    """What run_processor returns is what a client of ``lvatool serve`` receives."""
    frame = FrameFormat(Encoding.RAW, PixelFormat.RGB24, 32, 24, 96)
    with serve(brightness) as address, grpc.insecure_channel(address) as channel:
        call = RawCall(channel)
        call.send(descriptor(frame))
        call.recv()
        call.send(sample(2, LIGHT.tobytes()))
        served = list(call.recv().media_sample.inferences)
        call.cancel()
    assert run_processor(brightness, [LIGHT]) == [served]


def returns_none(frame: Frame) -> None:
    return None


def returns_one_inference(frame: Frame) -> Inference:
    return classification("dark")


def returns_strings(frame: Frame) -> list[str]:
    return ["dark"]


class ShortBatch(Processor):
    def process_batch(
        self, frames: Sequence[Frame], session: SessionInfo
    ) -> Sequence[Sequence[Inference]]:
        return []


def served_status(processor: object) -> tuple[grpc.StatusCode | None, str]:
    """The status a real server ends the call with after one RAW frame for ``processor``."""
    frame = FrameFormat(Encoding.RAW, PixelFormat.RGB24, 32, 24, 96)
    with serve(processor) as address, grpc.insecure_channel(address) as channel:  # type: ignore[arg-type]
        call = RawCall(channel)
        call.send(descriptor(frame))
        call.recv()
        call.send(sample(2, DARK.tobytes()))
        return call.status()


@pytest.mark.parametrize(
    "processor",
    [returns_none, returns_one_inference, returns_strings, ShortBatch()],
    ids=["None", "single Inference", "strings", "short batch"],
)
def test_a_bad_return_value_fails_with_the_servers_message(processor: object) -> None:
    with pytest.raises(ProcessorMistake) as raised:
        run_processor(processor, [DARK])  # type: ignore[arg-type]
    code, details = served_status(processor)
    assert code == grpc.StatusCode.INTERNAL
    assert str(raised.value) == details
    assert "expected" in details


def test_exceptions_reach_the_test_and_close_still_runs() -> None:
    class Raises(Recorder):
        def process_batch(
            self, frames: Sequence[Frame], session: SessionInfo
        ) -> Sequence[Sequence[Inference]]:
            raise RuntimeError("model file missing")

    processor = Raises()
    with pytest.raises(RuntimeError, match="model file missing"):
        run_processor(processor, [DARK])
    assert processor.calls == ["open", "close"]


def test_a_refused_session_is_the_value_error_from_open() -> None:
    class Refuses(Recorder):
        def open(self, session: SessionInfo) -> None:
            raise ValueError("this model needs 416x416 frames")

    processor = Refuses()
    with pytest.raises(ValueError, match="416x416"):
        run_processor(processor, [DARK])
    assert processor.calls == []  # never opened, so never processed nor closed


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([DARK, np.zeros((10, 10, 3), np.uint8)], "image 1 is 10x10, but image 0 is 32x24"),
        ([np.zeros((4, 4), np.uint8)], "(height, width, 3)"),
        ([np.zeros((4, 4, 3), np.float32)], "uint8"),
        (["no-such-image.png"], "cannot read image no-such-image.png"),
    ],
)
def test_bad_images_are_named(images: list[object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        run_processor(DarkLightProcessor(), images)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_a_reference_that_does_not_load_is_the_servers_sentence() -> None:
    with pytest.raises(ProcessorLoadError, match="no_such_module_xyz"):
        run_processor("no_such_module_xyz:process", [DARK])


def test_video_frames_with_their_index_time_and_labels() -> None:
    """The bundled clip, scaled by the simulator's code: the labels are the clip's truth."""
    clip = sample_path()
    truth = json.loads(clip.with_name("daynight.truth.json").read_text())["labels"]
    recorder = Recorder()
    run_processor_on_video(recorder, clip, max_frames=3, width=160)
    assert recorder.sessions[0].spec.frame == FrameFormat(
        Encoding.RAW, PixelFormat.RGB24, 160, 90, 480
    )
    assert recorder.images[0].shape == (90, 160, 3)
    results = run_processor_on_video(DarkLightProcessor(), clip, max_frames=40, height=90)
    assert [r.index for r in results] == list(range(40))
    assert [r.time_s for r in results] == pytest.approx([i / 30 for i in range(40)])
    assert labels([r.inferences for r in results]) == truth[:40]


def test_a_video_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        run_processor_on_video(DarkLightProcessor(), tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(SourceError, match=str(garbage)):
        run_processor_on_video(DarkLightProcessor(), garbage)
