"""Frames decoded and prepared once per process, shared by every camera in it.

A Locust worker runs many users (cameras) in one process. Decoding and encoding the clip
once per user is what made ``lvatool simulate --streams 32`` measure itself (issue 9): so
each process decodes the clip once, prepares every frame once (scaled, encoded or
converted to RAW, as the settings say) and hands the *same* bytes to every camera, which
loops over them. Only the sending is per camera.

The prepared frames are kept in memory, up to ``max_clip_mib`` (and ``max_frames``):
a 416x416 JPEG clip of 300 frames is a few MiB, but 1080p BGR24 is 6 MiB a frame, so a
long raw clip is cut at the budget and the cameras loop over the part that fits.

:class:`SharedClip` is the one seam between the load test and its frames: when
``lvatool.sim`` gains its decode-once fan-out source (issue 9, another part), only
:func:`shared_clip` needs to change to use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from lvatool.media import FrameFormat
from lvatool.sim.prepare import FramePreparer, ImageOptions
from lvatool.sim.source import SourceError, VideoSource

_MIB = 1 << 20


@dataclass(frozen=True)
class SharedClip:
    """Prepared frames of one clip, read-only, shared by every camera of a process."""

    format: FrameFormat
    frames: tuple[bytes, ...]
    fps: float
    location: str

    def frame(self, index: int) -> bytes:
        """Frame ``index`` of an endless loop over the clip."""
        return self.frames[index % len(self.frames)]

    @property
    def largest(self) -> int:
        return max(len(frame) for frame in self.frames)


def prepare_clip(
    location: str,
    image: ImageOptions,
    *,
    max_frames: int | None = None,
    max_bytes: int = 512 * _MIB,
) -> SharedClip:
    """Decode ``location`` and prepare its frames, until its end or a limit.

    Raises :class:`~lvatool.sim.source.SourceError` when the video cannot be opened or
    has no frame that decodes.
    """
    source = VideoSource(location, max_frames=max_frames)
    preparer = FramePreparer(image, source.info.width, source.info.height)
    frames: list[bytes] = []
    total = 0
    for item in source.frames():
        data = preparer.to_bytes(preparer.prepare(item.frame))
        if frames and total + len(data) > max_bytes:
            break
        frames.append(data)
        total += len(data)
    if not frames:
        raise SourceError(f"{location} has no frame that decodes")
    return SharedClip(preparer.format, tuple(frames), source.info.fps, location)


class ClipCache:
    """One :class:`SharedClip` per (video, image options, limits), made on first use.

    ``run_blocking`` runs the decoding: under gevent, a native thread from the hub's pool,
    so the process's other greenlets (Locust's heartbeats to the master among them) keep
    running for the seconds a decode takes. Concurrent first callers wait for the same
    decode; a failure is remembered and raised to every caller, not retried per camera.
    """

    def __init__(self, run_blocking: Callable[[Callable[[], SharedClip]], SharedClip]) -> None:
        self._run_blocking = run_blocking
        self._lock = threading.Lock()
        self._clips: dict[tuple[object, ...], SharedClip | SourceError] = {}

    def get(
        self, location: str, image: ImageOptions, max_frames: int | None, max_bytes: int
    ) -> SharedClip:
        key = (location, image, max_frames, max_bytes)
        with self._lock:
            if key not in self._clips:
                try:
                    self._clips[key] = self._run_blocking(
                        lambda: prepare_clip(
                            location, image, max_frames=max_frames, max_bytes=max_bytes
                        )
                    )
                except SourceError as error:
                    self._clips[key] = error
            found = self._clips[key]
        if isinstance(found, SourceError):
            raise found
        return found
