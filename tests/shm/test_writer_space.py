"""Issue 8, point 8: a shared buffer larger than a small /dev/shm fails in one sentence.

Docker gives a container 64 MiB of /dev/shm. Before, the writer sized its file with
``ftruncate`` (sparse) and the first write through the mapping past the tmpfs's free space
killed the process with SIGBUS ("Bus error", exit 135), leaving the file to fill the tmpfs
for every later run. These tests mount a real 16 MiB tmpfs — on a directory of their own,
and over /dev/shm itself in a private mount namespace (``unshare -m``) for the end-to-end
run, since the protocol names files in /dev/shm (M1) — and run the writer in a child
process, so the old behaviour shows as the child's SIGBUS, not as a dead test runner.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvatool.shm.writer import SharedMemoryCreateError, SharedMemoryWriter
from tests.shm.buffer_holder import ROOT, start_holder

MIB = 1 << 20
SENTENCE = "has 16 MiB free; --shm 20 needs 20 MiB (M1"


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A fresh 16 MiB tmpfs, as a container's small /dev/shm; skipped where mount is denied."""
    directory = Path(tempfile.mkdtemp(prefix="lvatool-small-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        directory.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True, timeout=30)
        directory.rmdir()


def hold_buffer(root: Path, size: int) -> subprocess.CompletedProcess[str]:
    """Make a buffer of ``size`` bytes in ``root`` in a child process that then ends."""
    return subprocess.run(
        [sys.executable, "-m", "tests.shm.buffer_holder", str(root), str(size), "hold"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_a_buffer_larger_than_the_free_space_fails_in_one_sentence(small_tmpfs: Path) -> None:
    made = hold_buffer(small_tmpfs, 20 * MIB)
    assert made.returncode != -signal.SIGBUS, "the writer died of SIGBUS (Bus error)"
    assert made.returncode == 3, made.stderr
    assert made.stderr.strip().startswith(f"{small_tmpfs} {SENTENCE}"), made.stderr
    assert "Traceback" not in made.stderr
    assert not list(small_tmpfs.iterdir()), "the half-made file was left behind"


def test_a_buffer_that_fits_the_small_tmpfs_is_made_and_removed(small_tmpfs: Path) -> None:
    with SharedMemoryWriter(12 * MIB, root=small_tmpfs) as writer:
        writer.write(12 * MIB - 5, b"frame")  # the last page is backed: no SIGBUS
        assert os.stat(writer.path).st_blocks * 512 >= 12 * MIB  # reserved, not sparse
    assert not list(small_tmpfs.iterdir())


def test_a_killed_runs_file_does_not_take_the_space_of_the_next(small_tmpfs: Path) -> None:
    """The next buffer removes the leftover of a SIGKILLed process before reserving (13)."""
    holder, name = start_holder(small_tmpfs, 12 * MIB)
    holder.kill()
    holder.communicate(timeout=30)
    assert (small_tmpfs / name).exists()  # SIGKILL left it, filling 12 of the 16 MiB
    made = hold_buffer(small_tmpfs, 8 * MIB)
    assert made.returncode == 0, made.stderr
    assert "removed 1 shared-memory file" in made.stderr
    assert not list(small_tmpfs.iterdir())


def test_a_directory_where_no_file_can_be_made_is_named(tmp_path: Path) -> None:
    with pytest.raises(SharedMemoryCreateError) as raised:
        SharedMemoryWriter(4096, root=tmp_path / "missing")
    assert str(raised.value) == (
        f"cannot create a shared buffer in {tmp_path / 'missing'}: No such file or directory"
        " (M1: the sender creates the buffer file there)"
    )


@pytest.mark.usefixtures("private_dev_shm")
@pytest.mark.parametrize(
    ("mount_options", "sentence"),
    [
        ("size=16m", f"/dev/shm {SENTENCE}"),
        ("ro,size=16m", "cannot create a shared buffer in /dev/shm: Read-only file system (M1"),
    ],
    ids=["16-MiB", "read-only"],
)
def test_simulate_on_a_small_or_read_only_dev_shm_exits_3_and_leaves_nothing(
    tmp_path: Path, mount_options: str, sentence: str
) -> None:
    """``simulate --shm 20`` where /dev/shm itself is such a tmpfs (a private one)."""
    summary_path = tmp_path / "summary.json"
    script = (
        f"mount -t tmpfs -o {mount_options} tmpfs /dev/shm || exit 99;"
        ' "$0" -m lvatool simulate --shm 20 --max-frames 5 --quiet --json "$1"; code=$?;'
        " ls -A /dev/shm; exit $code"
    )
    ran = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, sys.executable, str(summary_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    assert ran.returncode != 128 + signal.SIGBUS, "simulate died of SIGBUS (Bus error)"
    assert ran.returncode == 3, ran.stderr
    stderr = " ".join(ran.stderr.split())  # the console wraps long lines
    assert f"lvatool simulate: {sentence}" in stderr
    assert "Traceback" not in ran.stderr
    assert ran.stdout.strip() == "", f"simulate left {ran.stdout.strip()} in /dev/shm"
    summary = json.loads(summary_path.read_text())
    assert summary["outcome"] == "connect"
    assert summary["error"].startswith(sentence)
