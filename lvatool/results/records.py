"""One frame's result as a plain record, and its forms in a results file (JSONL and CSV).

A :class:`FrameResult` is what ``--results`` writes and ``--baseline`` reads back: the
frame's place in the run (stream, index, sequence), its times, its fate and its
inferences in the R3 JSON form LVA publishes (:func:`lvatool.sim.publish.inference_json`,
so there is one converter, not two). Plain data, not protobuf: a baseline read from a
file and a frame of the running run are then the same kind of thing, compared alike.

A results file is JSON lines: a first ``{"kind": "run", …}`` line with the run's
settings (the clip's identity and the frame format, which a baseline compare checks), one
``{"kind": "frame", …}`` line per frame sent, and a last ``{"kind": "end", …}`` line with
the run's outcome (a file without it was cut short). The shape of each line is published
as ``lvatool/schemas/simulate-results.schema.json``. The CSV form has the frame lines
only, for spreadsheets; it is not a baseline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from lvatool.contract import inferencing_pb2
from lvatool.sim.observe import FrameRecord, FrameStatus
from lvatool.sim.publish import inference_json
from lvatool.text import visible

RESULTS_VERSION = 1
STATUSES: tuple[FrameStatus, ...] = ("acked", "dropped", "timed_out", "interrupted")
CSV_COLUMNS: tuple[str, ...] = (
    "stream", "index", "timestamp", "time_s", "sequence", "sent_s", "acked_s",
    "latency_ms", "service_ms", "status", "label", "inferences", "truth", "matched",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ResultsFormatError(ValueError):
    """A line of a results file is not what ``--results`` writes; one sentence."""


@dataclass(frozen=True)
class FrameResult:
    """What became of one frame, as written to a results file (times in seconds/ms)."""

    stream: int
    index: int
    timestamp: int
    time_s: float
    sequence: int | None
    sent_s: float | None
    acked_s: float | None
    latency_ms: float | None
    service_ms: float | None
    status: FrameStatus
    inferences: tuple[dict[str, Any], ...] = ()  # R3 JSON form
    label: str | None = None
    truth: str | None = None
    matched: bool | None = None

    @property
    def key(self) -> tuple[int, int]:
        """What a baseline compare matches frames by: (stream, frame index)."""
        return (self.stream, self.index)


@functools.lru_cache(maxsize=4096)
def _inference_json(serialized: bytes) -> dict[str, Any]:
    return inference_json(inferencing_pb2.Inference.FromString(serialized))


def inference_dict(inference: inferencing_pb2.Inference) -> dict[str, Any]:
    """:func:`inference_json`, remembered by the inference's bytes: do not change the dict.

    protobuf's ``MessageToDict`` costs ~15 times what serializing does, on every frame of
    every stream; most extensions repeat the same few answers (``dark``, ``light``), so a
    small cache takes the converter off the streams' path for them.
    """
    return _inference_json(inference.SerializeToString(deterministic=True))


def from_record(record: FrameRecord) -> FrameResult:
    """The observer's record (protobuf inferences) as a plain result."""
    return FrameResult(
        stream=record.stream,
        index=record.index,
        timestamp=record.timestamp,
        time_s=record.time_s,
        sequence=record.sequence,
        sent_s=record.sent_s,
        acked_s=record.acked_s,
        latency_ms=record.latency_ms,
        service_ms=record.service_ms,
        status=record.status,
        inferences=tuple(inference_dict(i) for i in record.inferences),
        label=record.label,
        truth=record.truth,
        matched=record.matched,
    )


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def to_json(result: FrameResult) -> dict[str, Any]:
    """The ``{"kind": "frame", …}`` line; ``truth``/``matched`` only when there is a truth."""
    line: dict[str, Any] = {
        "kind": "frame",
        "stream": result.stream,
        "index": result.index,
        "timestamp": result.timestamp,
        "time_s": round(result.time_s, 6),
        "sequence": result.sequence,
        "sent_s": _rounded(result.sent_s, 6),
        "acked_s": _rounded(result.acked_s, 6),
        "latency_ms": _rounded(result.latency_ms, 3),
        "service_ms": _rounded(result.service_ms, 3),
        "status": result.status,
        "label": result.label,
        "inferences": list(result.inferences),
    }
    if result.truth is not None:
        line["truth"] = result.truth
        line["matched"] = result.matched
    return line


def _field(line: dict[str, Any], name: str, kinds: tuple[type, ...], *, null: bool) -> Any:
    value = line.get(name)
    if value is None and null and name in line:
        return None
    # bool is an int to Python; a count or time written as true is not one.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ResultsFormatError(f"its field {name!r} is missing or not a {kinds[0].__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultsFormatError(f"its field {name!r} is not a finite number")
    return value


def from_json(line: dict[str, Any]) -> FrameResult:
    """A ``{"kind": "frame", …}`` line read back; ResultsFormatError names a bad field."""
    number = (int, float)
    status = _field(line, "status", (str,), null=False)
    if status not in STATUSES:
        raise ResultsFormatError(f"its status {status!r} is not one of {', '.join(STATUSES)}")
    inferences = _field(line, "inferences", (list,), null=False)
    if not all(isinstance(item, dict) for item in inferences):
        raise ResultsFormatError("its field 'inferences' is not a list of objects")
    sent_s, acked_s = (_field(line, n, number, null=True) for n in ("sent_s", "acked_s"))
    latency_ms, service_ms = (
        _field(line, n, number, null=True) for n in ("latency_ms", "service_ms")
    )
    return FrameResult(
        stream=_field(line, "stream", (int,), null=False),
        index=_field(line, "index", (int,), null=False),
        timestamp=_field(line, "timestamp", (int,), null=False),
        time_s=float(_field(line, "time_s", number, null=False)),
        sequence=_field(line, "sequence", (int,), null=True),
        sent_s=None if sent_s is None else float(sent_s),
        acked_s=None if acked_s is None else float(acked_s),
        latency_ms=None if latency_ms is None else float(latency_ms),
        service_ms=None if service_ms is None else float(service_ms),
        status=status,
        inferences=tuple(inferences),
        label=_field(line, "label", (str,), null=True),
        truth=_field(line, "truth", (str,), null=True) if "truth" in line else None,
        matched=_field(line, "matched", (bool,), null=True) if "matched" in line else None,
    )


# -- CSV ---------------------------------------------------------------------------------


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def inference_summary(inference: dict[str, Any]) -> str:
    """One inference in a few characters: ``dark:0.98``, ``car:0.91@[l,t,w,h]``, ``motion@[…]``.

    A frame's inferences are joined with ``; `` in its CSV cell.

    For reading in a spreadsheet, not for parsing back: the JSONL form is the lossless one.
    """
    kind = str(inference.get("type", ""))
    value = inference.get(kind)
    if not isinstance(value, dict):
        return kind or "?"
    tag = value.get("tag") if isinstance(value.get("tag"), dict) else None
    if tag is not None:
        text = f"{tag.get('value', '')}:{float(tag.get('confidence', 0.0)):.2f}"
    elif kind == "text":
        text = f"text:{value.get('value', '')}"
    elif kind == "event":
        text = f"event:{value.get('name', '')}"
    else:
        text = kind
    box = value.get("box")
    if isinstance(box, dict):
        corners = ",".join(f"{float(box.get(k, 0.0)):.3f}" for k in ("l", "t", "w", "h"))
        text += f"@[{corners}]"
    return text


def _cell(text: str) -> str:
    """Peer text made safe for a CSV cell opened in a spreadsheet.

    Control characters are escaped (one record, one line, for line-based tools too), and
    a cell that would start like a formula (``=HYPERLINK(…)``) gets a leading quote, so
    an extension's tag cannot run as a formula in the user's spreadsheet.
    """
    text = visible(text)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv_row(result: FrameResult) -> list[str]:
    """The frame as a CSV row in :data:`CSV_COLUMNS` order (quoting is the writer's job)."""
    matched = "" if result.matched is None else str(result.matched).lower()
    return [
        str(result.stream),
        str(result.index),
        str(result.timestamp),
        f"{result.time_s:.6f}",
        "" if result.sequence is None else str(result.sequence),
        _number(result.sent_s, 6),
        _number(result.acked_s, 6),
        _number(result.latency_ms, 3),
        _number(result.service_ms, 3),
        result.status,
        _cell(result.label or ""),
        _cell("; ".join(inference_summary(i) for i in result.inferences)),
        _cell(result.truth or ""),
        matched,
    ]
