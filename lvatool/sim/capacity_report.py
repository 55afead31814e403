"""A capacity search for people (one line per step, one closing sentence) and for machines.

The JSON document's shape is published as ``lvatool/schemas/simulate-capacity.schema.json``;
both renderings are built from the same :class:`~lvatool.sim.capacity_run.CapacityReport`.
Error sentences may quote the extension: they are passed through :func:`lvatool.text.as_text`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lvatool.sim.capacity import Answer, Outcome, StepFigures, StepResult
from lvatool.sim.capacity_run import CapacityReport
from lvatool.text import as_text


def _fps(value: float) -> str:
    return f"{value:.1f}"


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _cameras(count: int) -> str:
    return f"{count} camera" + ("" if count == 1 else "s")


def step_line(step: StepResult) -> str:
    """One step as it finishes: cameras, offered and acked frames/s, p50/p99, drops, verdict."""
    f = step.figures
    line = (
        f"{_cameras(f.streams)}: offered {_fps(f.offered_fps)} frames/s, "
        f"acked {_fps(f.acked_fps)}, p50 {_ms(f.p50_ms)} ms, p99 {_ms(f.p99_ms)} ms, "
        f"{f.frames_dropped} dropped, {f.frames_timed_out} timed out: "
    )
    if step.passed:
        return line + "pass"
    line += "FAIL (" + "; ".join(as_text(reason) for reason in step.reasons) + ")"
    if step.simulator_bottleneck:
        line += f" [simulator-limited: {step.simulator_bottleneck}]"
    return line


def _why(step: StepResult) -> str:
    return as_text(step.reasons[0]) if step.reasons else "passed"


def answer_sentence(answer: Answer, camera_fps: float, max_streams: int) -> str:
    """The closing line, e.g. ``sustains 23 cameras at 15 frames/s, p99 182 ms (24 failed: …)``."""
    rate = f"{camera_fps:g} frames/s"
    held = ""
    if answer.passed is not None:
        p99 = _ms(answer.passed.figures.p99_ms)
        held = f"sustains {_cameras(answer.cameras)} at {rate}, p99 {p99} ms"
    failed = answer.failed
    if answer.outcome is Outcome.AT_LEAST:
        return f"{held} (every step passed, up to --max-streams {max_streams}: raise it to go on)"
    assert failed is not None
    if answer.outcome is Outcome.SIMULATOR_LIMITED:
        lower = f"; the extension {held}" if held else ""
        return (
            f"no capacity reported: the simulator, not the extension, was the bottleneck at "
            f"{_cameras(failed.streams)} ({as_text(failed.simulator_bottleneck or '')}){lower}. "
            f"Run simulate on another machine or with fewer, smaller frames"
        )
    if answer.outcome is Outcome.NONE:
        return f"sustains no camera at {rate}: 1 camera failed: {_why(failed)}"
    return f"{held} ({failed.streams} failed: {_why(failed)})"


def exit_sentence(report: CapacityReport) -> str:
    """The closing line of a search, finished or aborted."""
    if report.answer is None:
        return as_text(report.error or report.aborted or "the search did not finish")
    options = report.options
    return answer_sentence(report.answer, options.camera_fps, options.max_streams)


def _step_document(step: StepResult) -> dict[str, Any]:
    f = step.figures
    return {
        "streams": f.streams,
        "offered_fps": round(f.offered_fps, 3),
        "sent_fps": round(f.sent_fps, 3),
        "acked_fps": round(f.acked_fps, 3),
        "slowest_camera": _slowest_camera(f),
        "latency_ms": {"p50": round(f.p50_ms, 3), "p99": round(f.p99_ms, 3)},
        "frames_dropped": f.frames_dropped,
        "frames_timed_out": f.frames_timed_out,
        "mean_in_flight": round(f.mean_in_flight, 3),
        "simulate_cpu_cores": round(f.cpu_cores, 3),
        "window_s": round(f.window_s, 3),
        "error": f.error,
        "passed": step.passed,
        "reasons": list(step.reasons),
        "simulator_bottleneck": step.simulator_bottleneck,
    }


def _slowest_camera(f: StepFigures) -> dict[str, Any] | None:
    """The camera with the fewest frames acknowledged in the window, as frames/s."""
    if f.slowest_camera is None or f.window_s <= 0:
        return None
    camera, acked = f.slowest_camera
    return {"camera": camera, "acked_fps": round(acked / f.window_s, 3)}


def to_document(report: CapacityReport) -> dict[str, Any]:
    """The ``--json`` document (schema ``simulate-capacity``)."""
    options = report.options
    answer = report.answer
    outcome = answer.outcome.value if answer is not None else report.aborted or "error"
    return {
        "target": options.run.stream.connect.target,
        "camera_fps": round(options.camera_fps, 3),
        "slo_p99_ms": options.slo_p99_ms,
        "max_streams": options.max_streams,
        "step_s": options.step_s,
        "warmup_s": options.warmup,
        "usable_cores": report.usable_cores,
        "steps": [_step_document(step) for step in report.steps],
        "outcome": outcome,
        "cameras": answer.cameras if answer is not None else None,
        "first_failed": answer.failed.streams if answer and answer.failed else None,
        "message": exit_sentence(report),
        "error": report.error if answer is None else None,
    }


def write_document(report: CapacityReport, path: Path) -> None:
    """Write the JSON document whole or not at all (a temporary file, then a rename)."""
    text = json.dumps(to_document(report), indent=2) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


__all__ = ["answer_sentence", "exit_sentence", "step_line", "to_document", "write_document"]
