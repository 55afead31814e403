"""The ``lvatool`` command line: registers one command per module of ``lvatool.commands``."""

from __future__ import annotations

import typer

from lvatool import __version__
from lvatool.commands import conformance, serve, simulate
from lvatool.memory import reuse_large_buffers

app = typer.Typer(
    name="lvatool",
    help=(
        "Build and test Azure Live Video Analytics / Video Analyzer gRPC extensions "
        "anywhere: a reference server, an LVA-like simulator and a conformance checker."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown re-flows the docstrings' paragraphs to the terminal's width; "rich" would
    # keep every line break of the source and wrap each line again.
    rich_markup_mode="markdown",
)
app.command("serve")(serve.serve)
app.command("simulate")(simulate.simulate)
app.add_typer(conformance.app, name="conformance")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lvatool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lvatool: the LVA gRPC extension toolkit."""


def main() -> None:
    """Console-script entry point."""
    reuse_large_buffers()
    app()
