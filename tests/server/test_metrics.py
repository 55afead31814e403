"""Live metrics of the reference server: Prometheus over real HTTP, and the stats line.

Real servers on loopback, real sessions (``lvatool simulate`` embedded and through
/dev/shm, raw calls), scraped over HTTP with prometheus_client's own parser. Every wait
polls against a deadline: a call's end is counted once gRPC has closed it, a moment
after its client saw the status.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.protocol import SharedMemoryTransfer, Status
from lvatool.server import ExtensionServer, ServerOptions, ServerStartError, SessionPolicy
from lvatool.server.metrics_export import MAX_SCRAPE_CONNECTIONS
from lvatool.server.stats import IntervalTally, StatsReporter
from tests.frames import DARK, LIGHT, descriptor, encode, raw_format, reference, sample
from tests.rawcall import RawCall
from tests.serveproc import free_port
from tests.server.serverlog import server_log
from tests.server.test_process import start
from tests.shmfile import ShmFile
from tests.sim.simrun import run, wait_for

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextmanager
def metrics_server(**options: object) -> Iterator[ExtensionServer]:
    """A reference server on loopback exporting metrics on a port the system picks."""
    settings: dict[str, object] = {"stats_interval_s": 0.0, **options}
    server = ExtensionServer(
        ServerOptions(host="127.0.0.1", port=0, metrics_port=0, **settings)  # type: ignore[arg-type]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop(0)


def scrape(server: ExtensionServer) -> Series:
    """Every sample the endpoint serves, by name and labels."""
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """One sample's value; 0 for a series that does not exist (yet)."""
    return series.get((name, frozenset(labels.items())), 0.0)


def wait_for_value(server: ExtensionServer, name: str, expected: float, **labels: str) -> Series:
    """Scrape until ``name{labels}`` reads ``expected``; fail at the deadline."""
    seen: list[float] = []

    def reached() -> bool:
        seen[:] = [value(scrape(server), name, **labels)]
        return seen[0] == expected

    wait_for(reached, f"{name}{labels} == {expected} (last {seen})")
    return scrape(server)


def test_frames_sessions_histograms_and_statuses_counted_by_transfer_and_format() -> None:
    """Embedded JPEG and shm RAW BGR24 runs move their own series by exactly the frames sent."""
    with metrics_server() as server, metrics_server() as bystander:
        code, embedded, _ = run("--target", server.address, "--max-frames", "12")
        assert code == 0 and embedded["frames_sent"] == 12
        code, shm, output = run(
            "--target", server.address, "--max-frames", "9",
            "--shm", "8", "--format", "raw", "--pixel-format", "bgr24",
        )  # fmt: skip
        assert code == 0 and shm["frames_sent"] == 9, output
        with grpc.insecure_channel(server.address) as channel:  # refused at its descriptor
            refused = RawCall(channel)
            refused.send(descriptor(raw_format(DARK), SharedMemoryTransfer("lvatool-none", 4096)))
            assert refused.status()[0] == grpc.StatusCode.FAILED_PRECONDITION

        series = wait_for_value(server, "lvatool_calls_ended_total", 2, status="OK")
        for transfer, fmt, frames in (("embedded", "jpg", 12), ("shm", "raw/bgr24", 9)):
            assert (
                value(series, "lvatool_frames_processed_total", transfer=transfer, format=fmt)
                == frames
            )
            assert (
                value(series, "lvatool_sessions_started_total", transfer=transfer, format=fmt) == 1
            )
            for histogram in ("lvatool_processing_seconds", "lvatool_round_trip_seconds"):
                assert value(series, f"{histogram}_count", transfer=transfer) == frames
                assert value(series, f"{histogram}_bucket", transfer=transfer, le="+Inf") == frames
                assert value(series, f"{histogram}_sum", transfer=transfer) > 0
        assert value(series, "lvatool_calls_ended_total", status="FAILED_PRECONDITION") == 1
        assert value(series, "lvatool_sessions_open") == 0
        assert value(series, "lvatool_shared_memory_mapped_bytes") == 0
        # A second server in the same process keeps its own registry: nothing moved there.
        untouched = scrape(bystander)
        assert not [key for key, v in untouched.items() if key[0].endswith("_total") and v]


def test_scrape_during_a_shared_memory_session() -> None:
    """While a session runs: one open, its buffer's bytes mapped, its frames counted so far."""
    shm = ShmFile(1 << 20)
    try:
        with metrics_server() as server, grpc.insecure_channel(server.address) as channel:
            call = RawCall(channel)
            frame = raw_format(DARK)
            call.send(descriptor(frame, SharedMemoryTransfer(shm.name, shm.size)))
            assert call.recv().HasField("media_stream_descriptor")
            size = frame.raw_size()
            for index, rgb in enumerate((DARK, LIGHT, DARK)):
                shm.write(index * size, encode(rgb, frame))
                call.send(reference(index + 2, index * size, size))
            assert len([call.recv() for _ in range(3)]) == 3

            during = scrape(server)
            assert value(during, "lvatool_sessions_open") == 1
            assert value(during, "lvatool_shared_memory_mapped_bytes") == shm.size
            frames = value(
                during, "lvatool_frames_processed_total", transfer="shm", format="raw/bgr24"
            )
            assert frames == 3
            assert value(during, "lvatool_calls_ended_total", status="OK") == 0

            call.half_close()
            assert call.status()[0] == grpc.StatusCode.OK
            after = wait_for_value(server, "lvatool_calls_ended_total", 1, status="OK")
            assert value(after, "lvatool_sessions_open") == 0
            assert value(after, "lvatool_shared_memory_mapped_bytes") == 0
    finally:
        shm.close()


def test_refused_and_cancelled_calls_counted_by_status() -> None:
    """Over the session limit (RESOURCE_EXHAUSTED) and a cancelled call (CANCELLED) count."""
    with metrics_server(policy=SessionPolicy(max_sessions=1)) as server:
        with grpc.insecure_channel(server.address) as channel:
            holder = RawCall(channel)
            holder.send(descriptor(raw_format(DARK)))
            assert holder.recv().HasField("media_stream_descriptor")
            extra = RawCall(channel)
            extra.send(descriptor(raw_format(DARK)))
            assert extra.status()[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
            holder.send(sample(2, encode(DARK, raw_format(DARK))))
            holder.recv()
            holder.cancel()
            series = wait_for_value(server, "lvatool_calls_ended_total", 1, status="CANCELLED")
        assert value(series, "lvatool_calls_ended_total", status="RESOURCE_EXHAUSTED") == 1
        assert (
            value(series, "lvatool_sessions_started_total", transfer="embedded", format="raw/bgr24")
            == 1
        )
        assert value(series, "lvatool_sessions_open") == 0


def test_endpoint_stops_with_the_server() -> None:
    with metrics_server() as server:
        port = server.metrics_port
        assert port
        scrape(server)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_idle_connections_cannot_pile_up_threads() -> None:
    """Connections past the limit are closed at once; the endpoint serves again after."""
    with metrics_server() as server:
        extra = 8
        held = [
            socket.create_connection(("127.0.0.1", server.metrics_port), timeout=10)
            for _ in range(MAX_SCRAPE_CONNECTIONS + extra)
        ]
        try:
            for connection in held:
                connection.setblocking(False)
            closed: set[int] = set()

            def refused_enough() -> bool:
                for index, connection in enumerate(held):
                    with contextlib.suppress(BlockingIOError):
                        if connection.recv(1) == b"":
                            closed.add(index)
                return len(closed) >= extra

            wait_for(refused_enough, f"{extra} connections over the limit closed")
            handlers = [t for t in threading.enumerate() if "process_request" in t.name]
            assert len(handlers) <= MAX_SCRAPE_CONNECTIONS
        finally:
            for connection in held:
                connection.close()

        def scraped() -> bool:
            try:
                return "lvatool_sessions_open" in str(scrape(server))
            except OSError:
                return False

        wait_for(scraped, "a scrape once the idle connections are gone")


def test_busy_grpc_port_closes_the_metrics_endpoint_again() -> None:
    """The metrics port is bound first; a gRPC port that then fails leaves nothing listening."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        metrics = free_port()
        server = ExtensionServer(
            ServerOptions(host="127.0.0.1", port=busy, metrics_port=metrics, stats_interval_s=0)
        )
        with pytest.raises(ServerStartError, match="address already in use"):
            server.start()
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the metrics port
        socket.create_connection(("127.0.0.1", metrics), timeout=10).close()


def test_busy_metrics_port_is_a_start_error_exit_3() -> None:
    """``lvatool serve --metrics-port`` on a taken port: one sentence naming it, exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        process = subprocess.run(
            [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1",
             "--port", str(free_port()), "--metrics-port", str(busy)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert process.returncode == 3, process.stderr
    assert f"cannot listen on 127.0.0.1:{busy} for --metrics-port: address already in use" in (
        process.stderr
    )
    assert "Traceback" not in process.stderr


def test_serve_command_exports_metrics_logs_stats_and_stops_both(tmp_path: Path) -> None:
    """``lvatool serve --metrics-port P --stats-interval-s S``: scraped, logged, then closed."""
    metrics_port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        process, address = start(
            "--metrics-port", str(metrics_port), "--stats-interval-s", "0.3", stderr=log_file
        )
        try:
            with grpc.insecure_channel(address) as channel:
                call = RawCall(channel)
                frame = raw_format(DARK)
                call.send(descriptor(frame))
                call.recv()
                call.send(sample(2, encode(DARK, frame)))
                call.recv()
                call.half_close()
                assert call.status()[0] == grpc.StatusCode.OK
            url = f"http://127.0.0.1:{metrics_port}/metrics"

            def frame_counted() -> bool:
                with urllib.request.urlopen(url, timeout=10) as response:
                    text = response.read().decode()
                return 'lvatool_calls_ended_total{status="OK"} 1.0' in text

            wait_for(frame_counted, "the session's end on the metrics endpoint")
            wait_for(lambda: "calls_ended=OK:1" in log_path.read_text(), "a stats line")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert process.returncode == 0, log_path.read_text()
    assert f"serving Prometheus metrics on http://127.0.0.1:{metrics_port}/metrics" in (
        log_path.read_text()
    )
    with pytest.raises(ConnectionRefusedError):  # the endpoint stopped with the server
        socket.create_connection(("127.0.0.1", metrics_port), timeout=10).close()


def test_metrics_host_needs_a_metrics_port() -> None:
    result = CliRunner().invoke(app, ["serve", "--metrics-host", "127.0.0.1"])
    assert result.exit_code == 2
    assert "--metrics-port" in result.output


def test_nothing_recorded_by_default_from_python() -> None:
    """No metrics port and no stats line unless asked: not even a tally is kept."""
    server = ExtensionServer(ServerOptions(host="127.0.0.1", port=0))
    assert server.metrics is None and server.servicer.metrics is None


def test_stats_line_every_interval() -> None:
    """Frames over the lines add up to those sent; the call's status shows; p50/p99 in ms."""
    pattern = re.compile(
        r"stats seconds=\d+\.\d frames=(\d+) frames_per_s=\d+\.\d sessions_open=(\d+) "
        r"processing_p50_ms=(\S+) processing_p99_ms=(\S+) calls_ended=(\S+)"
    )
    with server_log() as log, metrics_server(stats_interval_s=0.2) as server:
        with grpc.insecure_channel(server.address) as channel:
            call = RawCall(channel)
            frame = raw_format(DARK)
            call.send(descriptor(frame))
            call.recv()
            for index in range(5):
                call.send(sample(index + 2, encode(DARK, frame)))
                call.recv()
            call.half_close()
            assert call.status()[0] == grpc.StatusCode.OK

        def all_counted() -> bool:
            found = [pattern.fullmatch(line) for line in log.lines("stats ")]
            return (
                "OK:1" in {m.group(5) for m in found if m}
                and sum(int(m.group(1)) for m in found if m) == 5
            )

        wait_for(all_counted, "stats lines adding up to 5 frames and one OK call")
        lines = log.lines("stats ")
        assert all(pattern.fullmatch(line) for line in lines), lines
        busy = [m for m in map(pattern.fullmatch, lines) if m and int(m.group(1))]
        assert all(float(m.group(3)) <= float(m.group(4)) for m in busy)
        idle = [m for m in map(pattern.fullmatch, lines) if m and not int(m.group(1))]
        assert all(m.group(3) == "-" for m in idle)


def test_interval_tally_resets_with_each_take() -> None:
    now = [100.0]
    tally = IntervalTally(clock=lambda: now[0])
    tally.session_opened()
    tally.processed(3, 0.002)
    tally.processed(1, 0.040)
    tally.call_ended(Status.OK.name)
    tally.call_ended(Status.CANCELLED.name)
    now[0] = 102.0
    figures = tally.take()
    assert (figures.seconds, figures.frames, figures.sessions_open) == (2.0, 4, 1)
    assert figures.frames_per_s == 2.0
    assert figures.processing_p50_ms == pytest.approx(2.0, rel=0.01)
    assert figures.processing_p99_ms == pytest.approx(40.0, rel=0.01)
    assert figures.line() == (
        "stats seconds=2.0 frames=4 frames_per_s=2.0 sessions_open=1 "
        f"processing_p50_ms={figures.processing_p50_ms:.2f} "
        f"processing_p99_ms={figures.processing_p99_ms:.2f} calls_ended=CANCELLED:1,OK:1"
    )
    now[0] = 103.0
    empty = tally.take()
    assert (empty.frames, empty.sessions_open, empty.calls_ended) == (0, 1, {})
    assert "processing_p50_ms=- processing_p99_ms=- calls_ended=none" in empty.line()


def test_stats_reporter_stops_at_once() -> None:
    """A reporter with an hour's interval stops without waiting for its hour."""
    reporter = StatsReporter(IntervalTally(), 3600.0, logging.getLogger("lvatool.server"))
    reporter.start()
    assert reporter.stop(timeout_s=30)
