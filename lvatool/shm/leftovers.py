"""Shared buffers left behind by lvatool processes that no longer exist: found and removed.

A run ended by SIGKILL (or the OOM killer) cannot remove its ``/dev/shm`` file, and tmpfs
keeps it, in memory, until the machine reboots; on Docker's 64 MiB ``/dev/shm`` two such
files are enough to make every later run fail. So every buffer lvatool makes is named

    <prefix>-<pid>-t<start ticks>-n<pid namespace>-<12 hex digits>

with the creating process's identity (:mod:`lvatool.shm.owner`), and a later run removes
the files whose process has ended. It touches nothing else: a name must match that
pattern exactly (with a prefix starting ``lvatool``), the entry must be a regular file
(not a link), and its process must be known to have ended — a live process's file, a file
made in another pid namespace (a neighbouring container sharing ``/dev/shm``) or another
user's file that ``/proc`` may hide are all kept.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from lvatool.shm.owner import ProcessIdentity, is_running
from lvatool.shm.reader import SHM_ROOT

log = logging.getLogger("lvatool.shm")

NAME = re.compile(
    r"(?P<prefix>lvatool[A-Za-z0-9_-]*?)-(?P<pid>\d+)-t(?P<start>\d+)-n(?P<namespace>\d+)"
    r"-[0-9a-f]{12}"
)


@dataclass(frozen=True)
class Leftover:
    """A buffer file lvatool made: its creator's pid and whether that process still runs.

    ``alive`` is None when this process cannot tell (another pid namespace, another
    user's process); such a file is never removed.
    """

    path: Path
    pid: int
    alive: bool | None


def buffer_name(prefix: str, identity: ProcessIdentity | None) -> str:
    """A fresh buffer name carrying ``identity``, so a later run can tell when it is stale.

    Without an identity (``/proc`` unusable) the name has no ``t``/``n`` fields: it matches
    :data:`NAME` never, so no clean-up will ever take it for a leftover.
    """
    token = uuid.uuid4().hex[:12]
    if identity is None:
        return f"{prefix}-{os.getpid()}-{token}"
    return f"{prefix}-{identity.pid}-t{identity.start_ticks}-n{identity.namespace}-{token}"


def identity_in_name(name: str) -> ProcessIdentity | None:
    """The creator recorded in a buffer name, or None when the name is not lvatool's."""
    match = NAME.fullmatch(name)
    if match is None:
        return None
    return ProcessIdentity(int(match["pid"]), int(match["start"]), int(match["namespace"]))


def find_leftovers(root: Path = SHM_ROOT) -> list[Leftover]:
    """Every buffer file lvatool made in ``root``, with whether its process still runs."""
    found = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    own_user = os.geteuid()
    for entry in entries:
        identity = identity_in_name(entry.name)
        if identity is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile
        if not stat.S_ISREG(info.st_mode):
            continue
        # /proc may hide other users' processes (hidepid): only root can tell for them.
        alive = is_running(identity) if own_user in (0, info.st_uid) else None
        found.append(Leftover(Path(entry.path), identity.pid, alive))
    return sorted(found, key=lambda leftover: leftover.path.name)


def remove_leftovers(root: Path = SHM_ROOT, leftovers: list[Leftover] | None = None) -> list[Path]:
    """Remove the buffer files of lvatool processes that have ended; the paths removed.

    ``leftovers``: what :func:`find_leftovers` found in ``root`` already, if the caller has
    looked (``lvatool doctor`` reports them before it cleans).
    """
    removed = []
    for leftover in find_leftovers(root) if leftovers is None else leftovers:
        if leftover.alive is not False:
            continue
        try:
            leftover.path.unlink()
        except OSError:
            continue  # another run removed it first, or the directory forbids it
        removed.append(leftover.path)
    return removed


_cleaned_roots: set[Path] = set()
_cleaning = threading.Lock()


def remove_leftovers_once(root: Path = SHM_ROOT) -> list[Path]:
    """:func:`remove_leftovers` the first time a process makes a buffer in ``root``.

    Called by every new :class:`~lvatool.shm.writer.SharedMemoryWriter`, so a run frees
    what crashed runs left before it reserves its own space; it says so once, at warning
    level so the user sees it without configuring logging.
    """
    with _cleaning:
        if root in _cleaned_roots:
            return []
        _cleaned_roots.add(root)
        removed = remove_leftovers(root)
    if removed:
        noun = "file" if len(removed) == 1 else "files"
        log.warning(
            "removed %d shared-memory %s left in %s by lvatool processes that no longer run",
            len(removed),
            noun,
            root,
        )
    return removed
