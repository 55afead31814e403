"""``lvatool conformance server`` options: how a user fits the suite to an extension."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from tests.peers.mutant_servers import CONFIGURATION, Fault, MutantServer, Quirk


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["conformance", "server", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--probe-format", "gif", "use jpg, png, bmp or raw:PIXEL_FORMAT"),
        ("--probe-format", "raw:rgb48", "the RAW pixel format is one of"),
        ("--probe-format", "jpg:bgr24", "use jpg, png, bmp or raw:PIXEL_FORMAT"),
        ("--probe-size", "416", "use WIDTHxHEIGHT"),
        ("--probe-size", "8x8", "use WIDTHxHEIGHT"),
        ("--extension-config", "@/no/such/file.json", "cannot read --extension-config"),
    ],
)
def test_bad_options_are_one_sentence_and_exit_2(option: str, value: str, says: str) -> None:
    code, output = invoke("--target", "127.0.0.1:1", option, value)
    assert code == 2, output
    assert says in " ".join(output.split())  # the console wraps long sentences
    assert "Traceback" not in output


def test_extension_config_from_a_file_is_sent_and_reported(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.json"
    config.write_text(CONFIGURATION, encoding="utf-8")
    report = tmp_path / "report.json"
    with MutantServer(Fault.NEEDS_CONFIGURATION) as server:
        code, output = invoke("--target", server.address, "--extension-config", f"@{config}",
                              "--select", "S07", "--json", str(report))  # fmt: skip
    assert code == 0, output
    document = json.loads(report.read_text())
    assert document["properties"]["extension_configuration"] == CONFIGURATION
    assert document["properties"]["probe_format"] == "RAW BGR24 160x120"


def test_without_the_configuration_the_same_server_serves_nothing() -> None:
    with MutantServer(Fault.NEEDS_CONFIGURATION) as server:
        code, output = invoke("--target", f"tcp://{server.address}", "--select", "S07")
    assert code == 1, output
    assert "processed none of the probe formats" in output


def test_a_named_probe_format_is_tried_after_the_defaults(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with MutantServer(quirk=Quirk.JPEG_ONLY) as server:
        code, output = invoke("--target", server.address, "--probe-format", "raw:rgb24",
                              "--probe-size", "64x48", "--select", "S01",
                              "--json", str(report))  # fmt: skip
    assert code == 0, output
    trials = json.loads(report.read_text())["properties"]["probe_trials"]
    assert "RAW BGR24 160x120: the server ended the call at the descriptor with UNIMPLEMENTED" in (
        trials
    )
    assert "JPG 160x120: processed" in trials
