"""Formats: what the server serves, and how it refuses the rest (S07, S08, S09; H6, E2).

H6 grades a format: refused at the descriptor with INVALID_ARGUMENT, UNIMPLEMENTED or
FAILED_PRECONDITION passes; accepted and then refused at the first frame with one of
those is a warning (the format was promised, then not served); UNKNOWN or INTERNAL at
any point is a failure (a crash is not a refusal); silence is a failure. A server that
processes no format at all serves nothing and fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, CheckWarning, check
from lvatool.conformance.runner import CheckContext
from lvatool.conformance.server_checks.environment import ServerEnv
from lvatool.conformance.server_checks.exchange import (
    CRASHES,
    REFUSALS,
    Exchange,
    exchange,
    status_of,
    time_left,
)
from lvatool.conformance.server_checks.probe_frames import (
    PROBE_HEIGHT,
    PROBE_WIDTH,
    describe_frame,
    encode_probe,
)
from lvatool.media import (
    RAW_PIXEL_FORMATS,
    Encoding,
    FrameFormat,
    encode_image,
    rgb_to_raw,
    row_bytes,
)

SUITE = "server"
GRPC_DEFAULT_LIMIT = 4 << 20


@dataclass(frozen=True)
class Grade:
    """One format's verdict under H6: ``pass``, ``warn`` or ``fail``, and what happened."""

    verdict: str
    text: str
    processed: bool = False


def grade(record: Exchange) -> Grade:
    """Judge one format's session by H6."""
    if record.reply is None:
        if record.ended is None:
            return Grade("fail", record.story() + (" (silence)" if record.silent else ""))
        code = record.ended.code
        if code in REFUSALS:
            return Grade("pass", f"refused at the descriptor with {status_of(record.ended)}")
        if code in CRASHES:
            return Grade("fail", f"crashed at the descriptor with {status_of(record.ended)}")
        return Grade(
            "warn",
            f"refused at the descriptor with {status_of(record.ended)}, "
            "not INVALID_ARGUMENT, UNIMPLEMENTED or FAILED_PRECONDITION",
        )
    if record.broken is not None:
        return Grade("fail", record.story())
    if record.complete:
        return Grade("pass", "processed", processed=True)
    if record.ended is None:
        return Grade("fail", f"accepted, then {record.story()}")
    code = record.ended.code
    if code in CRASHES:
        return Grade("fail", f"accepted, then crashed: {record.story()}")
    if code == "OK":
        return Grade("fail", f"accepted, then {record.story()} with samples unanswered")
    return Grade("warn", f"accepted, then refused the frames: {record.story()}; refuse a "
                         "format you cannot serve at the descriptor")  # fmt: skip


def _format_matrix(context: CheckContext, frames: list[FrameFormat]) -> str:
    env: ServerEnv = context.env
    if env.silence is not None:
        raise CheckFailed(f"the server went quiet: {env.silence} (H6: never silence)")
    grades: dict[str, Grade] = {}
    for position, frame in enumerate(frames):
        budget = max(time_left(context) / (len(frames) - position), 0.5)
        record = exchange(
            context,
            env.spec(frame),
            [encode_probe(0, frame), encode_probe(1, frame)],
            judge_silence=False,
            silence_s=min(env.silence_s, budget),
        )
        grades[describe_frame(frame)] = grade(record)
    summary = "; ".join(f"{name}: {g.text}" for name, g in grades.items())
    failed = [f"{name}: {g.text}" for name, g in grades.items() if g.verdict == "fail"]
    if failed:
        raise CheckFailed("; ".join(failed) + f" (H6) — all: {summary}")
    if env.probe is None and env.crash is None:
        raise CheckFailed(f"{env.probe_problem} (H6: a server that processes no format "
                          f"serves nothing) — here: {summary}")  # fmt: skip
    if any(g.verdict == "warn" for g in grades.values()):
        raise CheckWarning(f"{summary} (H6)")
    return summary


@check("S07", "Each encoding (JPG, PNG, BMP) is processed or refused at the descriptor",
       "H6", suite=SUITE, deadline_s=20)  # fmt: skip
def encodings(context: CheckContext) -> str:
    """Sends two frames in each of JPG, PNG and BMP, each in a session of its own; each
    must be processed, or refused at the descriptor with a status H6 allows."""
    frames = [FrameFormat(e, width=PROBE_WIDTH, height=PROBE_HEIGHT)
              for e in (Encoding.JPG, Encoding.PNG, Encoding.BMP)]  # fmt: skip
    return _format_matrix(context, frames)


@check("S08", "Each RAW pixel format, odd width and padded stride, processed or refused",
       "H6", suite=SUITE, deadline_s=40)  # fmt: skip
def pixel_formats(context: CheckContext) -> str:
    """Sends two frames in each of the 11 RAW pixel formats at an odd size with padded
    rows; each must be processed, or refused at the descriptor with a status H6 allows."""
    width, height = PROBE_WIDTH - 1, PROBE_HEIGHT - 1
    frames = [
        FrameFormat(Encoding.RAW, f, width, height, row_bytes(f, width) + 8)
        for f in RAW_PIXEL_FORMATS
    ]
    return _format_matrix(context, frames)


def _large_frame(probe: FrameFormat) -> tuple[FrameFormat, bytes]:
    """A frame in the probe's format whose message is over gRPC's 4 MiB default limit."""
    rng = np.random.default_rng(6)
    if probe.encoding is Encoding.RAW:
        frame = FrameFormat(Encoding.RAW, probe.pixel_format, 1920, 1080)
        image = rng.integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8)
        return frame, rgb_to_raw(image, frame.pixel_format)
    # Noise does not compress: 1080p is 6.2 MB as PNG or BMP; JPEG needs 1440p for 7 MB.
    width, height = (2560, 1440) if probe.encoding is Encoding.JPG else (1920, 1080)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return FrameFormat(probe.encoding, width=width, height=height), encode_image(
        image, probe.encoding, 100
    )


@check("S09", "A frame over gRPC's 4 MiB default message size, embedded, is processed",
       "E2", suite=SUITE, deadline_s=15)  # fmt: skip
def large_embedded_frame(context: CheckContext) -> str:
    """Sends one 1080p frame (6.2 MB as RAW BGR24) embedded in the probe's encoding;
    expects it acknowledged: the server must raise gRPC's 4 MiB receive limit (E2)."""
    env: ServerEnv = context.env
    frame, content = _large_frame(env.require_probe())
    if len(content) <= GRPC_DEFAULT_LIMIT:
        raise CheckSkipped(f"a large {describe_frame(frame)} frame is only {len(content)} bytes")
    record = exchange(context, env.spec(frame), [content], judge_silence=False)
    if record.refused and record.ended is not None and record.ended.code in REFUSALS:
        raise CheckSkipped(
            f"the server refuses {describe_frame(frame)} at the descriptor "
            f"({status_of(record.ended)}), so its message limit cannot be observed"
        )
    what = f"a {len(content) / 1e6:.1f} MB {describe_frame(frame)} frame"
    if record.ended is not None and record.ended.code == "RESOURCE_EXHAUSTED":
        raise CheckFailed(
            f"{what} was refused with {status_of(record.ended)}: the server keeps gRPC's "
            "4 MiB default receive limit (E2)"
        )
    if record.reply is None or not record.complete:
        raise CheckFailed(f"{what}: {record.story()} (E2)")
    return f"{what} embedded, acknowledged"
