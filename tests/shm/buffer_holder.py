"""A process that makes one shared buffer and holds it, for the clean-up tests to kill.

``python -m tests.shm.buffer_holder ROOT SIZE [hold|daemon]``

- ``hold``: make the buffer in the main thread, print its name, and keep it until stdin
  closes (the test kills the process before that, or closes stdin to let it end).
- ``daemon``: make it in a daemon thread that never closes it, print its name, and let the
  main thread return at once — as an interrupted run whose stream thread outlives the
  main thread; the interpreter's exit must still remove the file.

A buffer that cannot be made prints the error's sentence on stderr and exits 3.
:func:`start_holder` runs it from a test.
"""

from __future__ import annotations

import select
import subprocess
import sys
import threading
from pathlib import Path

from lvatool.shm.writer import SharedMemorySpaceError, SharedMemoryWriter

ROOT = Path(__file__).resolve().parents[2]


def start_holder(
    root: Path, size: int = 4096, *, prefix: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], str]:
    """A holder process (``prefix`` runs it, e.g. under ``unshare``) and its buffer's name.

    The name is awaited with a deadline; a holder that prints none is killed.
    """
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "tests.shm.buffer_holder", str(root), str(size), "hold"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60.0)
    name = process.stdout.readline().strip() if ready else ""
    if not name:
        process.kill()
        _, stderr = process.communicate(timeout=30)
        raise AssertionError(f"the holder made no buffer within 60 s: {stderr.strip()}")
    return process, name


def main(root: Path, size: int, mode: str) -> int:
    made = threading.Event()
    holder: list[SharedMemoryWriter] = []

    def make() -> None:
        holder.append(SharedMemoryWriter(size, root=root, requested_by=f"--shm {size >> 20}"))
        made.set()
        if mode == "daemon":
            threading.Event().wait()  # never closes its buffer

    if mode == "daemon":
        threading.Thread(target=make, daemon=True).start()
        if not made.wait(60):
            return 1
    else:
        try:
            make()
        except SharedMemorySpaceError as error:
            print(error, file=sys.stderr)
            return 3
    print(holder[0].name, flush=True)
    if mode == "hold":
        sys.stdin.read()
        holder[0].close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
