"""Issue 11, container check: ``lvatool doctor`` says what this host gives shared memory.

The library's findings are examined on directories of our own on the real /dev/shm tmpfs
(so other runs' files do not mix in) and on real tmpfs mounts; the command runs as a
process, on the real /dev/shm and on a small or read-only tmpfs mounted over /dev/shm in a
private mount namespace (``unshare -m``), where ``--clean`` can be shown to remove exactly
the stale buffers. Stale buffers come from real processes killed with SIGKILL, or carry the
name such a process would have left (a pid above ``pid_max``, which no process can have).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lvatool.shm import SHM_ROOT
from lvatool.shm.doctor import (
    LARGEST_BUFFER_MIB,
    Checkup,
    Level,
    Mount,
    examine,
    mount_of,
    parse_mountinfo,
    probe,
)
from lvatool.shm.leftovers import buffer_name
from lvatool.shm.owner import ProcessIdentity, current_identity
from tests.shm.buffer_holder import ROOT, start_holder

_REGISTERED = "doctor" in subprocess.run(
    [sys.executable, "-m", "lvatool", "--help"], capture_output=True, text=True, cwd=ROOT,
    timeout=120,
).stdout  # fmt: skip
#: ``lvatool doctor`` once lvatool.cli registers it; until then the same function, run alone.
DOCTOR = (
    [sys.executable, "-m", "lvatool", "doctor"]
    if _REGISTERED
    else [sys.executable, "-c",
          "import typer; from lvatool.commands.doctor import doctor; typer.run(doctor)"]
)  # fmt: skip
UTF8 = {**os.environ, "PYTHONIOENCODING": "utf-8"}


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A directory of our own on the real /dev/shm tmpfs."""
    directory = Path(tempfile.mkdtemp(prefix="doctor-test-", dir=SHM_ROOT))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def findings(checkup: Checkup) -> dict[str, tuple[Level, str]]:
    return {f.check: (f.level, f.sentence) for f in checkup.findings}


def dead_buffer_name(namespace_offset: int = 0) -> str:
    """The name an lvatool process that has ended would have left (no process has its pid)."""
    own = current_identity()
    assert own is not None, "these tests need /proc"
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    return buffer_name(
        "lvatool", ProcessIdentity(pid_max + 1, own.start_ticks, own.namespace + namespace_offset)
    )


# -- the library ------------------------------------------------------------------------------


def test_a_healthy_tmpfs_passes_every_check_and_the_probe_leaves_nothing(shm_dir: Path) -> None:
    checkup = examine(shm_dir)
    found = findings(checkup)
    assert list(found) == ["tmpfs", "space", "largest-buffer", "probe", "shared", "stale"]
    assert found["tmpfs"] == (Level.OK, f"{shm_dir} is a tmpfs (in memory, mounted at /dev/shm)")
    assert found["probe"] == (
        Level.OK,
        f"a 1 MiB file was created, reserved, mapped, written and removed in {shm_dir}",
    )
    assert found["stale"] == (Level.OK, f"no stale lvatool buffers in {shm_dir}")
    assert checkup.fstype == "tmpfs"
    assert checkup.size_bytes and checkup.free_bytes
    assert found["space"][1].startswith(f"{shm_dir} holds ")
    assert list(shm_dir.iterdir()) == []
    assert checkup.works and checkup.exit_code == 0


def test_a_missing_directory_fails_and_exits_1(tmp_path: Path) -> None:
    checkup = examine(tmp_path / "shm")
    assert [(f.check, f.level) for f in checkup.findings] == [("directory", Level.FAIL)]
    assert checkup.findings[0].sentence.startswith(
        f"{tmp_path / 'shm'} is not there (No such file or directory): shared memory cannot"
        " work on this host"
    )
    assert checkup.exit_code == 1


def test_a_stale_buffer_of_a_killed_process_is_found_and_clean_removes_it_alone(
    shm_dir: Path,
) -> None:
    live, alive = start_holder(shm_dir)  # first: a new writer removes the stale files
    try:
        killed, stale = start_holder(shm_dir, 1 << 20)
        killed.kill()
        killed.communicate(timeout=30)
        assert killed.returncode == -signal.SIGKILL
        other_container = dead_buffer_name(namespace_offset=1)  # its pid means nothing here
        for name in (other_container, "lvatool-test-0123456789ab", "sem.camera"):
            (shm_dir / name).write_bytes(b"x")
        level, sentence = findings(examine(shm_dir))["stale"]
        assert level is Level.WARN
        assert sentence == (
            f"1 stale lvatool buffer (1 MiB) of processes that no longer run is in {shm_dir}:"
            f" {stale}; lvatool doctor --clean removes it; 1 lvatool buffer whose process"
            " cannot be seen from here (another container or user) is kept"
        )
        assert (shm_dir / stale).exists(), "without --clean nothing is removed"

        cleaned = examine(shm_dir, clean=True)
        assert [path.name for path in cleaned.removed] == [stale]
        assert findings(cleaned)["stale"] == (
            Level.OK,
            f"removed 1 stale lvatool buffer (1 MiB): {stale}; 1 lvatool buffer whose"
            " process cannot be seen from here (another container or user) is kept",
        )
        assert {p.name for p in shm_dir.iterdir()} == {
            alive,
            other_container,
            "lvatool-test-0123456789ab",
            "sem.camera",
        }
    finally:
        live.communicate("", timeout=30)
    assert live.returncode == 0


def test_many_stale_buffers_are_named_three_then_counted(shm_dir: Path) -> None:
    own = current_identity()
    assert own is not None
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    names = sorted(
        buffer_name("lvatool", ProcessIdentity(pid_max + 1 + i, own.start_ticks, own.namespace))
        for i in range(5)
    )
    for name in names:
        (shm_dir / name).write_bytes(b"x" * 4096)
    level, sentence = findings(examine(shm_dir))["stale"]
    assert level is Level.WARN
    assert f"{names[0]}, {names[1]}, {names[2]} and 2 more; lvatool doctor --clean" in sentence
    assert sentence.startswith("5 stale lvatool buffers (20 KiB) of processes that no longer run")


def test_an_empty_directory_cannot_tell_whether_it_is_shared(shm_dir: Path) -> None:
    level, sentence = findings(examine(shm_dir))["shared"]
    assert level is Level.WARN
    assert sentence.startswith(f"no other process's file is visible in {shm_dir}: either")
    assert "IpcMode container:<LVA module> or host" in sentence


def test_another_users_file_shows_other_processes_share_the_directory(shm_dir: Path) -> None:
    file = shm_dir / "lva-buffer"
    file.write_bytes(b"x")
    if os.geteuid() == 0:
        os.chown(file, 4321, 4321)
        owner = "uid 4321"
    else:
        owner = "this user"
    level, sentence = findings(examine(shm_dir))["shared"]
    assert level is Level.OK
    assert sentence.startswith(
        f"1 file made by another process is visible in {shm_dir} (owned by {owner})"
    )


def test_a_buffer_from_another_pid_namespace_shows_the_directory_is_shared(
    shm_dir: Path,
) -> None:
    """What an lvatool in a neighbouring container (IpcMode shareable, M6) leaves visible."""
    (shm_dir / dead_buffer_name(namespace_offset=1)).write_bytes(b"x")
    (shm_dir / dead_buffer_name()).write_bytes(b"x")  # this namespace, stale: no evidence
    level, sentence = findings(examine(shm_dir))["shared"]
    assert (level, sentence) == (
        Level.OK,
        "1 lvatool buffer made in another pid namespace (another container or the host) is"
        f" visible in {shm_dir}: it is shared across containers (M6)",
    )


@pytest.fixture
def tmpfs_mount() -> Iterator[Path]:
    """A directory to mount a fresh tmpfs on (the test mounts it); skipped where mount is denied."""
    directory = Path(tempfile.mkdtemp(prefix="doctor-tmpfs-"))
    tried = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if tried.returncode != 0:
        directory.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {tried.stderr.strip()}")
    subprocess.run(["umount", str(directory)], check=True, timeout=30)
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], capture_output=True, timeout=30)
        directory.rmdir()


def mount_tmpfs(directory: Path, options: str) -> None:
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], check=True, timeout=30
    )


def test_a_read_only_tmpfs_fails_the_probe(tmpfs_mount: Path) -> None:
    mount_tmpfs(tmpfs_mount, "ro,size=16m")
    checkup = examine(tmpfs_mount)
    found = findings(checkup)
    assert found["tmpfs"] == (
        Level.OK,
        f"{tmpfs_mount} is a tmpfs (in memory, mounted at {tmpfs_mount}, read-only)",
    )
    assert found["probe"] == (
        Level.FAIL,
        f"cannot create a file in {tmpfs_mount}: Read-only file system (M1: LVA creates its"
        " buffer there, the extension maps it)",
    )
    assert checkup.exit_code == 1


def test_a_full_tmpfs_fails_the_probe_at_the_reservation(tmpfs_mount: Path) -> None:
    """posix_fallocate says ENOSPC; a sparse file would have passed and died of SIGBUS later."""
    mount_tmpfs(tmpfs_mount, "size=2m")
    (tmpfs_mount / "filler").write_bytes(bytes(2 << 20))
    finding = probe(tmpfs_mount)
    assert (finding.level, finding.sentence) == (
        Level.FAIL,
        f"cannot reserve 1 MiB with posix_fallocate in {tmpfs_mount}: No space left on device"
        " (M1: LVA creates its buffer there, the extension maps it)",
    )
    assert [p.name for p in tmpfs_mount.iterdir()] == ["filler"]


def test_a_small_tmpfs_warns_that_the_largest_buffer_does_not_fit(tmpfs_mount: Path) -> None:
    mount_tmpfs(tmpfs_mount, "size=16m")
    checkup = examine(tmpfs_mount)
    found = findings(checkup)
    assert found["space"] == (Level.OK, f"{tmpfs_mount} holds 16 MiB, 16 MiB free")
    assert found["largest-buffer"] == (
        Level.WARN,
        f"the largest buffer LVA allows (sharedMemorySizeMiB {LARGEST_BUFFER_MIB}, M1) does not"
        " fit in the 16 MiB free: topologies up to sharedMemorySizeMiB 16 fit, one buffer per"
        f" camera; for more, give the LVA module a larger {tmpfs_mount} (ShmSize in its"
        " createOptions HostConfig, docker run --shm-size)",
    )
    assert checkup.exit_code == 0, "a warning: buffers up to 16 MiB still work"


def test_a_directory_on_a_disk_filesystem_is_not_a_tmpfs(tmp_path: Path) -> None:
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    mount = mount_of(tmp_path, mounts)
    assert mount is not None
    if mount.fstype == "tmpfs":
        pytest.skip(f"{tmp_path} is on a tmpfs here")
    level, sentence = findings(examine(tmp_path))["tmpfs"]
    assert level is Level.WARN
    assert sentence.startswith(f"{tmp_path} is on {mount.fstype} (mounted at ")
    assert "not a tmpfs" in sentence


STACKED = r"""
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 25 0:27 / /dev/shm ro,nosuid shared:7 master:3 - tmpfs shm rw,size=65536k
31 27 0:28 / /srv/my\040dir rw,relatime - tmpfs tmpfs rw
not a mountinfo line
"""


def test_mountinfo_lines_are_read_with_optional_fields_and_escapes() -> None:
    mounts = parse_mountinfo(STACKED)
    assert [m.mount_point for m in mounts] == ["/dev", "/dev/shm", "/", "/dev/shm", "/srv/my dir"]
    assert mounts[3] == Mount("0:27", "/dev/shm", "tmpfs", ("ro", "nosuid", "rw", "size=65536k"))


def test_the_mount_of_the_real_dev_shm_is_the_top_one_of_its_device() -> None:
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    mount = mount_of(SHM_ROOT, mounts)
    info = os.stat(SHM_ROOT)
    assert mount is not None
    assert mount.device == f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"
    assert mount.mount_point == "/dev/shm"


# -- the command ------------------------------------------------------------------------------


def run_doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DOCTOR, *args], capture_output=True, text=True, cwd=ROOT, env=UTF8, timeout=120
    )


def test_doctor_on_this_hosts_dev_shm_prints_one_line_per_finding() -> None:
    """The real /dev/shm, shared with every other run here: read-only apart from the probe."""
    ran = run_doctor()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert len(lines) == 6, ran.stdout
    assert lines[0] == "✓ /dev/shm is a tmpfs (in memory, mounted at /dev/shm)"
    assert (
        lines[3] == "✓ a 1 MiB file was created, reserved, mapped, written and removed in /dev/shm"
    )
    assert all(line[:2] in ("✓ ", "! ") for line in lines), ran.stdout
    assert ran.stderr == ""


def test_doctor_json_carries_the_same_findings() -> None:
    ran = run_doctor("--json")
    assert ran.returncode == 0, ran.stderr
    report: dict[str, Any] = json.loads(ran.stdout)
    assert report["root"] == "/dev/shm" and report["works"] is True
    assert report["fstype"] == "tmpfs" and report["largest_buffer_mib"] == 100
    assert [f["check"] for f in report["findings"]] == [
        "tmpfs", "space", "largest-buffer", "probe", "shared", "stale"
    ]  # fmt: skip
    assert {f["level"] for f in report["findings"]} <= {"ok", "warn"}


def test_doctor_falls_back_to_words_where_the_output_is_ascii() -> None:
    ran = subprocess.run(
        [*DOCTOR], capture_output=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    first = ran.stdout.decode("ascii").splitlines()[0]
    assert first == "OK   /dev/shm is a tmpfs (in memory, mounted at /dev/shm)"


def doctor_on_private_dev_shm(
    mount_options: str, setup: str = "", *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the doctor where /dev/shm is a fresh tmpfs of its own; what /dev/shm held after.

    ``setup`` is shell run after the mount (making files there, as a crashed run would).
    """
    command = " ".join(f'"${{{i}}}"' for i in range(1, len(DOCTOR) + len(args) + 1))
    script = (
        f"mount -t tmpfs -o {mount_options} tmpfs /dev/shm || exit 99; {setup}"
        f" {command}; code=$?; echo ---; ls -A /dev/shm; exit $code"
    )
    ran = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *DOCTOR, *args],
        capture_output=True, text=True, cwd=ROOT, env=UTF8, timeout=180,
    )  # fmt: skip
    assert ran.returncode != 99, f"mount failed: {ran.stderr}"
    output, _, listing = ran.stdout.partition("---\n")
    ran.stdout = output
    return ran, listing.split()


@pytest.mark.usefixtures("private_dev_shm")
def test_doctor_on_dockers_default_64_mib_warns_the_largest_buffer_does_not_fit() -> None:
    ran, left = doctor_on_private_dev_shm("size=64m")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[1] == "✓ /dev/shm holds 64 MiB, 64 MiB free"
    assert lines[2].startswith(
        "! the largest buffer LVA allows (sharedMemorySizeMiB 100, M1) does not fit in the"
        " 64 MiB free: topologies up to sharedMemorySizeMiB 64 fit"
    )
    assert left == []


@pytest.mark.usefixtures("private_dev_shm")
def test_doctor_on_a_read_only_dev_shm_fails_with_exit_1() -> None:
    ran, left = doctor_on_private_dev_shm("ro,size=16m")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        "✗ cannot create a file in /dev/shm: Read-only file system (M1: LVA creates its buffer"
        " there, the extension maps it)"
    ) in ran.stdout.splitlines()
    assert "Traceback" not in ran.stderr
    assert left == []


@pytest.mark.usefixtures("private_dev_shm")
def test_doctor_clean_removes_the_stale_buffers_and_nothing_else() -> None:
    stale, other_container = dead_buffer_name(), dead_buffer_name(namespace_offset=1)
    own = current_identity()
    assert own is not None
    alive = buffer_name("lvatool", own)  # this test's own process: alive
    kept = [alive, other_container, "lvatool-test-0123456789ab", "sem.lva"]
    setup = " ".join(f"head -c 8192 /dev/zero > /dev/shm/{name};" for name in [stale, *kept])
    ran, left = doctor_on_private_dev_shm("size=16m", setup, "--clean")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (
        f"✓ removed 1 stale lvatool buffer (8 KiB): {stale}; 1 lvatool buffer whose process"
        " cannot be seen from here (another container or user) is kept"
    ) in ran.stdout.splitlines()
    assert sorted(left) == sorted(kept)

    ran, left = doctor_on_private_dev_shm("size=16m", setup)
    assert ran.returncode == 0
    assert any(
        line.startswith(f"! 1 stale lvatool buffer (8 KiB) of processes that no longer run is"
                        f" in /dev/shm: {stale}; lvatool doctor --clean removes it")
        for line in ran.stdout.splitlines()
    ), ran.stdout  # fmt: skip
    assert stale in left, "without --clean the doctor removes nothing"
