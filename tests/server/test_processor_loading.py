"""The installed ``lvatool`` command loads a user's processor as the user expects.

Each test runs the real console script (not ``python -m``, whose ``sys.path`` already holds
the current directory) with its working directory in a fresh project folder, as a user
would: ``lvatool serve --processor my_model:process``. It serves a real session over
loopback and reads what the operator reads on stderr: the processor's own log records in
the server's format and level, and for a processor that cannot load, one sentence and
exit 2.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from lvatool.media import Encoding, FrameFormat
from lvatool.server.loading import file_module_name
from tests.frames import DARK, descriptor, encode, sample
from tests.rawcall import RawCall
from tests.serveproc import free_port, wait_healthy

CONSOLE_SCRIPT = Path(sys.executable).parent / "lvatool"
PNG = FrameFormat(Encoding.PNG)  # decoded by PIL, which logs each chunk at debug level

MY_MODEL = """\
import asyncio
import logging

from lvatool.server import classification

log = logging.getLogger(__name__)
log.info("model loaded from %s", __file__)
logging.info("a record on the root logger")
asyncio.new_event_loop().close()  # asyncio logs 'Using selector' at debug: library noise


def process(frame):
    log.debug("frame %d: mean %.1f", frame.sequence_number, frame.image.mean())
    return [classification("from-my-model", 0.5)]
"""


def _environment() -> dict[str, str]:
    """The user's environment, minus any PYTHONPATH entry that would add the cwd for us."""
    environment = {**os.environ, "COLUMNS": "1000"}
    kept = [
        entry
        for entry in environment.get("PYTHONPATH", "").split(os.pathsep)
        if entry not in ("", ".")
    ]
    if kept:
        environment["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        environment.pop("PYTHONPATH", None)
    return environment


@contextmanager
def serving(cwd: Path, *args: str) -> Iterator[tuple[str, list[str]]]:
    """``lvatool serve ARGS`` run from ``cwd``; yields its address and, once stopped, its
    stderr lines (the list fills when the block ends)."""
    port = free_port()
    log_file = cwd / f"serve-{port}.log"
    lines: list[str] = []
    with log_file.open("w") as stderr:
        process = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=cwd,
            env=_environment(),
            stderr=stderr,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        address = f"127.0.0.1:{port}"
        try:
            try:
                wait_healthy(address, process, 60)
            except AssertionError as error:
                raise AssertionError(f"{error}: {log_file.read_text()}") from None
            yield address, lines
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
            lines.extend(log_file.read_text().splitlines())


def one_session(address: str, frames: int = 2) -> list[str]:
    """Send ``frames`` PNG frames in one session; the tags that came back."""
    tags = []
    with grpc.insecure_channel(address) as channel:
        call = RawCall(channel)
        call.send(descriptor(PNG))
        call.recv()
        for sequence in range(2, frames + 2):
            call.send(sample(sequence, encode(DARK, PNG)))
            (inference,) = call.recv(timeout_s=30).media_sample.inferences
            tags.append(inference.classification.tag.value)
        call.half_close()
        assert call.status()[0] == grpc.StatusCode.OK
    return tags


TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) +(\S+): (.*)$")


def text_records(lines: list[str]) -> list[tuple[str, str, str]]:
    """``(level, logger, message)`` of every line in lvatool's text format."""
    return [match.groups() for line in lines if (match := TEXT_LINE.match(line))]


def test_module_from_the_current_directory_serves_and_logs_in_the_servers_format(
    tmp_path: Path,
) -> None:
    """The README's command, verbatim, from the project folder: it serves, and the
    processor's info records come out as lvatool's do, its debug records do not."""
    (tmp_path / "my_model.py").write_text(MY_MODEL)
    with serving(tmp_path, "--processor", "my_model:process") as (address, lines):
        assert one_session(address) == ["from-my-model", "from-my-model"]
    records = text_records(lines)
    assert ("INFO", "my_model", f"model loaded from {tmp_path / 'my_model.py'}") in records
    assert ("INFO", "root", "a record on the root logger") in records
    assert not [line for line in lines if "frame 2: mean" in line], "debug shown at info"
    assert any(logger == "lvatool.server" for _, logger, _ in records)


def test_debug_level_shows_the_processors_and_the_servers_detail_not_library_noise(
    tmp_path: Path,
) -> None:
    """--log-level debug: the processor's per-frame record and the server's per-frame line,
    but not asyncio's selector line nor PIL's per-chunk lines, which nobody asked for."""
    (tmp_path / "my_model.py").write_text(MY_MODEL)
    with serving(tmp_path, "--processor", "my_model:process", "--log-level", "debug") as (
        address,
        lines,
    ):
        one_session(address)
    records = text_records(lines)
    debug = [(logger, message) for level, logger, message in records if level == "DEBUG"]
    assert ("my_model", "frame 2: mean 40.0") in [
        (logger, re.sub(r"mean \d+\.\d", "mean 40.0", message)) for logger, message in debug
    ]
    assert any("sample 2 received" in message for logger, message in debug)
    noise = [
        (logger, message)
        for logger, message in debug
        if not logger.startswith(("lvatool", "my_model"))
    ]
    assert noise == []
    assert all(TEXT_LINE.match(line) for line in lines), lines


def test_json_format_carries_a_packaged_processors_records(tmp_path: Path) -> None:
    """``pkg.sub:process`` from the current directory, --log-format json: every stderr line
    is one JSON object with the keys of lvatool's own records, the processor's included."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub.py").write_text(MY_MODEL)
    with serving(tmp_path, "--processor", "pkg.sub:process", "--log-format", "json") as (
        address,
        lines,
    ):
        assert one_session(address, frames=1) == ["from-my-model"]
    entries = [json.loads(line) for line in lines]
    keys = {tuple(sorted(entry)) for entry in entries}
    assert keys == {("level", "logger", "message", "time")}
    ours = [entry for entry in entries if entry["logger"] == "pkg.sub"]
    assert [entry["level"] for entry in ours] == ["info"]
    assert ours[0]["message"].startswith("model loaded from ")
    assert {
        "logger": "root",
        "level": "info",
        "message": "a record on the root logger",
    }.items() <= (next(entry for entry in entries if entry["logger"] == "root").items())


def test_a_file_imports_the_files_beside_it(tmp_path: Path) -> None:
    """``path/to/model.py:process`` from another folder: ``from helper import LABEL`` at
    import and a lazy import inside ``process()`` both find the files beside it; its logger
    is named after the file, at the server's level."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "helper.py").write_text("LABEL = 'from-helper'\n")
    (project / "lazy_helper.py").write_text("CONFIDENCE = 0.25\n")
    (project / "model.py").write_text(
        textwrap.dedent(
            """\
            import logging

            from helper import LABEL
            from lvatool.server import classification

            log = logging.getLogger(__name__)


            def process(frame):
                from lazy_helper import CONFIDENCE

                log.info("frame %d classified", frame.sequence_number)
                return [classification(LABEL, CONFIDENCE)]
            """
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with serving(elsewhere, "--processor", "../project/model.py:process") as (address, lines):
        assert one_session(address) == ["from-helper", "from-helper"]
    logger = file_module_name(project / "model.py")
    assert ("INFO", logger, "frame 3 classified") in text_records(lines)


BROKEN = {
    "syntax_error.py": "x = 1\ndef broken(:\n    pass\n",
    "missing_dependency.py": "import numpy\nimport no_such_dependency_xyz\n",
    "raises_at_import.py": "import helper_that_raises\n",
    "helper_that_raises.py": "x = 1\nraise RuntimeError('no GPU on this host')\n",
    "settings.py": "THRESHOLD = 0.5\ndef process(frame):\n    return []\n",
    "wrong_class.py": "class Model:\n    def process(self, frame):\n        return []\n",
    "needs_arguments.py": (
        "from lvatool.server import Processor\n"
        "class Model(Processor):\n"
        "    def __init__(self, weights):\n"
        "        self.weights = weights\n"
    ),
    "two_arguments.py": "def process(frame, extra):\n    return []\n",
}


CANNOT_LOAD = [
    # (--processor, the sentence after "Invalid value for --processor: "; {dir}: the cwd)
    (
        "syntax_error:process",
        "cannot import syntax_error: SyntaxError: invalid syntax at {dir}/syntax_error.py:2",
    ),
    (
        "syntax_error.py:process",
        "cannot import {dir}/syntax_error.py: SyntaxError: invalid syntax"
        " at {dir}/syntax_error.py:2",
    ),
    (
        "missing_dependency:process",
        "cannot import missing_dependency: ModuleNotFoundError:"
        " No module named 'no_such_dependency_xyz' at {dir}/missing_dependency.py:2",
    ),
    (
        "raises_at_import.py:process",
        "cannot import {dir}/raises_at_import.py: RuntimeError: no GPU on this host"
        " at {dir}/helper_that_raises.py:2",
    ),
    (
        "settings:proces",
        "settings ({dir}/settings.py) has no attribute 'proces' (did you mean 'process'?)",
    ),
    (
        "settings:THRESHOLD",
        "THRESHOLD in settings ({dir}/settings.py) is a float,"
        " not a Processor subclass or instance or a function",
    ),
    (
        "wrong_class:Model",
        "Model in wrong_class ({dir}/wrong_class.py) is a class but not a subclass of"
        " lvatool.server.Processor (subclass it, or name a function)",
    ),
    (
        "needs_arguments.py:Model",
        "cannot create Model from {dir}/needs_arguments.py: TypeError:"
        " Model.__init__() missing 1 required positional argument: 'weights'",
    ),
    (
        "two_arguments:process",
        "process in two_arguments ({dir}/two_arguments.py) takes (frame, extra),"
        " but a processor function is called with one argument, the frame",
    ),
    (
        "no_such_model:process",
        "no module named 'no_such_model' in the current directory ({dir}) or the installed"
        " packages (for a file, write path/to/no_such_model.py:ATTRIBUTE)",
    ),
    ("no_such_model.py:process", "no such file: {dir}/no_such_model.py"),
]


@pytest.mark.parametrize(("reference", "expected"), CANNOT_LOAD)
def test_a_processor_that_cannot_load_is_one_sentence_and_exit_2(
    tmp_path: Path, reference: str, expected: str
) -> None:
    """Exit 2, one sentence naming the file that failed (with its line) and the error, and
    no traceback: the user reads what to fix, not lvatool's insides."""
    for name, source in BROKEN.items():
        (tmp_path / name).write_text(source)
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "serve", "--port", "0", "--processor", reference],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    sentences = [
        line.strip(" │").removeprefix("Invalid value for --processor: ")
        for line in result.stderr.splitlines()
        if "Invalid value for --processor" in line
    ]
    assert sentences == [expected.format(dir=tmp_path)], result.stderr
