"""What this host gives shared memory: the findings behind ``lvatool doctor``.

Shared-memory transfer fails in ways that only show once a topology streams: a container's
``/dev/shm`` of 64 MiB (Docker's default) that a 100 MiB buffer does not fit, a read-only or
missing ``/dev/shm``, an extension container that does not share the LVA module's IPC
namespace and so never sees its buffer (M6), the files of killed runs filling the tmpfs.
:func:`examine` looks at each of these on the spot and returns one :class:`Finding` per
question, each a level and a sentence, so a user can fix the setup before deploying.

Everything takes the directory to examine (``root``) and the mount table to read, so tests
point it at a tmpfs of their own. Only the probe writes anything (one small file, removed
before it returns), and only ``clean=True`` removes files: those of lvatool processes that
have ended, as :mod:`lvatool.shm.leftovers` judges them.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from lvatool.shm.leftovers import (
    Leftover,
    buffer_name,
    find_leftovers,
    identity_in_name,
    remove_leftovers,
)
from lvatool.shm.owner import current_identity
from lvatool.shm.reader import SHM_ROOT
from lvatool.shm.writer import reserve

MOUNTINFO = Path("/proc/self/mountinfo")

#: The largest ``sharedMemorySizeMiB`` LVA accepts (M1: 0–100 MiB).
LARGEST_BUFFER_MIB = 100

#: The probe's size: enough to cross pages, small enough never to crowd a live run's buffer.
PROBE_BYTES = 1 << 20

_MIB = 1 << 20
_SHOWN_NAMES = 3  # names listed in a sentence before "and N more"


class Level(StrEnum):
    """How a finding bears on shared memory: fine, worth a look, or it cannot work."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One answer: ``check`` is a stable id for scripts, ``sentence`` is for people."""

    check: str
    level: Level
    sentence: str


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo``, the fields the doctor needs."""

    device: str  # major:minor, as os.stat's st_dev gives it
    mount_point: str
    fstype: str
    options: tuple[str, ...]  # per-mount (ro/rw) and the filesystem's own (size=...)


@dataclass
class Checkup:
    """Every finding for one directory, the files ``clean`` removed, and the raw figures."""

    root: Path
    findings: list[Finding] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    size_bytes: int | None = None
    free_bytes: int | None = None
    fstype: str | None = None

    @property
    def works(self) -> bool:
        """Whether shared memory can work here at all (no finding failed)."""
        return all(finding.level is not Level.FAIL for finding in self.findings)

    @property
    def exit_code(self) -> int:
        """0 when shared memory can work here, 1 when it cannot (a finding failed)."""
        return 0 if self.works else 1

    def as_dict(self) -> dict[str, Any]:
        """Plain values for ``--json``."""
        return {
            "root": str(self.root),
            "works": self.works,
            "exit_code": self.exit_code,
            "size_bytes": self.size_bytes,
            "free_bytes": self.free_bytes,
            "fstype": self.fstype,
            "largest_buffer_mib": LARGEST_BUFFER_MIB,
            "findings": [
                {"check": f.check, "level": str(f.level), "sentence": f.sentence}
                for f in self.findings
            ],
            "removed": [path.name for path in self.removed],
        }


def examine(root: Path = SHM_ROOT, *, clean: bool = False, mountinfo: Path = MOUNTINFO) -> Checkup:
    """Every finding for ``root``, in the order a reader wants them; ``clean`` first.

    Cleaning comes before the space is measured, so the free space reported is what the
    next run will have.
    """
    checkup = Checkup(root)
    present = _check_directory(root)
    if present is not None:
        checkup.findings.append(present)
        return checkup
    leftovers = find_leftovers(root)
    sizes = {leftover.path: _allocated(leftover.path) for leftover in leftovers}
    if clean:
        checkup.removed = remove_leftovers(root, leftovers)
    checkup.findings.append(_check_filesystem(root, mountinfo, checkup))
    space = _check_space(root, checkup)
    checkup.findings.append(space)
    if checkup.free_bytes is not None:
        checkup.findings.append(_check_largest_fits(root, checkup.free_bytes))
    checkup.findings.append(probe(root))
    stale = {leftover.path for leftover in leftovers if leftover.alive is False}
    checkup.findings.append(_check_neighbours(root, stale))
    checkup.findings.append(_check_stale(root, leftovers, sizes, checkup.removed, clean))
    return checkup


def _check_directory(root: Path) -> Finding | None:
    """A failing finding when ``root`` is missing or not a directory, else None."""
    try:
        info = os.stat(root)
    except OSError as error:
        return Finding(
            "directory",
            Level.FAIL,
            f"{root} is not there ({error.strerror}): shared memory cannot work on this host"
            " (M1: the sender's buffer is a file there); send frames embedded instead",
        )
    if not stat.S_ISDIR(info.st_mode):
        return Finding(
            "directory",
            Level.FAIL,
            f"{root} is not a directory: shared memory cannot work on this host (M1)",
        )
    return None


# -- the filesystem ---------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(text: str) -> str:
    """Mount points in mountinfo write space, tab, newline and backslash as octal escapes."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), text)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a ``/proc/<pid>/mountinfo`` text, in its order; bad lines are skipped.

    A line is ``ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE
    SOURCE SUPER_OPTIONS``; the optional fields vary in number, hence the ``-`` separator.
    """
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if separator < 6 or len(fields) < separator + 3:
            continue
        options = fields[5].split(",")
        if len(fields) > separator + 3:
            options += fields[separator + 3].split(",")
        mounts.append(
            Mount(
                device=fields[2],
                mount_point=_unescape(fields[4]),
                fstype=fields[separator + 1],
                options=tuple(options),
            )
        )
    return mounts


def mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount ``path`` lies on: the deepest mount point above it, of its own device.

    The device number settles stacked mounts (a tmpfs mounted over another at /dev/shm);
    the mount point settles bind mounts, which share a device. When no line has the
    path's device (a mount table of another namespace), the deepest mount point wins.
    """
    try:
        resolved = os.path.realpath(path)
        info = os.stat(resolved)
    except OSError:
        return None
    device = f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"

    def above(mount: Mount) -> bool:
        point = mount.mount_point.rstrip("/")
        return resolved == point or resolved.startswith(point + "/") or point == ""

    candidates = [m for m in mounts if above(m)]
    same_device = [m for m in candidates if m.device == device]
    chosen = same_device or candidates
    if not chosen:
        return None
    # Deepest mount point; among equals the later line, which is mounted on top.
    deepest = max(len(m.mount_point.rstrip("/")) for m in chosen)
    return [m for m in chosen if len(m.mount_point.rstrip("/")) == deepest][-1]


def _check_filesystem(root: Path, mountinfo: Path, checkup: Checkup) -> Finding:
    """Whether ``root`` is a tmpfs: memory, as LVA's buffers expect, not a disk."""
    try:
        mounts = parse_mountinfo(mountinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError as error:
        return Finding(
            "tmpfs",
            Level.WARN,
            f"cannot tell whether {root} is a tmpfs: {mountinfo} is unreadable ({error.strerror})",
        )
    mount = mount_of(root, mounts)
    if mount is None:
        return Finding("tmpfs", Level.WARN, f"cannot tell whether {root} is a tmpfs: no mount")
    checkup.fstype = mount.fstype
    where = f"mounted at {mount.mount_point}"
    if "ro" in mount.options:
        where += ", read-only"
    if mount.fstype == "tmpfs":
        return Finding("tmpfs", Level.OK, f"{root} is a tmpfs (in memory, {where})")
    return Finding(
        "tmpfs",
        Level.WARN,
        f"{root} is on {mount.fstype} ({where}), not a tmpfs: buffers there are disk files,"
        " written back to disk and kept across reboots (M1 expects /dev/shm in memory)",
    )


# -- space ------------------------------------------------------------------------------------


def _mib(size: int, rounding: str = "down") -> str:
    """Bytes as KiB, MiB or (past 10 GiB) GiB, rounded so "fits" never lies."""
    step = math.floor if rounding == "down" else math.ceil
    if size < _MIB:
        return f"{step(size / 1024)} KiB"
    if size >= 10 * 1024 * _MIB:
        return f"{step(size / (1024 * _MIB) * 10) / 10:g} GiB"
    return f"{step(size / _MIB * 10) / 10:g} MiB"


def _check_space(root: Path, checkup: Checkup) -> Finding:
    """The size of ``root``'s filesystem and what an unprivileged user may still allocate."""
    try:
        info = os.statvfs(root)
    except OSError as error:
        return Finding("space", Level.FAIL, f"cannot measure {root}: {error.strerror}")
    checkup.size_bytes = info.f_blocks * info.f_frsize
    checkup.free_bytes = info.f_bavail * info.f_frsize
    return Finding(
        "space",
        Level.OK,
        f"{root} holds {_mib(checkup.size_bytes)}, {_mib(checkup.free_bytes)} free",
    )


def _check_largest_fits(root: Path, free_bytes: int) -> Finding:
    """Whether the largest buffer LVA allows fits in what is free.

    A warning, not a failure, when it does not: shared memory still works for every
    buffer that fits, and ``sharedMemorySizeMiB`` is the topology's choice, often well
    under 100. Failing here would fail every container left at Docker's 64 MiB default,
    including those whose topologies work; the sentence says up to which size they do.
    """
    largest = LARGEST_BUFFER_MIB * _MIB
    if free_bytes >= largest:
        return Finding(
            "largest-buffer",
            Level.OK,
            f"the largest buffer LVA allows (sharedMemorySizeMiB {LARGEST_BUFFER_MIB}, M1)"
            " fits in the free space",
        )
    fitting = free_bytes // _MIB
    return Finding(
        "largest-buffer",
        Level.WARN,
        f"the largest buffer LVA allows (sharedMemorySizeMiB {LARGEST_BUFFER_MIB}, M1) does"
        f" not fit in the {_mib(free_bytes)} free: topologies up to sharedMemorySizeMiB"
        f" {fitting} fit, one buffer per camera; for more, give the LVA module a larger"
        f" {root} (ShmSize in its createOptions HostConfig, docker run --shm-size)",
    )


# -- the probe --------------------------------------------------------------------------------


def probe(root: Path, size: int = PROBE_BYTES) -> Finding:
    """Create a file in ``root``, reserve it, map it, write and read it back, remove it.

    Each step is one a sender or a receiver takes (M1), and each can fail on its own: a
    read-only or foreign-owned directory refuses the create, a full tmpfs the
    ``posix_fallocate`` (a sparse file would pass here and kill the process with SIGBUS
    later), a ``noexec``-style policy or a missing ``/dev/shm`` device the ``mmap``. The file
    is named as every lvatool buffer is, after this process, so that if the doctor itself
    is killed mid-probe the next lvatool run removes it.
    """
    path = root / buffer_name("lvatool-doctor", current_identity())
    step = "create a file in"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        return _probe_failed(root, step, error)
    sparse = False
    try:
        step = f"reserve {_mib(size, 'up')} with posix_fallocate in"
        sparse = not reserve(fd, size)  # as the writer reserves its buffer
        step = "map a file in"
        with mmap.mmap(fd, size) as mapping:
            step = "write through a mapping in"
            mapping[0:1] = b"\x01"
            mapping[size - 1 : size] = b"\x02"
            if mapping[0] != 1 or mapping[size - 1] != 2:
                return Finding(
                    "probe", Level.FAIL, f"a mapped file in {root} lost what was written"
                )
    except OSError as error:
        return _probe_failed(root, step, error)
    finally:
        os.close(fd)
        removed = _unlink(path)
    if not removed:
        return Finding(
            "probe",
            Level.WARN,
            f"a {_mib(size, 'up')} file was created and mapped in {root}, but could not be"
            f" removed: {path.name} is left there",
        )
    if sparse:
        return Finding(
            "probe",
            Level.WARN,
            f"{root} cannot reserve space (posix_fallocate unsupported): files there map, but"
            " a full filesystem would show as SIGBUS instead of a clear error",
        )
    return Finding(
        "probe",
        Level.OK,
        f"a {_mib(size, 'up')} file was created, reserved, mapped, written and removed in {root}",
    )


def _probe_failed(root: Path, step: str, error: OSError) -> Finding:
    return Finding(
        "probe",
        Level.FAIL,
        f"cannot {step} {root}: {error.strerror or error} (M1: LVA creates its buffer there,"
        " the extension maps it)",
    )


def _unlink(path: Path) -> bool:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        return False
    return True


# -- neighbours -------------------------------------------------------------------------------


def _check_neighbours(root: Path, stale: set[Path]) -> Finding:
    """Whether files of other processes — ideally of another container — are visible.

    A heuristic, and the sentence says how far it goes. What it can tell: an lvatool buffer
    whose name records another pid namespace was made in another container (or the host)
    and is visible here, so this ``root`` is shared across containers (M6) — certain. Files
    of other users, or any file at all, show that other processes write here, but they may
    live in this same container. What it cannot tell: a ``/dev/shm`` with no other file may
    be private, or shared with an LVA module that has no buffer open yet (LVA makes one
    only while a topology with shared-memory transfer runs), and a tmpfs file records no
    creating process, so a non-lvatool file cannot be traced to a container.

    Stale lvatool buffers of this pid namespace (``stale``: their processes ended) are not
    evidence of anything live and are reported by the stale-buffers finding instead.
    """
    own = current_identity()
    own_user = os.geteuid()
    other_namespace: list[str] = []
    owners: set[int] = set()
    count = 0
    try:
        entries = list(os.scandir(root))
    except OSError as error:
        return Finding("shared", Level.WARN, f"cannot list {root}: {error.strerror}")
    for entry in entries:
        if Path(entry.path) in stale or entry.name.startswith("lvatool-doctor-"):
            continue  # a dead process's file, or a doctor's probe (here for a millisecond)
        identity = identity_in_name(entry.name)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile
        count += 1
        owners.add(info.st_uid)
        if identity is not None and (own is None or identity.namespace != own.namespace):
            other_namespace.append(entry.name)
    if other_namespace:
        return Finding(
            "shared",
            Level.OK,
            f"{_count(len(other_namespace), 'lvatool buffer')} made in another pid namespace"
            f" (another container or the host) {_are(len(other_namespace))} visible in {root}:"
            " it is shared across containers (M6)",
        )
    if count:
        who = ", ".join("this user" if uid == own_user else f"uid {uid}" for uid in sorted(owners))
        return Finding(
            "shared",
            Level.OK,
            f"{_count(count, 'file')} made by {'another process' if count == 1 else 'other'}"
            f"{'' if count == 1 else ' processes'} {_are(count)} visible in {root}"
            f" (owned by {who}): processes share it; if LVA streams through shared memory"
            " now, its buffer is among them (M6)",
        )
    return Finding(
        "shared",
        Level.WARN,
        f"no other process's file is visible in {root}: either nothing shares it yet, or this"
        " container has its own (M6: the extension needs IpcMode container:<LVA module> or"
        " host); run lvatool doctor again while LVA streams through shared memory to tell",
    )


# -- stale buffers ----------------------------------------------------------------------------


def _check_stale(
    root: Path,
    leftovers: list[Leftover],
    sizes: dict[Path, int | None],
    removed: list[Path],
    clean: bool,
) -> Finding:
    """The buffers of lvatool processes that ended without removing them (SIGKILL, OOM).

    ``sizes`` were measured before ``clean`` removed anything, to say how much it freed.
    """
    stale = [leftover.path for leftover in leftovers if leftover.alive is False]
    unknown = sum(1 for leftover in leftovers if leftover.alive is None)
    kept = (
        f"; {_count(unknown, 'lvatool buffer')} whose process cannot be seen from here"
        f" (another container or user) {_are(unknown)} kept"
        if unknown
        else ""
    )
    if removed:
        freed = sum(sizes.get(path) or 0 for path in removed)
        return Finding(
            "stale",
            Level.OK,
            f"removed {_count(len(removed), 'stale lvatool buffer')} ({_mib(freed)}):"
            f" {_names(removed)}{kept}",
        )
    left = [path for path in stale if path.exists()]
    if left and clean:
        return Finding(
            "stale",
            Level.WARN,
            f"could not remove {_count(len(left), 'stale lvatool buffer')} from {root}:"
            f" {_names(left)}{kept}",
        )
    if left:
        total = sum(sizes.get(path) or 0 for path in left)
        return Finding(
            "stale",
            Level.WARN,
            f"{_count(len(left), 'stale lvatool buffer')} ({_mib(total)}) of processes that"
            f" no longer run {_are(len(left))} in {root}: {_names(left)}; lvatool doctor"
            f" --clean removes {'it' if len(left) == 1 else 'them'}{kept}",
        )
    return Finding("stale", Level.OK, f"no stale lvatool buffers in {root}{kept}")


def _allocated(path: Path) -> int | None:
    """Bytes the file takes in memory (its blocks, not its apparent size)."""
    try:
        return os.lstat(path).st_blocks * 512
    except OSError:
        return None


def _names(paths: list[Path]) -> str:
    shown = ", ".join(path.name for path in paths[:_SHOWN_NAMES])
    more = len(paths) - _SHOWN_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _are(number: int) -> str:
    return "is" if number == 1 else "are"
