"""Per-frame results of a simulate run, and regression baselines built on them.

- ``--results FILE``: :class:`ResultsWriter`, one record per frame sent, in send order.
- ``--baseline FILE``: :class:`BaselineObserver` compares each frame with an earlier
  results file of the same clip; the comparison itself is pure
  (:class:`BaselineComparer`, :func:`compare_frames`).
"""

from lvatool.results.baseline import (
    BaselineComparer,
    BaselineDiff,
    Change,
    FrameChange,
    Thresholds,
    compare_frames,
)
from lvatool.results.compare import BaselineObserver, clip_mismatch
from lvatool.results.header import ClipIdentity, RunHeader, clip_identity
from lvatool.results.reader import ResultsFile, read_results
from lvatool.results.records import FrameResult, ResultsFormatError
from lvatool.results.writer import ResultsWriter, results_kind

__all__ = [
    "BaselineComparer",
    "BaselineDiff",
    "BaselineObserver",
    "Change",
    "ClipIdentity",
    "FrameChange",
    "FrameResult",
    "ResultsFile",
    "ResultsFormatError",
    "ResultsWriter",
    "RunHeader",
    "Thresholds",
    "clip_identity",
    "clip_mismatch",
    "compare_frames",
    "read_results",
    "results_kind",
]
