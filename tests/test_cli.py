"""The command line's own polish: flags shown as flags, shell completion that works.

Help and scripts are checked in-process (rich renders for COLUMNS); completion itself
through the installed ``lvatool`` script, as bash calls it by that name on Tab.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lvatool import __version__
from lvatool.cli import app

SCRIPT = Path(sys.executable).with_name("lvatool")
RUN_S = 120


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "120", **(env or {})})


def _option_line(help_text: str, option: str) -> str:
    """The help table's line that starts with ``option``."""
    for line in help_text.splitlines():
        if re.match(rf"│ {re.escape(option)}\s", line):
            return line
    raise AssertionError(f"no line for {option} in:\n{help_text}")


def test_version_is_shown_as_a_flag() -> None:
    result = _run("--help")

    assert result.exit_code == 0, result.output
    line = _option_line(result.stdout, "--version")
    assert "<bool>" not in line
    assert re.match(r"│ --version\s+Print the version and exit\.", line), line


def test_flags_of_subcommands_are_flags_and_valued_options_keep_their_type() -> None:
    result = _run("simulate", "--help")

    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert "<int" in _option_line(result.stdout, "--max-frames")


def test_version_prints_the_version() -> None:
    result = _run("--version")

    assert (result.exit_code, result.stdout) == (0, f"lvatool {__version__}\n")


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F _lvatool_completion lvatool"),
        ("zsh", "#compdef lvatool"),
        ("fish", "complete --command lvatool"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName lvatool"),
    ],
)
def test_completion_prints_the_script_of_the_shell_named(shell: str, marker: str) -> None:
    # Whatever shell runs the command: the one named is the one printed.
    result = _run("completion", shell, env={"SHELL": "/bin/sh"})

    assert result.exit_code == 0, result.output
    assert marker in result.stdout
    assert "_LVATOOL_COMPLETE" in result.stdout


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = _run("completion", "tcsh")

    assert result.exit_code == 2
    assert "tcsh" in result.output


@pytest.mark.timeout(3 * RUN_S)  # two Tabs, each one lvatool process
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.skipif(not SCRIPT.is_file(), reason=f"no lvatool script at {SCRIPT}")
def test_bash_completes_commands_and_options_through_the_script() -> None:
    # The script installed as the README says, then Tab pressed after "lvatool si" and
    # after "lvatool simulate --max-f": bash asks lvatool, lvatool answers.
    script = _run("completion", "bash").stdout
    probe = (
        f"{script}\n"
        "COMP_WORDS=(lvatool si); COMP_CWORD=1; _lvatool_completion lvatool\n"
        'echo "commands: ${COMPREPLY[*]}"\n'
        "COMP_WORDS=(lvatool simulate --max-f); COMP_CWORD=2; _lvatool_completion lvatool\n"
        'echo "options: ${COMPREPLY[*]}"\n'
    )
    env = {**os.environ, "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        env=env,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "commands: simulate" in result.stdout
    assert re.search(r"options: .*--max-frames", result.stdout), result.stdout
