"""Real Locust runs of the packaged camera user against ``lvatool serve`` over loopback.

Each run is a few seconds of real traffic (issue 9): a master with two worker processes
whose statistics reach the master's CSV (started apart, and forked by ``--processes``), an
extension that refuses every session, and a
bad option refused before anything starts.
"""

from __future__ import annotations

from pathlib import Path

from tests.loadtest.locustrun import (
    RUN_OK,
    RUN_WITH_FAILURES,
    failure_rows,
    finish,
    free_port,
    locust,
    serving,
    stats_rows,
)

#: Few users at a modest rate: the machine under test has 2 cores for all the processes.
#: Locust's run time starts when users spawn, before each worker has decoded its clip and
#: each user has connected: 5 s ran out with no frame done on a loaded machine, 15 s did not.
LOAD = ("--headless", "-u", "4", "-r", "4", "-t", "15s", "--lva-fps", "10")
NAME = "embedded jpeg 416x234"  # the bundled 640x360 clip fitted into 416x416


def test_master_and_two_workers_report_round_trips_to_the_csv(tmp_path: Path) -> None:
    """One master, two worker processes: every frame's round trip is a Locust request,
    none fails, and the master writes the run's CSV (issue 9, "Past one machine")."""
    prefix = tmp_path / "run"
    master_port = free_port()
    with serving() as address:
        master = locust(
            "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
            "--expect-workers", "2", "-H", address, "--csv", str(prefix), *LOAD,
        )  # fmt: skip
        workers = [
            locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port))
            for _ in range(2)
        ]
        code, output = finish(master)
        worker_results = [finish(worker, timeout_s=30) for worker in workers]
    assert code == RUN_OK, output
    rows = stats_rows(prefix)
    total = rows[("", "Aggregated")]
    assert int(total["Request Count"]) > 0, output
    assert int(total["Failure Count"]) == 0, failure_rows(prefix)
    assert int(rows[("grpc", NAME)]["Request Count"]) > 0
    assert int(rows[("handshake", NAME)]["Request Count"]) == 4  # one session per user
    assert failure_rows(prefix) == []
    assert all(worker_code == RUN_OK for worker_code, _ in worker_results), worker_results


def test_processes_forks_workers_that_each_decode_their_own_clip(tmp_path: Path) -> None:
    """``--processes 2``: Locust forks a master and two workers from one command. Each
    worker must decode its clip after the fork (a decoder thread does not survive one),
    and every worker's round trips must reach the master's CSV, none failed."""
    prefix = tmp_path / "run"
    with serving() as address:
        code, output = finish(
            locust("--processes", "2", "-H", address, "--csv", str(prefix), *LOAD)
        )
    assert code == RUN_OK, output
    rows = stats_rows(prefix)
    assert int(rows[("", "Aggregated")]["Failure Count"]) == 0, failure_rows(prefix)
    assert int(rows[("grpc", NAME)]["Request Count"]) > 0, output
    assert int(rows[("handshake", NAME)]["Request Count"]) == 4  # one session per user


def test_an_extension_that_refuses_every_session_is_reported_as_failures(
    tmp_path: Path,
) -> None:
    """Credentials required, none given: each session start fails UNAUTHENTICATED (A1),
    as a Locust failure that names the status, and Locust exits with its failure code."""
    prefix = tmp_path / "refused"
    with serving("--username", "u", "--password", "p") as address:
        code, output = finish(
            locust("-H", address, "--csv", str(prefix), "--lva-reconnect", "0.5", *LOAD)
        )
    assert code == RUN_WITH_FAILURES, output
    total = stats_rows(prefix)[("", "Aggregated")]
    assert int(total["Failure Count"]) > 0
    assert int(total["Failure Count"]) == int(total["Request Count"])
    errors = [row["Error"] for row in failure_rows(prefix)]
    assert errors and all("UNAUTHENTICATED" in error for error in errors), errors
    assert "Traceback" not in output


def test_a_bad_option_is_one_sentence_and_exit_2() -> None:
    code, output = finish(locust("--headless", "-H", "127.0.0.1:1", "--lva-format", "gif"))
    assert code == 2
    assert "lvatool locust: --lva-format 'gif': expected jpeg, png, bmp or raw" in output
    assert "Traceback" not in output


def test_no_host_in_a_headless_run_is_one_sentence_and_exit_2() -> None:
    code, output = finish(locust("--headless", "-t", "1s"))
    assert code == 2
    assert "no extension address: give Locust's --host" in output
    assert "Traceback" not in output


def test_help_lists_the_camera_options() -> None:
    """Locust prints its help before loading a locustfile; lvatool-locust adds its own."""
    code, output = finish(locust("--help"))
    assert code == 0
    assert "--lva-shm FLOAT" in output and "--lva-fps FLOAT" in output
    assert "lvatool-locust --worker --master-host MASTER" in output
