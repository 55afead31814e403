"""Shared fixtures: a real reference server on a loopback port, raw calls with deadlines."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator

import grpc
import pytest

from lvatool.server import ExtensionServer, ServerOptions
from tests.rawcall import RawCall


@pytest.fixture(autouse=True)
def _lvatool_logging_restored() -> Iterator[None]:
    """Undo what an in-process ``lvatool serve`` does to the ``lvatool`` logger.

    ``configure_logging`` points the logger at the ``sys.stderr`` of its moment, which
    under ``CliRunner`` is a capture closed when that test ends; a later test's log
    record would then fail to print ("--- Logging error ---") into that test's output.
    """
    logger = logging.getLogger("lvatool")
    root = logging.getLogger()
    saved = (logger.handlers[:], logger.level, logger.propagate)
    saved_root = (root.handlers[:], root.level)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
    root.handlers[:], root.level = saved_root  # configure_logging serves the user's records too
    logging.captureWarnings(False)


@pytest.fixture
def server() -> Iterator[ExtensionServer]:
    """The reference dark/light server on a free loopback port."""
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as running:
        yield running


@pytest.fixture
def channel(server: ExtensionServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        server.address,
        options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ],
    ) as opened:
        yield opened


@pytest.fixture
def call(channel: grpc.Channel) -> Iterator[RawCall]:
    """A raw ProcessMediaStream call on the reference server."""
    raw = RawCall(channel)
    yield raw
    raw.cancel()


@pytest.fixture
def private_dev_shm() -> None:
    """Skip unless this process may make a private mount namespace (``unshare -m``)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    tried = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, timeout=30)
    if tried.returncode != 0:
        pytest.skip(f"cannot make a private mount namespace: {tried.stderr.strip()}")
