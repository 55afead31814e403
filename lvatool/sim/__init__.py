"""The LVA stand-in: decode a video, prepare frames as a topology says, stream them."""

from lvatool.sim.call import CallEnded, CallError, ConnectOptions, ExtensionCall, open_channel
from lvatool.sim.observe import (
    FrameRecord,
    ObserverError,
    RunInfo,
    RunObserver,
    RunSample,
    SentFrame,
)
from lvatool.sim.prepare import FramePreparer, ImageOptions
from lvatool.sim.run import RunOptions, RunResult, simulate
from lvatool.sim.source import SourceError, VideoSource
from lvatool.sim.stats import RunSummary, StreamStats
from lvatool.sim.stream import StreamFailure, StreamOptions, StreamRunner

__all__ = [
    "CallEnded",
    "CallError",
    "ConnectOptions",
    "ExtensionCall",
    "FramePreparer",
    "FrameRecord",
    "ImageOptions",
    "ObserverError",
    "RunInfo",
    "RunObserver",
    "RunOptions",
    "RunResult",
    "RunSample",
    "RunSummary",
    "SentFrame",
    "SourceError",
    "StreamFailure",
    "StreamOptions",
    "StreamRunner",
    "StreamStats",
    "VideoSource",
    "open_channel",
    "simulate",
]
