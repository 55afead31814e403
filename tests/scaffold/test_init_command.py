"""``lvatool init`` on the command line: what it prints, and its exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.scaffold import PROJECT_FILES


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_prints_the_files_and_the_next_commands(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["init", "cams/Lobby Camera"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Wrote the lobby-camera extension project in cams/Lobby Camera:"
    for target, _ in PROJECT_FILES:
        assert f"  cams/Lobby Camera/{target}" in lines
        assert (in_tmp / "cams" / "Lobby Camera" / target).is_file()
    assert lines[-5:] == [
        "Next:",
        "  cd cams/Lobby Camera",
        "  python -m pytest -q",
        "  lvatool serve --processor processor.py:process &",
        "  lvatool conformance server --target localhost:5001",
    ]


def test_init_in_the_current_directory_needs_no_cd(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["init", ".", "--name", "lobby"])

    assert result.exit_code == 0, result.output
    assert "  cd " not in result.output
    assert "tcp://lobby:5001" in (in_tmp / "topologies" / "lva-topology.json").read_text()


def test_a_non_empty_directory_is_one_sentence_and_exit_2(in_tmp: Path) -> None:
    (in_tmp / "keep.txt").write_text("mine")

    result = CliRunner().invoke(app, ["init", "."])

    assert result.exit_code == 2
    assert result.output == (
        "lvatool init: . is not empty; give --force to overwrite the files lvatool init "
        "writes there (other files are left alone)\n"
    )
    assert [path.name for path in in_tmp.iterdir()] == ["keep.txt"]


def test_force_writes_into_a_non_empty_directory(in_tmp: Path) -> None:
    (in_tmp / "keep.txt").write_text("mine")

    result = CliRunner().invoke(app, ["init", ".", "--force"])

    assert result.exit_code == 0, result.output
    assert (in_tmp / "processor.py").is_file()
    assert (in_tmp / "keep.txt").read_text() == "mine"


def test_an_unusable_name_is_exit_2_with_a_suggestion(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["init", "x", "--name", "Lobby Cam"])

    assert result.exit_code == 2
    assert "--name 'Lobby Cam' is not a usable IoT Edge module name" in result.output
    assert "try 'lobby-cam'" in result.output
    assert not (in_tmp / "x").exists()
