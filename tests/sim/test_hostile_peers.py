"""What an extension sends cannot crash simulate, pass as a clean run, or flood its output.

Issue 8, points 10, 11 and 12: hostile servers (``tests/sim/hostile_servers.py``, and the
mutants of ``tests/peers``) against the real ``lvatool simulate`` command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.sim.tally import MAX_KINDS, WarningTally
from tests.peers.mutant_servers import Fault, MutantServer
from tests.schemas import assert_valid
from tests.sim.hostile_servers import HOSTILE_TEXT, HostileServer, Hostility
from tests.sim.simrun import run


def simulate_aloud(*args: str, json_path: Path) -> tuple[int, dict[str, object], str]:
    """Run simulate *without* --quiet, so the table and warnings are printed too."""
    result = CliRunner().invoke(app, ["simulate", "--json", str(json_path), *args])
    summary = json.loads(json_path.read_text()) if json_path.exists() else {}
    if summary:
        assert_valid(summary, "simulate-summary")
    return result.exit_code, summary, result.output


# -- point 12: bytes that are not protobuf are the extension's protocol violation ----------


@pytest.mark.parametrize(
    ("hostility", "rule"),
    [(Hostility.GARBAGE_FIRST, "H2"), (Hostility.GARBAGE_AFTER_REPLY, "Q2")],
    ids=["instead-of-descriptor", "after-descriptor"],
)
def test_responses_that_are_not_protobuf_are_a_protocol_violation(
    hostility: Hostility, rule: str
) -> None:
    """Exit 4 naming the rule, not exit 3 as if the connection had failed."""
    with HostileServer(hostility) as server:
        code, summary, output = run("--target", server.address, "--max-frames", "20")
    assert code == 4, output
    assert summary["outcome"] == "violation"
    flat = " ".join(output.split())
    assert "do not parse as a MediaStreamMessage" in flat
    assert f"rule {rule}" in flat
    assert "Traceback" not in output


# -- point 10: the peer's words are printed as text ----------------------------------------


def test_tags_with_markup_and_escapes_are_printed_as_text(tmp_path: Path) -> None:
    with HostileServer(Hostility.MARKUP_TAGS) as server:
        code, summary, output = simulate_aloud(
            "--target", server.address, "--max-frames", "5", json_path=tmp_path / "s.json"
        )
    assert code == 0, output
    assert summary["labels"] == {HOSTILE_TEXT: 5}  # the JSON keeps the peer's exact words
    assert "[/] [bold red]pwned \\x1b[2J: 5" in output
    assert "\x1b" not in output


def test_a_status_with_markup_and_escapes_is_printed_as_text(tmp_path: Path) -> None:
    with HostileServer(Hostility.MARKUP_STATUS) as server:
        code, summary, output = simulate_aloud(
            "--target", server.address, "--max-frames", "20", json_path=tmp_path / "s.json"
        )
    assert code == 3, output
    assert summary["outcome"] == "refused"
    assert "[/] [bold red]pwned \\x1b[2J" in " ".join(output.split())
    assert "\x1b" not in output
    assert "Traceback" not in output


# -- point 11: a warning repeated on every frame is counted, not repeated -------------------


def test_a_fault_on_every_frame_is_one_counted_warning(tmp_path: Path) -> None:
    """An extension that never echoes timestamps: 300 frames, one warning "(300 times)"."""
    with MutantServer(Fault.NO_TIMESTAMP_ECHO) as server:
        code, summary, output = simulate_aloud(
            "--target", server.address, json_path=tmp_path / "s.json"
        )
    assert code == 0, output
    (warning,) = summary["warnings"]  # type: ignore[misc]
    assert "carries timestamp 0" in warning
    assert warning.endswith("(300 times)")
    assert output.count("warning:") == 1


def test_the_tally_keeps_one_entry_per_kind() -> None:
    """Storage is O(kinds): 100,000 warnings of two kinds are two entries."""
    tally = WarningTally()
    for sample in range(1, 100_001):
        tally.add(f"response for sample {sample} carries timestamp 0, not the sample's {sample}9")
        if sample % 1000 == 0:
            tally.add("the server sent sequence_number 0 (tolerated, rule Q5)")
    assert len(tally.counted()) == 2
    assert len(tally) == 100_100
    assert tally.texts() == [
        "response for sample 1 carries timestamp 0, not the sample's 19 (100000 times)",
        "the server sent sequence_number 0 (tolerated, rule Q5) (100 times)",
    ]


def test_the_tally_pools_kinds_beyond_its_limit_and_merges_counts() -> None:
    """Even a peer that varies its words cannot make the tally grow without bound."""
    tally = WarningTally()
    for kind in range(MAX_KINDS + 30):
        tally.add(f"warning {'x' * kind}")
    other = WarningTally()
    other.add("warning ")  # the first kind again, from another stream
    tally.merge(other)
    counted = tally.counted()
    assert len(counted) == MAX_KINDS + 1
    assert str(counted[0]) == "warning  (2 times)"
    assert str(counted[-1]) == "30 warnings of other kinds"
