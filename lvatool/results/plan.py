"""From ``--results/--baseline/--min-accuracy`` to a run's observers and, after it, verdicts.

Everything that can be wrong with these options is found here, before the run starts,
as one sentence naming the option (:class:`ResultsUsageError`, exit 2): a baseline of
another clip is refused before minutes of streaming, not after.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvatool.results.baseline import BaselineDiff, Thresholds
from lvatool.results.compare import BaselineObserver, clip_mismatch
from lvatool.results.header import clip_identity
from lvatool.results.judge import accuracy_verdict, baseline_verdict
from lvatool.results.reader import read_results
from lvatool.results.records import ResultsFormatError
from lvatool.results.writer import ResultsWriter, results_kind
from lvatool.sim.observe import RunObserver
from lvatool.sim.report import unwritable_reason
from lvatool.sim.run import RunOptions
from lvatool.sim.stats import RunSummary

#: Why 0: on the same clip, in the same format, a deterministic model answers the same
#: on every frame, so any changed frame is news a CI job should stop on. A model or an
#: encoder that varies a little from run to run is given room with --max-changed-frames.
DEFAULT_MAX_CHANGED_PCT = 0.0


class ResultsUsageError(ValueError):
    """A results option that cannot work; one sentence naming it (exit 2)."""


@dataclass(frozen=True)
class ResultsOptions:
    """The command line's results options, None where not given."""

    results: Path | None = None
    baseline: Path | None = None
    baseline_iou: float | None = None
    baseline_confidence: float | None = None
    max_changed_frames: float | None = None
    min_accuracy: float | None = None

    @property
    def given(self) -> list[str]:
        """The options given, by name, for messages such as "… does not apply to …"."""
        names = ("--results", "--baseline", "--baseline-iou", "--baseline-confidence",
                 "--max-changed-frames", "--min-accuracy")  # fmt: skip
        values = (self.results, self.baseline, self.baseline_iou, self.baseline_confidence,
                  self.max_changed_frames, self.min_accuracy)  # fmt: skip
        return [name for name, value in zip(names, values, strict=True) if value is not None]


@dataclass
class ResultsPlan:
    """The observers a run needs for these options, and the verdicts after it."""

    writer: ResultsWriter | None = None
    comparer: BaselineObserver | None = None
    max_changed_pct: float = DEFAULT_MAX_CHANGED_PCT
    min_accuracy_pct: float | None = None

    @property
    def observers(self) -> tuple[RunObserver, ...]:
        return tuple(o for o in (self.writer, self.comparer) if o is not None)

    def baseline_diff(self) -> BaselineDiff | None:
        return self.comparer.diff() if self.comparer is not None else None

    def verdicts(self, summary: RunSummary, diff: BaselineDiff | None) -> list[str]:
        """Why the run fails these options (``--max-changed-frames``, ``--min-accuracy``)."""
        failed = []
        if diff is not None:
            failed.append(baseline_verdict(diff, self.max_changed_pct))
        if self.min_accuracy_pct is not None:
            stats = summary.stats
            failed.append(
                accuracy_verdict(stats.truth_matched, stats.truth_compared, self.min_accuracy_pct)
            )
        return [message for message in failed if message]


def run_settings(run: RunOptions) -> dict[str, Any]:
    """The options that decide which frames were sent, for the results file's header."""
    stream = run.stream
    return {
        "max_frames": run.max_frames,
        "loop": run.loop,
        "realtime": stream.realtime,
        "max_fps": stream.max_fps,
        "max_in_flight": stream.max_in_flight,
        "on_full": stream.on_full if stream.shm_bytes else None,
        "shm_mib": stream.shm_bytes / (1 << 20) if stream.shm_bytes else None,
    }


def plan_results(options: ResultsOptions, run: RunOptions) -> ResultsPlan:
    """Check the options against the run; create the results file and read the baseline.

    Raises ResultsUsageError with one sentence naming the option.
    """
    baseline_only = [
        name
        for name in ("--baseline-iou", "--baseline-confidence", "--max-changed-frames")
        if name in options.given
    ]
    if baseline_only and options.baseline is None:
        raise ResultsUsageError(f"{baseline_only[0]} needs --baseline FILE")
    if options.min_accuracy is not None and run.truth is None:
        raise ResultsUsageError(
            "--min-accuracy needs a ground truth: give --truth FILE (the bundled clip has one)"
        )
    if options.results is not None:
        _check_results_path(options.results, options.baseline)
    plan = ResultsPlan(min_accuracy_pct=options.min_accuracy)
    clip = clip_identity(run.video)
    if options.baseline is not None:
        try:
            baseline = read_results(options.baseline)
        except ResultsFormatError as error:
            raise ResultsUsageError(f"--baseline {options.baseline} {error}") from None
        mismatch = clip_mismatch(baseline, clip)
        if mismatch:
            raise ResultsUsageError(f"--baseline {options.baseline} {mismatch}")
        thresholds = Thresholds(
            iou=0.5 if options.baseline_iou is None else options.baseline_iou,
            confidence=0.1 if options.baseline_confidence is None else options.baseline_confidence,
        )
        plan.comparer = BaselineObserver(baseline, thresholds)
        if options.max_changed_frames is not None:
            plan.max_changed_pct = options.max_changed_frames
    if options.results is not None:  # last: nothing is created when an option is wrong
        try:
            plan.writer = ResultsWriter(
                options.results,
                video=run.video,
                clip=clip,
                truth=run.truth is not None,
                extension=None if run.serve_locally else run.stream.connect.target,
                settings=run_settings(run),
            )
        except OSError as error:
            raise ResultsUsageError(
                f"--results {options.results}: cannot create it: {error.strerror or error}"
            ) from None
    return plan


def _check_results_path(path: Path, baseline: Path | None) -> None:
    if results_kind(path) is None:
        raise ResultsUsageError(
            f"--results {path}: the file name must end in .jsonl (JSON lines) or .csv"
        )
    reason = unwritable_reason(path)
    if reason:
        raise ResultsUsageError(f"--results {path}: {reason}")
    if baseline is not None and path.resolve() == baseline.resolve():
        raise ResultsUsageError(
            f"--results and --baseline both name {path}: the run would overwrite its own "
            "baseline; write the new results elsewhere"
        )
