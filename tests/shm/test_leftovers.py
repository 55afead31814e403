"""Issue 8, point 13: buffer files of ended lvatool processes are found and removed.

A SIGKILLed run cannot remove its /dev/shm file. Buffer names carry the creator's pid,
start time and pid namespace, and the next writer removes the files whose process has
ended — never a live process's file, never one whose creator it cannot judge (another pid
namespace), never a file that is not lvatool's. The processes here are real: children
that make a buffer and are killed with SIGKILL, in this pid namespace or another.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvatool.conformance import CheckingExtension, CheckingPolicy
from lvatool.shm import SHM_ROOT
from lvatool.shm.leftovers import Leftover, buffer_name, find_leftovers, remove_leftovers
from lvatool.shm.owner import ProcessIdentity, current_identity
from lvatool.shm.writer import SharedMemoryWriter
from tests.shm.buffer_holder import ROOT, start_holder
from tests.sim.simrun import wait_for


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A directory of our own on the real /dev/shm tmpfs, so no other run's files mix in."""
    directory = Path(tempfile.mkdtemp(prefix="leftover-test-", dir=SHM_ROOT))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL, as the OOM killer or ``docker kill`` would, and reap the child."""
    process.kill()
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_a_sigkilled_writers_file_is_removed_by_the_next_writer(
    shm_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder, name = start_holder(shm_dir)
    kill(holder)
    left = shm_dir / name
    assert left.exists(), "SIGKILL gives no chance to clean up"
    assert find_leftovers(shm_dir) == [Leftover(left, holder.pid, alive=False)]
    with (
        caplog.at_level(logging.WARNING, logger="lvatool.shm"),
        SharedMemoryWriter(4096, root=shm_dir) as writer,
    ):
        assert not left.exists()
        assert [p.name for p in shm_dir.iterdir()] == [writer.name]
        with SharedMemoryWriter(4096, root=shm_dir):
            pass  # a second buffer of the same process does not scan again
    removed = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert removed == [
        f"removed 1 shared-memory file left in {shm_dir} by lvatool processes that no longer run"
    ]


def test_a_live_writers_file_is_never_removed(shm_dir: Path) -> None:
    holder, name = start_holder(shm_dir)
    try:
        assert find_leftovers(shm_dir) == [Leftover(shm_dir / name, holder.pid, alive=True)]
        assert remove_leftovers(shm_dir) == []
        assert (shm_dir / name).exists()
    finally:
        holder.communicate("", timeout=30)  # closing stdin lets it close its buffer
    assert holder.returncode == 0
    assert not (shm_dir / name).exists()


def test_only_regular_lvatool_files_of_ended_processes_are_touched(shm_dir: Path) -> None:
    own = current_identity()
    assert own is not None, "this test needs /proc"
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())

    def name(pid: int, start: int = own.start_ticks, namespace: int = own.namespace) -> str:
        return buffer_name("lvatool", ProcessIdentity(pid, start, namespace))

    ended = name(pid_max + 1)  # no process can have that pid
    reused = name(own.pid, own.start_ticks + 1)  # this pid, but a different process
    mine = name(own.pid)  # this very process: alive
    other_namespace = name(pid_max + 1, namespace=own.namespace + 1)  # cannot tell
    foreign = [
        "lvatool-test-0123456789ab",  # tests' own files, no identity
        f"lvatool-{pid_max + 1}-0123456789ab",  # the old naming: no start time, no namespace
        f"other-{pid_max + 1}-t1-n{own.namespace}-0123456789ab",  # not an lvatool prefix
        f"{ended}.bak",
    ]
    for file_name in [ended, reused, mine, other_namespace, *foreign]:
        (shm_dir / file_name).write_bytes(b"x")
    target = shm_dir / "target"
    target.write_bytes(b"kept")
    link = shm_dir / name(pid_max + 1)
    link.symlink_to(target)  # matches the pattern, but is no buffer: left alone
    directory = shm_dir / name(pid_max + 1)
    directory.mkdir()

    assert {(f.path.name, f.alive) for f in find_leftovers(shm_dir)} == {
        (ended, False),
        (reused, False),
        (mine, True),
        (other_namespace, None),
    }
    assert sorted(p.name for p in remove_leftovers(shm_dir)) == sorted([ended, reused])
    remaining = {p.name for p in shm_dir.iterdir()}
    assert remaining == {mine, other_namespace, *foreign, "target", link.name, directory.name}
    assert target.read_bytes() == b"kept"


def test_a_process_in_another_pid_namespace_keeps_its_file(shm_dir: Path) -> None:
    """M6: containers sharing /dev/shm have pid namespaces of their own; pids mean nothing."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    tried = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if tried.returncode != 0:
        pytest.skip(f"cannot make a pid namespace here: {tried.stderr.strip()}")
    holder, name = start_holder(shm_dir, prefix=("unshare", "--pid", "--fork", "--mount-proc"))
    try:
        [found] = find_leftovers(shm_dir)
        assert found.path.name == name and found.alive is None
        assert remove_leftovers(shm_dir) == []
    finally:
        holder.communicate("", timeout=30)
    assert not (shm_dir / name).exists()


def test_a_buffer_still_open_when_the_interpreter_exits_is_removed(shm_dir: Path) -> None:
    """An interrupted run whose stream thread outlived the main thread leaves no file."""
    ran = subprocess.run(
        [sys.executable, "-m", "tests.shm.buffer_holder", str(shm_dir), "4096", "daemon"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip(), "the holder made no buffer"
    assert list(shm_dir.iterdir()) == []


FORK_AND_EXIT = """
import os, sys
from pathlib import Path
from lvatool.shm.writer import SharedMemoryWriter
writer = SharedMemoryWriter(4096, root=Path(sys.argv[1]))
child = os.fork()
if child == 0:
    sys.exit(0)  # the child's interpreter exit runs the atexit clean-up
os.waitpid(child, 0)
print("kept" if writer.path.exists() else "removed")
writer.close()
"""


def test_a_forked_child_leaves_its_parents_buffer_alone(shm_dir: Path) -> None:
    """The exit clean-up of a child that inherited an open writer spares the parent's file."""
    ran = subprocess.run(
        [sys.executable, "-c", FORK_AND_EXIT, str(shm_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "kept"
    assert list(shm_dir.iterdir()) == []


def simulate_holding_frames(
    checker: CheckingExtension, *extra: str
) -> tuple[subprocess.Popen[str], Path]:
    """``lvatool simulate --shm 4`` against a checker that holds every frame, with its file."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "simulate", "--target", checker.address,
         "--shm", "4", "--ack-timeout", "60", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    files: list[Path] = []

    def buffer_in_use() -> bool:
        files[:] = SHM_ROOT.glob(f"lvatool-{process.pid}-*")
        return bool(files) and any(session.samples for session in checker.sessions)

    try:
        wait_for(buffer_in_use, "simulate sends a frame through its buffer")
    except AssertionError:
        process.kill()
        process.communicate(timeout=30)
        raise
    return process, files[0]


HOLD_ALL = CheckingPolicy(reply_delay_s=0.0, hold=1_000_000, hold_timeout_s=120.0)


def test_the_next_simulate_removes_the_file_of_a_sigkilled_one() -> None:
    with CheckingExtension(policy=HOLD_ALL) as checker:
        killed, left = simulate_holding_frames(checker)
        kill(killed)
    # The next run (a fresh process: each process scans once) removes it before streaming.
    # Another run on this machine may remove it first; either way it must be gone.
    ran = subprocess.run(
        [sys.executable, "-m", "lvatool", "simulate", "--shm", "4", "--max-frames", "3",
         "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert not left.exists(), "the SIGKILLed run's buffer file is still there"
    assert "Traceback" not in ran.stderr


def test_sigterm_ends_simulate_like_ctrl_c_and_removes_its_file() -> None:
    with CheckingExtension(policy=HOLD_ALL) as checker:
        process, buffer = simulate_holding_frames(checker)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert not buffer.exists()
    assert "Traceback" not in stderr
    assert "frames sent" in stdout


def test_a_zombie_counts_as_ended(shm_dir: Path) -> None:
    """A killed child not yet reaped by its parent holds no mapping: its file may go."""
    holder, name = start_holder(shm_dir)
    holder.send_signal(signal.SIGKILL)
    try:
        wait_for(lambda: _state(holder.pid) == "Z", "the killed holder becomes a zombie")
        assert find_leftovers(shm_dir) == [Leftover(shm_dir / name, holder.pid, alive=False)]
    finally:
        holder.communicate(timeout=30)


def _state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


def test_own_identity_matches_proc() -> None:
    own = current_identity()
    assert own is not None and own.pid == os.getpid()
    assert buffer_name("lvatool", own).startswith(f"lvatool-{os.getpid()}-t{own.start_ticks}-")
