"""Frame results built by hand, for the pure tests of the comparison and the records."""

from __future__ import annotations

from typing import Any

from lvatool.results.records import FrameResult
from lvatool.sim.observe import FrameStatus


def tag(
    kind: str, value: str, confidence: float, box: tuple[float, ...] | None = None
) -> dict[str, Any]:
    """One inference in the R3 JSON form, as ``inference_json`` writes it."""
    body: dict[str, Any] = {"tag": {"value": value, "confidence": confidence}}
    if box is not None:
        body["box"] = dict(zip("ltwh", box, strict=True))
    return {"type": kind, kind: body}


def classified(value: str, confidence: float = 1.0) -> dict[str, Any]:
    return tag("classification", value, confidence)


def detected(value: str, box: tuple[float, ...], confidence: float = 0.9) -> dict[str, Any]:
    return tag("entity", value, confidence, box)


def frame(
    index: int,
    *inferences: dict[str, Any],
    stream: int = 0,
    status: FrameStatus = "acked",
    latency_ms: float = 5.0,
) -> FrameResult:
    acked = status == "acked"
    sent = status != "dropped"
    return FrameResult(
        stream=stream,
        index=index,
        timestamp=90_000 * index,
        time_s=index / 30,
        sequence=index + 2 if sent else None,
        sent_s=index / 30 if sent else None,
        acked_s=index / 30 + latency_ms / 1000 if acked else None,
        latency_ms=latency_ms if acked else None,
        service_ms=latency_ms if acked else None,
        status=status,
        inferences=tuple(inferences) if acked else (),
        label=None,
    )
