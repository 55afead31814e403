"""Sources and pacing: a clip served over HTTP, real-time pacing, binding forms."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.commands.serve import parse_bind
from lvatool.sim.samples import sample_path


@pytest.fixture
def http_clip() -> Iterator[str]:
    """The bundled clip served by a local HTTP server."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(sample_path().parent)
    )
    handler.log_message = lambda *args: None  # type: ignore[attr-defined,method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{sample_path().name}"
    finally:
        httpd.shutdown()


def test_video_over_http(http_clip: str) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--video", http_clip, "--max-frames", "30", "-q", "--truth",
              str(sample_path().with_name("daynight.truth.json"))],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_realtime_paces_by_timestamps() -> None:
    """F2: 45 frames of a 30 fps clip take about 1.5 s in real time, not a fraction of it."""
    started = time.monotonic()
    result = CliRunner().invoke(app, ["simulate", "--realtime", "--max-frames", "45", "-q"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert 1.4 <= elapsed < 10


def test_bind_forms() -> None:
    assert parse_bind("tcp://0.0.0.0:44000") == ("0.0.0.0", 44000)
    assert parse_bind("127.0.0.1:5001") == ("127.0.0.1", 5001)
    assert parse_bind("tcp://[::1]:5001") == ("::1", 5001)
    with pytest.raises(Exception, match="tcp://HOST:PORT"):
        parse_bind("tcp://nowhere")
