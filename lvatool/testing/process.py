"""``lvatool serve`` in a process of its own, started and stopped for a test.

A processor's bugs that only show in production (an import that works from the test's
directory but not from the container's, a module-level global shared across requests,
a crash that takes the interpreter down) show only when it is loaded as production
loads it: by ``python -m lvatool serve --processor REFERENCE``, in a fresh interpreter.
:class:`ServeProcess` does exactly that on a free loopback port, waits until the
server's standard health service answers SERVING, and stops it with SIGTERM (then
SIGKILL after a deadline). The server's log goes to a temporary file rather than a
pipe, so a chatty server can never block on a full pipe; a server that fails to start
raises :class:`ServeProcessError` quoting that log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lvatool.contract import SERVICE_NAME
from lvatool.testing.processors import ProcessorLike, processor_reference

#: ``lvatool serve`` exits 3 when it cannot listen (another process took the port).
_EXIT_CANNOT_LISTEN = 3
_START_ATTEMPTS = 3
_POLL_S = 0.1


class ServeProcessError(AssertionError):
    """The server did not start (or did not stop); the message quotes its log.

    An ``AssertionError`` so that pytest reports it as the test's failure, with the
    server's own words, rather than as an error in the harness.
    """


def free_port() -> int:
    """A loopback port nobody listens on at this moment (the server may still lose it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_serving(address: str, timeout_s: float = 1.0) -> bool:
    """Whether the extension at ``address`` answers the health service with SERVING."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


class ServeProcess:
    """``python -m lvatool serve`` with a processor, on 127.0.0.1 and a free port.

    ``processor``: None for the reference dark/light classifier, a ``--processor``
    reference (``"processor.py:process"``, passed as is), or an object defined at the top
    level of a module (named ``module:attr`` for the child, which is given this
    process's ``sys.path`` so that it can import the module). ``args`` are more
    ``lvatool serve`` options (``["--batch-size", "4"]``); ``env`` and ``cwd`` are the
    child's, by default this process's.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with ServeProcess("processor.py:process") as server:
            run_conformance(server.address)
    """

    def __init__(
        self,
        processor: ProcessorLike | None = None,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 20.0,
    ) -> None:
        self.reference = None if processor is None else processor_reference(processor)
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        if processor is not None and not isinstance(processor, str):
            # The child must import the module this process took the object from.
            inherited = [p for p in sys.path if p and Path(p).is_dir()]
            extra = self.env.get("PYTHONPATH", "")
            self.env["PYTHONPATH"] = os.pathsep.join([*inherited, *filter(None, [extra])])
        self.cwd = cwd
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._final_log = ""

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, once started."""
        return f"127.0.0.1:{self.port}"

    def command(self, port: int) -> list[str]:
        """The child's command line for ``port``."""
        command = [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port)]
        if self.reference is not None:
            command += ["--processor", self.reference]
        return command + self.args

    def log_text(self) -> str:
        """Everything the server has written (stderr and stdout) so far, or before it stopped."""
        if self._log is None:
            return self._final_log
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def start(self) -> str:
        """Start the server and wait until it is healthy; return its address.

        A port taken by someone else between choosing and binding it (exit 3) is retried
        on another port; any other failure raises :class:`ServeProcessError`.
        """
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._spawn(free_port())
            if self._wait_healthy():
                return self.address
            assert self.process is not None
            code = self.process.poll()
            if code == _EXIT_CANNOT_LISTEN and attempt < _START_ATTEMPTS:
                continue
            self._kill()
            why = (
                f"exited with code {code}"
                if code is not None
                else f"was not healthy within {self.start_timeout_s:g} s"
            )
            raise ServeProcessError(
                f"lvatool serve {why}: {' '.join(self.command(self.port))}\n"
                f"--- its stderr ---\n{self.log_text().rstrip()}"
            )
        raise AssertionError("unreachable")

    def _spawn(self, port: int) -> None:
        if self._log is not None:
            self._log.close()
        self._log = tempfile.NamedTemporaryFile(prefix="lvatool-serve-", suffix=".log")  # noqa: SIM115
        self.port = port
        self.process = subprocess.Popen(
            self.command(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
        )

    def _wait_healthy(self) -> bool:
        """Poll the health service until SERVING, the child exits, or the deadline."""
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if is_serving(self.address, timeout_s=min(1.0, self.start_timeout_s)):
                return True
            time.sleep(_POLL_S)  # polling against the deadline above
        return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``stop_timeout_s``.

        Returns the exit code (None if it was never started). The log file is removed;
        :meth:`log_text` still has what it held.
        """
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._kill()
        code = process.returncode
        if self._log is not None:
            self._final_log = self.log_text()
            self._log.close()
            self._log = None
        return code

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(self.stop_timeout_s)

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
