"""What a peer says is printed as text: never as rich markup, never as terminal control."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent import futures

import grpc
from rich.console import Console
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.conformance.report import render_report
from lvatool.conformance.results import CheckResult, Outcome, SuiteReport
from lvatool.contract import extension_pb2, extension_pb2_grpc
from lvatool.text import as_text

HOSTILE = "[bold red]refused[/] [/] \x1b[2J"


class RefusesWithMarkup(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    """Ends every call at its descriptor, with details that look like rich markup."""

    def ProcessMediaStream(
        self, request_iterator: Iterator[extension_pb2.MediaStreamMessage],
        context: grpc.ServicerContext,
    ) -> Iterator[extension_pb2.MediaStreamMessage]:  # fmt: skip
        next(request_iterator, None)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "[bold red]refused[/] [/]")
        yield from ()


def test_as_text_escapes_markup_and_control_characters() -> None:
    console = Console(file=io.StringIO(), color_system=None, width=200)
    console.print(as_text(HOSTILE))
    assert console.file.getvalue().strip() == "[bold red]refused[/] [/] \\x1b[2J"  # type: ignore[attr-defined]


def test_report_table_prints_a_peers_words_as_they_are() -> None:
    report = SuiteReport("server", "host:1")
    report.results.append(CheckResult("S07", "t", ("H6",), "MUST", Outcome.FAIL, HOSTILE, 0.1))
    console = Console(file=io.StringIO(), color_system=None, width=200)
    render_report(report, console)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[bold red]refused[/] [/]" in output and "\x1b" not in output


def test_a_server_whose_status_looks_like_markup_is_reported_not_crashed_on() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(RefusesWithMarkup(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        result = CliRunner().invoke(
            app, ["conformance", "server", "--target", f"127.0.0.1:{port}", "--select", "S07"]
        )
    finally:
        server.stop(0).wait(5)
    assert result.exit_code == 1, result.output
    assert "[bold red]refused[/] [/]" in " ".join(result.output.split())
