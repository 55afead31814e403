"""``lvatool init DIR``: write a ready project for a new extension (lvatool.scaffold)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lvatool.scaffold import PORT, ScaffoldError, create_project, module_name_for

EXIT_USAGE = 2


def _shown(path: Path) -> str:
    """``path`` as the user will type it: relative to the current directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def next_commands() -> list[str]:
    """The three commands that take a new project to a passing conformance run."""
    return [
        "python -m pytest -q",
        "lvatool serve --processor processor.py:process &",
        f"lvatool conformance server --target localhost:{PORT}",
    ]


def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to write the project (created if missing).")
    ],
    name: Annotated[
        str | None,
        typer.Option(
            help="IoT Edge module name used in the manifests and topologies "
            "(default: from DIRECTORY, lower case, hyphens)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Write into a non-empty directory, overwriting these files."),
    ] = False,
) -> None:
    """Write a ready project for a new extension into DIRECTORY.

    processor.py (a template that works as is), its tests (lvatool.testing), a Dockerfile,
    IoT Edge deployment manifests for shared memory and embedded transfer, LVA and Video
    Analyzer topologies pointing at the module, a CI workflow and a README. A non-empty
    DIRECTORY is refused unless --force (other files are left alone); exit 2.
    """
    try:
        module = module_name_for(directory, name)
        written = create_project(directory, name=name, force=force)
    except ScaffoldError as error:
        typer.echo(f"lvatool init: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    typer.echo(f"Wrote the {module} extension project in {_shown(directory)}:")
    for path in written:
        typer.echo(f"  {_shown(path)}")
    typer.echo("Next:")
    if directory.resolve() != Path.cwd().resolve():
        typer.echo(f"  cd {_shown(directory)}")
    for command in next_commands():
        typer.echo(f"  {command}")
