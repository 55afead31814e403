"""The shared-memory reader against files a hostile peer controls (A3, M1, M4).

A peer owns the file it names: it can make it a FIFO, a link, shrink it after we mapped
it. Each test builds that file for real and shows the reader refuses it with the status
and rule a server ends the call with, never blocking and never touching a page past
the end of the file (SIGBUS).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from lvatool.protocol import Status
from lvatool.shm import SharedMemoryError, SharedMemoryReader
from lvatool.shm.reader import enable_fault_reports

DEADLINE_S = 30.0


def _release_fifo_opener(fifo: Path) -> None:
    """Unblock a reader stuck in ``open()`` of ``fifo`` (old code) by opening the other end."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as error:
        if error.errno != errno.ENXIO:  # ENXIO: nobody is waiting, nothing to release
            raise


def test_fifo_is_refused_at_once_not_opened_forever(tmp_path: Path) -> None:
    """A3: a FIFO named as the buffer is refused (M1) instead of blocking in open()."""
    fifo = tmp_path / "buffer"
    os.mkfifo(fifo)
    outcome: list[BaseException | SharedMemoryReader] = []

    def attach() -> None:
        try:
            outcome.append(SharedMemoryReader("buffer", 4096, root=tmp_path))
        except BaseException as error:
            outcome.append(error)

    opener = threading.Thread(target=attach, daemon=True)
    opener.start()
    opener.join(DEADLINE_S)
    try:
        assert not opener.is_alive(), "opening a FIFO blocked: the session would be pinned"
    finally:
        _release_fifo_opener(fifo)
        opener.join(DEADLINE_S)
    (error,) = outcome
    assert isinstance(error, SharedMemoryError), error
    assert error.status is Status.FAILED_PRECONDITION and error.rule == "M1"
    assert "FIFO" in str(error) and "not a regular file" in str(error)


def test_directory_is_refused_as_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(SharedMemoryError, match="a directory, not a regular file") as caught:
        SharedMemoryReader("dir", 1, root=tmp_path)
    assert caught.value.status is Status.FAILED_PRECONDITION


def test_symlink_is_invalid_argument_under_m4(tmp_path: Path) -> None:
    """M4: a handle name that is a link is a malformed name (INVALID_ARGUMENT), not M1."""
    target = tmp_path / "real"
    target.write_bytes(bytes(4096))
    os.symlink(target, tmp_path / "link")
    with pytest.raises(SharedMemoryError, match="symbolic link") as caught:
        SharedMemoryReader("link", 4096, root=tmp_path)
    assert caught.value.status is Status.INVALID_ARGUMENT
    assert caught.value.rule == "M4"


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "../etc/passwd"])
def test_names_that_leave_the_root_are_invalid_argument(tmp_path: Path, name: str) -> None:
    with pytest.raises(SharedMemoryError) as caught:
        SharedMemoryReader(name, 1, root=tmp_path)
    assert caught.value.status is Status.INVALID_ARGUMENT
    assert caught.value.rule == "M4"


@pytest.mark.parametrize("name", ["a..b", "..a", "frame..", "..."])
def test_dots_inside_a_name_are_an_ordinary_file_name(tmp_path: Path, name: str) -> None:
    """M4 is about path components: ``..`` alone leaves the directory, ``a..b`` does not."""
    (tmp_path / name).write_bytes(b"x" * 10 + b"frame" + bytes(1))
    with SharedMemoryReader(name, 16, root=tmp_path) as reader:
        assert bytes(reader.region(10, 5)) == b"frame"


def test_missing_and_short_files_are_failed_precondition(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(bytes(10))
    for name in ("missing", "short"):
        with pytest.raises(SharedMemoryError) as caught:
            SharedMemoryReader(name, 100, root=tmp_path)
        assert caught.value.status is Status.FAILED_PRECONDITION
        assert caught.value.rule == "M1"


def test_region_of_a_shrunk_file_is_refused_before_any_page_is_touched(tmp_path: Path) -> None:
    """A3: the peer truncates after the mapping; the next region is an error, not SIGBUS.

    Only ``region()`` is called here, never a read of the view, so the old reader fails
    this test (no error raised) instead of killing pytest.
    """
    path = tmp_path / "buffer"
    path.write_bytes(bytes(1 << 16))
    with SharedMemoryReader("buffer", 1 << 16, root=tmp_path) as reader:
        assert len(reader.region(0, 4096)) == 4096
        os.truncate(path, 4096)
        with pytest.raises(SharedMemoryError) as caught:
            reader.region(8192, 4096)
        error = caught.value
        assert error.status is Status.FAILED_PRECONDITION and error.rule == "M1"
        assert "shrank to 4096 bytes" in str(error) and "65536" in str(error)
        os.truncate(path, 1 << 16)  # grown back: readable again
        assert bytes(reader.region(8192, 4096)) == bytes(4096)


def test_closed_reader_hands_out_nothing(tmp_path: Path) -> None:
    (tmp_path / "buffer").write_bytes(bytes(64))
    reader = SharedMemoryReader("buffer", 64, root=tmp_path)
    reader.close()
    with pytest.raises(ValueError):
        reader.region(0, 8)


def test_fault_reports_are_enabled_by_mapping_a_buffer(tmp_path: Path) -> None:
    """A fault that slips through (truncation racing a read) leaves a traceback, not silence.

    A fresh interpreter: pytest enables faulthandler in its own process.
    """
    (tmp_path / "buffer").write_bytes(bytes(64))
    script = textwrap.dedent(
        f"""
        import faulthandler
        from pathlib import Path
        from lvatool.shm import SharedMemoryReader
        assert not faulthandler.is_enabled()
        SharedMemoryReader("buffer", 64, root=Path({str(tmp_path)!r}))
        print(faulthandler.is_enabled())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env={k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"},
    )
    assert result.stdout.strip() == "True", result.stderr


def test_the_residual_race_is_logged_with_a_traceback(tmp_path: Path) -> None:
    """What no cheap check closes: truncation after ``region()``, before the read.

    The process still dies of SIGBUS (a copy of every frame would be the only cure),
    but it says where, instead of vanishing without a word.
    """
    (tmp_path / "buffer").write_bytes(bytes(1 << 16))
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from lvatool.shm import SharedMemoryReader
        root = Path({str(tmp_path)!r})
        reader = SharedMemoryReader("buffer", 1 << 16, root=root)
        view = reader.region(8192, 4096)
        os.truncate(root / "buffer", 0)
        def read_the_frame():
            return bytes(view)
        read_the_frame()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env={k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"},
    )
    assert result.returncode != 0
    assert "Bus error" in result.stderr
    assert "read_the_frame" in result.stderr


def test_enable_fault_reports_is_idempotent() -> None:
    enable_fault_reports()
    enable_fault_reports()


def test_fault_reports_go_to_the_real_stderr_where_sys_stderr_is_not_a_file() -> None:
    """A notebook or a captured run replaces sys.stderr with an object without a file
    descriptor; faulthandler.enable() then raised, and every shared-memory session ended
    INTERNAL. Now the reports go to the process's own stderr."""
    script = textwrap.dedent(
        """
        import faulthandler, io, sys
        from lvatool.shm.reader import enable_fault_reports
        sys.stderr = io.StringIO()
        enable_fault_reports()
        print(faulthandler.is_enabled())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=DEADLINE_S, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
