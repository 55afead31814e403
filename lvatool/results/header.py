"""The first line of a results file: which clip, in which format, with which settings.

A baseline is only worth comparing with a run of the *same clip*: frame 120 of another
video is another picture. The clip is therefore identified by content, not by path (a
CI checkout and a laptop keep it in different places): its size and a SHA-256 over the
size and its first and last MiB, cheap even for a multi-gigabyte file, and different for
any two clips anyone would mix up. A live URL has no such identity; its location is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvatool import __version__
from lvatool.media import Encoding, FrameFormat, PixelFormat
from lvatool.results.records import RESULTS_VERSION, ResultsFormatError
from lvatool.sim.observe import RunInfo

_EDGE_BYTES = 1 << 20


@dataclass(frozen=True)
class ClipIdentity:
    """A video by content: file name, size and fingerprint (None for a live URL)."""

    name: str
    size_bytes: int | None = None
    fingerprint: str | None = None

    def same_clip(self, other: ClipIdentity) -> bool:
        """Same content for files (whatever their names), same location for live URLs."""
        if self.fingerprint is not None or other.fingerprint is not None:
            return self.fingerprint == other.fingerprint
        return self.name == other.name

    def describe(self) -> str:
        if self.size_bytes is None:
            return self.name
        return f"{self.name} ({self.size_bytes:,} bytes)"


def clip_identity(location: str) -> ClipIdentity:
    """The identity of the video at ``location`` (a file path or a URL)."""
    path = Path(location)
    if "://" in location or not path.is_file():
        return ClipIdentity(location)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode("ascii") + b"\n")
    with path.open("rb") as file:
        digest.update(file.read(_EDGE_BYTES))
        if size > 2 * _EDGE_BYTES:
            file.seek(size - _EDGE_BYTES, os.SEEK_SET)
            digest.update(file.read(_EDGE_BYTES))
        elif size > _EDGE_BYTES:
            digest.update(file.read())
    return ClipIdentity(path.name, size, "sha256:" + digest.hexdigest())


def describe_format(frame_format: dict[str, Any]) -> str:
    """``JPG 640x360`` or ``RAW BGR24 640x360``, from a header's ``format`` object."""
    layout = frame_format.get("pixel_format")
    encoding = str(frame_format.get("encoding"))
    size = f"{frame_format.get('width')}x{frame_format.get('height')}"
    return f"{encoding} {layout} {size}" if layout else f"{encoding} {size}"


def format_json(frame_format: FrameFormat) -> dict[str, Any]:
    """The frame format as sent: encoding, RAW layout (null when encoded), dimensions."""
    raw = frame_format.encoding is Encoding.RAW
    return {
        "encoding": Encoding(frame_format.encoding).name,
        "pixel_format": PixelFormat(frame_format.pixel_format).name if raw else None,
        "width": frame_format.width,
        "height": frame_format.height,
    }


@dataclass(frozen=True)
class RunHeader:
    """The ``{"kind": "run", …}`` line: what a later compare needs to trust this file."""

    video: str
    clip: ClipIdentity
    format: dict[str, Any]
    transfer: str
    streams: int
    fps: float
    started_at: str
    truth: bool
    extension: str | None = None  # the target; None: the in-process reference server
    settings: dict[str, Any] = field(default_factory=dict)
    lvatool: str = __version__

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "run",
            "version": RESULTS_VERSION,
            "lvatool": self.lvatool,
            "started_at": self.started_at,
            "video": self.video,
            "clip": {
                "name": self.clip.name,
                "bytes": self.clip.size_bytes,
                "fingerprint": self.clip.fingerprint,
            },
            "format": self.format,
            "transfer": self.transfer,
            "streams": self.streams,
            "fps": round(self.fps, 6),
            "truth": self.truth,
            "extension": self.extension,
            "settings": self.settings,
        }


def header_for(
    info: RunInfo,
    *,
    video: str,
    clip: ClipIdentity,
    truth: bool,
    extension: str | None,
    settings: dict[str, Any],
) -> RunHeader:
    """The header of a run that has just started (``info`` from ``run_started``)."""
    started = dt.datetime.fromtimestamp(info.started_at, dt.UTC)
    return RunHeader(
        video=video,
        clip=clip,
        format=format_json(info.format),
        transfer=info.transfer,
        streams=info.streams,
        fps=info.fps,
        started_at=started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        truth=truth,
        extension=extension,
        settings=settings,
    )


def header_from_json(line: dict[str, Any]) -> RunHeader:
    """The first line of a results file read back; ResultsFormatError says what is wrong."""
    if line.get("kind") != "run":
        raise ResultsFormatError('its first line is not the {"kind": "run", …} header')
    if line.get("version") != RESULTS_VERSION:
        raise ResultsFormatError(
            f"it is version {line.get('version')!r} of the results format; "
            f"this lvatool reads version {RESULTS_VERSION}"
        )
    clip = line.get("clip")
    frame_format = line.get("format")
    streams = line.get("streams")
    if not isinstance(clip, dict) or not isinstance(clip.get("name"), str):
        raise ResultsFormatError("its header has no clip name")
    if not isinstance(frame_format, dict):
        raise ResultsFormatError("its header has no frame format")
    if not isinstance(streams, int) or isinstance(streams, bool) or streams < 1:
        raise ResultsFormatError("its header has no stream count")
    size, fingerprint = clip.get("bytes"), clip.get("fingerprint")
    fps = line.get("fps")
    settings = line.get("settings")
    extension = line.get("extension")
    return RunHeader(
        video=str(line.get("video", clip["name"])),
        clip=ClipIdentity(
            clip["name"],
            size if isinstance(size, int) else None,
            fingerprint if isinstance(fingerprint, str) else None,
        ),
        format=frame_format,
        transfer=str(line.get("transfer", "")),
        streams=streams,
        fps=float(fps) if isinstance(fps, int | float) else 0.0,
        started_at=str(line.get("started_at", "")),
        truth=bool(line.get("truth")),
        extension=extension if isinstance(extension, str) else None,
        settings=settings if isinstance(settings, dict) else {},
        lvatool=str(line.get("lvatool", "")),
    )
