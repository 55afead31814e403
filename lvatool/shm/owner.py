"""Which process made a shared buffer, told apart from any later process with the same pid.

A pid alone cannot say whether a buffer's creator still runs: pids are reused, and a
container sharing ``/dev/shm`` with its neighbour (M6: ``IpcMode: shareable``) has pids of
its own. So a buffer records its creator as three numbers read from ``/proc``: the pid,
the process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22, which a
reused pid cannot repeat) and the inode of its pid namespace. Only a process in the same
namespace can look the pid up; every other answer is "cannot tell", which keeps the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")

_NAMESPACE = re.compile(r"pid:\[(\d+)\]")


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as no other process, now or later, can be: pid, start time, namespace."""

    pid: int
    start_ticks: int
    namespace: int


def _stat_fields(pid: str) -> tuple[str, list[str]]:
    """The state and the fields after it of ``/proc/<pid>/stat`` (field 3 is index 0).

    The command name (field 2) may hold spaces and parentheses, so the fields are split
    after its last closing parenthesis.
    """
    text = (PROC / pid / "stat").read_text()
    rest = text[text.rindex(")") + 2 :].split()
    return rest[0], rest


def _start_ticks(fields: list[str]) -> int:
    return int(fields[22 - 3])


def _own_namespace() -> int | None:
    """The inode of this process's pid namespace, or None when /proc cannot say."""
    try:
        match = _NAMESPACE.fullmatch(os.readlink(PROC / "self" / "ns" / "pid"))
    except OSError:
        return None
    return int(match.group(1)) if match else None


def current_identity() -> ProcessIdentity | None:
    """This process's identity, or None when ``/proc`` is not this process's own view.

    ``/proc`` mounted for another pid namespace would give pids that mean other processes
    here; then no identity is recorded, and the buffer is one no clean-up ever removes.
    """
    namespace = _own_namespace()
    try:
        if namespace is None or os.readlink(PROC / "self") != str(os.getpid()):
            return None
        _, fields = _stat_fields("self")
        return ProcessIdentity(os.getpid(), _start_ticks(fields), namespace)
    except (OSError, ValueError, IndexError):
        return None


def is_running(identity: ProcessIdentity) -> bool | None:
    """Whether that very process still runs: True, False, or None when this process cannot tell.

    A zombie counts as ended: it holds no mapping and writes nothing any more. A process
    in another pid namespace, or one ``/proc`` will not show us, is "cannot tell".
    """
    own = current_identity()
    if own is None or own.namespace != identity.namespace:
        return None
    try:
        state, fields = _stat_fields(str(identity.pid))
    except (FileNotFoundError, ProcessLookupError):  # gone, or gone while being read
        return False
    except (OSError, ValueError):
        return None
    try:
        started = _start_ticks(fields)
    except (ValueError, IndexError):
        return None
    return started == identity.start_ticks and state not in ("Z", "X")
