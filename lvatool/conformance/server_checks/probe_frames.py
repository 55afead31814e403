"""Probe frames: what the server suite sends, and how it compares what comes back.

Checks never assume the server's model. What is right is derived from the server's own
answers: each probe frame is first sent alone, and its results become the baseline that
every other context (among other frames, through shared memory, in a concurrent
session) must reproduce (Q3, M3, H1). Probes come in whatever format and size the run
chose (:mod:`~lvatool.conformance.server_checks.environment`), so a server that takes
only 416x416 JPEG is probed with 416x416 JPEG.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache

import numpy as np
from google.protobuf.json_format import MessageToDict

from lvatool.contract import inferencing_pb2
from lvatool.media import Encoding, FrameFormat, PixelFormat, encode_image, rgb_to_raw

PROBE_WIDTH, PROBE_HEIGHT = 160, 120
PROBE_COUNT = 4
RAW_PROBE = FrameFormat(Encoding.RAW, PixelFormat.BGR24, PROBE_WIDTH, PROBE_HEIGHT)


@cache
def probe_images(width: int = PROBE_WIDTH, height: int = PROBE_HEIGHT) -> tuple[np.ndarray, ...]:
    """Four deterministic pictures that most models tell apart: dark, light, two patterns."""
    rng = np.random.default_rng(2020)
    h, w = height, width

    def textured(level: int) -> np.ndarray:
        noise = rng.integers(-12, 13, size=(h, w, 3))
        return np.clip(level + noise, 0, 255).astype(np.uint8)

    gradient = np.repeat(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], h, axis=0)
    gradient = np.repeat(gradient, 3, axis=2)
    blocks = ((np.indices((h, w)).sum(axis=0) // 16) % 2 * 200 + 20).astype(np.uint8)
    return (textured(25), textured(230), np.ascontiguousarray(gradient), np.dstack([blocks] * 3))


def encode_probe(index: int, frame: FrameFormat) -> bytes:
    """Probe ``index`` in ``frame``'s format and size."""
    image = probe_images(frame.width or PROBE_WIDTH, frame.height or PROBE_HEIGHT)[index]
    if frame.encoding is Encoding.RAW:
        return rgb_to_raw(image, frame.pixel_format, frame.stride_bytes)
    return encode_image(image, frame.encoding, 90)


def canonical(inferences: Sequence[inferencing_pb2.Inference]) -> tuple[str, ...]:
    """Results in a form that compares equal when they mean the same.

    Identifiers that a server may mint afresh per call (inference_id, related and
    sequence ids) are left out, and numbers are rounded to two decimals.
    """

    def rounded(value: object) -> object:
        if isinstance(value, float):
            return round(value, 2)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    out = []
    for inference in inferences:
        body = MessageToDict(inference)
        for volatile in ("inferenceId", "relatedInferences", "sequenceId"):
            body.pop(volatile, None)
        out.append(json.dumps(rounded(body), sort_keys=True))
    return tuple(sorted(out))


def describe_results(result: tuple[str, ...]) -> str:
    return "[" + ", ".join(result) + "]" if result else "no inferences"


def describe_frame(frame: FrameFormat) -> str:
    """``RAW BGR24 160x120`` or ``JPG 160x120``: how reports name a probe format."""
    kind = frame.encoding.name
    if frame.encoding is Encoding.RAW:
        kind += f" {frame.pixel_format.name}"
    return f"{kind} {frame.width}x{frame.height}"
