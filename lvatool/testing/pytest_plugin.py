"""pytest fixtures for extension authors: ``lvatool_server`` and ``lvatool_address``.

Installed with lvatool as a pytest plugin (entry point ``pytest11``: ``lvatool``), so a
project's tests use the fixtures without importing anything::

    def test_my_processor_is_conformant(lvatool_server):
        address = lvatool_server("processor.py:process")   # python -m lvatool serve ...
        assert_conformant(address)

Without the entry point, enable it with ``-p lvatool.testing.pytest_plugin`` or
``pytest_plugins = ["lvatool.testing.pytest_plugin"]`` in the root ``conftest.py``.

Each server runs in a process of its own (see :class:`lvatool.testing.ServeProcess`):
the processor is loaded exactly as ``lvatool serve --processor`` loads it in production,
and a crash in it cannot take pytest down. Every server a test starts is stopped at the
test's teardown (SIGTERM, then SIGKILL after a deadline). A server that fails to start
fails the test with its log in the message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from lvatool.testing.process import ServeProcess
from lvatool.testing.processors import ProcessorLike

StartServer = Callable[..., str]
"""``lvatool_server(processor=None, *, args=(), env=None, cwd=None) -> "127.0.0.1:PORT"``."""


@pytest.fixture
def lvatool_server() -> Iterator[StartServer]:
    """A factory: start ``lvatool serve`` with a processor; get ``"127.0.0.1:PORT"``.

    ``lvatool_server()`` serves the reference dark/light classifier;
    ``lvatool_server("processor.py:process")`` or ``lvatool_server("my_model:process")``
    a reference as ``--processor`` takes it (relative paths from ``cwd``, by default the
    test's working directory); ``lvatool_server(MyProcessor)`` an object defined at the
    top level of a module. ``args`` adds ``lvatool serve`` options, e.g.
    ``args=["--batch-size", "4"]``. Call it as often as the test needs servers.
    """
    started: list[ServeProcess] = []

    def start(
        processor: ProcessorLike | None = None,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        start_timeout_s: float = 60.0,
    ) -> str:
        server = ServeProcess(
            processor, args=args, env=env, cwd=cwd, start_timeout_s=start_timeout_s
        )
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def lvatool_address(lvatool_server: StartServer) -> str:
    """The address of ``lvatool serve`` running the reference dark/light classifier."""
    return lvatool_server()
