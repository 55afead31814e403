"""``configure_logging``: one handler, format and level for lvatool and the user's code.

In-process checks of what ``tests/server/test_processor_loading.py`` sees from the outside:
records of the user's code at the server's level, other libraries' held back below
WARNING, the current ``sys.stderr`` always, and one line per record however often the
logging is configured.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import redirect_stderr

import numpy as np
import PIL
import pytest

from lvatool.logs import (
    LibraryNoiseFilter,
    configure_logging,
    is_library_file,
    treat_as_application,
)
from lvatool.media import Encoding, decode_image, encode_image


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Put the root logger back as it was: ``configure_logging`` changes the whole process."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved
    logging.captureWarnings(False)


def logged(level: str, fmt: str, emit: object) -> list[str]:
    """Configure at ``level``/``fmt`` with stderr captured, call ``emit``; the lines written."""
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        configure_logging(level, fmt)
        assert callable(emit)
        emit()
    return stderr.getvalue().splitlines()


def test_the_users_records_pass_at_the_servers_level_library_noise_does_not() -> None:
    """At debug: this module's debug record and the root logger's show; PIL's per-chunk
    debug lines from decoding a PNG do not; a Python warning becomes a record."""

    def emit() -> None:
        logging.getLogger("my_app.model").debug("threshold %.2f", 0.5)
        logging.debug("on the root logger")
        png = encode_image(np.zeros((8, 8, 3), np.uint8), Encoding.PNG)
        decode_image(png)  # PIL logs "STREAM b'IHDR' ..." at debug
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("weights are float64", UserWarning, stacklevel=1)

    lines = logged("debug", "text", emit)
    assert any(line.endswith("DEBUG   my_app.model: threshold 0.50") for line in lines), lines
    assert any(line.endswith("DEBUG   root: on the root logger") for line in lines), lines
    assert not [line for line in lines if " PIL." in line], lines
    assert any("WARNING py.warnings:" in line and "weights are float64" in line for line in lines)


def test_the_users_debug_records_are_hidden_at_info() -> None:
    lines = logged("info", "text", lambda: logging.getLogger("my_app").debug("per frame"))
    assert lines == []


def test_json_records_of_the_user_have_lvatools_keys() -> None:
    def emit() -> None:
        logging.getLogger("lvatool.serve").info("ours")
        logging.getLogger("my_app").info("theirs")

    entries = [json.loads(line) for line in logged("info", "json", emit)]
    assert [entry["message"] for entry in entries] == ["ours", "theirs"]
    assert sorted(entries[0]) == sorted(entries[1]) == ["level", "logger", "message", "time"]


def test_configured_twice_one_line_per_record() -> None:
    def emit() -> None:
        configure_logging("info", "text")
        logging.getLogger("my_app").info("once")
        logging.getLogger("lvatool.server").info("once too")

    assert len(logged("info", "text", emit)) == 2


def test_records_go_to_the_stderr_of_their_moment() -> None:
    """A handler that kept the stream it was made with would write into a closed capture."""
    configure_logging("info", "text")
    for expected in ("first", "second"):
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            logging.getLogger("my_app").info(expected)
        assert stderr.getvalue().endswith(f"my_app: {expected}\n")


def test_a_package_named_as_the_application_passes_from_the_library_folders() -> None:
    """A processor package installed among the libraries (a container's site-packages) is
    still the user's once the loader names it; an unnamed library is not."""
    pil_file = PIL.__file__
    assert pil_file is not None and is_library_file(pil_file)
    noise = LibraryNoiseFilter()

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, pil_file, 1, "message", None, None)

    assert not noise.filter(record("vendor_model", logging.INFO))
    assert noise.filter(record("vendor_model", logging.WARNING))
    treat_as_application("vendor_model")
    assert noise.filter(record("vendor_model.inference", logging.DEBUG))
    assert not noise.filter(record("vendor_modelling", logging.DEBUG))
    assert noise.filter(record("lvatool.server", logging.DEBUG))
    assert not is_library_file(__file__)
