"""``lvatool simulate``: stream a video to an extension as LVA would, and measure it."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lvatool.addresses import AddressError, parse_target
from lvatool.commands.credential_options import Password, PasswordFile
from lvatool.credentials import CredentialsError, check_pair, resolve_password
from lvatool.media import Encoding, PixelFormat, ScaleMode
from lvatool.results.judge import diff_lines
from lvatool.results.plan import ResultsOptions, ResultsPlan, ResultsUsageError, plan_results
from lvatool.sim import (
    ConnectOptions,
    ImageOptions,
    RunOptions,
    RunResult,
    RunSummary,
    SourceError,
    StreamOptions,
    VideoSource,
)
from lvatool.sim import (
    simulate as run_simulation,
)
from lvatool.sim.observe import RunObserver
from lvatool.sim.report import render_summary, unwritable_reason
from lvatool.sim.samples import load_truth, sample_path, truth_path
from lvatool.sim.stream import internal_failure
from lvatool.sim.topology import ExtensionSettings, TopologyError, read_topology
from lvatool.text import as_text

EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE, EXIT_CONNECT, EXIT_VIOLATION = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
_FORMATS = {"jpeg": Encoding.JPG, "jpg": Encoding.JPG, "bmp": Encoding.BMP,
            "png": Encoding.PNG, "raw": Encoding.RAW}  # fmt: skip
_EXIT_FOR_FAILURE = {
    "connect": EXIT_CONNECT,
    "refused": EXIT_CONNECT,
    "violation": EXIT_VIOLATION,
    "stalled": EXIT_THRESHOLD,
    "source": EXIT_USAGE,
    "error": EXIT_THRESHOLD,  # our own failure: the run failed, the extension is not blamed
    "interrupted": EXIT_INTERRUPTED,
}
_DEBUG_HINT = " (--debug prints the traceback)"
_PEM_MARKER = b"-----BEGIN CERTIFICATE-----"


def _say(message: str, console: Console | None = None) -> None:
    """One line on stderr; ``message`` is text (it may quote the extension), not markup.

    Soft-wrapped: the terminal wraps it, so a long path is never cut by a newline.
    """
    (console or Console(stderr=True)).print(
        f"[red]lvatool simulate:[/red] {as_text(message)}", highlight=False, soft_wrap=True
    )


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    _say(message)
    return typer.Exit(code)


@contextlib.contextmanager
def _interrupt_exits() -> Iterator[None]:
    """Ctrl-C (or SIGTERM) anywhere in the command: one word and exit 130, no traceback."""
    try:
        yield
    except KeyboardInterrupt:
        raise _fail("interrupted", EXIT_INTERRUPTED) from None


def _params(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _fail(f"--param {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


T = TypeVar("T")


def _pick(given: T | None, from_topology: T | None, default: T) -> T:
    """Command line first, then the topology, then the built-in default."""
    if given is not None:
        return given
    return from_topology if from_topology is not None else default


def simulate(
    video: Annotated[
        str | None,
        typer.Option(help="Video file or live URL (rtsp://, http://); default: the bundled clip."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Extension HOST:PORT; default: a reference server started in-process."),
    ] = None,
    shm: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1024.0, help="Send through a shared buffer of this many MiB (0: embedded)."
        ),
    ] = None,
    on_full: Annotated[
        str, typer.Option(help="When the buffer is full: wait (for acks) or drop the frame.")
    ] = "wait",
    width: Annotated[
        int | None, typer.Option(min=1, max=16384, help="Scale frames to this width.")
    ] = None,
    height: Annotated[
        int | None, typer.Option(min=1, max=16384, help="Scale frames to this height.")
    ] = None,
    scale_mode: Annotated[
        str | None, typer.Option(help="preserveAspectRatio, pad or stretch (LVA image.scale.mode).")
    ] = None,
    format: Annotated[str | None, typer.Option("--format", help="jpeg, bmp, png or raw.")] = None,
    quality: Annotated[int | None, typer.Option(min=0, max=100, help="JPEG quality.")] = None,
    pixel_format: Annotated[
        str | None,
        typer.Option(help="RAW layout: bgr24, rgb24, yuv420p, rgb565be, argb, … (all 11)."),
    ] = None,
    stride_align: Annotated[
        int, typer.Option(min=1, max=4096, help="Pad RAW rows to a multiple of N bytes.")
    ] = 1,
    realtime: Annotated[
        bool, typer.Option(help="Pace frames by the video's timestamps, as a camera.")
    ] = False,
    stagger: Annotated[
        bool | None,
        typer.Option(
            help="Spread the streams' real-time schedules over one frame interval, as cameras "
            "are not in phase; default: on with --realtime."
        ),
    ] = None,
    max_fps: Annotated[
        float | None, typer.Option(min=0.001, help="At most this many samples per second.")
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many decoded frames.")
    ] = None,
    loop: Annotated[
        bool, typer.Option(help="Start the video over when it ends (files only).")
    ] = False,
    streams: Annotated[
        int, typer.Option(min=1, max=256, help="Concurrent sessions (cameras).")
    ] = 1,
    max_in_flight: Annotated[
        int, typer.Option(min=1, max=1024, help="Unacknowledged samples allowed per stream.")
    ] = 8,
    ack_timeout: Annotated[
        float, typer.Option(min=0.01, help="Seconds to wait for each ack.")
    ] = 10.0,
    connect_timeout: Annotated[
        float, typer.Option(min=0.01, help="Seconds to wait for the connection and handshake.")
    ] = 10.0,
    extension_config: Annotated[
        str | None, typer.Option(help="extension_configuration string sent in the descriptor.")
    ] = None,
    username: Annotated[
        str | None, typer.Option(help="Send x-ms-authentication Basic credentials.")
    ] = None,
    password: Password = None,
    password_file: PasswordFile = None,
    tls_ca: Annotated[Path | None, typer.Option(help="PEM CA bundle: connect with TLS.")] = None,
    tls_server_name: Annotated[
        str | None, typer.Option(help="Expected host name in the server certificate.")
    ] = None,
    max_message_mib: Annotated[
        int, typer.Option(min=4, max=2047, help="gRPC message limit (E2).")
    ] = 64,
    topology: Annotated[
        Path | None, typer.Option(help="LVA/AVA topology JSON: take the extension node's settings.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Topology parameter NAME=VALUE (repeatable).")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth labels JSON: report how many results match.")
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the summary as JSON here (schema: lvatool/schemas)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write results as IoT Hub events (JSON lines) here.")
    ] = None,
    min_fps: Annotated[
        float | None, typer.Option(help="Exit 1 if fewer frames per second were acknowledged.")
    ] = None,
    max_p99_ms: Annotated[
        float | None, typer.Option(help="Exit 1 if the p99 round trip is slower.")
    ] = None,
    # -- per-frame results and regression baselines (lvatool.results) --
    results: Annotated[
        Path | None,
        typer.Option(
            help="Write one record per frame sent, in send order, as the run goes: "
            "FILE.jsonl (inferences in LVA's JSON form; usable as a --baseline) or FILE.csv.",
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Compare every frame with an earlier --results .jsonl of the same clip: "
            "labels, entities appearing or vanishing, boxes, confidences, latency.",
        ),
    ] = None,
    baseline_iou: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="With --baseline: a box moved below this IoU [0.5]."),
    ] = None,
    baseline_confidence: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="With --baseline: a confidence moved by more than this [0.1]."
        ),
    ] = None,
    max_changed_frames: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=100.0,
            help="With --baseline: exit 1 if more than this percent of frames changed [0].",
        ),
    ] = None,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=100.0,
            help="Exit 1 if fewer than this percent of results match the ground truth.",
        ),
    ] = None,
    # -- seeing the results (lvatool.render, lvatool.html_report) --
    annotate: Annotated[
        Path | None,
        typer.Option(
            metavar="OUT.mp4",
            help="Write the frames as sent, each with its own inferences drawn (boxes, tags, "
            "labels, frame index, latency, status), as an H.264 video at the video's frame "
            "rate. Drawn on a thread of its own, at most 5 % of a core while the run goes and "
            "finished after it: frames wait for it (up to 256 MiB) and beyond that are left "
            "out, with a warning.",
        ),
    ] = None,
    annotate_stream: Annotated[
        int,
        typer.Option(min=0, help="With --annotate and --streams N: the stream drawn (0 to N-1)."),
    ] = 0,
    annotate_width: Annotated[
        int | None,
        typer.Option(
            min=2, max=16384, help="With --annotate: the video's width [the frames', at most 1280]."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.html",
            help="Write an HTML report when the run ends: settings, summary, throughput and "
            "latency over time, the latency histogram, in-flight frames and shared memory, "
            "labels, and stream 0's frames with their inferences drawn; one file that opens "
            "offline.",
        ),
    ] = None,
    # -- capacity search (lvatool.commands.simulate_capacity) --
    find_capacity: Annotated[
        bool,
        typer.Option(
            "--find-capacity",
            help="Find how many real-time cameras the extension sustains: run 1, 2, 4 … "
            "cameras (then bisect), each step judged by --slo-p99-ms, the rate kept and no "
            "frame dropped or timed out. Needs --target and --realtime or --max-fps. Exit 0 "
            "with a capacity; 1 when no camera meets the SLO or simulate itself was the "
            "bottleneck (then no capacity is claimed).",
        ),
    ] = False,
    slo_p99_ms: Annotated[
        float | None,
        typer.Option(min=0.001, help="With --find-capacity: the p99 latency a step must meet."),
    ] = None,
    max_streams: Annotated[
        int | None,
        typer.Option(
            min=1, max=256, help="With --find-capacity: try at most this many cameras [256]."
        ),
    ] = None,
    step_s: Annotated[
        float | None,
        typer.Option(
            min=0.5,
            help="With --find-capacity: seconds each step is judged over, after a warm-up [10].",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="On an internal error, print its traceback (for a bug report)."
        ),
    ] = False,
) -> None:
    """Stream a video to a gRPC extension exactly as LVA would, and measure what comes back.

    With no options: starts the reference server in-process, streams the bundled clip and
    checks every result against the clip's ground truth.

    Exit codes: 0 ok; 1 a threshold not met, frames timed out or an internal error;
    2 usage; 3 cannot connect (or the extension ended the call); 4 the extension broke
    the protocol; 130 interrupted.
    """
    with _interrupt_exits():  # Ctrl-C while probing a video or starting up: 130 too
        outputs = (
            ("--json", json_path),
            ("--output", output),
            ("--report", report),
            ("--annotate", annotate),
        )
        for option, path in outputs:
            reason = unwritable_reason(path) if path is not None else None
            if reason:
                raise _fail(f"{option} {path}: {reason}")
        if annotate is None and (annotate_stream or annotate_width is not None):
            raise _fail("--annotate-stream and --annotate-width need --annotate")
        if annotate_stream >= streams:
            raise _fail(
                f"--annotate-stream {annotate_stream}: the run has {streams} "
                f"stream{'s' if streams > 1 else ''} (0-{streams - 1})"
            )
        settings: ExtensionSettings | None = None
        if topology is not None:
            try:
                settings = read_topology(topology, _params(param or []))
            except TopologyError as error:
                raise _fail(str(error)) from None
        elif param:
            raise _fail("--param needs --topology")
        t = settings or ExtensionSettings(node_name="grpcExtension", topology_name="")

        if stagger and not realtime:
            raise _fail("--stagger needs --realtime: unpaced streams have no schedule to spread")
        if on_full not in ("wait", "drop"):
            raise _fail("--on-full must be wait or drop")
        format_text = format
        encoding = _FORMATS.get(format_text.casefold()) if format_text else None
        if format_text and encoding is None:
            raise _fail(f"--format {format_text!r}: expected jpeg, bmp, png or raw")
        if pixel_format:
            try:
                chosen_pixel = PixelFormat[pixel_format.upper()]
            except KeyError:
                raise _fail(
                    f"--pixel-format {pixel_format!r} is not one of the 11 RAW formats"
                ) from None
            if chosen_pixel is PixelFormat.NONE:
                raise _fail("--pixel-format none is not a RAW layout")
            encoding = encoding or Encoding.RAW
        else:
            chosen_pixel = None
        try:
            mode = ScaleMode.parse(scale_mode) if scale_mode else None
        except ValueError as error:
            raise _fail(f"--scale-mode: {error}") from None
        try:
            password = resolve_password(password, password_file, username=username)
            if not settings:  # a topology may give the other half
                check_pair(username, password)
        except CredentialsError as error:
            raise _fail(str(error)) from None

        video_path = video or str(sample_path())
        truth_file = truth
        if truth_file is None and video is None:
            truth_file = truth_path(Path(video_path))
        try:
            labels = load_truth(truth_file) if truth_file else None
            VideoSource(video_path)  # fail now, clearly, rather than in every stream
        except (ValueError, SourceError) as error:
            raise _fail(str(error)) from None

        ca = None
        if tls_ca is not None:
            try:
                ca = tls_ca.read_bytes()
            except OSError as error:
                raise _fail(f"cannot read --tls-ca {tls_ca}: {error.strerror}") from None
            if _PEM_MARKER not in ca:
                raise _fail(f"--tls-ca {tls_ca} holds no PEM certificate ({_PEM_MARKER.decode()})")
        chosen_target = None
        if target is not None:
            try:
                chosen_target = parse_target(target)
            except AddressError as error:
                raise _fail(f"--target {error}") from None
        chosen_target = chosen_target or t.target
        shm_mib = _pick(shm, t.shm_mib, 0.0)
        try:
            image = ImageOptions(
                width=width if width is not None else t.width,
                height=height if height is not None else t.height,
                scale_mode=_pick(mode, t.scale_mode, ScaleMode.PRESERVE_ASPECT_RATIO),
                encoding=_pick(encoding, t.encoding, Encoding.JPG),
                quality=_pick(quality, t.quality, 90),
                pixel_format=_pick(chosen_pixel, t.pixel_format, PixelFormat.BGR24),
                stride_align=stride_align,
            )
        except ValueError as error:
            raise _fail(str(error)) from None
        stream = StreamOptions(
            connect=ConnectOptions(
                target=chosen_target or "",
                connect_timeout_s=connect_timeout,
                max_message_mib=max_message_mib,
                username=_pick(username, t.username, None),
                password=_pick(password, t.password, None),
                tls_ca=ca,
                tls_server_name=tls_server_name,
            ),
            image=image,
            shm_bytes=int(shm_mib * (1 << 20)) or None,
            on_full=on_full,
            realtime=realtime,
            max_fps=_pick(max_fps, t.max_fps, None),
            max_in_flight=max_in_flight,
            ack_timeout_s=ack_timeout,
            extension_configuration=_pick(extension_config, t.extension_configuration, ""),
            graph=("", t.topology_name or "lvatool-simulate", t.node_name) if settings else None,
        )
        options = RunOptions(
            stream=stream,
            video=video_path,
            streams=streams,
            loop=loop,
            max_frames=max_frames,
            truth=labels,
            output=output,
            serve_locally=not chosen_target,
            stagger=stagger,
        )
        err = Console(stderr=True)
        if settings and settings.skip_without_annotation:
            err.print("[yellow]warning:[/yellow] skipSamplesWithoutAnnotation is ignored: "
                      "the simulator has no upstream inferences")  # fmt: skip
        if settings and settings.tls and options.stream.connect.tls_ca is None:
            err.print("[yellow]warning:[/yellow] the topology's endpoint is TLS; give --tls-ca")

        results_options = ResultsOptions(
            results, baseline, baseline_iou, baseline_confidence, max_changed_frames, min_accuracy
        )
        if find_capacity or (slo_p99_ms, max_streams, step_s) != (None, None, None):
            from lvatool.commands import simulate_capacity as capacity

            if results_options.given:
                raise _fail(f"{results_options.given[0]} does not apply to --find-capacity")
            if report is not None:
                raise _fail("--report does not apply to --find-capacity (each step is a run)")
            if annotate is not None:
                raise _fail("--annotate does not apply to --find-capacity")

            problem = capacity.usage_problem(
                options, find=find_capacity, slo_p99_ms=slo_p99_ms, min_fps=min_fps,
                max_p99_ms=max_p99_ms,
            )  # fmt: skip
            if problem or slo_p99_ms is None:
                raise _fail(problem or "--find-capacity needs --slo-p99-ms")
            raise typer.Exit(capacity.run_capacity_search(
                options, slo_p99_ms=slo_p99_ms, max_streams=max_streams, step_s=step_s,
                json_path=json_path, quiet=quiet, debug=debug,
            ))  # fmt: skip

        try:
            results_plan = plan_results(results_options, options)
        except ResultsUsageError as error:
            raise _fail(str(error)) from None
        annotated = (annotate, annotate_stream, annotate_width) if annotate is not None else None
        options = replace(
            options, observers=_observers(results_plan, report, options.video, annotated)
        )
        try:
            result = _run_with_progress(options, show=err.is_terminal and not quiet)
        except Exception as error:  # the last guard: one sentence, never a traceback
            if debug:
                err.print_exception()
            raise _fail(
                str(internal_failure(error)) + ("" if debug else _DEBUG_HINT), EXIT_THRESHOLD
            ) from None
        summary = result.summary
        diff = results_plan.baseline_diff()
        json_lost = False
        if json_path is not None:
            try:
                extra = {"baseline": diff.as_dict()} if diff is not None else {}
                _write_summary(summary, json_path, extra)
            except OSError as error:  # checked before the run; it can still fill up
                _say(f"cannot write --json {json_path}: {error.strerror or error}", err)
                json_lost = True
        if not quiet:
            console = Console()
            render_summary(summary, console)
            for line in diff_lines(diff) if diff is not None else []:
                console.print(as_text(line), highlight=False, soft_wrap=True)
        crash = next((f.details for f in result.failures if f.details), None)
        if crash and debug:
            err.print(crash, markup=False, highlight=False)
        code = _exit_code(
            summary, min_fps, max_p99_ms, err, hint=bool(crash and not debug),
            failed=results_plan.verdicts(summary, diff),
        )  # fmt: skip
        if json_lost and code == EXIT_OK:
            code = EXIT_THRESHOLD  # the results were asked for and are lost: not a pass
        raise typer.Exit(code)


def _observers(
    results_plan: ResultsPlan,
    report: Path | None,
    video: str,
    annotated: tuple[Path, int, int | None] | None,
) -> tuple[RunObserver, ...]:
    """Every observer of the run, built in one place: --results, --baseline, --report and
    --annotate (each imported only when asked for: plotly, PyAV's encoder)."""
    observers = list(results_plan.observers)
    if annotated is not None:
        from lvatool.render.video import AnnotatedVideo

        path, stream, width = annotated
        observers.append(AnnotatedVideo(path, stream, width=width))
    if report is not None:
        from lvatool.html_report.simulate_report import SimulateReport

        observers.append(SimulateReport(report, settings={"video": video}))
    return tuple(observers)


def _write_summary(summary: RunSummary, path: Path, extra: dict[str, Any]) -> None:
    """``--json``: the summary (schema simulate-summary) with what options added to it."""
    document = {**summary.as_dict(), **extra}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _run_with_progress(options: RunOptions, show: bool) -> RunResult:
    stop = threading.Event()

    def _on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        if not show:
            return run_simulation(options, stop)
        with Progress(
            TextColumn("[bold]simulate"), BarColumn(), TextColumn("{task.description}"),
            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("starting", total=None)

            def report(sent: int, acked: int) -> None:
                progress.update(task, description=f"{acked} acked / {sent} sent")

            return run_simulation(options, stop, on_progress=report)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_code(
    summary: RunSummary,
    min_fps: float | None,
    max_p99_ms: float | None,
    err: Console,
    *,
    hint: bool = False,
    failed: list[str] | None = None,
) -> int:
    """The exit code of a finished run; prints why it is not 0.

    ``hint`` adds that ``--debug`` shows the traceback of an internal error; ``failed``
    are thresholds judged elsewhere (``--max-changed-frames``, ``--min-accuracy``).
    """
    if summary.error:
        _say(summary.error + (_DEBUG_HINT if hint else ""), err)
        return _EXIT_FOR_FAILURE.get(summary.outcome, EXIT_THRESHOLD)
    stats = summary.stats
    failed = list(failed or [])
    if stats.frames_timed_out:
        failed.append(f"{stats.frames_timed_out} frames were not acknowledged within --ack-timeout")
    if min_fps is not None and summary.fps < min_fps:
        failed.append(f"{summary.fps:.1f} frames/s is below --min-fps {min_fps:g}")
    p99 = stats.latency.percentile(0.99)
    if max_p99_ms is not None and p99 > max_p99_ms:
        failed.append(f"p99 round trip {p99:.1f} ms is above --max-p99-ms {max_p99_ms:g}")
    for message in failed:
        _say(message, err)
    return EXIT_THRESHOLD if failed else EXIT_OK
