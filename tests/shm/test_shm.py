"""The shared buffer: first-fit allocation (M5), real /dev/shm files (M1), bounds (M4)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvatool.shm import RegionAllocator, SharedMemoryError, SharedMemoryReader, SharedMemoryWriter


def test_first_fit_reuses_the_lowest_gap() -> None:
    allocator = RegionAllocator(100)
    assert [allocator.allocate(30) for _ in range(3)] == [0, 30, 60]
    assert allocator.allocate(30) is None  # full: the caller waits or drops
    allocator.free(30)
    assert allocator.allocate(20) == 30
    assert allocator.allocate(20) is None  # only 10 bytes left in the gap and 10 at the end
    allocator.free(0)
    assert allocator.allocate(40) is None
    assert allocator.allocate(30) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=60))
def test_live_regions_never_overlap(operations: list[tuple[bool, int]]) -> None:
    """M3: a live region is never handed out twice."""
    allocator = RegionAllocator(128)
    live: list[int] = []
    for allocate, size in operations:
        if allocate or not live:
            offset = allocator.allocate(size)
            if offset is not None:
                live.append(offset)
        else:
            allocator.free(live.pop(size % len(live)))
        regions = allocator.regions()
        for (a, la), (b, _) in itertools.pairwise(regions):
            assert a + la <= b
        assert all(o + n <= 128 for o, n in regions)


def test_writer_creates_and_removes_file_and_reader_sees_it() -> None:
    with SharedMemoryWriter(4096) as writer:
        assert writer.path.exists() and writer.path.stat().st_size == 4096
        writer.write(100, b"frame")
        with SharedMemoryReader(writer.name, 4096) as reader:
            assert bytes(reader.region(100, 5)) == b"frame"
            with pytest.raises(ValueError):
                reader.region(4095, 2)
            with pytest.raises(TypeError):
                reader.region(0, 4)[0] = 1  # read-only (M3: the receiver never writes)
    assert not writer.path.exists()


def test_reader_refuses_links_short_files_and_missing_files(tmp_path: Path) -> None:
    """M4, A3: no link is followed out of the root; the file must hold the declared size."""
    (tmp_path / "short").write_bytes(b"x" * 10)
    os.symlink("/etc/hostname", tmp_path / "link")
    for name, size in (("short", 100), ("link", 1), ("missing", 1)):
        with pytest.raises(SharedMemoryError):
            SharedMemoryReader(name, size, root=tmp_path)
    with pytest.raises(SharedMemoryError):
        SharedMemoryReader("../etc/passwd", 1, root=tmp_path)


def test_fits_answers_without_taking() -> None:
    allocator = RegionAllocator(100)
    assert allocator.fits(100)
    assert allocator.live == 0
    allocator.allocate(60)
    assert allocator.fits(40) and not allocator.fits(41)
