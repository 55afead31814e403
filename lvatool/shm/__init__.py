"""Shared memory transfer (M1–M5): the receiver's view and the sender's buffer and allocator."""

from lvatool.shm.allocator import RegionAllocator
from lvatool.shm.reader import SHM_ROOT, SharedMemoryError, SharedMemoryReader
from lvatool.shm.writer import SharedMemoryWriter

__all__ = [
    "SHM_ROOT",
    "RegionAllocator",
    "SharedMemoryError",
    "SharedMemoryReader",
    "SharedMemoryWriter",
]
