"""The camera session from plain Python: real gRPC on loopback, real decoded frames.

Locust is not imported here (it would monkey-patch this test process), so the session runs
on native threads, as it can for any Python driver; the Locust runs are in test_locust.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lvatool.loadtest import CameraSession, CameraSettings, FrameFailed, SharedClip, prepare_clip
from lvatool.loadtest.camera import FRAME, HANDSHAKE
from lvatool.loadtest.clip import ClipCache
from lvatool.media import Encoding, PixelFormat
from lvatool.server import (
    ExtensionServer,
    Frame,
    FunctionProcessor,
    ServerOptions,
    SessionPolicy,
    classification,
)
from lvatool.sim.prepare import ImageOptions
from lvatool.sim.samples import sample_path
from tests.sim.simrun import wait_for

VIDEO = str(sample_path())
IMAGE = ImageOptions(width=160, height=120)


class Reports:
    """What a session reported, in order; thread-safe (the collector reports too)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, float, int, BaseException | None]] = []
        self._lock = threading.Lock()

    def __call__(self, *item: Any) -> None:
        with self._lock:
            self.items.append(item)  # type: ignore[arg-type]

    def of(self, kind: str) -> list[tuple[str, str, float, int, BaseException | None]]:
        with self._lock:
            return [item for item in self.items if item[0] == kind]


@pytest.fixture(scope="module")
def clip() -> SharedClip:
    return prepare_clip(VIDEO, IMAGE, max_frames=12)


def settings(server: ExtensionServer, **overrides: Any) -> CameraSettings:
    values: dict[str, Any] = {"target": server.address, "video": VIDEO, "width": 160,
                              "height": 120, "connect_timeout_s": 10.0, **overrides}  # fmt: skip
    return CameraSettings(**values)


def run_frames(session: CameraSession, reports: Reports, count: int) -> None:
    for _ in range(count):
        assert session.send_next()
    wait_for(lambda: len(reports.of(FRAME)) >= count, f"{count} frames reported")


def test_each_frame_round_trip_is_reported_once_without_failure(
    server: ExtensionServer, clip: SharedClip
) -> None:
    reports = Reports()
    session = CameraSession(settings(server), clip, reports)
    assert session.open()
    run_frames(session, reports, 30)  # more than the clip: it loops
    session.close()
    frames = reports.of(FRAME)
    assert len(frames) == 30
    assert [item[4] for item in frames] == [None] * 30
    assert {item[1] for item in frames} == {"embedded jpeg 160x90"}
    assert all(item[2] > 0 for item in frames)
    assert [item[4] for item in reports.of(HANDSHAKE)] == [None]


def test_shared_memory_frames_are_acknowledged_and_the_buffer_is_removed(
    server: ExtensionServer,
) -> None:
    raw = ImageOptions(width=160, height=120, encoding=Encoding.RAW)
    clip = prepare_clip(VIDEO, raw, max_frames=4)
    reports = Reports()
    session = CameraSession(
        settings(server, encoding=Encoding.RAW, pixel_format=PixelFormat.BGR24, shm_mib=1),
        clip,
        reports,
    )
    assert session.open()
    assert session._shm is not None
    buffer = session._shm.path
    assert buffer.exists()
    run_frames(session, reports, 20)  # 1 MiB holds 18 frames of 57.6 KB: regions are reused
    session.close()
    assert [item[4] for item in reports.of(FRAME)] == [None] * 20
    assert {item[1] for item in reports.of(FRAME)} == {"shm raw bgr24 160x90"}
    assert not buffer.exists()  # removed when the session closed


def test_refused_credentials_fail_the_handshake_naming_the_status(clip: SharedClip) -> None:
    policy = SessionPolicy(credentials=("u", "p"))
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0, policy=policy)) as server:
        reports = Reports()
        session = CameraSession(settings(server), clip, reports)
        assert not session.open()
        assert session.ended.is_set()
        (handshake,) = reports.of(HANDSHAKE)
        assert isinstance(handshake[4], FrameFailed)
        assert str(handshake[4]).startswith("UNAUTHENTICATED")
        assert not session.send_next()


@pytest.fixture
def frozen_server() -> Iterator[tuple[ExtensionServer, threading.Event]]:
    """A server whose processor holds every frame until released (an extension stuck)."""
    release = threading.Event()

    def hold(frame: Frame) -> list[Any]:
        release.wait(30)
        return [classification("late")]

    server = ExtensionServer(ServerOptions(host="127.0.0.1", port=0), FunctionProcessor(hold))
    with server:
        try:
            yield server, release
        finally:
            release.set()


def test_unacknowledged_frames_fail_as_ack_timeouts_and_the_session_ends(
    frozen_server: tuple[ExtensionServer, threading.Event], clip: SharedClip
) -> None:
    server, _ = frozen_server
    reports = Reports()
    session = CameraSession(settings(server, ack_timeout_s=0.3), clip, reports)
    assert session.open()
    assert session.send_next()
    assert session.send_next()
    wait_for(session.ended.is_set, "the stalled session ended")
    failures = [str(item[4]) for item in reports.of(FRAME)]
    assert failures == ["ack timeout: no acknowledgement within 0.3 s"] * 2
    assert not session.send_next()
    session.close()


def test_the_clip_is_decoded_once_for_every_camera_of_a_process() -> None:
    runs: list[int] = []

    def counted(work: Any) -> SharedClip:
        runs.append(1)
        return work()  # type: ignore[no-any-return]

    cache = ClipCache(counted)
    got: list[SharedClip] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get(VIDEO, IMAGE, 3, 1 << 20)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(got) == 4 and all(clip is got[0] for clip in got)
    assert runs == [1]
    assert len(got[0].frames) == 3


def test_a_clip_is_cut_at_its_memory_budget_and_looped() -> None:
    one = prepare_clip(VIDEO, IMAGE, max_frames=1)
    clip = prepare_clip(VIDEO, IMAGE, max_bytes=3 * len(one.frames[0]) + 10)
    assert 1 <= len(clip.frames) <= 4
    assert clip.frame(len(clip.frames)) is clip.frames[0]


def test_a_failure_quoting_the_extension_shows_its_control_characters_as_text() -> None:
    """Locust prints failure messages on the terminal as they are: an escape sequence in
    a status's details must print as itself, not clear the user's screen."""
    failure = FrameFailed("UNAUTHENTICATED: bad\x1b[2J\r\nname")
    assert str(failure) == "UNAUTHENTICATED: bad\\x1b[2J\\r\\nname"
