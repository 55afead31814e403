"""The ``lvatool`` command line: registers one command per module of ``lvatool.commands``."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperOption

from lvatool import __version__
from lvatool.commands import completion, conformance, doctor, init, serve, simulate
from lvatool.memory import reuse_large_buffers


def _show_flags_without_a_type() -> None:
    """Make the rich help show a flag (``--version``, ``--loop``) as taking no value.

    typer 0.29 prints ``<bool>`` in the type column of every flag in rich help, as if
    ``--version`` took a value; its plain-text help already leaves flags' type out. This
    applies that same rule to the rich help, for every command at once. An explicit
    ``metavar`` still wins, and options that take a value keep their type.
    """
    original = TyperOption.display_type_rich
    if getattr(original, "_lvatool_flags_fixed", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._lvatool_flags_fixed = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_show_flags_without_a_type()
completion.enable_completion_responder()

app = typer.Typer(
    name="lvatool",
    help=(
        "Build and test Azure Live Video Analytics / Video Analyzer gRPC extensions "
        "anywhere: a reference server, an LVA-like simulator and a conformance checker."
    ),
    no_args_is_help=True,
    # `lvatool completion SHELL` instead of typer's --install/--show-completion options,
    # which guess the shell and ignore one named to them (lvatool/commands/completion.py).
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown re-flows the docstrings' paragraphs to the terminal's width; "rich" would
    # keep every line break of the source and wrap each line again.
    rich_markup_mode="markdown",
)
app.command("serve")(serve.serve)
app.command("simulate")(simulate.simulate)
app.add_typer(conformance.app, name="conformance")
app.command("init")(init.init)
app.command("doctor")(doctor.doctor)
app.command("completion")(completion.completion)


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
