"""The sender's side of the shared buffer: a uniquely named ``/dev/shm`` file (M1).

The file is created exclusively under a fresh name, sized with ``ftruncate`` and mapped
read-write; :meth:`SharedMemoryWriter.close` unmaps and removes it. Callers use it as a
context manager so the file is gone however a run ends.
"""

from __future__ import annotations

import mmap
import os
import uuid
from pathlib import Path

from lvatool.shm.reader import SHM_ROOT


class SharedMemoryWriter:
    """A writable shared buffer of ``size`` bytes that the extension maps by name."""

    def __init__(self, size: int, prefix: str = "lvatool", root: Path = SHM_ROOT) -> None:
        if size <= 0:
            raise ValueError("a shared buffer needs a positive size")
        self.name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = root / self.name
        self.size = size
        # Readable by the extension's user too: it may run in another container (M6).
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        os.close(fd)
        self._view: memoryview | None = memoryview(self._map)
        self._populate()

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
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> SharedMemoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
