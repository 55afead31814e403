"""The password options every command that speaks to a peer takes, declared once.

``serve``, ``simulate`` and both ``conformance`` suites accept the same two ways to give a
password; they resolve them with :func:`lvatool.credentials.resolve_password`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Password = Annotated[
    str | None,
    typer.Option(help="Password for --username (visible in ps: prefer --password-file)."),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        help="Read the password from this file's first line (not visible in ps). "
        "Without either option, LVATOOL_PASSWORD is the password of --username."
    ),
]
