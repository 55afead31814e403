"""Motion detection by frame differencing: a second reference processor, stateful.

Serve it with ``lvatool serve --processor lvatool.examples.motion:process``. For every
frame after a session's first, it returns one ``MOTION`` inference per area that changed
since the session's previous frame, with a box ``(l, t, w, h)`` normalised to 0–1 (R2;
published by LVA as ``{"type": "motion", "motion": {"box": {...}}}``, R3). A frame with
nothing moving gets an empty list, as LVA's own motion detector would publish nothing.

How, with numpy only:

1. The frame is reduced to about :data:`WORKING_WIDTH` pixels wide (every n-th pixel,
   then 2x2 block means, which also averages away compression noise) and turned into
   BT.601 luma (0.299 R + 0.587 G + 0.114 B, as R4), so the cost barely depends on the
   frame size: a 1080p frame costs about what a 640x360 one does.
2. Pixels whose luma moved by more than the threshold since the previous frame are
   "changed"; the frame is cut into a grid of :data:`CELL` x :data:`CELL` cells, and a
   cell is changed when at least :data:`CHANGED_FRACTION` of its pixels are.
3. Changed cells that touch (8-connected) form one area; each area's bounding box is one
   inference, largest first.

The session's ``extension_configuration`` may be JSON ``{"sensitivity": S}`` with S from
0 (only strong changes, a luma step of 51 of 255) to 1 (a step of 3), 0.5 by default (27).
Bad JSON, an unknown key or a value out of range refuses the session (``ValueError`` in
``open()``, which the server turns into ``INVALID_ARGUMENT`` naming the problem).

State is per session (the previous frame of each camera), kept by :meth:`open` and
dropped by :meth:`close`: one processor instance serves every session, from several
threads, so nothing lives in a module global. A uniform box moving sideways changes
only its leading and trailing edges, so it may come out as two boxes; a scene cut
changes everything, so it comes out as one box over the whole frame.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lvatool.contract import inferencing_pb2
from lvatool.server import Frame, Inference, Processor, SessionInfo

#: Frames are reduced to about this many luma pixels across before they are compared.
WORKING_WIDTH = 320
#: Side of a grid cell, in working pixels (16 pixels of a 640-wide frame).
CELL = 8
#: A cell is changed when at least this share of its pixels changed.
CHANGED_FRACTION = 0.2
DEFAULT_SENSITIVITY = 0.5

Luma = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]


def luma_threshold(sensitivity: float) -> float:
    """The luma step (0–255) a pixel must change by to count: 51 at 0, 27 at 0.5, 3 at 1."""
    return 3.0 + 48.0 * (1.0 - sensitivity)


@dataclass(frozen=True)
class MotionSettings:
    """What a session's ``extension_configuration`` may set."""

    sensitivity: float = DEFAULT_SENSITIVITY

    @classmethod
    def from_configuration(cls, text: str) -> MotionSettings:
        """Settings from ``{"sensitivity": 0.5}``; empty text means the defaults.

        ValueError names what is wrong: the server refuses the session with it.
        """
        if not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ValueError(
                f'extension_configuration is not JSON ({error}); expected {{"sensitivity": 0.5}}'
            ) from None
        if not isinstance(data, dict):
            raise ValueError(
                "extension_configuration must be a JSON object such as "
                f'{{"sensitivity": 0.5}}, not {type(data).__name__}'
            )
        unknown = sorted(set(data) - {"sensitivity"})
        if unknown:
            raise ValueError(
                f"extension_configuration has unknown key(s) {', '.join(map(repr, unknown))}; "
                "the motion processor knows only 'sensitivity'"
            )
        value = data.get("sensitivity", DEFAULT_SENSITIVITY)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(
                f"extension_configuration sensitivity must be a number from 0 to 1, "
                f"not {json.dumps(value)}"
            )
        return cls(float(value))

    @property
    def threshold(self) -> float:
        return luma_threshold(self.sensitivity)


def working_luma(rgb: npt.NDArray[np.uint8]) -> Luma:
    """A small BT.601 luma image of ``rgb``: about :data:`WORKING_WIDTH` wide.

    Every ``step``-th pixel, then 2x2 block means. Converting a strided view copies only
    the pixels kept, so a 1080p frame costs about as much as a 640x360 one.
    """
    step = max(1, rgb.shape[1] // (2 * WORKING_WIDTH))
    kept = rgb[::step, ::step].astype(np.float32)
    luma: Luma = kept[..., 0] * 0.299 + kept[..., 1] * 0.587 + kept[..., 2] * 0.114
    height, width = luma.shape
    if height < 2 or width < 2:
        return luma
    even = luma[: height // 2 * 2, : width // 2 * 2]
    blocks: Luma = even[0::2, 0::2] + even[1::2, 0::2] + even[0::2, 1::2] + even[1::2, 1::2]
    return blocks * np.float32(0.25)


def changed_cells(previous: Luma, current: Luma, threshold: float) -> npt.NDArray[np.bool_]:
    """The grid of cells in which at least :data:`CHANGED_FRACTION` of the pixels changed."""
    changed = np.abs(current - previous) > threshold
    height, width = changed.shape
    rows, cols = -(-height // CELL), -(-width // CELL)
    padded = np.zeros((rows * CELL, cols * CELL), dtype=np.uint16)
    padded[:height, :width] = changed
    counts = padded.reshape(rows, CELL, cols, CELL).sum(axis=(1, 3))
    padded[:height, :width] = 1  # how many real pixels each cell has (edge cells fewer)
    sizes = padded.reshape(rows, CELL, cols, CELL).sum(axis=(1, 3))
    result: npt.NDArray[np.bool_] = counts >= CHANGED_FRACTION * sizes
    return result


def areas(cells: npt.NDArray[np.bool_]) -> list[tuple[int, int, int, int]]:
    """Each 8-connected area of changed cells as ``(first row, first col, last row, last col)``."""
    rows, cols = cells.shape
    seen = np.zeros_like(cells)
    found = []
    for row, col in zip(*np.nonzero(cells), strict=True):
        if seen[row, col]:
            continue
        seen[row, col] = True
        queue = deque([(int(row), int(col))])
        top, left, bottom, right = int(row), int(col), int(row), int(col)
        while queue:
            r, c = queue.popleft()
            top, bottom = min(top, r), max(bottom, r)
            left, right = min(left, c), max(right, c)
            for nr in range(max(r - 1, 0), min(r + 2, rows)):
                for nc in range(max(c - 1, 0), min(c + 2, cols)):
                    if cells[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        queue.append((nr, nc))
        found.append((top, left, bottom, right))
    return found


def motion_boxes(previous: Luma, current: Luma, threshold: float) -> list[Box]:
    """Boxes ``(l, t, w, h)`` in 0–1 around the areas that changed, largest first."""
    height, width = current.shape
    boxes = []
    for top, left, bottom, right in areas(changed_cells(previous, current, threshold)):
        x0, x1 = left * CELL / width, min((right + 1) * CELL, width) / width
        y0, y1 = top * CELL / height, min((bottom + 1) * CELL, height) / height
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    boxes.sort(key=lambda box: box[2] * box[3], reverse=True)
    return boxes


def motion(box: Box) -> Inference:
    """A ``MOTION`` inference for ``box`` (l, t, w, h in 0–1), its type set explicitly (R1)."""
    left, top, width, height = box
    return Inference(
        type=Inference.InferenceType.MOTION,
        motion=inferencing_pb2.Motion(
            box=inferencing_pb2.Rectangle(l=left, t=top, w=width, h=height)
        ),
    )


@dataclass
class _SessionState:
    settings: MotionSettings
    previous: Luma | None = None


class MotionProcessor(Processor):
    """``MOTION`` boxes around what changed since the session's previous frame."""

    def __init__(self) -> None:
        self._sessions: dict[int, _SessionState] = {}
        self._lock = threading.Lock()

    def open(self, session: SessionInfo) -> None:
        settings = MotionSettings.from_configuration(session.extension_configuration)
        with self._lock:
            # The server hands the same SessionInfo to open, process and close of one
            # session; two sessions with equal descriptors are still two objects.
            self._sessions[id(session)] = _SessionState(settings)

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        with self._lock:
            state = self._sessions.get(id(session))
        if state is None:  # called without open(): treat it as a session of defaults
            state = _SessionState(MotionSettings())
            with self._lock:
                self._sessions[id(session)] = state
        # The working image is a new array: nothing refers to the frame's pixels (which
        # may be shared memory) once this returns (M3).
        current = working_luma(frame.image)
        previous, state.previous = state.previous, current
        if previous is None or previous.shape != current.shape:
            return []
        return [motion(box) for box in motion_boxes(previous, current, state.settings.threshold)]

    def close(self, session: SessionInfo) -> None:
        with self._lock:
            self._sessions.pop(id(session), None)


#: ``--processor lvatool.examples.motion:process``: the server makes one instance of the class.
process = MotionProcessor
