"""A generated project, used as its author would: served, simulated, checked, tested.

Everything runs in processes of its own, as on the author's machine: ``lvatool serve
--processor <project>/processor.py:process``, ``lvatool simulate --topology``,
``lvatool conformance server`` and the project's own ``python -m pytest``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path

import pytest

from lvatool.scaffold import create_project
from tests.serveproc import free_port, wait_healthy

START_S = 60  # a loaded 2-core machine can take a while to import grpc and PyAV
RUN_S = 240
# Each test runs whole lvatool processes (the project's own tests start another server):
# past the suite's 120 s default on a loaded machine, within a bound all the same.
pytestmark = pytest.mark.timeout(RUN_S + START_S)


def _lvatool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lvatool", *args],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("projects") / "people-counter"
    create_project(directory)
    return directory


@pytest.fixture(scope="module")
def served(project: Path) -> Iterator[str]:
    """``lvatool serve`` running the generated processor.py, as the Dockerfile runs it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--processor", f"{project / 'processor.py'}:process"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        wait_healthy(address, process, START_S)
        yield address
    finally:
        process.terminate()
        try:
            process.communicate(timeout=START_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_the_served_processor_passes_conformance(served: str) -> None:
    result = _lvatool("conformance", "server", "--target", served, "--timeout", "180")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout


@pytest.mark.parametrize("topology", ["lva-topology.json", "ava-topology.json"])
def test_simulate_streams_through_each_topology(
    project: Path, served: str, topology: str, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"

    # The topology's endpoint is the module (tcp://people-counter:5001); here the
    # parameter points it at the local server instead, as it would on another device.
    # A threshold of 0 makes every frame light: proof that the topology's
    # extensionConfiguration reached processor.py.
    result = _lvatool(
        "simulate", "--topology", str(project / "topologies" / topology),
        "--param", f"grpcExtensionAddress=tcp://{served}",
        "--param", 'extensionConfiguration={"threshold": 0}',
        "--max-frames", "3", "--connect-timeout", str(START_S),
        "--json", str(summary_path),
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["transfer"] == "shm"
    assert summary["frames_acked"] >= 1
    assert set(summary["labels"]) == {"light"}


def _plugin_options() -> list[str]:
    """``-p lvatool.testing.pytest_plugin`` until lvatool's pytest11 entry point is installed.

    An author's ``python -m pytest`` finds the ``lvatool_server`` fixture through that
    entry point; naming the plugin as well would register it twice.
    """
    registered = any(
        point.value.startswith("lvatool.testing") for point in entry_points(group="pytest11")
    )
    return [] if registered else ["-p", "lvatool.testing.pytest_plugin"]


@pytest.mark.skipif(
    find_spec("lvatool.testing") is None, reason="the module lvatool.testing is not there yet"
)
def test_the_generated_projects_own_tests_pass(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_plugin_options()],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        cwd=project,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout
