"""``lvatool doctor``: whether shared-memory transfer can work on this host, one line a finding.

The findings come from :mod:`lvatool.shm.doctor`; this module only prints them, as lines
with a marker (or as JSON), and turns them into the exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from lvatool.shm.doctor import Checkup, Finding, Level, examine
from lvatool.text import visible

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130

_SYMBOLS = {Level.OK: "✓", Level.WARN: "!", Level.FAIL: "✗"}
_WORDS = {Level.OK: "OK  ", Level.WARN: "WARN", Level.FAIL: "FAIL"}


def _markers() -> dict[Level, str]:
    """✓ ! ✗ where the output can show them; OK WARN FAIL where it cannot (an ASCII locale)."""
    try:
        "".join(_SYMBOLS.values()).encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return _WORDS
    return _SYMBOLS


def render(checkup: Checkup) -> list[str]:
    """One line per finding: its marker, then its sentence (control characters escaped)."""
    markers = _markers()

    def line(finding: Finding) -> str:
        return f"{markers[finding.level]} {visible(finding.sentence)}"

    return [line(finding) for finding in checkup.findings]


def doctor(
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Remove the /dev/shm buffers of lvatool processes that no longer run "
            "(killed, out of memory), and say which.",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the findings as one JSON object instead.")
    ] = False,
) -> None:
    """Check what this host (or container) gives shared memory, one line per finding.

    /dev/shm's size and free space, whether it is a tmpfs, whether the largest buffer LVA
    allows (sharedMemorySizeMiB 100) fits, whether a file can be created, reserved, mapped
    and removed there, whether other processes' files are visible (is the IPC namespace
    shared with the LVA module? M6) and the stale buffers of lvatool processes that have
    ended. Exit codes: 0 shared memory can work here (warnings included), 1 it cannot,
    130 interrupted.
    """
    try:
        checkup = examine(clean=clean)
    except KeyboardInterrupt:
        typer.echo("lvatool doctor: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if json_output:
        typer.echo(json.dumps(checkup.as_dict(), indent=2))
    else:
        for line in render(checkup):
            typer.echo(line)
    raise typer.Exit(checkup.exit_code)
