"""The receiver's side of the shared buffer: a read-only, bounds-checked, zero-copy view.

Rule M1 says the receiver opens ``/dev/shm/<handle_name>`` with a plain ``open`` and
``mmap``; ``multiprocessing.shared_memory`` must not be used because it unlinks the
file when the attaching process exits. The file is opened read-only and without
following links, so a peer can make us read neither outside ``/dev/shm`` nor outside the
mapped length (M4, A3).

The peer owns the file and can still change it after we mapped it, which is where the
hazards are (A3):

- Opening a FIFO (or any other special file) with a plain ``open`` blocks until a writer
  appears, pinning the session's thread forever. The file is therefore opened with
  ``O_NONBLOCK``, and anything that is not a regular file is refused before use.
- Touching a mapped page that lies past the end of a file that has since shrunk raises
  SIGBUS, which kills the whole process. The descriptor is therefore kept open, and the
  file's size is checked (one ``fstat``, about a microsecond) each time a region is
  handed out; a shrunk file ends that one call with ``FAILED_PRECONDITION``.

What remains is a race no cheap check closes: a peer that truncates the file *between*
that check and the last read of the region by the processor still raises SIGBUS.
Closing it would take a copy of every frame (``pread`` instead of ``mmap``) or sealing
the file against shrinking, which only ``memfd`` files allow and LVA does not create.
:func:`enable_fault_reports` makes sure such a crash at least leaves a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import fcntl
import io
import mmap
import os
import stat
import sys
from pathlib import Path

from lvatool.protocol.errors import RemoteProtocolError, Status
from lvatool.protocol.stream_spec import validate_handle_name

SHM_ROOT = Path("/dev/shm")

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class SharedMemoryError(OSError):
    """The shared buffer named by a descriptor cannot be used.

    ``status`` is the gRPC status a server ends the call with and ``rule`` the rule of
    protocol.md that was broken, so a caller maps the error without guessing from its
    text: a bad name is the peer's malformed value (``INVALID_ARGUMENT``, M4), a file
    that is missing, special or too short is shared memory that cannot be used
    (``FAILED_PRECONDITION``, M1).
    """

    def __init__(
        self, message: str, *, status: Status = Status.FAILED_PRECONDITION, rule: str = "M1"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.rule = rule

    def __str__(self) -> str:
        return self.message


def enable_fault_reports() -> None:
    """Have a SIGBUS (or SIGSEGV) print the Python traceback of every thread.

    A mapping of a peer's file is the one place lvatool can take such a signal (see the
    module docstring); without :mod:`faulthandler` the process would die without a word.
    Idempotent, and leaves an already enabled handler (pytest's, say) alone. Where
    ``sys.stderr`` is not a file (a notebook, a captured test run), the report goes to the
    process's original stderr, or nowhere: a shared-memory session must not fail for want
    of somewhere to print a crash that has not happened.
    """
    if faulthandler.is_enabled():
        return
    try:
        faulthandler.enable()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        original = sys.__stderr__
        if original is not None:
            with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
                faulthandler.enable(file=original)


class SharedMemoryReader:
    """A read-only mapping of ``length`` bytes of ``/dev/shm/<handle_name>``."""

    def __init__(self, handle_name: str, length: int, root: Path = SHM_ROOT) -> None:
        try:
            validate_handle_name(handle_name)
        except RemoteProtocolError as error:
            raise SharedMemoryError(error.message, status=error.status, rule="M4") from None
        self.path = root / handle_name
        self.length = length
        self._fd = self._open()
        try:
            size = os.fstat(self._fd).st_size
            if size < length:
                raise SharedMemoryError(
                    f"{self.path} holds {size} bytes, less than the declared {length}"
                )
            self._map = mmap.mmap(self._fd, length, prot=mmap.PROT_READ)
        except BaseException:
            os.close(self._fd)
            raise
        self._view = memoryview(self._map)
        enable_fault_reports()

    def _open(self) -> int:
        """Open without blocking or following links; refuse anything but a regular file."""
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise SharedMemoryError(
                    f"{self.path} is a symbolic link; a handle name must name the buffer "
                    "itself, a plain file in /dev/shm",
                    status=Status.INVALID_ARGUMENT,
                    rule="M4",
                ) from None
            raise SharedMemoryError(f"cannot open {self.path}: {error.strerror}") from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise SharedMemoryError(
                    f"{self.path} is {_kind(mode)}, not a regular file holding the buffer"
                )
            # Reads of a regular file never block; clear the flag so nothing else sees it.
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def region(self, offset: int, length: int) -> memoryview:
        """The bytes ``[offset, offset + length)``, without copying; bounds-checked (M4).

        Raises ValueError for a region outside the declared length (a caller's bug: the
        protocol core refuses such references first) and :class:`SharedMemoryError` when
        the peer has shrunk the file below it since it was mapped (M1).
        """
        if offset < 0 or length <= 0 or offset + length > self.length:
            raise ValueError(
                f"region [{offset}, +{length}) lies outside the {self.length}-byte buffer"
            )
        self.ensure_intact(f"region [{offset}, +{length})")
        return self._view[offset : offset + length]

    def ensure_intact(self, what: str = "the buffer") -> None:
        """Raise :class:`SharedMemoryError` if the peer has shrunk the file since it was mapped.

        Past the end of a shrunk file a mapped page is SIGBUS, not an exception, so a
        reader checks before it touches pages: when it takes a region, and again just
        before views taken earlier are read (a batch waits before it is processed).
        """
        if self._fd < 0:
            raise ValueError("the shared buffer is closed")
        size = os.fstat(self._fd).st_size
        if size < self.length:
            raise SharedMemoryError(
                f"{self.path} shrank to {size} bytes after it was mapped, below the "
                f"declared {self.length}; {what} cannot be read"
            )

    def close(self) -> None:
        """Unmap the buffer, unless a frame view is still alive (then the GC will)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            self._view.release()
            self._map.close()
        except BufferError:
            pass

    def __enter__(self) -> SharedMemoryReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"
