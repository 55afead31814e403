"""Real shared-memory files in /dev/shm for tests, removed afterwards."""

from __future__ import annotations

import mmap
import os
import uuid
from pathlib import Path


class ShmFile:
    """A writable /dev/shm file of ``size`` bytes, as an LVA-like sender would create."""

    def __init__(self, size: int) -> None:
        self.name = f"lvatool-test-{uuid.uuid4().hex[:12]}"
        self.path = Path("/dev/shm") / self.name
        self.size = size
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
            self.map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def write(self, offset: int, data: bytes) -> None:
        self.map[offset : offset + len(data)] = data

    def close(self) -> None:
        self.map.close()
        self.path.unlink(missing_ok=True)
