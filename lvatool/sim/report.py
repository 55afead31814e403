"""The run summary for people (a rich table) and for machines (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lvatool.sim.stats import RunSummary


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
        "target", f"{data['target']} ({data['streams']} stream(s), {transfer_text(data)})"
    )
    for key in (
        "frames_decoded", "frames_sent", "frames_acked", "frames_with_inferences",
        "frames_dropped", "frames_timed_out",
    ):  # fmt: skip
        table.add_row(key.replace("_", " "), str(data[key]))
    if data["frames_sampled_out"]:
        table.add_row("frames sampled out", str(data["frames_sampled_out"]))
    table.add_row("frames per second", f"{data['fps']:.1f}")
    latency = data["latency_ms"]
    table.add_row(
        "round trip ms p50 / p90 / p99 / max",
        " / ".join(f"{latency[key]:.2f}" for key in ("p50", "p90", "p99", "max")),
    )
    table.add_row("bytes sent", f"{data['bytes_sent']:,}")
    labels = ", ".join(f"{name}: {count}" for name, count in data["labels"].items()) or "none"
    table.add_row("labels", labels)
    if "truth" in data:
        truth = data["truth"]
        table.add_row(
            "matches ground truth",
            f"{truth['matched']} / {truth['compared']} ({100 * truth['accuracy']:.1f} %)",
        )
    console.print(table)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def write_json(summary: RunSummary, path: Path) -> None:
    """The summary as JSON, in the shape of ``lvatool/schemas/simulate-summary.schema.json``."""
    path.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
