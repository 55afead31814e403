"""The protocol core loads without grpc, numpy or Pillow (architecture: sans-I/O core).

A fresh interpreter is the only honest place to look: in the test process, other tests
have long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("grpc", "numpy", "PIL")


def _modules_after(statement: str) -> set[str]:
    """The top-level packages loaded in a fresh interpreter after ``statement``."""
    script = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return {name.partition(".")[0] for name in json.loads(result.stdout)}


def test_protocol_core_imports_neither_grpc_nor_numpy_nor_pillow() -> None:
    loaded = _modules_after("import lvatool.protocol")
    assert "google" in loaded  # protobuf messages are the core's vocabulary
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_media_loads_its_conversions_on_first_use() -> None:
    """``lvatool.media`` keeps exporting the conversions; using one loads numpy then."""
    loaded = _modules_after("from lvatool.media import luma_label, FrameFormat")
    assert "numpy" in loaded


def test_grpc_stubs_are_imported_by_name() -> None:
    loaded = _modules_after("from lvatool.contract import extension_pb2_grpc")
    assert "grpc" in loaded
