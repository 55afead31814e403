"""Shared memory transfer (M1–M5): the receiver's view and the sender's buffer and allocator."""

from lvatool.shm.allocator import RegionAllocator
from lvatool.shm.leftovers import Leftover, find_leftovers, remove_leftovers
from lvatool.shm.reader import SHM_ROOT, SharedMemoryError, SharedMemoryReader
from lvatool.shm.writer import (
    SharedMemoryCreateError,
    SharedMemorySpaceError,
    SharedMemoryWriter,
)

__all__ = [
    "SHM_ROOT",
    "Leftover",
    "RegionAllocator",
    "SharedMemoryCreateError",
    "SharedMemoryError",
    "SharedMemoryReader",
    "SharedMemorySpaceError",
    "SharedMemoryWriter",
    "find_leftovers",
    "remove_leftovers",
]
