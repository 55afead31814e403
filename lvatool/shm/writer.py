"""The sender's side of the shared buffer: a uniquely named ``/dev/shm`` file (M1).

The file is created exclusively under a fresh name that records its creator
(:mod:`lvatool.shm.leftovers`), its whole size is reserved with ``posix_fallocate`` and it
is mapped read-write; :meth:`SharedMemoryWriter.close` unmaps and removes it. Callers use
it as a context manager so the file is gone however a run ends; files of writers still
open when the interpreter exits (a stream thread that outlived an interrupted main
thread) are removed at exit, and files of processes killed outright are removed by the
next writer made in the same directory.

Reserving up front matters because ``/dev/shm`` is a tmpfs, often small (Docker's is 64
MiB): a file merely sized with ``ftruncate`` is sparse, and the first write through the
mapping past the tmpfs's free space kills the process with SIGBUS. ``posix_fallocate``
fails cleanly with ENOSPC instead, which becomes :class:`SharedMemorySpaceError`.
"""

from __future__ import annotations

import atexit
import errno
import math
import mmap
import os
import threading
import weakref
from pathlib import Path

from lvatool.shm.leftovers import buffer_name, remove_leftovers_once
from lvatool.shm.owner import current_identity
from lvatool.shm.reader import SHM_ROOT

_MIB = 1 << 20


class SharedMemoryCreateError(OSError):
    """The sender cannot create its shared buffer; ``str()`` is the sentence for the user.

    Raised as itself when no file can be made in the directory at all (no ``/dev/shm``, a
    read-only one), and as :class:`SharedMemorySpaceError` when the space is too small.
    """

    def __init__(self, code: int, sentence: str) -> None:
        super().__init__(code, sentence)
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence


class SharedMemorySpaceError(SharedMemoryCreateError):
    """The shared-memory directory has too little free space for the buffer.

    ``str()`` is the sentence for the user, e.g. "/dev/shm has 16 MiB free; --shm 20
    needs 20 MiB (M1) ...".
    """

    def __init__(self, root: Path, free_bytes: int, needed_bytes: int, requested_by: str) -> None:
        self.root = root
        self.free_bytes = free_bytes
        self.needed_bytes = needed_bytes
        # Free space rounded down and need rounded up, so "has 20 free; needs 20" never shows.
        free = math.floor(free_bytes / _MIB * 10) / 10
        needed = math.ceil(needed_bytes / _MIB * 10) / 10
        super().__init__(
            errno.ENOSPC,
            f"{root} has {free:g} MiB free; {requested_by} needs {needed:g} MiB (M1: the"
            " sender reserves the whole buffer up front; free space there, ask for less, or"
            " give the container a larger /dev/shm with docker run --shm-size)",
        )


def _free_bytes(root: Path) -> int:
    """Bytes an unprivileged user may still allocate in ``root``'s filesystem."""
    try:
        info = os.statvfs(root)
    except OSError:
        return 0
    return info.f_bavail * info.f_frsize


def reserve(fd: int, size: int) -> bool:
    """Give the file ``size`` bytes, every block allocated now (ENOSPC now, not SIGBUS later).

    False when the filesystem cannot reserve: the file is then sized sparse, as before
    (``lvatool doctor`` reports that).
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.ftruncate(fd, size)
        return False
    return True


#: Every writer not yet closed, so the files can be removed at interpreter exit.
_open_writers: weakref.WeakSet[SharedMemoryWriter] = weakref.WeakSet()
_open_writers_lock = threading.Lock()


@atexit.register
def _remove_files_of_open_writers() -> None:
    """Unlink (never unmap: a daemon thread may still write) every open writer's file.

    Only this process's own: a forked child inherits the parent's writers, and its exit
    must not take the parent's live buffer away.
    """
    with _open_writers_lock:
        writers = list(_open_writers)
    for writer in writers:
        if writer.creator_pid == os.getpid():
            writer.path.unlink(missing_ok=True)


class SharedMemoryWriter:
    """A writable shared buffer of ``size`` bytes that the extension maps by name."""

    def __init__(
        self,
        size: int,
        prefix: str = "lvatool",
        root: Path = SHM_ROOT,
        *,
        requested_by: str = "the shared buffer",
    ) -> None:
        """Create, reserve and map the file; ``requested_by`` names the size in errors.

        Raises :class:`SharedMemorySpaceError` when ``root`` lacks the space (the file is
        removed), :class:`SharedMemoryCreateError` when no file can be made there. Leftovers
        of ended lvatool processes in ``root`` are removed first, once per process, so a
        crashed run's file does not take the space of this one.
        """
        if size <= 0:
            raise ValueError("a shared buffer needs a positive size")
        remove_leftovers_once(root)
        self.name = buffer_name(prefix, current_identity())
        self.path = root / self.name
        self.size = size
        self.creator_pid = os.getpid()
        self._view: memoryview | None = None
        # Readable by the extension's user too: it may run in another container (M6).
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as error:  # no /dev/shm, read-only, not ours to write
            raise SharedMemoryCreateError(
                error.errno or errno.EIO,
                f"cannot create a shared buffer in {root}: {error.strerror} (M1: the sender"
                " creates the buffer file there)",
            ) from None
        with _open_writers_lock:
            _open_writers.add(self)
        try:
            reserve(fd, size)
            self._map = mmap.mmap(fd, size)
        except OSError as error:
            self._forget()
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SharedMemorySpaceError(root, _free_bytes(root), size, requested_by) from None
            raise
        except BaseException:
            self._forget()
            raise
        finally:
            os.close(fd)
        self._view = memoryview(self._map)
        self._populate()

    def _forget(self) -> None:
        """Remove the file and stop tracking it (creation failed, or the writer closed)."""
        self.path.unlink(missing_ok=True)
        with _open_writers_lock:
            _open_writers.discard(self)

    def _populate(self) -> None:
        """Fault every page in now, once, rather than on the first write of each frame.

        Page faults are costly on virtual machines, and a buffer touched up front keeps
        the memory figure of a run the same from its first frame to its last.
        """
        assert self._view is not None
        chunk = bytes(1 << 20)
        for offset in range(0, self.size, len(chunk)):
            end = min(offset + len(chunk), self.size)
            self._view[offset:end] = chunk[: end - offset]

    def region(self, offset: int, length: int) -> memoryview:
        """A writable view of ``[offset, offset + length)``, to fill in place."""
        if self._view is None:
            raise ValueError("the shared buffer is closed")
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"region [{offset}, +{length}) lies outside the buffer")
        return self._view[offset : offset + length]

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Copy ``data`` into the buffer at ``offset``."""
        self.region(offset, len(data))[:] = data

    def close(self) -> None:
        """Unmap and remove the file; safe to call twice."""
        if self._view is not None:
            view, self._view = self._view, None
            try:
                view.release()
                self._map.close()
            except BufferError:
                pass
        self._forget()

    def __enter__(self) -> SharedMemoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
