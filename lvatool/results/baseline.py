"""Comparing a run's per-frame results with a baseline run of the same clip: what changed.

Pure and I/O-free: results in, a :class:`BaselineDiff` out. :class:`BaselineComparer`
takes the baseline's records once and then this run's records one at a time, as they
come, so the run being judged is never held in memory; only counts, the worst frames and
a capped list of changed frames are kept.

**Pairing frames.** By (stream, frame index). A baseline of a single stream is the
reference for every stream of this run: all streams send the same frames, so any
difference between them is a change (a result that went to another session's frame,
Q3, shows up here). Frames on one side only (the runs sent different numbers of frames
or streams) are counted, not judged.

**Pairing inferences** within a frame, per inference kind:

1. same tag: classifications in order of confidence, boxes by best overlap (any);
   a pair whose boxes overlap less than the IoU threshold *moved*, a pair whose
   confidence moved more than the confidence threshold changed *confidence*;
2. what is left, different tag: classifications in order, boxes overlapping at least
   the IoU threshold: the *label* changed (``dark → light``, ``car → truck``);
3. what is still left *vanished* (baseline only) or *appeared* (this run only).

A frame acknowledged in one run and not in the other (dropped, timed out) changed its
*status*; its inferences are then not compared.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lvatool.results.header import describe_format
from lvatool.results.records import FrameResult
from lvatool.sim.stats import LatencyHistogram

CHANGE_KINDS: tuple[str, ...] = ("status", "label", "appeared", "vanished", "moved", "confidence")
_SEVERITY = {"status": 5.0, "label": 4.0, "appeared": 3.0, "vanished": 3.0, "moved": 2.0,
             "confidence": 1.0}  # fmt: skip
WORST_FRAMES = 10
CHANGED_FRAMES_KEPT = 1000

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Thresholds:
    """What counts as a change: ``--baseline-iou`` and ``--baseline-confidence``."""

    iou: float = 0.5
    confidence: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.iou <= 1.0:
            raise ValueError(f"the IoU threshold must lie in 0–1, not {self.iou}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"the confidence threshold must lie in 0–1, not {self.confidence}")


@dataclass(frozen=True)
class Change:
    """One difference in one frame; ``detail`` quotes the extension's tags as they are."""

    kind: str
    detail: str
    severity: float


@dataclass(frozen=True)
class FrameChange:
    """Every difference found in one frame."""

    stream: int
    index: int
    changes: tuple[Change, ...]

    @property
    def severity(self) -> float:
        return sum(change.severity for change in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "index": self.index,
            "changes": [{"kind": c.kind, "detail": c.detail} for c in self.changes],
        }


@dataclass(frozen=True)
class _Item:
    """An inference reduced to what is compared: kind, tag, confidence, box."""

    kind: str
    tag: str
    confidence: float | None
    box: Box | None

    def describe(self) -> str:
        text = self.tag if self.kind in ("classification", "entity") else f"{self.kind} {self.tag}"
        if self.box is not None:
            text += " @[" + ",".join(f"{v:.2f}" for v in self.box) + "]"
        return text.strip()


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def items_of(inferences: Iterable[dict[str, Any]]) -> list[_Item]:
    """The comparable part of each R3 inference (JSON omits zeros: they read as 0)."""
    items = []
    for inference in inferences:
        kind = str(inference.get("type", ""))
        value = inference.get(kind)
        value = value if isinstance(value, dict) else {}
        tag = value.get("tag")
        confidence: float | None = None
        if isinstance(tag, dict):
            label, confidence = str(tag.get("value", "")), _number(tag.get("confidence"))
        elif kind == "text":
            label = str(value.get("value", ""))
        elif kind == "event":
            label = str(value.get("name", ""))
        else:
            label = ""
        box = value.get("box")
        corners = (
            tuple(_number(box.get(k)) for k in ("l", "t", "w", "h"))
            if isinstance(box, dict)
            else None
        )
        items.append(_Item(kind, label, confidence, corners))  # type: ignore[arg-type]
    return items


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(l, t, w, h)`` boxes; 0 when either is empty."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _overlap(a: _Item, b: _Item) -> float:
    """How well two inferences line up: IoU of boxes, 1 for two box-less ones."""
    if a.box is None and b.box is None:
        return 1.0
    if a.box is None or b.box is None:
        return 0.0
    return iou(a.box, b.box)


def _greedy(
    base: list[_Item], now: list[_Item], used_b: set[int], used_n: set[int], *, same_tag: bool,
    minimum: float,
) -> list[tuple[int, int, float]]:  # fmt: skip
    """Pairs of unused items of one kind, best overlap first (ties: by confidence order)."""
    candidates = []
    for i, b in enumerate(base):
        if i in used_b:
            continue
        for j, n in enumerate(now):
            if j in used_n or b.kind != n.kind or (b.tag == n.tag) != same_tag:
                continue
            overlap = _overlap(b, n)
            if overlap > 0 and overlap >= minimum:
                candidates.append((-overlap, i, j))
    pairs = []
    for negative, i, j in sorted(candidates):
        if i not in used_b and j not in used_n:
            used_b.add(i)
            used_n.add(j)
            pairs.append((i, j, -negative))
    return pairs


def _by_confidence(items: list[_Item]) -> list[_Item]:
    return sorted(items, key=lambda item: -(item.confidence or 0.0))


def compare_frames(
    baseline: FrameResult, current: FrameResult, thresholds: Thresholds
) -> tuple[Change, ...]:
    """Every difference between one frame's baseline result and its result now."""
    if baseline.status != current.status:
        detail = f"{baseline.status} → {current.status}"
        return (Change("status", detail, _SEVERITY["status"]),)
    if current.status != "acked":
        return ()
    base = _by_confidence(items_of(baseline.inferences))
    now = _by_confidence(items_of(current.inferences))
    used_b: set[int] = set()
    used_n: set[int] = set()
    changes: list[Change] = []
    for i, j, overlap in _greedy(base, now, used_b, used_n, same_tag=True, minimum=0.0):
        b, n = base[i], now[j]
        if b.box is not None and n.box is not None and overlap < thresholds.iou:
            detail = (
                f"{b.describe()} → @[{','.join(f'{v:.2f}' for v in n.box)}] (IoU {overlap:.2f})"
            )
            changes.append(Change("moved", detail, _SEVERITY["moved"] + 1.0 - overlap))
        if b.confidence is not None and n.confidence is not None:
            move = abs(n.confidence - b.confidence)
            if move > thresholds.confidence:
                detail = f"{b.tag} confidence {b.confidence:.2f} → {n.confidence:.2f}"
                changes.append(Change("confidence", detail, _SEVERITY["confidence"] + move))
    for i, j, _ in _greedy(
        base, now, used_b, used_n, same_tag=False, minimum=thresholds.iou
    ):  # fmt: skip
        detail = f"{base[i].describe()} → {now[j].describe()}"
        changes.append(Change("label", detail, _SEVERITY["label"]))
    changes += [
        Change("vanished", b.describe(), _SEVERITY["vanished"])
        for i, b in enumerate(base)
        if i not in used_b
    ]
    changes += [
        Change("appeared", n.describe(), _SEVERITY["appeared"])
        for j, n in enumerate(now)
        if j not in used_n
    ]
    return tuple(changes)


def format_warning(baseline_format: dict[str, Any], run_format: dict[str, Any]) -> str | None:
    """A sentence when the frames were sent in another format than the baseline's.

    A warning, not a refusal: "does my model answer the same on RAW as on JPEG?" is a
    fair question, but changes may then come from the format alone.
    """
    keys = ("encoding", "pixel_format", "width", "height")
    if all(baseline_format.get(k) == run_format.get(k) for k in keys):
        return None
    return (
        f"the baseline's frames were {describe_format(baseline_format)}, "
        f"this run's {describe_format(run_format)}: "
        "some changes may come from the format alone"
    )


@dataclass
class BaselineDiff:
    """What changed from the baseline, in counts, the worst frames and latency."""

    thresholds: Thresholds
    frames_compared: int = 0
    frames_changed: int = 0
    only_in_baseline: int = 0
    only_in_run: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANGE_KINDS, 0))
    worst: list[FrameChange] = field(default_factory=list)
    changed_frames: list[tuple[int, int]] = field(default_factory=list)
    changed_frames_truncated: bool = False
    latency_baseline: dict[str, float] = field(default_factory=dict)
    latency_run: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed_pct(self) -> float:
        """Changed frames in percent of the frames compared (0 when none were)."""
        if not self.frames_compared:
            return 0.0
        return 100.0 * self.frames_changed / self.frames_compared

    def as_dict(self) -> dict[str, Any]:
        """The ``baseline`` object of the ``--json`` summary (schema simulate-summary)."""
        return {
            "frames_compared": self.frames_compared,
            "frames_changed": self.frames_changed,
            "changed_pct": round(self.changed_pct, 3),
            "only_in_baseline": self.only_in_baseline,
            "only_in_run": self.only_in_run,
            "changes": dict(self.kinds),
            "worst": [frame.as_dict() for frame in self.worst],
            "changed_frames": [[stream, index] for stream, index in self.changed_frames],
            "changed_frames_truncated": self.changed_frames_truncated,
            "latency_ms": {"baseline": self.latency_baseline, "run": self.latency_run},
            "thresholds": {"iou": self.thresholds.iou, "confidence": self.thresholds.confidence},
            "warnings": list(self.warnings),
        }


def _latency(histogram: LatencyHistogram) -> dict[str, float]:
    figures = histogram.figures()  # one walk of the histogram, rounded as the summary's
    return {"p50": figures["p50"], "p99": figures["p99"]}


class BaselineComparer:
    """Holds the baseline; judges this run's frames one by one (:meth:`add`)."""

    def __init__(self, baseline: Iterable[FrameResult], thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._baseline: dict[tuple[int, int], FrameResult] = {}
        self._baseline_latency = LatencyHistogram()
        for result in baseline:
            self._baseline[result.key] = result
            if result.status == "acked" and result.latency_ms is not None:
                self._baseline_latency.add(result.latency_ms)
        streams = {stream for stream, _ in self._baseline}
        self._only_stream = next(iter(streams)) if len(streams) == 1 else None
        self._matched: set[tuple[int, int]] = set()
        self._run_latency = LatencyHistogram()
        self._diff = BaselineDiff(thresholds)
        self._worst: list[tuple[float, int, int, int, FrameChange]] = []  # a min-heap
        self._added = 0
        self._warnings: list[str] = []

    def counterpart(self, current: FrameResult) -> FrameResult | None:
        """The baseline frame ``current`` is compared with, if the baseline has one."""
        stream = self._only_stream if self._only_stream is not None else current.stream
        return self._baseline.get((stream, current.index))

    def add(self, current: FrameResult) -> FrameChange | None:
        """Judge one frame of this run; its changes, or None when unchanged or unpaired."""
        self._added += 1
        if current.status == "acked" and current.latency_ms is not None:
            self._run_latency.add(current.latency_ms)
        diff = self._diff
        baseline = self.counterpart(current)
        if baseline is None:
            diff.only_in_run += 1
            return None
        self._matched.add(baseline.key)
        diff.frames_compared += 1
        changes = compare_frames(baseline, current, self.thresholds)
        if not changes:
            return None
        frame = FrameChange(current.stream, current.index, changes)
        diff.frames_changed += 1
        for kind in {change.kind for change in changes}:
            diff.kinds[kind] += 1
        if len(diff.changed_frames) < CHANGED_FRAMES_KEPT:
            diff.changed_frames.append((current.stream, current.index))
        else:
            diff.changed_frames_truncated = True
        # The worst frames: most severe first; among equals, the earliest frames.
        entry = (frame.severity, -current.index, -current.stream, self._added, frame)
        if len(self._worst) < WORST_FRAMES:
            heapq.heappush(self._worst, entry)
        else:
            heapq.heappushpop(self._worst, entry)
        return frame

    def diff(self) -> BaselineDiff:
        """The comparison so far (complete once every frame of the run was added)."""
        diff = self._diff
        diff.only_in_baseline = len(self._baseline) - len(self._matched)
        diff.worst = [entry[-1] for entry in sorted(self._worst, reverse=True)]
        diff.changed_frames.sort()
        diff.latency_baseline = _latency(self._baseline_latency)
        diff.latency_run = _latency(self._run_latency)
        counts = []
        if diff.only_in_baseline:
            counts.append(
                f"{diff.only_in_baseline} frames of the baseline have no counterpart in this "
                "run (it sent fewer frames or streams, or dropped them)"
            )
        if diff.only_in_run:
            counts.append(
                f"{diff.only_in_run} frames of this run have no counterpart in the baseline "
                "(it sent more frames or streams): not compared"
            )
        diff.warnings = self._warnings + counts
        return diff

    def warn(self, sentence: str) -> None:
        """A caveat that belongs with the diff (a different frame format)."""
        if sentence not in self._warnings:
            self._warnings.append(sentence)
