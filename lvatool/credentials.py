"""Secrets for ``serve``, ``simulate`` and ``conformance`` without putting them on the command line.

Every argument of a process is readable by every user of the machine (``ps``, ``/proc/<pid>
/cmdline``), and shows in shell history and in a container's inspect output; a password given
as ``--password p`` is therefore published. The password can also come from a file
(``--password-file PATH``, e.g. a Docker or Kubernetes secret mounted as a file) or from the
``LVATOOL_PASSWORD`` environment variable (an IoT Edge module's ``env`` setting), neither of
which other users can read. The TLS key's path comes from ``LVATOOL_TLS_KEY`` the same way;
the commands declare that one with typer's ``envvar=``, since a path has no second source to
rank it against.

Precedence, most explicit first: ``--password`` > ``--password-file`` > ``LVATOOL_PASSWORD``.
Giving both options is a mistake rather than a choice (which one did the user mean?), so it
is refused. The environment variable is ambient — set once for a container or a shell, it
reaches every command run there — so it is taken only as the password of a ``--username``:
a ``lvatool simulate`` without credentials, run in a shell where the variable is set for a
server, must not fail for a password it never asked for.

Everything here raises :class:`CredentialsError`, whose ``str()`` is the sentence for the
user, naming the option (or variable) at fault; the commands print it and exit 2 (usage).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PASSWORD_ENV = "LVATOOL_PASSWORD"
TLS_KEY_ENV = "LVATOOL_TLS_KEY"
TLS_CERT_ENV = "LVATOOL_TLS_CERT"

#: The longest first line read from a password file. A password is short; a path given by
#: mistake to a large file (a video, /dev/zero) must not be read whole into memory.
MAX_PASSWORD_CHARS = 4096


class CredentialsError(ValueError):
    """Credentials given in a way that cannot work; ``str()`` names the option at fault."""

    def __init__(self, sentence: str, option: str) -> None:
        super().__init__(sentence)
        self.option = option


def read_password_file(path: Path, option: str = "--password-file") -> str:
    """The first line of ``path``, its line ending stripped (a file written by ``echo``).

    Only the line ending goes: spaces are kept, since they may be part of the password.
    An unreadable file, one that is not UTF-8, or an empty first line is refused naming
    the file: an empty password would otherwise be sent (or required) silently, which
    looks like a wrong password at the other end rather than a wrong file here.
    """
    try:
        with path.open(encoding="utf-8", newline="") as file:
            line = file.readline(MAX_PASSWORD_CHARS + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise CredentialsError(f"cannot read {option} {path}: {reason}", option) from None
    except UnicodeDecodeError:
        raise CredentialsError(f"{option} {path} is not UTF-8 text", option) from None
    password = line.removesuffix("\n").removesuffix("\r")
    if len(password) > MAX_PASSWORD_CHARS:
        raise CredentialsError(
            f"{option} {path}: the first line is longer than {MAX_PASSWORD_CHARS} characters;"
            " the file should hold the password alone",
            option,
        )
    if not password:
        raise CredentialsError(f"{option} {path} is empty: its first line is the password", option)
    return password


def resolve_password(
    password: str | None,
    password_file: Path | None,
    *,
    username: str | None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The password from ``--password``, else ``--password-file``, else ``LVATOOL_PASSWORD``.

    ``username`` is the command line's ``--username``: the environment variable is used
    only with one (see the module's docstring). ``environ`` defaults to the process's own
    environment; tests pass their own. An empty ``LVATOOL_PASSWORD`` counts as unset, as a
    shell's ``LVATOOL_PASSWORD=`` usually means "no password here".
    """
    if password is not None and password_file is not None:
        raise CredentialsError(
            "give --password or --password-file, not both",
            "--password-file",
        )
    if password is not None:
        return password
    if password_file is not None:
        return read_password_file(password_file)
    if username is None:
        return None
    from_environment = (os.environ if environ is None else environ).get(PASSWORD_ENV)
    return from_environment or None


def check_pair(username: str | None, password: str | None) -> tuple[str, str] | None:
    """Both halves of Basic credentials (A1), or neither; a half alone is refused.

    The sentence names every way of giving the missing half, so a user who set the
    environment variable but forgot ``--username`` (or the other way round) sees why.
    """
    if username is None and password is None:
        return None
    if username is None:
        raise CredentialsError(
            "a password was given (--password or --password-file) without --username",
            "--username",
        )
    if password is None:
        raise CredentialsError(
            f"--username needs a password: --password, --password-file or {PASSWORD_ENV}",
            "--password",
        )
    return username, password
