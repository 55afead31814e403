"""The run summary for people (a rich table) and for machines (``--json``).

Labels, status details and warnings come from the extension: the table shows them as
text (:func:`lvatool.text.as_text`), never as rich markup or terminal control, so a tag
of ``[/]`` or an ANSI escape cannot crash the report or act on the user's terminal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lvatool.sim.stats import RunSummary
from lvatool.text import as_text


def unwritable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be written, or None.

    Checked before a run, so that its results are never lost to a typo in a directory
    name after minutes of streaming.
    """
    if path.is_dir():
        return f"{path} is a directory"
    folder = path.parent
    if not folder.exists():
        return f"the directory {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a directory"
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK | os.X_OK)
    return None if writable else f"no permission to write {path}"


def transfer_text(data: dict[str, Any]) -> str:
    """The transfer for people, e.g. ``shared memory (8 MiB, on full: wait)``.

    Built here from the summary's values, so the JSON keeps plain values for scripts.
    """
    if data["transfer"] != "shm":
        return str(data["transfer"])
    return f"shared memory ({data['shm_mib']:g} MiB, on full: {data['on_full']})"


def render_summary(summary: RunSummary, console: Console) -> None:
    """Print the summary table, label counts and any warnings."""
    data = summary.as_dict()
    table = Table(title="lvatool simulate", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value")
    table.add_row(
        "target",
        f"{as_text(data['target'])} ({data['streams']} stream(s), {transfer_text(data)})",
    )
    for key in (
        "frames_decoded", "frames_sent", "frames_acked", "frames_with_inferences",
        "frames_dropped", "frames_timed_out",
    ):  # fmt: skip
        table.add_row(key.replace("_", " "), str(data[key]))
        if key == "frames_dropped" and data["frames_dropped_behind"]:
            table.add_row("  of them a window behind", str(data["frames_dropped_behind"]))
    if data["frames_interrupted"]:
        table.add_row("frames interrupted", str(data["frames_interrupted"]))
    if data["frames_sampled_out"]:
        table.add_row("frames sampled out", str(data["frames_sampled_out"]))
    table.add_row("frames per second", f"{data['fps']:.1f}")
    for key, name in (
        ("latency_ms", "latency ms from scheduled send p50 / p90 / p99 / max"),
        ("service_ms", "service ms from actual send p50 / p90 / p99 / max"),
    ):
        figures = data[key]
        table.add_row(name, " / ".join(f"{figures[p]:.2f}" for p in ("p50", "p90", "p99", "max")))
    table.add_row("bytes sent", f"{data['bytes_sent']:,}")
    labels = (
        ", ".join(f"{as_text(name)}: {count}" for name, count in data["labels"].items()) or "none"
    )
    table.add_row("labels", labels)
    if "truth" in data:
        truth = data["truth"]
        table.add_row(
            "matches ground truth",
            f"{truth['matched']} / {truth['compared']} ({100 * truth['accuracy']:.1f} %)",
        )
    console.print(table)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {as_text(warning)}", highlight=False)


def write_json(summary: RunSummary, path: Path) -> None:
    """The summary as JSON, in the shape of ``lvatool/schemas/simulate-summary.schema.json``."""
    path.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
