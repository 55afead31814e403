"""The bundled sample clip and its ground truth.

In a wheel they sit in ``lvatool/samples/`` (copied there at build time); in a source
checkout they are read from the repository's ``samples/videos/``.
"""

from __future__ import annotations

import json
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent.parent / "samples"
_CHECKOUT = Path(__file__).resolve().parent.parent.parent / "samples" / "videos"
SAMPLE_CLIP = "daynight.mp4"


def sample_path(name: str = SAMPLE_CLIP) -> Path:
    """Where the bundled file ``name`` is."""
    for folder in (_PACKAGED, _CHECKOUT):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"the bundled sample {name} is missing from this installation")


def truth_path(video: Path) -> Path:
    """The ground-truth file that belongs to ``video`` (``clip.mp4`` → ``clip.truth.json``)."""
    return video.with_name(video.stem + ".truth.json")


def load_truth(path: Path) -> list[str]:
    """The per-frame labels of a truth file (``{"labels": [...]}``)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read truth file {path}: {error}") from None
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or not labels:
        raise ValueError(f"{path} has no list of labels under the key 'labels'")
    return labels
