"""``load_processor`` from Python: file processors under names that shadow nothing.

The command-line behaviour is in ``test_processor_loading.py``; here, what only shows
inside one process: a file loaded twice (two servers in one test process), files of one
name in two folders, a file named like a standard module, and the import rules a
processor file's own code relies on (``sys.modules`` during its import).
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from lvatool.media import Encoding, FrameFormat
from lvatool.server import ExtensionServer, ServerOptions, load_processor
from lvatool.server.loading import ProcessorLoadError, file_module_name
from tests.frames import DARK, descriptor, encode, sample
from tests.rawcall import RawCall

JPG = FrameFormat(Encoding.JPG)


@pytest.fixture(autouse=True)
def _import_state_restored() -> Iterator[None]:
    """Leave ``sys.path`` and ``sys.modules`` as they were: the loader adds to both."""
    path = sys.path[:]
    modules = set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write_processor(folder: Path, name: str, label: str) -> Path:
    """``folder/name`` whose ``process`` tags every frame ``label``, via a sibling import."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sibling_label.py").write_text(f"LABEL = {label!r}\n")
    path = folder / name
    path.write_text(
        textwrap.dedent(
            """\
            from sibling_label import LABEL
            from lvatool.server import classification

            def process(frame):
                return [classification(LABEL, 0.5)]
            """
        )
    )
    return path


def tag_from(server: ExtensionServer) -> str:
    """The tag of one JPEG frame sent to ``server``."""
    with grpc.insecure_channel(server.address) as channel:
        call = RawCall(channel)
        call.send(descriptor(JPG))
        call.recv()
        call.send(sample(2, encode(DARK, JPG)))
        (inference,) = call.recv(timeout_s=30).media_sample.inferences
        call.cancel()
    return str(inference.classification.tag.value)


def test_one_file_loaded_twice_serves_in_two_servers(tmp_path: Path) -> None:
    """Two servers in one process load the same file: the second load finds the module the
    first imported (as ``import`` would), and both serve it."""
    path = write_processor(tmp_path, "model.py", "twice")
    first = load_processor(f"{path}:process")
    second = load_processor(f"{path}:process")
    with (
        ExtensionServer(ServerOptions(host="127.0.0.1", port=0), first) as one,
        ExtensionServer(ServerOptions(host="127.0.0.1", port=0), second) as other,
    ):
        assert tag_from(one) == tag_from(other) == "twice"
    assert sys.modules[file_module_name(path)].__file__ == str(path)


def test_a_file_named_like_a_standard_module_shadows_nothing(tmp_path: Path) -> None:
    """A processor file called ``json.py`` loads under its own name; ``json`` stays the
    standard library's, for lvatool and for everyone else in the process."""
    standard_json = sys.modules["json"]
    path = write_processor(tmp_path, "json.py", "mine")
    processor = load_processor(f"{path}:process")
    assert sys.modules["json"] is standard_json is json
    assert file_module_name(path) in sys.modules
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0), processor) as server:
        assert tag_from(server) == "mine"


def test_files_of_one_name_in_two_folders_stay_apart(tmp_path: Path) -> None:
    """``a/model.py`` and ``b/model.py`` are two modules; each keeps its own code."""
    first = write_processor(tmp_path / "a", "model.py", "a")
    second = tmp_path / "b" / "model.py"
    second.parent.mkdir()
    second.write_text(
        "from lvatool.server import classification\n"
        "def process(frame):\n"
        "    return [classification('b', 0.5)]\n"
    )
    assert file_module_name(first) != file_module_name(second)
    with (
        ExtensionServer(
            ServerOptions(host="127.0.0.1", port=0), load_processor(f"{first}:process")
        ) as server_a,
        ExtensionServer(
            ServerOptions(host="127.0.0.1", port=0), load_processor(f"{second}:process")
        ) as server_b,
    ):
        assert (tag_from(server_a), tag_from(server_b)) == ("a", "b")


def test_a_file_is_a_module_while_it_runs(tmp_path: Path) -> None:
    """Dataclasses with postponed annotations look their module up in ``sys.modules`` while
    the file is still executing: the file is registered there first, as ``import`` does."""
    path = tmp_path / "typed_model.py"
    path.write_text(
        textwrap.dedent(
            """\
            from __future__ import annotations

            import dataclasses
            import typing

            from lvatool.server import Processor


            @dataclasses.dataclass
            class Settings:
                threshold: float = 0.5
                seen: typing.ClassVar[int] = 0


            class Model(Processor):
                def __init__(self) -> None:
                    self.settings = Settings()

                def process(self, frame, session):
                    return []
            """
        )
    )
    processor = load_processor(f"{path}:Model")
    assert type(processor).__module__ == file_module_name(path)


def test_a_failed_file_leaves_no_half_module_behind(tmp_path: Path) -> None:
    """A file that raises at import is not left in ``sys.modules``: once fixed, it loads."""
    path = tmp_path / "flaky.py"
    path.write_text("raise RuntimeError('weights not downloaded yet')\n")
    with pytest.raises(ProcessorLoadError, match=r"RuntimeError: weights not downloaded yet"):
        load_processor(f"{path}:process")
    assert file_module_name(path) not in sys.modules
    path.write_text("def process(frame):\n    return []\n")
    load_processor(f"{path}:process")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("my_model", "expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE"),
        ("my_model:", "expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE"),
        ("my-model:process", "'my-model' in 'my-model:process' is neither a module name"),
        ("my_model:not-a-name", "'not-a-name' in 'my_model:not-a-name' is not a Python name"),
    ],
)
def test_a_malformed_reference_says_what_is_expected(reference: str, expected: str) -> None:
    with pytest.raises(ProcessorLoadError, match=expected):
        load_processor(reference)


def test_a_processor_instance_and_an_installed_module_load(tmp_path: Path) -> None:
    """The other accepted forms: an instance of a Processor subclass, and a module found
    among the installed packages rather than in the current directory."""
    path = tmp_path / "instance.py"
    path.write_text(
        "from lvatool.server import Processor\n"
        "class Model(Processor):\n"
        "    def process(self, frame, session):\n"
        "        return []\n"
        "model = Model()\n"
    )
    module = sys.modules.get(file_module_name(path))
    assert module is None
    loaded = load_processor(f"{path}:model")
    assert loaded is sys.modules[file_module_name(path)].model
    assert type(load_processor("lvatool.server.darklight:DarkLightProcessor")).__name__ == (
        "DarkLightProcessor"
    )


def test_an_error_message_is_one_line_without_escape_sequences(tmp_path: Path) -> None:
    """An exception's text is quoted on the user's terminal: its lines are joined and an
    escape sequence in it is written out, not acted on."""
    path = tmp_path / "noisy.py"
    path.write_text("raise RuntimeError('line one\\n  line two \\x1b[2J')\n")
    with pytest.raises(ProcessorLoadError) as raised:
        load_processor(f"{path}:process")
    assert str(raised.value) == (
        f"cannot import {path}: RuntimeError: line one line two \\x1b[2J at {path}:1"
    )
