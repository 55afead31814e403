"""The client under test, when the client suite starts it: never left running.

``lvatool conformance client -- my-client …`` starts a program that may itself start
others (a shell script, a launcher, a decoder process). Whatever ends the run — the
client exiting, ``--timeout``, Ctrl-C, an error of the checker — everything it started
must go with it, or a CI runner keeps a camera stream and its shared memory alive. So the
client runs in a process group of its own and is ended as a group: SIGTERM first, so it
can remove its shared-memory file, then SIGKILL after a short grace.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Sequence

#: How long the client's process group has to end after SIGTERM before SIGKILL.
GRACE_S = 3.0


class ClientStartError(OSError):
    """The client command could not be started; ``str(error)`` is the sentence."""


class ClientProcess:
    """``argv`` running in a new process group; :meth:`stop` ends the whole group.

    Used as a context manager, the group is ended however the block is left.
    """

    def __init__(self, argv: Sequence[str], grace_s: float = GRACE_S) -> None:
        self.argv = list(argv)
        self.grace_s = grace_s
        try:
            self._process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, process_group=0)
        except OSError as error:
            reason = error.strerror or str(error)
            raise ClientStartError(
                f"cannot start the client {shlex.join(self.argv)}: {reason}"
            ) from None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the client to exit; True if it did."""
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _signal_group(self, number: signal.Signals) -> bool:
        """Send ``number`` to the client's group; False when no process of it is left."""
        try:
            os.killpg(self._process.pid, number)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """End the client and everything in its group: SIGTERM, a grace, then SIGKILL.

        Processes the client left behind after exiting are ended too: the group outlives
        its leader while any member does, and its ID is not reused until then. The grace
        is the client's own, to remove its shared-memory file; whatever of the group is
        still there after it is killed.
        """
        running = self._process.poll() is None
        if not self._signal_group(signal.SIGTERM):
            return  # nothing of the group is left
        if running:
            self.wait(self.grace_s)
        self._signal_group(signal.SIGKILL)
        self.wait(self.grace_s)

    def __enter__(self) -> ClientProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
