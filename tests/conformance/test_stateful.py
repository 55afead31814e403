"""``--stateful``: conformance verdicts for processors whose results depend on earlier frames.

The motion example (frame differencing, one previous frame per session) is a legal
extension; without ``--stateful`` it fails S05, S06 and S12 by design, with a hint naming
the option, and with it S05 is skipped (nothing meaningful is left to judge) while S06
and S12 compare each session with the same sequence of frames sent alone, embedded.
Broken stateful peers still fail: one previous frame shared by every session (H1), and a
server that reads a shared-memory region after acknowledging it (M3). The reference
dark/light server passes either way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.conformance import Outcome, Selection, ServerSuiteOptions, SuiteReport
from lvatool.conformance.explain import explain
from lvatool.conformance.suites import run_server_suite
from lvatool.examples.motion import MotionSettings, motion, motion_boxes, working_luma
from lvatool.server import DarkLightProcessor, Frame, Inference
from lvatool.sim.call import ConnectOptions
from lvatool.testing import assert_conformant, serve
from tests.peers.mutant_servers import Fault, MutantServer

MOTION = "lvatool.examples.motion:process"
CONTEXT_CHECKS = ("S05", "S06", "S12")
HINT = "if your processor keeps state across frames (motion, tracking), run with --stateful"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["conformance", "server", *args])
    return result.exit_code, " ".join(result.output.split())  # the console wraps lines


def by_id(report: SuiteReport) -> dict[str, Outcome]:
    return {result.id: result.outcome for result in report.results}


def message_of(report: SuiteReport, check: str) -> str:
    return next(result.message for result in report.results if result.id == check)


def run(address: str, checks: Sequence[str], *, stateful: bool) -> SuiteReport:
    return run_server_suite(
        ConnectOptions(target=address, connect_timeout_s=10),
        Selection(tuple(checks)),
        ServerSuiteOptions(stateful=stateful),
    )


# -- the motion example: legal, stateful --------------------------------------------------
def test_the_motion_processor_passes_with_stateful_and_s05_is_skipped_naming_it(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    with serve(MOTION) as address:
        code, output = invoke("--target", address, "--stateful", "--json", str(report_path))
    assert code == 0, output
    document = json.loads(report_path.read_text())
    assert document["properties"]["stateful"] == "true"
    checks = {check["id"]: check for check in document["checks"]}
    assert checks["S05"]["outcome"] == "skip"
    assert "--stateful" in checks["S05"]["message"]
    for check in ("S06", "S12"):
        assert checks[check]["outcome"] == "pass", checks[check]
        assert "same sequence" in checks[check]["message"]
    assert not [c["id"] for c in document["checks"] if c["outcome"] in ("fail", "error")]


def test_without_stateful_the_motion_processor_fails_the_three_checks_with_the_hint() -> None:
    with serve(MOTION) as address:
        code, output = invoke("--target", address, "--select", ",".join(CONTEXT_CHECKS))
        report = run(address, CONTEXT_CHECKS, stateful=False)
    assert code == 1, output
    assert HINT in output
    assert by_id(report) == dict.fromkeys(CONTEXT_CHECKS, Outcome.FAIL)
    for check in CONTEXT_CHECKS:
        assert HINT in message_of(report, check)
    assert report.properties["stateful"] == "false"


# -- broken stateful peers still fail -----------------------------------------------------
class _LeakyMotion:
    """Motion by frame differencing with ONE previous frame for every session: a mistake
    (H1: a server keeps no state across sessions) that ``--stateful`` must not hide."""

    def __init__(self) -> None:
        self.previous: npt.NDArray[np.float32] | None = None

    def __call__(self, frame: Frame) -> Sequence[Inference]:
        current = working_luma(frame.image)
        previous, self.previous = self.previous, current
        if previous is None or previous.shape != current.shape:
            return []
        threshold = MotionSettings().threshold
        return [motion(box) for box in motion_boxes(previous, current, threshold)]


def test_sessions_that_share_the_previous_frame_fail_s12_naming_h1() -> None:
    with serve(_LeakyMotion()) as address:
        report = run(address, ["S12"], stateful=True)
    assert by_id(report) == {"S12": Outcome.FAIL}
    assert "(H1)" in message_of(report, "S12")
    assert HINT not in message_of(report, "S12")  # it ran with --stateful already


def test_a_server_that_shares_one_result_slot_still_fails_s12_with_stateful() -> None:
    with MutantServer(Fault.SHARED_STATE) as server:
        report = run(server.address, ["S12"], stateful=True)
    assert by_id(report) == {"S12": Outcome.FAIL}
    assert "(H1)" in message_of(report, "S12")


def test_reading_a_region_after_its_acknowledgement_still_fails_s06_with_stateful() -> None:
    with MutantServer(Fault.READS_AFTER_ACK) as server:
        report = run(server.address, ["S06"], stateful=True)
    assert by_id(report) == {"S06": Outcome.FAIL}
    message = message_of(report, "S06")
    assert "(M3" in message
    assert "the same sequence embedded in a fresh session" in message
    assert HINT not in message


def test_reading_after_the_acknowledgement_gets_no_state_hint_without_stateful() -> None:
    """Its very first sample is wrong: no stateful processor does that, so no hint."""
    with MutantServer(Fault.READS_AFTER_ACK) as server:
        report = run(server.address, ["S06"], stateful=False)
    assert by_id(report) == {"S06": Outcome.FAIL}
    assert HINT not in message_of(report, "S06")


def test_the_previous_frames_results_get_no_state_hint() -> None:
    """Exactly the previous frame's results is a bug (Q3), not what a processor's state
    gives: the hint would lead to --stateful, under which S06 and S12 cannot see it."""
    with MutantServer(Fault.RESULTS_OF_PREVIOUS_FRAME) as server:
        report = run(server.address, ["S05"], stateful=False)
    assert by_id(report) == {"S05": Outcome.FAIL}
    assert "they are the previous frame's" in message_of(report, "S05")
    assert HINT not in message_of(report, "S05")


# -- the reference server passes either way -----------------------------------------------
@pytest.mark.parametrize("stateful", [False, True], ids=["plain", "stateful"])
def test_the_reference_server_passes_with_and_without_stateful(stateful: bool) -> None:
    report = assert_conformant(DarkLightProcessor(), profile="darklight", stateful=stateful)
    outcomes = by_id(report)
    assert outcomes["S06"] is Outcome.PASS and outcomes["S12"] is Outcome.PASS
    assert outcomes["S05"] is (Outcome.SKIP if stateful else Outcome.PASS)
    assert report.properties["stateful"] == str(stateful).lower()


# -- the words ----------------------------------------------------------------------------
def test_explain_s05_mentions_stateful() -> None:
    from rich.console import Console

    console = Console(record=True, width=100)
    explain("S05", console)
    assert "--stateful" in console.export_text()


def test_the_option_is_in_the_help() -> None:
    code, output = invoke("--help")
    assert code == 0
    assert "--stateful" in output
