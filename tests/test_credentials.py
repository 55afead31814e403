"""Passwords from a file or the environment (issue 11): precedence, and every refusal named.

The files are real files in a temporary directory; the environment is passed as a mapping,
as the commands pass ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lvatool.credentials import (
    MAX_PASSWORD_CHARS,
    PASSWORD_ENV,
    CredentialsError,
    check_pair,
    read_password_file,
    resolve_password,
)

ENV = {PASSWORD_ENV: "from-env"}


def secret_file(folder: Path, content: bytes) -> Path:
    path = folder / "password"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "password"),
    [
        (b"s3cret\n", "s3cret"),
        (b"s3cret", "s3cret"),  # no final newline (printf, a Kubernetes secret)
        (b"s3cret\r\n", "s3cret"),  # written on Windows
        (b"two words \nsecond line ignored\n", "two words "),  # spaces are the password's
        ("pässwörd\n".encode(), "pässwörd"),
    ],
    ids=["newline", "no-newline", "crlf", "first-line-only", "utf-8"],
)
def test_the_first_line_of_the_file_is_the_password(
    tmp_path: Path, content: bytes, password: str
) -> None:
    assert read_password_file(secret_file(tmp_path, content)) == password


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (b"", "is empty: its first line is the password"),
        (b"\nsecret on line 2\n", "is empty: its first line is the password"),
        (b"\xff\xfe\n", "is not UTF-8 text"),
    ],
    ids=["empty", "empty-first-line", "not-utf-8"],
)
def test_a_file_without_a_usable_first_line_is_refused_by_name(
    tmp_path: Path, content: bytes, sentence: str
) -> None:
    path = secret_file(tmp_path, content)
    with pytest.raises(CredentialsError) as raised:
        read_password_file(path)
    assert str(raised.value) == f"--password-file {path} {sentence}"
    assert raised.value.option == "--password-file"


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as raised:
        read_password_file(tmp_path / "nope")
    assert str(raised.value) == (
        f"cannot read --password-file {tmp_path / 'nope'}: No such file or directory"
    )


def test_a_directory_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=f"^cannot read --password-file {tmp_path}: "):
        read_password_file(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused_by_name(tmp_path: Path) -> None:
    path = secret_file(tmp_path, b"s3cret\n")
    path.chmod(0)
    with pytest.raises(CredentialsError, match="Permission denied"):
        read_password_file(path)


def test_a_huge_first_line_is_not_read_whole(tmp_path: Path) -> None:
    """A path to a large file given by mistake: refused after a bounded read."""
    path = secret_file(tmp_path, b"x" * (MAX_PASSWORD_CHARS * 100))
    with pytest.raises(CredentialsError, match="longer than 4096 characters"):
        read_password_file(path)
    exactly = secret_file(tmp_path, b"y" * MAX_PASSWORD_CHARS + b"\n")
    assert read_password_file(exactly) == "y" * MAX_PASSWORD_CHARS


def test_password_beats_file_beats_environment(tmp_path: Path) -> None:
    path = secret_file(tmp_path, b"from-file\n")
    assert resolve_password("given", None, username="u", environ=ENV) == "given"
    assert resolve_password(None, path, username="u", environ=ENV) == "from-file"
    assert resolve_password(None, None, username="u", environ=ENV) == "from-env"
    assert resolve_password(None, None, username="u", environ={}) is None


def test_both_options_are_a_usage_error_naming_them(tmp_path: Path) -> None:
    path = secret_file(tmp_path, b"from-file\n")
    with pytest.raises(CredentialsError) as raised:
        resolve_password("given", path, username="u", environ={})
    assert str(raised.value) == "give --password or --password-file, not both"


def test_the_environment_is_the_password_of_a_username_only() -> None:
    """Set for a server in this shell, the variable must not make a plain run fail."""
    assert resolve_password(None, None, username=None, environ=ENV) is None
    assert resolve_password(None, None, username="u", environ={PASSWORD_ENV: ""}) is None


def test_the_file_is_read_even_without_a_username(tmp_path: Path) -> None:
    """An explicit --password-file counts as given: check_pair then names the missing half."""
    path = secret_file(tmp_path, b"from-file\n")
    password = resolve_password(None, path, username=None, environ={})
    assert password == "from-file"
    with pytest.raises(CredentialsError, match="without --username"):
        check_pair(None, password)


def test_the_process_environment_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "ambient")
    assert resolve_password(None, None, username="u") == "ambient"
    monkeypatch.delenv(PASSWORD_ENV)
    assert resolve_password(None, None, username="u") is None


def test_pairs_are_both_or_neither() -> None:
    assert check_pair(None, None) is None
    assert check_pair("u", "p") == ("u", "p")
    with pytest.raises(CredentialsError) as raised:
        check_pair("u", None)
    assert str(raised.value) == (
        "--username needs a password: --password, --password-file or LVATOOL_PASSWORD"
    )
    assert raised.value.option == "--password"
