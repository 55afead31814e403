"""``lvatool completion SHELL``: print the shell's completion script for lvatool.

A command that takes the shell by name, rather than typer's ``--show-completion``
option: that option guesses the shell from the process tree and ignores a shell named
after it (``lvatool --show-completion zsh`` run from bash prints the bash script), and
the guess fails in a Dockerfile ``RUN`` step or a CI job with no interactive shell above
it. Naming the shell works the same everywhere, so the README's one line is always right.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

# typer's own ``--show-completion`` is built from these two; ``typer.completion`` uses
# them without re-exporting them, so they are imported from where they live.
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

PROGRAM = "lvatool"
# What the script sets when it asks lvatool for completions; click's responder reads it.
COMPLETE_VARIABLE = "_LVATOOL_COMPLETE"


class Shell(StrEnum):
    """The shells typer's completion responder serves."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def completion_script(shell: Shell) -> str:
    """The script that makes ``shell`` ask ``lvatool`` for completions on Tab."""
    return get_completion_script(
        prog_name=PROGRAM, complete_var=COMPLETE_VARIABLE, shell=shell.value
    )


def enable_completion_responder() -> None:
    """Register typer's completion classes, so ``_LVATOOL_COMPLETE=complete_bash`` answers.

    typer does this only when ``add_completion`` adds its own options; without them the
    script printed below would call a responder that does not know typer's shells.
    """
    completion_init()


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell.")],
) -> None:
    """Print the completion script for SHELL; save it where your shell looks for one.

    bash: `lvatool completion bash > ~/.local/share/bash-completion/completions/lvatool`
    (loaded by the bash-completion package; without it, `source` the file from ~/.bashrc).

    zsh: `lvatool completion zsh > ~/.zfunc/_lvatool`, with `fpath+=~/.zfunc` before
    `compinit` in ~/.zshrc.

    fish: `lvatool completion fish > ~/.config/fish/completions/lvatool.fish`.

    Then open a new shell.
    """
    typer.echo(completion_script(shell))
