"""Watching a run frame by frame: the hook that results files, videos and reports use.

A :class:`RunObserver` is told what each stream sends and what became of every frame
(acknowledged with its inferences, dropped, timed out), plus a sample of the run's
state a few times a second. ``lvatool simulate --results/--annotate/--report`` are
observers; so can a user's own code be (``RunOptions(observers=[...])``).

Observers are called from the thread that runs the streams (one event loop for all of
them), and ``sampled`` from the thread that watches the run: each must be thread-safe
and quick, as every stream waits while it runs (hand heavy work such as encoding video
to a thread of its own, through a bounded queue). One that cannot go on (a full disk)
raises :class:`ObserverError`: the run then ends as lvatool's own failure with that
sentence, never silently short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import av

from lvatool.contract import inferencing_pb2
from lvatool.media import FrameFormat

if TYPE_CHECKING:
    from lvatool.sim.run import RunResult

FrameStatus = Literal["acked", "dropped", "timed_out", "interrupted"]


class ObserverError(Exception):
    """An observer cannot go on; the message is one sentence for the user."""


@dataclass(frozen=True)
class RunInfo:
    """What every frame of the run looks like, told once before the first frame."""

    streams: int
    fps: float  # frames/s of the media sent (the source's, or --max-fps)
    format: FrameFormat  # of the samples as sent (after scaling)
    transfer: Literal["embedded", "shm"]
    started_at: float  # time.time() at the run's origin
    origin: float  # time.monotonic() at the run's origin: records' times count from it


@dataclass(frozen=True)
class SentFrame:
    """One frame as a stream sent it: the prepared sample and where it came from.

    ``prepared`` is shared by every stream and must not be changed: encoded bytes, RAW
    sample bytes, or a decoded RAW frame in ``format`` (see :func:`image_of`).
    """

    stream: int
    index: int  # the frame's number in the source (it goes on counting over --loop)
    sequence: int
    time_s: float  # media time
    sent_s: float  # seconds from the run's origin
    prepared: bytes | av.VideoFrame
    format: FrameFormat


@dataclass(frozen=True)
class FrameRecord:
    """What became of one frame a stream tried to send.

    Times are seconds from the run's origin; ``latency_ms`` counts from when the frame
    was scheduled (paced runs), ``service_ms`` from when it was actually sent. A frame
    dropped before sending has no sequence number and no send time.
    """

    stream: int
    index: int
    time_s: float
    timestamp: int  # the media sample's presentation timestamp, in timescale ticks
    sequence: int | None
    sent_s: float | None
    acked_s: float | None
    latency_ms: float | None
    service_ms: float | None
    status: FrameStatus
    inferences: tuple[inferencing_pb2.Inference, ...] = ()
    truth: str | None = None  # the expected label, with --truth
    label: str | None = None  # the first classification or entity tag

    @property
    def matched(self) -> bool | None:
        """Whether the label equals the truth; None without truth or an answer."""
        if self.truth is None or self.status != "acked":
            return None
        return self.label == self.truth


@dataclass(frozen=True)
class RunSample:
    """The run's state at one moment, a few times a second."""

    t_s: float  # seconds from the run's origin
    frames_sent: int
    frames_acked: int
    in_flight: int  # frames sent and not yet acknowledged, all streams
    shm_bytes_in_use: int  # regions held in the shared buffers, all streams
    shm_bytes_total: int


class RunObserver:
    """Does nothing; override what you need (every method may be called concurrently)."""

    def run_started(self, run: RunInfo) -> None:
        """Before the first frame."""

    def frame_sent(self, frame: SentFrame) -> None:
        """A stream has just sent ``frame``."""

    def frame_done(self, record: FrameRecord) -> None:
        """The frame's fate is known: exactly once per frame a stream tried to send."""

    def sampled(self, sample: RunSample) -> None:
        """The run's state now."""

    def run_ended(self, result: RunResult) -> None:
        """After the last frame's record, with the summary; finish files here."""

    def close(self) -> None:
        """Always last, however the run ended: release threads and files."""
