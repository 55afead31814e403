"""Verdicts and text for ``--baseline`` and ``--min-accuracy``: pure, for the CLI to print.

Each verdict is None (passed) or one sentence naming the option it failed.
"""

from __future__ import annotations

from lvatool.results.baseline import CHANGE_KINDS, BaselineDiff

#: Changed frames listed by index in the printed diff (the JSON keeps up to 1000).
FRAMES_LISTED = 20


def baseline_verdict(diff: BaselineDiff, max_changed_pct: float) -> str | None:
    """Why the run fails ``--max-changed-frames``, or None.

    Nothing compared is a failure too: a baseline that pairs with no frame of the run
    (another stream count, every frame dropped) proves nothing, and a CI job must not
    pass on it.
    """
    if not diff.frames_compared:
        return (
            "no frame of this run has a counterpart in --baseline (same stream and frame "
            "index): nothing was compared"
        )
    if diff.changed_pct > max_changed_pct:
        return (
            f"{diff.frames_changed} of {diff.frames_compared} frames "
            f"({diff.changed_pct:.1f} %) changed from the baseline, more than "
            f"--max-changed-frames {max_changed_pct:g} %"
        )
    return None


def accuracy_verdict(matched: int, compared: int, min_accuracy_pct: float) -> str | None:
    """Why the run fails ``--min-accuracy`` (ground-truth matches in percent), or None."""
    accuracy = 100.0 * matched / compared if compared else 0.0
    if accuracy >= min_accuracy_pct:
        return None
    return (
        f"{matched} of {compared} results match the ground truth ({accuracy:.1f} %), "
        f"below --min-accuracy {min_accuracy_pct:g} %"
    )


def _frame_name(stream: int, index: int, streams: set[int]) -> str:
    return f"frame {index}" if streams <= {0} else f"stream {stream} frame {index}"


def diff_lines(diff: BaselineDiff) -> list[str]:
    """The diff for people: counts by kind, the worst frames, changed indices, latency.

    Plain text that quotes the extension's tags as they are: print it as text
    (:func:`lvatool.text.as_text`), never as markup.
    """
    latency = (
        f"latency p50 {diff.latency_baseline['p50']:.2f} → {diff.latency_run['p50']:.2f} ms, "
        f"p99 {diff.latency_baseline['p99']:.2f} → {diff.latency_run['p99']:.2f} ms"
    )
    if not diff.frames_changed:
        lines = [f"baseline: no change in {diff.frames_compared} frames compared; {latency}"]
    else:
        kinds = ", ".join(f"{kind} {diff.kinds[kind]}" for kind in CHANGE_KINDS if diff.kinds[kind])
        lines = [
            f"baseline: {diff.frames_changed} of {diff.frames_compared} frames changed "
            f"({diff.changed_pct:.1f} %): {kinds}",
            f"  {latency}",
        ]
        streams = {stream for stream, _ in diff.changed_frames}
        lines.append("  worst frames:")
        for frame in diff.worst:
            details = "; ".join(f"{c.kind} {c.detail}" for c in frame.changes)
            lines.append(f"    {_frame_name(frame.stream, frame.index, streams)}: {details}")
        listed = [
            str(index) if streams <= {0} else f"{stream}:{index}"
            for stream, index in diff.changed_frames[:FRAMES_LISTED]
        ]
        more = diff.frames_changed - len(listed)
        what = "changed frames" if streams <= {0} else "changed frames (stream:index)"
        lines.append(f"  {what}: {', '.join(listed)}" + (f" and {more} more" if more else ""))
    lines += [f"  warning: {warning}" for warning in diff.warnings]
    return lines
