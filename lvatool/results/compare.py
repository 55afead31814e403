"""``--baseline FILE``: the run observer that compares each frame with the baseline's, as it comes.

The comparison itself is :mod:`lvatool.results.baseline` (pure); this observer feeds it
the run's frames from the streams' threads and adds the caveats only the run knows (the
format its frames were sent in).
"""

from __future__ import annotations

import threading

from lvatool.results.baseline import BaselineComparer, BaselineDiff, Thresholds, format_warning
from lvatool.results.header import ClipIdentity, format_json
from lvatool.results.reader import ResultsFile
from lvatool.results.records import from_record
from lvatool.sim.observe import FrameRecord, RunInfo, RunObserver


def clip_mismatch(baseline: ResultsFile, clip: ClipIdentity) -> str | None:
    """Why ``baseline`` cannot be compared with a run of ``clip``, or None.

    Another clip is refused, not warned about: frame 120 of another video is another
    picture, and every difference found would be noise.
    """
    recorded = baseline.header.clip
    if recorded.same_clip(clip):
        return None
    return (
        f"was recorded from another clip, {recorded.describe()}, not {clip.describe()}; "
        "compare runs of the same clip"
    )


class BaselineObserver(RunObserver):
    """Compares every frame of the run with its counterpart in a baseline results file."""

    def __init__(self, baseline: ResultsFile, thresholds: Thresholds) -> None:
        self.baseline = baseline
        self.comparer = BaselineComparer(baseline.frames, thresholds)
        self._lock = threading.Lock()
        if baseline.outcome is None:
            self.comparer.warn("the baseline file has no end line: its run was cut short")
        elif baseline.outcome != "ok":
            self.comparer.warn(f"the baseline's run ended early ({baseline.outcome})")

    def run_started(self, run: RunInfo) -> None:
        warning = format_warning(self.baseline.header.format, format_json(run.format))
        if warning:
            with self._lock:
                self.comparer.warn(warning)

    def frame_done(self, record: FrameRecord) -> None:
        result = from_record(record)
        with self._lock:
            self.comparer.add(result)

    def diff(self) -> BaselineDiff:
        with self._lock:
            return self.comparer.diff()
