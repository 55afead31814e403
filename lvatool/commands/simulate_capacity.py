"""``lvatool simulate --find-capacity``: how many real-time cameras an extension sustains.

The simulate command parses every option as usual, then hands the finished
:class:`~lvatool.sim.RunOptions` here. This module only checks the options that belong
to the search, runs :func:`lvatool.sim.capacity_run.find_capacity`, prints each step and
the closing sentence, writes ``--json`` and chooses the exit code:

0 a capacity was found (or every step passed up to ``--max-streams``); 1 not even one
camera met the SLO, or the simulator itself was the bottleneck (no capacity is reported
then: it would measure lvatool, not the extension), or an internal error; 2 usage;
3 cannot connect; 4 the extension broke the protocol; 130 interrupted.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

from rich.console import Console

from lvatool.sim import RunOptions, SourceError, VideoSource
from lvatool.sim.capacity import Outcome, StepResult, camera_rate
from lvatool.sim.capacity_report import exit_sentence, step_line, write_document
from lvatool.sim.capacity_run import CapacityOptions, CapacityReport, find_capacity
from lvatool.sim.stream import internal_failure
from lvatool.text import as_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECT, EXIT_VIOLATION = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
DEFAULT_MAX_STREAMS = 256
DEFAULT_STEP_S = 10.0
_EXIT_FOR_ABORT = {
    "connect": EXIT_CONNECT,
    "violation": EXIT_VIOLATION,
    "source": EXIT_USAGE,
    "error": EXIT_FAILED,
    "interrupted": EXIT_INTERRUPTED,
}
_DEBUG_HINT = " (--debug prints the traceback)"


def _say(message: str, console: Console) -> None:
    console.print(
        f"[red]lvatool simulate:[/red] {as_text(message)}", highlight=False, soft_wrap=True
    )


def usage_problem(
    options: RunOptions,
    *,
    find: bool,
    slo_p99_ms: float | None,
    min_fps: float | None,
    max_p99_ms: float | None,
) -> str | None:
    """Why these options do not make a capacity search, as one sentence; None if they do.

    Called when ``--find-capacity`` (``find``) or one of its own options was given.
    """
    if not find:
        return "--slo-p99-ms, --max-streams and --step-s go with --find-capacity"
    stream = options.stream
    if slo_p99_ms is None:
        return "--find-capacity needs --slo-p99-ms MS: the p99 latency every step must meet"
    if not stream.realtime and stream.max_fps is None:
        return (
            "--find-capacity needs --realtime or --max-fps F: the cameras it adds send in "
            "real time, at the video's rate or F frames/s"
        )
    if options.serve_locally:
        return (
            "--find-capacity measures an extension running on its own: give --target "
            "HOST:PORT (for example of `lvatool serve`); an in-process server would share "
            "simulate's CPU"
        )
    conflicts = {
        "--streams": options.streams != 1,
        "--max-frames": options.max_frames is not None,
        "--output": options.output is not None,
        "--min-fps": min_fps is not None,
        "--max-p99-ms": max_p99_ms is not None,
    }
    given = [name for name, present in conflicts.items() if present]
    if given:
        return (
            f"{', '.join(given)} cannot be used with --find-capacity, which chooses the "
            "number of cameras (up to --max-streams), the length of each step (--step-s) "
            "and judges them by --slo-p99-ms"
        )
    return None


def run_capacity_search(
    options: RunOptions,
    *,
    slo_p99_ms: float,
    max_streams: int | None,
    step_s: float | None,
    json_path: Path | None,
    quiet: bool,
    debug: bool,
) -> int:
    """Run the search as the command line asked; print it; the exit code."""
    out, err = Console(), Console(stderr=True)
    try:
        source_fps = VideoSource(options.video).info.fps
    except SourceError as error:
        _say(str(error), err)
        return EXIT_USAGE
    search = CapacityOptions(
        run=options,
        camera_fps=camera_rate(source_fps, options.stream.max_fps),
        source_fps=source_fps,
        slo_p99_ms=slo_p99_ms,
        max_streams=max_streams or DEFAULT_MAX_STREAMS,
        step_s=step_s or DEFAULT_STEP_S,
    )
    if not quiet:
        out.print(
            f"finding capacity of {search.run.stream.connect.target}: cameras at "
            f"{search.camera_fps:g} frames/s, p99 within {slo_p99_ms:g} ms, steps of "
            f"{search.step_s:g} s after {search.warmup:g} s of warm-up, up to "
            f"{search.max_streams} cameras",
            highlight=False,
            soft_wrap=True,
        )

    def show(step: StepResult) -> None:
        if not quiet:
            out.print(step_line(step), highlight=False, markup=False, soft_wrap=True)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        report = find_capacity(search, on_step=show)
    except Exception as error:  # the last guard: one sentence, never a traceback
        if debug:
            err.print_exception()
        _say(str(internal_failure(error)) + ("" if debug else _DEBUG_HINT), err)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _finish(report, json_path, quiet=quiet, debug=debug, out=out, err=err)


def _finish(
    report: CapacityReport,
    json_path: Path | None,
    *,
    quiet: bool,
    debug: bool,
    out: Console,
    err: Console,
) -> int:
    """Write ``--json``, print the closing sentence, choose the exit code."""
    json_lost = False
    if json_path is not None:
        try:
            write_document(report, json_path)
        except OSError as error:  # checked before the search; the disk can still fill up
            _say(f"cannot write --json {json_path}: {error.strerror or error}", err)
            json_lost = True
    sentence = exit_sentence(report)
    code = exit_code(report)
    if report.answer is None and report.details and debug:
        err.print(report.details, markup=False, highlight=False)
    if code != EXIT_OK:
        hint = _DEBUG_HINT if report.details and not debug else ""
        _say(sentence + hint, err)
        return code
    if not quiet:
        out.print(sentence, highlight=False, markup=False, soft_wrap=True)
    return EXIT_FAILED if json_lost else EXIT_OK


def exit_code(report: CapacityReport) -> int:
    """0 for a capacity (or every step passed); 1 for no camera or a simulator-limited
    search; a search cut short exits as a simulate run that ended that way would."""
    answer = report.answer
    if answer is None:
        return _EXIT_FOR_ABORT.get(report.aborted or "error", EXIT_FAILED)
    return EXIT_OK if answer.outcome in (Outcome.CAPACITY, Outcome.AT_LEAST) else EXIT_FAILED


__all__ = [
    "DEFAULT_MAX_STREAMS",
    "DEFAULT_STEP_S",
    "exit_code",
    "run_capacity_search",
    "usage_problem",
]
