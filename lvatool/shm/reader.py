"""The receiver's side of the shared buffer: a read-only, bounds-checked, zero-copy view.

Rule M1 says the receiver opens ``/dev/shm/<handle_name>`` with a plain ``open`` and
``mmap``; ``multiprocessing.shared_memory`` must not be used because it unlinks the
file when the attaching process exits. The file is opened read-only and without
following links, so a peer can make us read neither outside ``/dev/shm`` nor outside the
mapped length (M4, A3).
"""

from __future__ import annotations

import mmap
import os
import stat
from pathlib import Path

SHM_ROOT = Path("/dev/shm")


class SharedMemoryError(OSError):
    """The shared buffer named by a descriptor cannot be used."""


class SharedMemoryReader:
    """A read-only mapping of ``length`` bytes of ``/dev/shm/<handle_name>``."""

    def __init__(self, handle_name: str, length: int, root: Path = SHM_ROOT) -> None:
        if not handle_name or "/" in handle_name or ".." in handle_name or "\0" in handle_name:
            raise SharedMemoryError(f"handle name {handle_name!r} is not a plain file name")
        self.path = root / handle_name
        self.length = length
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise SharedMemoryError(f"cannot open {self.path}: {error.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SharedMemoryError(f"{self.path} is not a regular file")
            if info.st_size < length:
                raise SharedMemoryError(
                    f"{self.path} holds {info.st_size} bytes, less than the declared {length}"
                )
            self._map = mmap.mmap(fd, length, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._view = memoryview(self._map)

    def region(self, offset: int, length: int) -> memoryview:
        """The bytes ``[offset, offset + length)``, without copying; bounds-checked (M4)."""
        if offset < 0 or length <= 0 or offset + length > self.length:
            raise ValueError(
                f"region [{offset}, +{length}) lies outside the {self.length}-byte buffer"
            )
        return self._view[offset : offset + length]

    def close(self) -> None:
        """Unmap the buffer, unless a frame view is still alive (then the GC will)."""
        try:
            self._view.release()
            self._map.close()
        except BufferError:
            pass

    def __enter__(self) -> SharedMemoryReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
