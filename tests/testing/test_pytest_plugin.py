"""The ``lvatool_server``/``lvatool_address`` fixtures and :class:`ServeProcess` beneath them.

Each server is ``python -m lvatool serve`` in a process of its own, loading the processor
as production does; it is healthy before the test gets its address, stopped at teardown,
and a server that cannot start fails the test with its own log in the message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lvatool.server import DarkLightProcessor, Frame, Inference, classification
from lvatool.testing import ServeProcess, ServeProcessError
from lvatool.testing.process import is_serving
from lvatool.testing.processors import processor_reference
from tests.frames import DARK, LIGHT
from tests.testing.wire import labels_from

StartServer = Callable[..., str]


def brightness(frame: Frame) -> list[Inference]:
    return [classification("bright" if frame.image.mean() > 100 else "dim")]


module_level_processor = DarkLightProcessor()


def test_lvatool_address_is_the_reference_server(lvatool_address: str) -> None:
    assert labels_from(lvatool_address, [DARK, LIGHT]) == ["dark", "light"]


def test_lvatool_server_loads_a_file_as_production_does(
    lvatool_server: StartServer, tmp_path: Path
) -> None:
    (tmp_path / "processor.py").write_text(
        textwrap.dedent(
            """
            from lvatool.server import classification

            def process(frame):
                return [classification("bright" if frame.image.mean() > 100 else "dim")]
            """
        )
    )
    address = lvatool_server("processor.py:process", cwd=tmp_path, args=["--batch-size", "2"])
    assert labels_from(address, [DARK, LIGHT, LIGHT]) == ["dim", "bright", "bright"]


def test_lvatool_server_takes_module_level_objects(lvatool_server: StartServer) -> None:
    """A function of this test module: the child imports it by name, with our sys.path."""
    address = lvatool_server(brightness)
    assert labels_from(address, [DARK, LIGHT]) == ["dim", "bright"]


def test_references_for_another_process() -> None:
    assert processor_reference("processor.py:process") == "processor.py:process"
    assert processor_reference(brightness) == f"{__name__}:brightness"
    assert processor_reference(DarkLightProcessor) == "lvatool.server.darklight:DarkLightProcessor"
    assert processor_reference(module_level_processor) == f"{__name__}:module_level_processor"
    with pytest.raises(TypeError, match="not defined at the top level"):
        processor_reference(lambda frame: [])
    with pytest.raises(TypeError, match="not a module-level variable"):
        processor_reference(DarkLightProcessor())


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (None, "no_such_module_xyz"),
        ("raise RuntimeError('weights.bin is missing')\n", "weights.bin is missing"),
    ],
    ids=["missing module", "import fails"],
)
def test_a_server_that_cannot_start_fails_with_its_log(
    tmp_path: Path, source: str | None, said: str
) -> None:
    if source is None:
        reference = "no_such_module_xyz:process"
    else:
        (tmp_path / "broken.py").write_text(source)
        reference = "broken.py:process"
    server = ServeProcess(reference, cwd=tmp_path, start_timeout_s=60)
    with pytest.raises(ServeProcessError) as raised:
        server.start()
    server.stop()
    message = str(raised.value)
    assert "lvatool serve exited with code 2" in message
    assert said in message and "--- its stderr ---" in message


def test_stop_is_sigterm_and_a_clean_exit() -> None:
    server = ServeProcess(args=["--log-level", "info"])
    address = server.start()
    assert is_serving(address)
    assert server.stop() == 0
    assert not is_serving(address)
    assert "serving" in server.log_text()


def test_the_plugin_in_a_users_project(tmp_path: Path) -> None:
    """What a project made by ``lvatool init`` runs: the fixtures from the plugin, a
    processor file beside the tests, and every server gone once pytest has finished."""
    (tmp_path / "processor.py").write_text(
        textwrap.dedent(
            """
            from lvatool.server import classification

            def process(frame):
                return [classification("dark" if frame.mean_luma() < 127 else "light")]
            """
        )
    )
    addresses = tmp_path / "addresses.txt"
    (tmp_path / "test_processor.py").write_text(
        textwrap.dedent(
            f"""
            import numpy as np
            from lvatool.testing import assert_conformant, run_processor

            def test_in_process():
                (result,) = run_processor("processor.py:process", [np.zeros((8, 8, 3), np.uint8)])
                assert result[0].classification.tag.value == "dark"

            def test_served(lvatool_server):
                address = lvatool_server("processor.py:process")
                with open({str(addresses)!r}, "a") as file:
                    file.write(address + "\\n")
                assert_conformant(address, checks=["S01", "S02", "S03", "S05"])
            """
        )
    )
    result = subprocess.run(
        # "no:lvatool" keeps the entry point's registration from clashing with -p once
        # the plugin is installed; without the entry point it blocks nothing.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "no:lvatool", "-p", "lvatool.testing.pytest_plugin", "test_processor.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    started = addresses.read_text().split()
    assert len(started) == 1
    assert not is_serving(started[0]), "the server still answers after the tests"
